// backend/backend.ts — the Backend interface and the registry (the only global state in core-tensor).
//
// A backend supplies the compute-bound kernels (GEMM). Memory-bound elementwise ops stay in
// TypeScript for every backend: moving data to a native library would cost more than the op.
import type { QuantizedMatrix } from '../quant/quantize.js';
import { gemmTs } from './ts/gemm.js';

/** Arguments of one (batched) GEMM: C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b], row-major f32. */
export interface GemmArgs {
  /** op(A) is (m,k): A is (m,k) when !transA, (k,m) when transA. */
  a: Float32Array;
  /** op(B) is (k,n): B is (k,n) when !transB, (n,k) when transB. */
  b: Float32Array;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  /** Number of independent products laid out back to back in a, b and c (default 1). */
  batch?: number;
  /** When true the batch stride of B is 0: one B shared by every A[b] (default false). */
  broadcastB?: boolean;
  alpha?: number;
  /** beta != 0 reads the existing contents of `out` (accumulation, e.g. dW += xᵀ·dy). */
  beta?: number;
  /** Destination of size batch·m·n; allocated when absent. Must not alias a or b. */
  out?: Float32Array;
}

/**
 * One block of rows of P = softmax(h·Wᵀ) over a wide output (a language model's vocabulary), reduced
 * to what a cross-entropy needs so the (m,n) probabilities never have to leave the backend.
 */
export interface LinearSoftmaxArgs {
  /** (m,k) the hidden rows. */
  h: Float32Array;
  /** (n,k) the output projection in Linear layout (lm_head / tied embedding: (V,C)). */
  w: Float32Array;
  m: number;
  n: number;
  k: number;
  /** (m) one column per row, in [0, n). */
  targets: Int32Array;
  /** Out (m): P[r, targets[r]]. */
  picked: Float32Array;
  /** Out (m,k) when given: P·W (the softmax part of dh). */
  pw?: Float32Array;
  /** Out (m,n) when given: P itself (needed only when W gets a gradient). */
  p?: Float32Array;
}

/** Masked-key value of an attention block's additive mask: finite, so a row with every key masked stays finite. */
export const ATTENTION_MASKED = -1e30;

/**
 * One block of attention rows (rows queries against their first L keys, head dim D), row-major f32:
 *   S = q·kᵀ + mask,  P = softmax(S) by row,  O = P·v
 * `mask` is additive (0 keep, ATTENTION_MASKED drop). A row whose keys are all dropped gets a uniform,
 * finite P: the caller zeroes such rows' O (forward) and dO (backward), which makes their gradients 0.
 */
export interface AttentionBlockArgs {
  /** (rows,D) queries, already multiplied by the softmax scale. */
  q: Float32Array;
  /** (L,D) keys and values. */
  k: Float32Array;
  v: Float32Array;
  /** (rows,L) additive mask. */
  mask: Float32Array;
  rows: number;
  L: number;
  D: number;
}

/** Forward: O (rows,D). */
export interface AttentionBlockForwardArgs extends AttentionBlockArgs {
  o: Float32Array;
}

/**
 * Backward, recomputing P from q, k and the mask: Δ = rowsum(dO ⊙ o), dS = P ⊙ (dO·vᵀ − Δ),
 * dq = dS·k (rows,D) written to dq; dk += dSᵀ·q and dv += Pᵀ·dO (L,D) accumulated into dk and dv.
 */
export interface AttentionBlockBackwardArgs extends AttentionBlockArgs {
  /** (rows,D) upstream gradient. */
  dO: Float32Array;
  /** (rows,D) the forward's output (rows of a fully masked row must be 0). */
  o: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

/** Y (m,n) = A (m,k) · Wᵀ for a quantized frozen W (n,k) (see quant/quantize.ts for the layout). */
export interface MatMulNBitsArgs {
  a: Float32Array;
  m: number;
  w: QuantizedMatrix;
  /** Destination (m·n); allocated when absent. */
  out?: Float32Array;
  /** MatMulNBits accuracy_level: 1 = f32 compute (equals dequantize-then-GEMM), 4 = int8 compute (default 4). */
  accuracyLevel?: number;
}

export interface Backend {
  readonly name: string;
  /** Returns `out` (or a new array) holding C. Synchronous: the eager autograd needs the value now. */
  gemm(args: GemmArgs): Float32Array;
  /**
   * Optional fused lm_head + softmax block (see LinearSoftmaxArgs). Backends without it get the
   * composition of gemm() and a TypeScript softmax (ops/linear-cross-entropy.ts).
   */
  linearSoftmax?(args: LinearSoftmaxArgs): void;
  /**
   * Optional fused attention block (see AttentionBlockArgs): the (rows,L) scores and probabilities stay
   * inside the backend. Backends without it get the attention package's GEMM + row-kernel path.
   */
  attentionBlockForward?(args: AttentionBlockForwardArgs): void;
  attentionBlockBackward?(args: AttentionBlockBackwardArgs): void;
  /**
   * Optional quantized-weight product (see MatMulNBitsArgs). Backends without it get a dequantize
   * into f32 + gemm() (quant/frozen-weight.ts), so every backend has the op.
   */
  matmulNBits?(args: MatMulNBitsArgs): Float32Array;
  /** Releases whatever matmulNBits() keeps for `w` (the ort backend: its session). */
  releaseWeight?(w: QuantizedMatrix): void;
}

const registry = new Map<string, Backend>();
let current: Backend | undefined;

export function registerBackend(backend: Backend): void {
  registry.set(backend.name, backend);
  current ??= backend;
}

/** Selects the backend every op uses from now on, by name ('ts' or 'ort'). */
export function setBackend(name: string): Backend {
  const b = registry.get(name);
  if (!b) throw new Error(`unknown backend "${name}"; registered: ${[...registry.keys()].join(', ')}`);
  current = b;
  return b;
}

/** The active backend; the TypeScript reference one until another is selected. */
export function getBackend(): Backend {
  if (!current) registerBackend({ name: 'ts', gemm: gemmTs });
  return current as Backend;
}

export function listBackends(): string[] {
  return [...registry.keys()];
}

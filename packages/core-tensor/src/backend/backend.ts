// backend/backend.ts — the Backend interface and the registry (the only global state in core-tensor).
//
// A backend supplies the compute-bound kernels (GEMM). Memory-bound elementwise ops stay in
// TypeScript for every backend: moving data to a native library would cost more than the op.
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

export interface Backend {
  readonly name: string;
  /** Returns `out` (or a new array) holding C. Synchronous: the eager autograd needs the value now. */
  gemm(args: GemmArgs): Float32Array;
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

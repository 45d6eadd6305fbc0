// sdpa.ts — scaled dot-product attention with GQA and masks: one autograd op, GEMM-based forward and hand-written backward.
//
// Layout: q (B,H,T,D), k/v (B,Hkv,S,D), rep = H/Hkv query heads per kv head (HF repeat_kv order:
// query head h reads kv head ⌊h/rep⌋). In this layout the rep query heads of one kv group are
// contiguous, so the group's queries are ONE (rep·T, D) matrix and every product below is one GEMM
// per (sequence, kv head), with no repeat_kv copy of k or v:
//   forward   S = scale·Q_g·K_gᵀ (rep·T,S) → P = softmax(S + mask) → O_g = P·V_g
//   backward  P recomputed from the saved log-sum-exp; dV_g = Pᵀ·dO_g; dP = dO_g·V_gᵀ;
//             dS = P ⊙ (dP − rowsum(dO ⊙ O)); dQ_g = scale·dS·K_g; dK_g = scale·dSᵀ·Q_g
// dV_g and dK_g sum over the rep query heads of the group by construction (the GEMM's inner dim).
// Saved for backward: q, k, v, o and lse (B,H,T) — never a (T,S) probability matrix per head
// (FlashAttention-2's recompute, at the granularity of one kv group's block).
import { getBackend, record, ShapeError, shapeStr, Tensor } from '@tslora/core-tensor';
import { keyBias, type MaskSpec, resolveQueryOffset } from './masks.js';
import { probsFromLse, type RowBlock, softmaxBackwardRows, softmaxRows } from './softmax-rows.js';

/** Options of {@link scaledDotProductAttention}. */
export interface SdpaOptions extends MaskSpec {
  /** Multiplies q·kᵀ; default D^−0.5. */
  scale?: number | undefined;
}

/** Sizes of one attention call. */
interface Dims {
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  rep: number;
}

/** Everything the kernels need besides the data; built once per call at the public boundary. */
interface Plan extends Dims {
  scale: number;
  causal: boolean;
  offset: number;
  bias: Float32Array | null;
}

// Score blocks reused across calls and layers (rep·T·S floats each): the hot path allocates only
// its outputs. Two, because the backward holds P and dP/dS at once.
let scratchP = new Float32Array(0);
let scratchD = new Float32Array(0);
function blockP(n: number): Float32Array {
  if (scratchP.length < n) scratchP = new Float32Array(n);
  return scratchP.subarray(0, n);
}
function blockD(n: number): Float32Array {
  if (scratchD.length < n) scratchD = new Float32Array(n);
  return scratchD.subarray(0, n);
}

function checkDims(op: string, q: Tensor, k: Tensor, v: Tensor | null): Dims {
  const fail = (what: string, hint?: string): never => {
    const shapes = `q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}${v ? `, v ${shapeStr(v.shape)}` : ''}`;
    throw new ShapeError(`${op}: ${what} (${shapes})`, { hint: hint ?? 'q is (B,H,T,D); k and v are (B,Hkv,S,D) with H a multiple of Hkv' });
  };
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (t && (t.ndim !== 4 || t.dtype !== 'f32')) fail(`${name} must be a 4-D f32 tensor, got ${shapeStr(t.shape)} ${t.dtype}`);
  }
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const [Bk, Hkv, S, Dk] = k.shape as [number, number, number, number];
  if (v && !v.shape.every((d, i) => d === k.shape[i])) fail(`k ${shapeStr(k.shape)} and v ${shapeStr(v.shape)} must have the same shape`);
  if (Bk !== B) fail(`q has batch ${B} but k has batch ${Bk}`);
  if (Dk !== D) fail(`q has head dim ${D} but k has head dim ${Dk}`);
  if (Hkv === 0 || H % Hkv !== 0) fail(`q has ${H} heads, not a multiple of k's ${Hkv} kv heads`);
  return { B, H, Hkv, T, S, D, rep: H / Hkv };
}

function makePlan(op: string, q: Tensor, k: Tensor, v: Tensor | null, opts: SdpaOptions): Plan {
  const dims = checkDims(op, q, k, v);
  const scale = opts.scale ?? 1 / Math.sqrt(dims.D);
  if (!Number.isFinite(scale)) throw new ShapeError(`${op}: scale must be a finite number, got ${opts.scale}`);
  const causal = opts.causal ?? false;
  return {
    ...dims,
    scale,
    causal,
    offset: resolveQueryOffset(opts.queryOffset, dims.T, dims.S, causal, op),
    bias: keyBias(opts.attentionMask, dims.B, dims.S, op),
  };
}

function rowBlock(p: Plan, b: number): RowBlock {
  return { rows: p.rep * p.T, T: p.T, S: p.S, causal: p.causal, offset: p.offset, bias: p.bias, biasOff: b * p.S };
}

/** Writes the scaled scores of block (b, g) into buf (rep·T, S): one GEMM, K read transposed in place. */
function scoresBlock(p: Plan, Q: Float32Array, K: Float32Array, b: number, g: number, buf: Float32Array): void {
  const R = p.rep * p.T;
  const qOff = (b * p.H + g * p.rep) * p.T * p.D;
  const kOff = (b * p.Hkv + g) * p.S * p.D;
  getBackend().gemm({ a: Q.subarray(qOff, qOff + R * p.D), b: K.subarray(kOff, kOff + p.S * p.D), m: R, n: p.S, k: p.D, transB: true, alpha: p.scale, out: buf });
}

/** Forward kernel: O (B,H,T,D) and the per-row log-sum-exp (B,H,T) (−∞ for rows with no key). */
function sdpaForward(p: Plan, Q: Float32Array, K: Float32Array, V: Float32Array): { O: Float32Array; lse: Float64Array } {
  const { B, H, Hkv, T, S, D, rep } = p;
  const R = rep * T;
  const O = new Float32Array(B * H * T * D);
  const lse = new Float64Array(B * H * T);
  const buf = blockP(R * S);
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < Hkv; g++) {
      const qOff = (b * H + g * rep) * T * D;
      const kOff = (b * Hkv + g) * S * D;
      scoresBlock(p, Q, K, b, g, buf);
      softmaxRows(buf, rowBlock(p, b), lse, (b * H + g * rep) * T);
      // O_g = P·V_g: (rep·T,S)·(S,D)
      getBackend().gemm({ a: buf, b: V.subarray(kOff, kOff + S * D), m: R, n: D, k: S, out: O.subarray(qOff, qOff + R * D) });
    }
  }
  return { O, lse };
}

/** Backward kernel: dq, dk, dv (null where not needed), recomputing P per kv group from lse. */
function sdpaBackward(p: Plan, Q: Float32Array, K: Float32Array, V: Float32Array, O: Float32Array, lse: Float64Array, dO: Float32Array, needs: readonly boolean[]): (Float32Array | null)[] {
  const { B, H, Hkv, T, S, D, rep } = p;
  const R = rep * T;
  const be = getBackend();
  const dq = needs[0] ? new Float32Array(Q.length) : null;
  const dk = needs[1] ? new Float32Array(K.length) : null;
  const dv = needs[2] ? new Float32Array(V.length) : null;
  const P = blockP(R * S);
  const dS = blockD(R * S);
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < Hkv; g++) {
      const qOff = (b * H + g * rep) * T * D;
      const kOff = (b * Hkv + g) * S * D;
      const Qg = Q.subarray(qOff, qOff + R * D);
      const Kg = K.subarray(kOff, kOff + S * D);
      const dOg = dO.subarray(qOff, qOff + R * D);
      const blk = rowBlock(p, b);
      scoresBlock(p, Q, K, b, g, P);
      probsFromLse(P, blk, lse, (b * H + g * rep) * T);
      // dV_g = Pᵀ·dO_g: (S,rep·T)·(rep·T,D) — the sum over the group's query heads is the inner dim
      if (dv) be.gemm({ a: P, b: dOg, m: S, n: D, k: R, transA: true, out: dv.subarray(kOff, kOff + S * D) });
      if (!dq && !dk) continue;
      // dP = dO_g·V_gᵀ: (rep·T,D)·(D,S), then dS in place
      be.gemm({ a: dOg, b: V.subarray(kOff, kOff + S * D), m: R, n: S, k: D, transB: true, out: dS });
      softmaxBackwardRows(P, dS, blk, dOg, O.subarray(qOff, qOff + R * D), D);
      // dQ_g = scale·dS·K_g: (rep·T,S)·(S,D);  dK_g = scale·dSᵀ·Q_g: (S,rep·T)·(rep·T,D)
      if (dq) be.gemm({ a: dS, b: Kg, m: R, n: D, k: S, alpha: p.scale, out: dq.subarray(qOff, qOff + R * D) });
      if (dk) be.gemm({ a: dS, b: Qg, m: S, n: D, k: R, transA: true, alpha: p.scale, out: dk.subarray(kOff, kOff + S * D) });
    }
  }
  return [dq, dk, dv];
}

/**
 * Scaled dot-product attention, softmax(scale·q·kᵀ + mask)·v, for grouped-query attention.
 *
 * q: (B,H,T,D); k, v: (B,Hkv,S,D) with H a multiple of Hkv — query head h uses kv head ⌊h·Hkv/H⌋,
 * as HF `repeat_kv`. `attentionMask` (B,S) masks keys (1 keep, 0 pad); `causal` keeps key j for
 * query i only when j ≤ i + queryOffset (queryOffset defaults to S − T: the queries are the last T
 * positions, as in cached decoding). Softmax in f32 with max subtraction. A query row with no key
 * left gets zeros and zero gradients, never NaN. Returns (B,H,T,D); one autograd op whose backward
 * gives dq, and dk/dv summed over the query heads that share a kv head.
 *
 * @throws ShapeError naming the shapes when they do not fit together, or when attentionMask is not (B,S).
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: SdpaOptions = {}): Tensor {
  const p = makePlan('scaledDotProductAttention', q, k, v, opts);
  const Q = q.f32;
  const K = k.f32;
  const V = v.f32;
  const { O, lse } = sdpaForward(p, Q, K, V);
  const out = new Tensor(O, [p.B, p.H, p.T, p.D]);
  return record('scaledDotProductAttention', [q, k, v], out, (dO, needs) => sdpaBackward(p, Q, K, V, O, lse, dO, needs));
}

/**
 * The attention probabilities softmax(scale·q·kᵀ + mask) as (B,H,T,S) — HF's `output_attentions`,
 * for inspection and plots (not differentiable; O(B·H·T·S) memory). Masked entries are exactly 0; a
 * row with no key left is all zeros.
 */
export function attentionWeights(q: Tensor, k: Tensor, opts: SdpaOptions = {}): Tensor {
  const p = makePlan('attentionWeights', q, k, null, opts);
  const { B, H, Hkv, T, S, rep } = p;
  const W = new Float32Array(B * H * T * S);
  const lse = new Float64Array(B * H * T);
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < Hkv; g++) {
      const off = (b * H + g * rep) * T;
      const block = W.subarray(off * S, (off + rep * T) * S);
      scoresBlock(p, q.f32, k.f32, b, g, block);
      softmaxRows(block, rowBlock(p, b), lse, off);
    }
  }
  return new Tensor(W, [B, H, T, S]);
}

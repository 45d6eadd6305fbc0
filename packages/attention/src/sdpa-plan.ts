// sdpa-plan.ts — checks an attention call at the boundary and fixes its geometry: sizes, scale, masks, block size.
import { ShapeError, shapeStr, type Tensor } from '@tslora/core-tensor';
import { keyBias, type MaskSpec, resolveQueryOffset } from './masks.js';
import type { RowBlock } from './softmax-rows.js';

/** Options of {@link scaledDotProductAttention}. */
export interface SdpaOptions extends MaskSpec {
  /** Multiplies q·kᵀ; default D^−0.5. */
  scale?: number | undefined;
}

/**
 * Score rows per block (all rep heads of a chunk of query positions). Small enough that causal
 * blocks skip most of the masked triangle and the two score buffers stay at ≤ 2·512·S floats; large
 * enough that each GEMM is big.
 */
const BLOCK_ROWS = 512;

/** Sizes of one attention call. */
export interface Dims {
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  rep: number;
}

/** Everything the kernels need besides the data; built once per call at the public boundary. */
export interface Plan extends Dims {
  scale: number;
  causal: boolean;
  offset: number;
  bias: Float32Array | null;
  /** Per sequence: 1 + index of its last kept key (0 when it has none); keys past it are never read. */
  kvEnd: Int32Array;
  /** Query positions per block. */
  Tc: number;
}

function checkDims(op: string, q: Tensor, k: Tensor, v: Tensor | null): Dims {
  const fail = (what: string): never => {
    const shapes = `q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}${v ? `, v ${shapeStr(v.shape)}` : ''}`;
    throw new ShapeError(`${op}: ${what} (${shapes})`, {
      hint: 'q is (B,H,T,D); k and v are (B,Hkv,S,D) with H a multiple of Hkv',
    });
  };
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (t && (t.ndim !== 4 || t.dtype !== 'f32'))
      fail(`${name} must be a 4-D f32 tensor, got ${shapeStr(t.shape)} ${t.dtype}`);
  }
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const [Bk, Hkv, S, Dk] = k.shape as [number, number, number, number];
  if (v && !v.shape.every((d, i) => d === k.shape[i])) {
    fail(`k ${shapeStr(k.shape)} and v ${shapeStr(v.shape)} must have the same shape`);
  }
  if (Bk !== B) fail(`q has batch ${B} but k has batch ${Bk}`);
  if (Dk !== D) fail(`q has head dim ${D} but k has head dim ${Dk}`);
  if (Hkv === 0 || H % Hkv !== 0) fail(`q has ${H} heads, not a multiple of k's ${Hkv} kv heads`);
  return { B, H, Hkv, T, S, D, rep: H / Hkv };
}

/** Validates q/k/v and the options (ShapeError naming the shapes) and derives the call's geometry. */
export function makePlan(op: string, q: Tensor, k: Tensor, v: Tensor | null, opts: SdpaOptions): Plan {
  const dims = checkDims(op, q, k, v);
  const { B, S, T, D, rep } = dims;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new ShapeError(`${op}: scale must be a finite number, got ${opts.scale}`);
  const causal = opts.causal ?? false;
  const bias = keyBias(opts.attentionMask, B, S, op);
  const kvEnd = new Int32Array(B).fill(S);
  for (let b = 0; bias && b < B; b++) {
    let end = S;
    while (end > 0 && bias[b * S + end - 1] !== 0) end--;
    kvEnd[b] = end;
  }
  const offset = resolveQueryOffset(opts.queryOffset, T, S, causal, op);
  return { ...dims, scale, causal, offset, bias, kvEnd, Tc: Math.max(1, Math.ceil(BLOCK_ROWS / rep)) };
}

/**
 * The block of query positions [i0, min(T, i0+Tc)) of sequence b, with the keys it can see: L is
 * the causal limit of its last row (i1 − 1 + offset, +1) capped by the sequence's last kept key.
 */
export function blockAt(p: Plan, b: number, i0: number, biasPtr: number): RowBlock {
  const i1 = Math.min(p.T, i0 + p.Tc);
  const L = Math.min(p.causal ? Math.min(p.S, i1 + p.offset) : p.S, p.kvEnd[b] as number);
  const { rep, causal, offset, bias } = p;
  return { rows: (i1 - i0) * rep, L, rep, i0, causal, offset, bias, biasOff: b * p.S, biasPtr };
}

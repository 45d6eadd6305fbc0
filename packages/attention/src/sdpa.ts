// sdpa.ts — scaled dot-product attention with GQA and masks: one autograd op, GEMM-based forward and hand-written backward.
//
// Layout: q (B,H,T,D), k/v (B,Hkv,S,D), rep = H/Hkv query heads per kv head (HF repeat_kv order:
// query head h reads kv head ⌊h/rep⌋). Work goes one (sequence b, kv head g) at a time, with the
// group's rep query heads interleaved token-major — Q_g as a (T·rep, D) matrix, row i·rep + h — so
// a chunk of query positions [i0, i1) of every head of the group is ONE contiguous row block and
// each product below is one GEMM per block, with no repeat_kv copy of k or v:
//   forward   S = scale·Q_blk·K_Lᵀ → E = exp(S + mask − max) → O_blk = (E·V_L) / rowsum(E)
//   backward  P = exp(S + mask − lse) (recomputed); dV_L += Pᵀ·dO_blk; dP = dO_blk·V_Lᵀ;
//             dS = P ⊙ (dP − rowsum(dO ⊙ O)); dQ_blk = scale·dS·K_L; dK_L += scale·dSᵀ·Q_blk
// K_L/V_L are the first L keys: the last key any row of the block may see (causal: i1 − 1 + offset;
// padding: the last kept key). Causal blocks thus skip most of the masked upper triangle (~44% fewer
// FLOPs at T=512), and dK/dV sum over the group's query heads through the GEMM's inner dimension.
// Saved for backward: q, k, v, o and lse (B,H,T) f64 — never a (T,S) probability matrix per head
// (FlashAttention-2's recompute, at the granularity of one block of one kv group).
import { getBackend, record, ShapeError, shapeStr, Tensor } from '@tslora/core-tensor';
import { keyBias, type MaskSpec, resolveQueryOffset } from './masks.js';
import { probsFromLse, type RowBlock, softmaxBackwardRows, softmaxRows } from './softmax-rows.js';
import { rowKernels, wasmArena } from './wasm-rows.js';

/** Options of {@link scaledDotProductAttention}. */
export interface SdpaOptions extends MaskSpec {
  /** Multiplies q·kᵀ; default D^−0.5. */
  scale?: number | undefined;
}

/**
 * Score rows per block (all rep heads of a chunk of query positions). Small enough that causal
 * blocks skip most of the masked triangle and the two score buffers stay at ≤ 2·512·S floats; large
 * enough that each GEMM is big (measured: see bench/attention.bench.ts).
 */
const BLOCK_ROWS = 512;

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
  /** Per sequence: 1 + index of its last kept key (0 when it has none); keys past it are never read. */
  kvEnd: Int32Array;
  /** Query positions per block. */
  Tc: number;
}

// Buffers reused across calls and layers, so the hot path allocates only its outputs.
const f32Scratch = new Map<string, Float32Array>();
const f64Scratch = new Map<string, Float64Array>();
function scratch(name: string, n: number): Float32Array {
  let b = f32Scratch.get(name);
  if (!b || b.length < n) {
    b = new Float32Array(n);
    f32Scratch.set(name, b);
  }
  return b.subarray(0, n);
}
function scratch64(name: string, n: number): Float64Array {
  let b = f64Scratch.get(name);
  if (!b || b.length < n) {
    b = new Float64Array(n);
    f64Scratch.set(name, b);
  }
  return b.subarray(0, n);
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
  if (v && !v.shape.every((d, i) => d === k.shape[i]))
    fail(`k ${shapeStr(k.shape)} and v ${shapeStr(v.shape)} must have the same shape`);
  if (Bk !== B) fail(`q has batch ${B} but k has batch ${Bk}`);
  if (Dk !== D) fail(`q has head dim ${D} but k has head dim ${Dk}`);
  if (Hkv === 0 || H % Hkv !== 0) fail(`q has ${H} heads, not a multiple of k's ${Hkv} kv heads`);
  return { B, H, Hkv, T, S, D, rep: H / Hkv };
}

function makePlan(op: string, q: Tensor, k: Tensor, v: Tensor | null, opts: SdpaOptions): Plan {
  const dims = checkDims(op, q, k, v);
  const { B, S, T, D, rep } = dims;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new ShapeError(`${op}: scale must be a finite number, got ${opts.scale}`);
  const causal = opts.causal ?? false;
  const bias = keyBias(opts.attentionMask, B, S, op);
  const kvEnd = new Int32Array(B).fill(S);
  if (bias)
    for (let b = 0; b < B; b++)
      while ((kvEnd[b] as number) > 0 && bias[b * S + (kvEnd[b] as number) - 1] !== 0)
        kvEnd[b] = (kvEnd[b] as number) - 1;
  const offset = resolveQueryOffset(opts.queryOffset, T, S, causal, op);
  return { ...dims, scale, causal, offset, bias, kvEnd, Tc: Math.max(1, Math.ceil(BLOCK_ROWS / rep)) };
}

/** The block of query positions [i0, min(T, i0+Tc)) of sequence b, with the keys it can see. */
function blockAt(p: Plan, b: number, i0: number, blocks: ScoreBlocks): RowBlock {
  const i1 = Math.min(p.T, i0 + p.Tc);
  const L = Math.min(p.causal ? Math.min(p.S, i1 + p.offset) : p.S, p.kvEnd[b] as number);
  const { rep, causal, offset, bias } = p;
  return { rows: (i1 - i0) * rep, L, rep, i0, causal, offset, bias, biasOff: b * p.S, biasPtr: blocks.biasPtr };
}

/**
 * Where a call's two score blocks (E/P and dP/dS, ≤ Tc·rep·S floats each) live: in the SIMD row
 * kernels' memory when they are available (the GEMMs write straight into it), else in JS scratch.
 * With the SIMD kernels the current sequence's bias row is copied next to them (at `biasPtr`).
 */
interface ScoreBlocks {
  take(which: 0 | 1, n: number): Float32Array;
  /** Makes sequence b's bias row available to the kernels (a copy; nothing without a mask or SIMD). */
  useSequence(b: number): void;
  biasPtr: number;
}

function scoreBlocks(p: Plan): ScoreBlocks {
  const cap = p.Tc * p.rep * p.S;
  const k = rowKernels();
  if (!k) return { take: (w, n) => scratch(w === 0 ? 'p' : 'ds', n), useSequence: () => {}, biasPtr: -1 };
  const mem = wasmArena(k, 2 * cap + p.S); // grown here, once per call: no view outlives the call
  return {
    take: (w, n) => mem.subarray(w * cap, w * cap + n),
    useSequence: (b) => {
      if (p.bias) mem.set(p.bias.subarray(b * p.S, (b + 1) * p.S), 2 * cap);
    },
    biasPtr: 2 * cap * 4,
  };
}

/** (rep,T,D) head-major rows at src[off…] → (T·rep, D) token-major dst, times `factor`. */
function toTokenMajor(src: Float32Array, off: number, dst: Float32Array, p: Plan, factor: number): void {
  const { rep, T, D } = p;
  for (let h = 0; h < rep; h++) {
    for (let i = 0; i < T; i++) {
      const s = off + (h * T + i) * D;
      const d = (i * rep + h) * D;
      for (let x = 0; x < D; x++) dst[d + x] = (src[s + x] as number) * factor;
    }
  }
}

/** Inverse of toTokenMajor, times `factor` and, when given, row r times rowScale[r]. */
function fromTokenMajor(
  src: Float32Array,
  dst: Float32Array,
  off: number,
  p: Plan,
  factor: number,
  rowScale: Float64Array | null,
): void {
  const { rep, T, D } = p;
  for (let h = 0; h < rep; h++) {
    for (let i = 0; i < T; i++) {
      const d = off + (h * T + i) * D;
      const s = (i * rep + h) * D;
      const c = factor * (rowScale ? (rowScale[i * rep + h] as number) : 1);
      for (let x = 0; x < D; x++) dst[d + x] = (src[s + x] as number) * c;
    }
  }
}

/** Δ = rowsum(dO ⊙ O) of one group, token-major (the softmax backward's row term). */
function rowDots(dO: Float32Array, O: Float32Array, off: number, delta: Float64Array, p: Plan): void {
  const { rep, T, D } = p;
  for (let h = 0; h < rep; h++) {
    for (let i = 0; i < T; i++) {
      const s = off + (h * T + i) * D;
      let dot = 0;
      for (let x = s; x < s + D; x++) dot += (dO[x] as number) * (O[x] as number);
      delta[i * rep + h] = dot;
    }
  }
}

/** Forward kernel: O (B,H,T,D) and lse per query row ((b,g) blocks, token-major; −∞ for rows with no key). */
function sdpaForward(
  p: Plan,
  Q: Float32Array,
  K: Float32Array,
  V: Float32Array,
): { O: Float32Array; lse: Float64Array } {
  const { B, H, Hkv, T, D, rep } = p;
  const R = rep * T;
  const be = getBackend();
  const O = new Float32Array(B * H * T * D);
  const lse = new Float64Array(B * H * T);
  const blocks = scoreBlocks(p);
  for (let b = 0; b < B; b++) {
    blocks.useSequence(b);
    for (let g = 0; g < Hkv; g++) {
      const qOff = (b * H + g * rep) * T * D;
      const kOff = (b * Hkv + g) * p.S * D;
      const Qt = scratch('q', R * D);
      const Ot = scratch('o', R * D);
      const rowScale = scratch64('rowScale', R);
      toTokenMajor(Q, qOff, Qt, p, p.scale); // Q·scale: every GEMM below runs with alpha = 1
      for (let i0 = 0; i0 < T; i0 += p.Tc) {
        const blk = blockAt(p, b, i0, blocks);
        const { rows, L } = blk;
        const r0 = i0 * rep;
        const lseOff = (b * Hkv + g) * R + r0;
        if (L === 0) {
          lse.fill(Number.NEGATIVE_INFINITY, lseOff, lseOff + rows);
          rowScale.fill(0, r0, r0 + rows);
          Ot.fill(0, r0 * D, (r0 + rows) * D);
          continue;
        }
        const E = blocks.take(0, rows * L);
        // S = (scale·Q_blk)·K_Lᵀ: (rows,D)·(D,L)
        be.gemm({
          a: Qt.subarray(r0 * D, (r0 + rows) * D),
          b: K.subarray(kOff, kOff + L * D),
          m: rows,
          n: L,
          k: D,
          transB: true,
          out: E,
        });
        softmaxRows(E, blk, lse, lseOff, rowScale.subarray(r0, r0 + rows));
        // O_blk = E·V_L: (rows,L)·(L,D), normalised on the way back to (B,H,T,D)
        be.gemm({
          a: E,
          b: V.subarray(kOff, kOff + L * D),
          m: rows,
          n: D,
          k: L,
          out: Ot.subarray(r0 * D, (r0 + rows) * D),
        });
      }
      fromTokenMajor(Ot, O, qOff, p, 1, rowScale);
    }
  }
  return { O, lse };
}

/** Backward kernel: dq, dk, dv (null where not needed), recomputing P block by block from lse. */
function sdpaBackward(
  p: Plan,
  Q: Float32Array,
  K: Float32Array,
  V: Float32Array,
  O: Float32Array,
  lse: Float64Array,
  dO: Float32Array,
  needs: readonly boolean[],
): (Float32Array | null)[] {
  const { B, H, Hkv, T, D, rep } = p;
  const R = rep * T;
  const be = getBackend();
  const dq = needs[0] ? new Float32Array(Q.length) : null;
  const dk = needs[1] ? new Float32Array(K.length) : null; // accumulated block by block (beta = 1)
  const dv = needs[2] ? new Float32Array(V.length) : null;
  const blocks = scoreBlocks(p);
  for (let b = 0; b < B; b++) {
    blocks.useSequence(b);
    for (let g = 0; g < Hkv; g++) {
      const qOff = (b * H + g * rep) * T * D;
      const kOff = (b * Hkv + g) * p.S * D;
      const Qt = scratch('q', R * D);
      const dOt = scratch('o', R * D);
      const dQt = dq ? scratch('dq', R * D) : null;
      const delta = scratch64('delta', R);
      toTokenMajor(Q, qOff, Qt, p, p.scale);
      toTokenMajor(dO, qOff, dOt, p, 1);
      rowDots(dO, O, qOff, delta, p);
      for (let i0 = 0; i0 < T; i0 += p.Tc) {
        const blk = blockAt(p, b, i0, blocks);
        const { rows, L } = blk;
        const r0 = i0 * rep;
        if (L === 0) {
          dQt?.fill(0, r0 * D, (r0 + rows) * D);
          continue;
        }
        const Qb = Qt.subarray(r0 * D, (r0 + rows) * D);
        const dOb = dOt.subarray(r0 * D, (r0 + rows) * D);
        const KL = K.subarray(kOff, kOff + L * D);
        const P = blocks.take(0, rows * L);
        be.gemm({ a: Qb, b: KL, m: rows, n: L, k: D, transB: true, out: P });
        probsFromLse(P, blk, lse, (b * Hkv + g) * R + r0);
        // dV_L += Pᵀ·dO_blk: (L,rows)·(rows,D) — the sum over the group's query heads is the inner dim
        if (dv)
          be.gemm({ a: P, b: dOb, m: L, n: D, k: rows, transA: true, beta: 1, out: dv.subarray(kOff, kOff + L * D) });
        if (!dq && !dk) continue;
        // dP = dO_blk·V_Lᵀ: (rows,D)·(D,L), then dS in place
        const dS = blocks.take(1, rows * L);
        be.gemm({ a: dOb, b: V.subarray(kOff, kOff + L * D), m: rows, n: L, k: D, transB: true, out: dS });
        softmaxBackwardRows(P, dS, blk, delta, r0);
        // dQ_blk = dS·K_L (·scale on the way back): (rows,L)·(L,D);  dK_L += dSᵀ·(scale·Q_blk): (L,rows)·(rows,D)
        if (dQt) be.gemm({ a: dS, b: KL, m: rows, n: D, k: L, out: dQt.subarray(r0 * D, (r0 + rows) * D) });
        if (dk)
          be.gemm({ a: dS, b: Qb, m: L, n: D, k: rows, transA: true, beta: 1, out: dk.subarray(kOff, kOff + L * D) });
      }
      if (dq && dQt) fromTokenMajor(dQt, dq, qOff, p, p.scale, null);
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
  return record('scaledDotProductAttention', [q, k, v], out, (dO, needs) =>
    sdpaBackward(p, Q, K, V, O, lse, dO, needs),
  );
}

/**
 * The attention probabilities softmax(scale·q·kᵀ + mask) as (B,H,T,S) — HF's `output_attentions`,
 * for inspection and plots (not differentiable; O(B·H·T·S) memory). Masked entries are exactly 0; a
 * row with no key left is all zeros.
 */
export function attentionWeights(q: Tensor, k: Tensor, opts: SdpaOptions = {}): Tensor {
  const p = makePlan('attentionWeights', q, k, null, opts);
  const { B, H, T, S, D, rep } = p;
  const W = new Float32Array(B * H * T * S);
  const lse = scratch64('lse', T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const qOff = (b * H + h) * T * D;
      const kOff = (b * p.Hkv + Math.floor(h / rep)) * S * D;
      const out = W.subarray((b * H + h) * T * S, (b * H + h + 1) * T * S);
      getBackend().gemm({
        a: q.f32.subarray(qOff, qOff + T * D),
        b: k.f32.subarray(kOff, kOff + S * D),
        m: T,
        n: S,
        k: D,
        transB: true,
        alpha: p.scale,
        out,
      });
      const blk: RowBlock = {
        rows: T,
        L: S,
        rep: 1,
        i0: 0,
        causal: p.causal,
        offset: p.offset,
        bias: p.bias,
        biasOff: b * S,
      };
      softmaxRows(out, blk, lse, 0, null);
    }
  }
  return new Tensor(W, [B, H, T, S]);
}

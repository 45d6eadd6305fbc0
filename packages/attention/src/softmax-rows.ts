// softmax-rows.ts — the row-wise half of attention: masked softmax (f32, max-subtracted), its log-sum-exp, its recompute and backward.
//
// A block is a chunk of query positions of one kv group of one sequence, all rep query heads of the
// group interleaved token-major (see RowBlock). Masks arrive as a causal limit per row and an additive
// key bias (0 keep, −∞ pad) shared by every row of the sequence, so nothing mask-shaped is allocated.
import { causalLimit } from './masks.js';
import { type RowKernels, rowKernels } from './wasm-rows.js';

// exp(v) for v ≤ 0 (every exponent here is a score minus its row max or log-sum-exp):
// v = −(k/32)·ln2 + r with r ∈ (−ln2/32, 0], exp(v) = 2^(−k/32)·e^r, e^r by a degree-4 Taylor
// polynomial (|error| < 1e-10 on that range). Two table reads instead of Math.exp's full range
// reduction: ~2× faster in V8, and this loop runs T·S times per head per pass.
const K_PER_V = 32 * Math.LOG2E;
const LN2_OVER_32 = Math.LN2 / 32;
const FRAC = Float64Array.from({ length: 32 }, (_, j) => 2 ** (-j / 32)); // 2^(−j/32)
const POW2 = Float64Array.from({ length: 160 }, (_, i) => 2 ** -i); // 2^(−i), down to the f32 range
/** Below this e^v < 2^−144: zero in f32, and the table would run out. Also catches −∞. */
const UNDERFLOW = -99;

/** e^v for v ≤ ~0 (tiny positive rounding residue is fine), relative error ~1e-9; 0 below −99 and for −∞. */
export function expNonPositive(v: number): number {
  if (v < UNDERFLOW) return 0;
  const k = (-v * K_PER_V) | 0; // truncation = floor, since −v·K ≥ 0
  const r = v + k * LN2_OVER_32;
  const p = 1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24))));
  return p * (FRAC[k & 31] as number) * (POW2[k >> 5] as number);
}

/**
 * Geometry and mask of one block of score rows, laid out token-major: row r is query position
 * i = i0 + ⌊r/rep⌋ of query head (r mod rep) of the group, and holds the scores of keys [0, L).
 * Key j is visible to row r when j < limit(i) (causal, capped at L) and bias[biasOff + j] is 0.
 */
export interface RowBlock {
  rows: number;
  /** Keys in this block (row length): every key a row of the block may see lies in [0, L). */
  L: number;
  rep: number;
  i0: number;
  causal: boolean;
  offset: number;
  /** Additive key bias of every sequence (B·S): 0 keep, −∞ pad; null when no key is padding. */
  bias: Float32Array | null;
  /** Where this block's sequence starts in `bias` (b·S). */
  biasOff: number;
  /** Byte offset of a copy of this sequence's bias row in the SIMD kernels' memory (used when the block lives there). */
  biasPtr?: number;
}

/** Keys [0, limit) that row r may see under the causal rule. */
function rowLimit(blk: RowBlock, r: number): number {
  return causalLimit(blk.i0 + Math.floor(r / blk.rep), blk.offset, blk.L, blk.causal);
}

/** The SIMD kernels when `buf` lives in their memory (sdpa's score blocks do), else null: scalar JS. */
function simdFor(buf: Float32Array): RowKernels | null {
  const k = rowKernels();
  return k && buf.buffer === k.memory.buffer ? k : null;
}

// Scalar loops over buf[o + j], j ∈ [from, to): the whole row without SIMD, the last n mod 8 with it.
function maxJs(buf: Float32Array, o: number, from: number, to: number, blk: RowBlock): number {
  const { bias, biasOff } = blk;
  let mx = Number.NEGATIVE_INFINITY;
  for (let j = from; j < to; j++) {
    const s = (buf[o + j] as number) + (bias === null ? 0 : (bias[biasOff + j] as number));
    if (s > mx) mx = s;
  }
  return mx;
}
function expJs(buf: Float32Array, o: number, from: number, to: number, blk: RowBlock, sub: number): number {
  const { bias, biasOff } = blk;
  let sum = 0;
  for (let j = from; j < to; j++) {
    const e = expNonPositive((buf[o + j] as number) + (bias === null ? 0 : (bias[biasOff + j] as number)) - sub);
    buf[o + j] = e;
    sum += e;
  }
  return sum;
}

/** max_j<lim of row o (scores + bias). */
function rowMax(k: RowKernels | null, buf: Float32Array, o: number, lim: number, blk: RowBlock): number {
  const n8 = k ? lim & ~7 : 0;
  let mx = Number.NEGATIVE_INFINITY;
  if (k && n8 > 0) {
    const p = buf.byteOffset + o * 4;
    mx = blk.bias === null ? k.rowMax(p, n8) : k.rowMaxBias(p, blk.biasPtr as number, n8);
  }
  return Math.max(mx, maxJs(buf, o, n8, lim, blk));
}

/** Row o, keys j < lim: x ← exp(x + bias − sub) in place; returns the row sum. */
function rowExp(k: RowKernels | null, buf: Float32Array, o: number, lim: number, blk: RowBlock, sub: number): number {
  const n8 = k ? lim & ~7 : 0;
  let sum = 0;
  if (k && n8 > 0) {
    const p = buf.byteOffset + o * 4;
    sum = blk.bias === null ? k.expRow(p, n8, sub) : k.expRowBias(p, blk.biasPtr as number, n8, sub);
  }
  return sum + expJs(buf, o, n8, lim, blk, sub);
}

/**
 * In place: scaled scores → unnormalised probabilities e = exp(s − max), row by row; masked keys get
 * exactly 0. lse[lseOff + r] = max + log Σe is kept for the backward. With `rowScale` the rows stay
 * unnormalised and rowScale[r] = 1/Σe is returned instead (the caller scales the D-wide output row,
 * cheaper than the L-wide probability row); without it the rows are normalised here. A row with no
 * key left gets e = 0, scale 0 and lse = −∞, so its output and gradients are 0, not NaN.
 */
export function softmaxRows(
  buf: Float32Array,
  blk: RowBlock,
  lse: Float64Array,
  lseOff: number,
  rowScale: Float64Array | null,
): void {
  const k = simdFor(buf);
  const { rows, L } = blk;
  for (let r = 0; r < rows; r++) {
    const lim = rowLimit(blk, r);
    const o = r * L;
    const mx = rowMax(k, buf, o, lim, blk);
    buf.fill(0, o + lim, o + L);
    if (mx === Number.NEGATIVE_INFINITY) {
      buf.fill(0, o, o + lim);
      lse[lseOff + r] = Number.NEGATIVE_INFINITY;
      if (rowScale) rowScale[r] = 0;
      continue;
    }
    const sum = rowExp(k, buf, o, lim, blk, mx); // ≥ 1: the max itself contributes e^0
    lse[lseOff + r] = mx + Math.log(sum);
    const inv = 1 / sum;
    if (rowScale) rowScale[r] = inv;
    else for (let j = o; j < o + lim; j++) buf[j] = (buf[j] as number) * inv;
  }
}

/** In place: recomputed scaled scores → the forward's probabilities, P = exp(s + bias − lse). */
export function probsFromLse(buf: Float32Array, blk: RowBlock, lse: Float64Array, lseOff: number): void {
  const k = simdFor(buf);
  const { rows, L } = blk;
  for (let r = 0; r < rows; r++) {
    const l = lse[lseOff + r] as number;
    const o = r * L;
    const lim = l === Number.NEGATIVE_INFINITY ? 0 : rowLimit(blk, r);
    rowExp(k, buf, o, lim, blk, l);
    buf.fill(0, o + lim, o + L);
  }
}

/**
 * In place: dP → dS = P ⊙ (dP − Δ), the softmax backward, with Δ[r] = rowsum(dO ⊙ O) (equal to
 * Σ_j P·dP, so P's row sums are never needed). `delta` holds this block's rows.
 */
export function softmaxBackwardRows(
  P: Float32Array,
  dP: Float32Array,
  blk: RowBlock,
  delta: Float64Array,
  deltaOff: number,
): void {
  const k = simdFor(P) && simdFor(dP);
  const { rows, L } = blk;
  for (let r = 0; r < rows; r++) {
    const dot = delta[deltaOff + r] as number;
    const lim = rowLimit(blk, r);
    const o = r * L;
    const n8 = k ? lim & ~7 : 0;
    if (k && n8 > 0) k.dsRow(P.byteOffset + o * 4, dP.byteOffset + o * 4, n8, dot);
    for (let j = o + n8; j < o + lim; j++) dP[j] = (P[j] as number) * ((dP[j] as number) - dot);
    dP.fill(0, o + lim, o + L);
  }
}

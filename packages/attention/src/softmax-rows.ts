// softmax-rows.ts — the row-wise half of attention: masked softmax (f32, max-subtracted), its log-sum-exp, its recompute and backward.
//
// A block holds R = rep·T rows of S scaled scores, one kv group of one sequence: rows are (head, query)
// with the query index i = r mod T. Masks arrive as a causal limit per row and an additive key bias
// (0 keep, −∞ pad) shared by every row of the sequence, so nothing mask-shaped is allocated here.
import { causalLimit } from './masks.js';

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

/** Geometry and mask of one block: rows r = (head, i), i = r mod T; keys [0, limit(i)) with bias[biasOff + j]. */
export interface RowBlock {
  rows: number;
  T: number;
  S: number;
  causal: boolean;
  offset: number;
  /** Additive key bias of every sequence (B·S), or null when no key is padding. */
  bias: Float32Array | null;
  /** Where this block's sequence starts in `bias` (b·S). */
  biasOff: number;
}

/**
 * In place: scaled scores → probabilities, row by row. Masked keys (past the causal limit or with
 * bias −∞) get exactly 0. lse[lseOff + r] = max + log Σ exp(s − max), kept for the backward; a row
 * with no key left gets probabilities 0 and lse = −∞ (so its output and gradients are 0, not NaN).
 */
export function softmaxRows(buf: Float32Array, blk: RowBlock, lse: Float64Array, lseOff: number): void {
  const { rows, T, S, causal, offset, bias, biasOff } = blk;
  for (let r = 0; r < rows; r++) {
    const lim = causalLimit(r % T, offset, S, causal);
    const o = r * S;
    let mx = Number.NEGATIVE_INFINITY;
    if (bias === null) {
      for (let j = 0; j < lim; j++) if ((buf[o + j] as number) > mx) mx = buf[o + j] as number;
    } else {
      for (let j = 0; j < lim; j++) {
        const s = (buf[o + j] as number) + (bias[biasOff + j] as number);
        if (s > mx) mx = s;
      }
    }
    if (mx === Number.NEGATIVE_INFINITY) {
      buf.fill(0, o, o + S);
      lse[lseOff + r] = Number.NEGATIVE_INFINITY;
      continue;
    }
    let sum = 0;
    if (bias === null) {
      for (let j = 0; j < lim; j++) {
        const e = expNonPositive((buf[o + j] as number) - mx);
        buf[o + j] = e;
        sum += e;
      }
    } else {
      for (let j = 0; j < lim; j++) {
        const e = expNonPositive((buf[o + j] as number) + (bias[biasOff + j] as number) - mx);
        buf[o + j] = e;
        sum += e;
      }
    }
    const inv = 1 / sum; // sum ≥ 1: the max itself contributes e^0
    for (let j = 0; j < lim; j++) buf[o + j] = (buf[o + j] as number) * inv;
    buf.fill(0, o + lim, o + S);
    lse[lseOff + r] = mx + Math.log(sum);
  }
}

/** In place: recomputed scaled scores → the forward's probabilities, P = exp(s + bias − lse). */
export function probsFromLse(buf: Float32Array, blk: RowBlock, lse: Float64Array, lseOff: number): void {
  const { rows, T, S, causal, offset, bias, biasOff } = blk;
  for (let r = 0; r < rows; r++) {
    const l = lse[lseOff + r] as number;
    const o = r * S;
    const lim = l === Number.NEGATIVE_INFINITY ? 0 : causalLimit(r % T, offset, S, causal);
    if (bias === null) {
      for (let j = 0; j < lim; j++) buf[o + j] = expNonPositive((buf[o + j] as number) - l);
    } else {
      for (let j = 0; j < lim; j++) buf[o + j] = expNonPositive((buf[o + j] as number) + (bias[biasOff + j] as number) - l);
    }
    buf.fill(0, o + lim, o + S);
  }
}

/**
 * In place: dP → dS = P ⊙ (dP − rowsum(dO ⊙ O)), the softmax backward with the row dot product
 * taken from the outputs (Σ_j P·dP = dO·O per row), so P's row sums are never needed.
 * dO and O are this block's (rows, D) slices.
 */
export function softmaxBackwardRows(P: Float32Array, dP: Float32Array, blk: RowBlock, dO: Float32Array, O: Float32Array, D: number): void {
  const { rows, T, S, causal, offset } = blk;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let d = r * D; d < (r + 1) * D; d++) dot += (dO[d] as number) * (O[d] as number);
    const lim = causalLimit(r % T, offset, S, causal);
    const o = r * S;
    for (let j = o; j < o + lim; j++) dP[j] = (P[j] as number) * ((dP[j] as number) - dot);
    dP.fill(0, o + lim, o + S);
  }
}

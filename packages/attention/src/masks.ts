// masks.ts — which keys a query may see: causal (kv ≤ q + offset) AND the 2-D attention_mask (1 keep, 0 pad).
//
// The kernel never materialises a (T,S) mask per head: it reads `attentionMask` once per sequence as
// an additive key bias (0 keep, −∞ pad) and stops each row at its causal limit. The boolean helpers
// here describe the very same rule (they call the same two functions) for teaching, plotting and tests.
import { ShapeError, shapeStr, type Tensor } from '@tslora/core-tensor';

/** What decides the mask: the same options `scaledDotProductAttention` takes. */
export interface MaskSpec {
  /** (B,S): 1 keep, 0 pad. Masks keys only, as in HF transformers. */
  attentionMask?: Tensor | undefined;
  /** Query row i sees key j only when j ≤ i + queryOffset. */
  causal?: boolean | undefined;
  /** Position of the first query row among the S keys (cached decoding); default S − T. */
  queryOffset?: number | undefined;
}

/**
 * Number of leading keys query row `i` may see under the causal rule: keys [0, limit).
 * Without `causal` every key is in range.
 */
export function causalLimit(i: number, queryOffset: number, keyLength: number, causal: boolean): number {
  return causal ? Math.max(0, Math.min(keyLength, i + queryOffset + 1)) : keyLength;
}

/**
 * Checks an attention_mask against (B,S) and returns it as one additive bias row per sequence:
 * 0 where the key is kept, −∞ where it is padding. `null` when there is no mask (all keys kept).
 * Accepts i32 or f32 0/1 values (nonzero = keep).
 */
export function keyBias(
  attentionMask: Tensor | undefined,
  batch: number,
  keyLength: number,
  op: string,
): Float32Array | null {
  if (attentionMask === undefined) return null;
  const m = attentionMask;
  if (m.ndim !== 2 || m.shape[0] !== batch || m.shape[1] !== keyLength) {
    throw new ShapeError(
      `${op}: attentionMask has shape ${shapeStr(m.shape)} but the keys need (B,S) = ${shapeStr([batch, keyLength])}`,
      {
        hint: 'attention_mask is (batch, key length) with 1 for real tokens and 0 for padding; with a KV cache it covers every cached key',
      },
    );
  }
  const bias = new Float32Array(batch * keyLength);
  const d = m.data;
  for (let i = 0; i < bias.length; i++) bias[i] = (d[i] as number) !== 0 ? 0 : Number.NEGATIVE_INFINITY;
  return bias;
}

/**
 * Resolves and checks queryOffset for T causal queries over S keys; default S − T (the queries are
 * the last T positions, as in cached decoding). Without the causal rule the offset plays no part: 0.
 */
export function resolveQueryOffset(
  queryOffset: number | undefined,
  queryLength: number,
  keyLength: number,
  causal: boolean,
  op: string,
): number {
  if (!causal) return 0;
  const off = queryOffset ?? keyLength - queryLength;
  if (!Number.isInteger(off) || off < 0 || off + queryLength > keyLength) {
    throw new ShapeError(
      `${op}: queryOffset ${queryOffset} does not place ${queryLength} query rows inside ${keyLength} keys (needs 0 ≤ offset ≤ ${keyLength - queryLength})`,
      { hint: 'with a KV cache pass queryOffset = the cache length before this step, i.e. S − T' },
    );
  }
  return off;
}

/**
 * The combined mask as booleans: keep[(b·T + i)·S + j] = 1 when query i of sequence b may attend to
 * key j (causal AND attention_mask), else 0. For teaching, plots and tests — O(B·T·S) memory.
 */
export function buildKeepMask(batch: number, queryLength: number, keyLength: number, spec: MaskSpec = {}): Uint8Array {
  const bias = keyBias(spec.attentionMask, batch, keyLength, 'buildKeepMask');
  const causal = spec.causal ?? false;
  const off = resolveQueryOffset(spec.queryOffset, queryLength, keyLength, causal, 'buildKeepMask');
  const keep = new Uint8Array(batch * queryLength * keyLength);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < queryLength; i++) {
      const lim = causalLimit(i, off, keyLength, causal);
      const row = (b * queryLength + i) * keyLength;
      for (let j = 0; j < lim; j++) keep[row + j] = bias === null || bias[b * keyLength + j] === 0 ? 1 : 0;
    }
  }
  return keep;
}

/** Rows (b, i) of a keep mask that have no key at all: their attention output is zeros, by definition. */
export function fullyMaskedRows(keep: Uint8Array, rows: number, keyLength: number): boolean[] {
  const out: boolean[] = [];
  for (let r = 0; r < rows; r++) out.push(keep.subarray(r * keyLength, (r + 1) * keyLength).every((v) => v === 0));
  return out;
}

/**
 * One sequence's mask as text, a row per query: `■` kept, `·` masked, e.g. causal over a padded
 * sequence `[1,1,0]` gives `■··` / `■■·` / `■■·`.
 */
export function describeMask(keep: Uint8Array, queryLength: number, keyLength: number, batchIndex = 0): string {
  const lines: string[] = [];
  for (let i = 0; i < queryLength; i++) {
    const row = keep.subarray(
      (batchIndex * queryLength + i) * keyLength,
      (batchIndex * queryLength + i + 1) * keyLength,
    );
    lines.push(Array.from(row, (v) => (v ? '■' : '·')).join(''));
  }
  return lines.join('\n');
}

// teaching.ts — the seed's teaching example: what each attention_mask row does to the attention weights, as numbers and as an SVG.
//
// The seed gives X as a 5×3 input and five mask rows of length 3. Read here the way Hugging Face
// batches are read: X is a batch of 5 sequences of 3 tokens (one feature per token, D = 1), and mask
// row b is `attention_mask[b]` for sequence b (shape (B,S) = (5,3), 1 keep, 0 pad). Self-attention
// with Q = K = V = X (no projections, so every number can be checked by hand): score(i,j) = x_i·x_j
// (scale D^−0.5 = 1), weights = softmax over the keys the mask keeps. A masked key's column becomes
// 0 and each row renormalises over the remaining keys; mask [0,0,0] leaves no key at all, and tslora
// defines that row as zeros (HF eager would print a uniform row; a naive −∞ mask would print NaN).
import { Tensor } from '@tslora/core-tensor';
import { buildKeepMask } from './masks.js';
import { plotAttention } from './plot.js';
import { attentionWeights, scaledDotProductAttention } from './sdpa.js';

/** The fixed input: 5 sequences (rows) × 3 tokens, one feature each. */
export const TEACHING_X: readonly (readonly number[])[] = [
  [1.0, 0.5, -1.0],
  [0.2, 1.5, 0.7],
  [-0.5, 0.3, 1.2],
  [0.9, -0.4, 0.1],
  [1.1, 0.6, -0.8],
];

/** The seed's mask rows, attention_mask[b] of sequence b. */
export const TEACHING_MASKS: readonly (readonly number[])[] = [
  [1, 1, 0],
  [1, 0, 0],
  [1, 1, 1],
  [0, 0, 0],
  [1, 0, 1],
];

/** Everything the example computes, as plain nested arrays (sequence, query, key). */
export interface MaskTeachingExample {
  x: number[][];
  masks: number[][];
  causal: boolean;
  /** (5,3,3) weights with no mask at all (causal ones if `causal`). */
  unmasked: number[][][];
  /** (5,3,3) weights under attention_mask[b] (AND causal if `causal`). */
  masked: number[][][];
  /** (5,3,3) the combined mask: 1 where query i may attend to key j. */
  keep: number[][][];
  /** (5,3) attention output per token under the mask (weights · x). */
  outputs: number[][];
  /** One sentence per mask row saying what it does. */
  notes: string[];
}

function nest(data: ArrayLike<number>, B: number, T: number, S: number): number[][][] {
  return Array.from({ length: B }, (_, b) =>
    Array.from({ length: T }, (_, i) => Array.from({ length: S }, (_, j) => data[(b * T + i) * S + j] as number)),
  );
}

function note(mask: readonly number[]): string {
  const kept = mask.flatMap((m, j) => (m ? [`t${j}`] : []));
  const dropped = mask.flatMap((m, j) => (m ? [] : [`t${j}`]));
  if (kept.length === 0)
    return `[${mask.join(',')}]: no key is kept, so every row is all zeros (not NaN) and the output is 0`;
  if (dropped.length === 0) return `[${mask.join(',')}]: nothing is masked; the weights equal the unmasked ones`;
  const which = dropped.length > 1 ? `keys ${dropped.join(', ')} get` : `key ${dropped[0]} gets`;
  return `[${mask.join(',')}]: ${which} weight 0 in every row; each row renormalises over ${kept.join(', ')}`;
}

/**
 * Runs the teaching example through the real kernels (attentionWeights and
 * scaledDotProductAttention with Q = K = V = X shaped (5,1,3,1)). Non-causal by default so the
 * padding effect is seen alone; `causal: true` shows the combined causal AND padding mask.
 */
export function maskTeachingExample(opts: { causal?: boolean } = {}): MaskTeachingExample {
  const causal = opts.causal ?? false;
  const [B, T] = [TEACHING_X.length, 3];
  const x = new Tensor(Float32Array.from(TEACHING_X.flat()), [B, 1, T, 1]); // (B,H=1,T,D=1)
  const attentionMask = Tensor.int(TEACHING_MASKS.flat(), [B, T]);
  const unmasked = attentionWeights(x, x, { causal });
  const masked = attentionWeights(x, x, { causal, attentionMask });
  const out = scaledDotProductAttention(x, x, x, { causal, attentionMask });
  return {
    x: TEACHING_X.map((r) => [...r]),
    masks: TEACHING_MASKS.map((r) => [...r]),
    causal,
    unmasked: nest(unmasked.data, B, T, T),
    masked: nest(masked.data, B, T, T),
    keep: nest(buildKeepMask(B, T, T, { causal, attentionMask }), B, T, T),
    outputs: Array.from({ length: B }, (_, b) => Array.from(out.f32.subarray(b * T, (b + 1) * T))),
    notes: TEACHING_MASKS.map(note),
  };
}

/**
 * The example as an SVG: the top row shows each sequence's weights without a mask, the bottom row
 * the same sequence under its attention_mask, masked cells hatched.
 */
export function maskTeachingSvg(example: MaskTeachingExample = maskTeachingExample()): string {
  const B = example.x.length;
  const unmaskedKeep = example.unmasked.map((p) =>
    p.map((r, i) => r.map((_, j) => (!example.causal || j <= i ? 1 : 0))),
  );
  return plotAttention([...example.unmasked, ...example.masked], {
    title: `attention_mask over a batch of ${B} sequences of 3 tokens (Q = K = V = X${example.causal ? ', causal' : ''})`,
    panels: [
      ...example.x.map((_, b) => `seq ${b}: no mask`),
      ...example.masks.map((m, b) => `seq ${b}: mask [${m.join(',')}]`),
    ],
    queries: ['t0', 't1', 't2'],
    keys: ['t0', 't1', 't2'],
    keep: [...unmaskedKeep, ...example.keep].flat(2),
    columns: B,
  });
}

// data/batch.ts — length-sorted, right-padded batches with attention_mask and −100 labels on padding.
import { type Random, Tensor } from '@tslora/core-tensor';
import { IGNORE_INDEX } from '../model/loss.js';
import type { Example } from './format.js';

export interface Batch {
  /** (B,T) i32, right-padded with the pad id. */
  inputIds: Tensor;
  /** (B,T) i32: 1 real token, 0 padding. */
  attentionMask: Tensor;
  /** (B,T) i32: −100 on padding and masked prompt tokens. */
  labels: Tensor;
  /** Real (non-pad) tokens in the batch. */
  tokens: number;
}

/** Pads a group of examples to its longest member. */
export function collate(examples: readonly Example[], padId: number): Batch {
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.ids.length));
  const ids = new Int32Array(B * T).fill(padId);
  const mask = new Int32Array(B * T);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  let tokens = 0;
  examples.forEach((e, b) => {
    ids.set(e.ids, b * T);
    mask.fill(1, b * T, b * T + e.ids.length);
    labels.set(e.labels, b * T);
    tokens += e.ids.length;
  });
  return {
    inputIds: new Tensor(ids, [B, T]),
    attentionMask: new Tensor(mask, [B, T]),
    labels: new Tensor(labels, [B, T]),
    tokens,
  };
}

/**
 * Groups examples of similar length (sorted by length, cut into batches of batchSize) so padding
 * is small, then orders the batches: shuffled by rng for training, as is for evaluation.
 * Returns index groups (into `examples`) so an epoch can be re-planned cheaply from a seed.
 */
export function planBatches(examples: readonly Example[], batchSize: number, rng?: Random): number[][] {
  const order = examples
    .map((_, i) => i)
    .sort((a, b) => (examples[a] as Example).ids.length - (examples[b] as Example).ids.length || a - b);
  const groups: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) groups.push(order.slice(i, i + batchSize));
  return rng ? rng.shuffle(groups) : groups;
}

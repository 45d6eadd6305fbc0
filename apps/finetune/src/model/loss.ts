// model/loss.ts — the causal-LM loss: labels shifted left by one, −100 ignored, mean over targets.
import { type CrossEntropyOptions, crossEntropy, Tensor } from '@tslora/core-tensor';

export const IGNORE_INDEX = -100;

/**
 * Targets for next-token prediction: target[b,t] = labels[b,t+1]; the last position has none.
 * labels: (B,T) i32 → (B·T) i32 — shifting the targets, not the logits, avoids copying (B,T,V).
 */
export function shiftLabels(labels: Tensor): Tensor {
  const [B, T] = labels.shape as [number, number];
  const L = labels.i32;
  const out = new Int32Array(B * T).fill(IGNORE_INDEX);
  for (let b = 0; b < B; b++) out.set(L.subarray(b * T + 1, (b + 1) * T), b * T);
  return new Tensor(out, [B * T]);
}

/** Number of positions that contribute to the loss (non-ignored shifted targets). */
export function countTargets(labels: Tensor): number {
  const [B, T] = labels.shape as [number, number];
  const L = labels.i32;
  let n = 0;
  for (let b = 0; b < B; b++) for (let t = 1; t < T; t++) if (L[b * T + t] !== IGNORE_INDEX) n++;
  return n;
}

/**
 * Mean cross-entropy over target tokens. `divisor` overrides the count (gradient accumulation:
 * the target tokens of the whole accumulated batch, so k micro-batches equal one large batch).
 * logits: (B,T,V)  labels: (B,T) i32  →  scalar
 */
export function causalLmLoss(logits: Tensor, labels: Tensor, opts: { divisor?: number } = {}): Tensor {
  const V = logits.shape[logits.ndim - 1] as number;
  const ce: CrossEntropyOptions = { ignoreIndex: IGNORE_INDEX };
  if (opts.divisor !== undefined) ce.divisor = opts.divisor;
  return crossEntropy(logits.reshape([-1, V]), shiftLabels(labels), ce);
}

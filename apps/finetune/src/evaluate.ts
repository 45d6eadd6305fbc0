// evaluate.ts — mean cross-entropy per target token over a dataset, and its perplexity.
import { crossEntropy, noGrad } from '@tslora/core-tensor';
import { type Example } from './data/format.js';
import { collate, planBatches } from './data/batch.js';
import { IGNORE_INDEX, countTargets, shiftLabels } from './model/loss.js';
import type { QwenForCausalLM } from './model/qwen.js';

export interface EvalResult {
  /** Mean negative log-likelihood per target token (nats). */
  loss: number;
  perplexity: number;
  /** Target tokens scored (−100 positions and each sequence's last token excluded). */
  tokens: number;
}

/** Sums per-token losses over every batch, then divides once: batching never changes the result. */
export function evaluate(model: QwenForCausalLM, examples: readonly Example[], opts: { batchSize: number; padId: number }): EvalResult {
  let total = 0;
  let tokens = 0;
  noGrad(() => {
    for (const group of planBatches(examples, opts.batchSize)) {
      const batch = collate(group.map((i) => examples[i] as Example), opts.padId);
      const logits = model.forward(batch.inputIds, { attentionMask: batch.attentionMask }); // (B,T,V)
      const n = countTargets(batch.labels);
      const V = logits.shape[2] as number;
      total += crossEntropy(logits.reshape([-1, V]), shiftLabels(batch.labels), { ignoreIndex: IGNORE_INDEX, reduction: 'sum' }).item();
      tokens += n;
    }
  });
  const loss = tokens > 0 ? total / tokens : Number.NaN;
  return { loss, perplexity: Math.exp(loss), tokens };
}

// evaluate.ts — mean cross-entropy per target token over a dataset, and its perplexity.
import { noGrad } from '@tslora/core-tensor';
import { collate, planBatches } from './data/batch.js';
import type { Example } from './data/format.js';
import { countTargets } from './model/loss.js';
import type { QwenForCausalLM } from './model/qwen.js';

export interface EvalResult {
  /** Mean negative log-likelihood per target token (nats). */
  loss: number;
  perplexity: number;
  /** Target tokens scored (−100 positions and each sequence's last token excluded). */
  tokens: number;
}

/** Sums per-token losses over every batch, then divides once: batching never changes the result. */
export function evaluate(
  model: QwenForCausalLM,
  examples: readonly Example[],
  opts: { batchSize: number; padId: number },
): EvalResult {
  let total = 0;
  let tokens = 0;
  noGrad(() => {
    for (const group of planBatches(examples, opts.batchSize)) {
      const batch = collate(
        group.map((i) => examples[i] as Example),
        opts.padId,
      );
      // divisor 1: the summed loss of the batch; the mean is taken once over every batch
      total += model.loss(batch.inputIds, batch.labels, { attentionMask: batch.attentionMask, divisor: 1 }).item();
      tokens += countTargets(batch.labels);
    }
  });
  const loss = tokens > 0 ? total / tokens : Number.NaN;
  return { loss, perplexity: Math.exp(loss), tokens };
}

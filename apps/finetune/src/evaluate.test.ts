// evaluate.test.ts — eval's mean loss per target token vs PyTorch, independent of batching.
import { describe, expect, it } from 'vitest';
import { readGolden } from '../test/golden.js';
import type { Example } from './data/format.js';
import { evaluate } from './evaluate.js';
import { loadModel } from './model/load.js';

describe('evaluate', () => {
  const g = readGolden('tiny-qwen2');
  const { model } = loadModel(g.dir);
  // The golden batch as two examples (row 1 without its padding), labels = ids.
  const ids = Array.from(g.int('input_ids').i32);
  const mask = Array.from(g.int('attention_mask').i32);
  const examples: Example[] = [0, 1].map((b) => {
    const row = ids.slice(b * 9, (b + 1) * 9).filter((_, t) => mask[b * 9 + t] === 1);
    return { ids: row, labels: row, truncated: false };
  });

  it('matches the PyTorch loss of the padded batch to 1e-5, for batch sizes 1 and 2', () => {
    for (const batchSize of [1, 2]) {
      const r = evaluate(model, examples, { batchSize, padId: 0 });
      expect(r.tokens).toBe(g.json.inference.num_target_tokens);
      expect(Math.abs(r.loss - g.json.inference.loss)).toBeLessThan(1e-5);
      expect(Math.abs(r.perplexity / Math.exp(g.json.inference.loss) - 1)).toBeLessThan(1e-5);
    }
  });

  it('a sequence alone scores its PyTorch loss (padding does not change a loss)', () => {
    const r = evaluate(model, [examples[1] as Example], { batchSize: 1, padId: 0 });
    expect(Math.abs(r.loss - g.json.inference.loss_seq1_alone)).toBeLessThan(1e-5);
  });
});

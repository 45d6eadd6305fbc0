// report/summary.test.ts — the EMA against its closed form, and the run summary's sums.
import { Random } from '@tslora/core-tensor';
import { describe, expect, it } from 'vitest';
import type { StepMetrics } from '../train/metrics.js';
import { emaSmooth, summarise } from './summary.js';

describe('emaSmooth', () => {
  it('equals the normalised weighted average Σ w^(k−i)(1−w)v_i / (1 − w^(k+1)) at every k', () => {
    const rng = new Random(3);
    const v = Array.from({ length: 200 }, () => 2 + rng.uniform());
    const got = emaSmooth(v, 0.9);
    for (let k = 0; k < v.length; k++) {
      let num = 0;
      for (let i = 0; i <= k; i++) num += 0.9 ** (k - i) * 0.1 * (v[i] as number);
      expect(got[k], `k=${k}`).toBeCloseTo(num / (1 - 0.9 ** (k + 1)), 10);
    }
  });

  it('starts at the first value (debiased), keeps a constant series constant, skips non-finite values', () => {
    expect(emaSmooth([5])).toEqual([5]);
    for (const s of emaSmooth([3, 3, 3, 3])) expect(s).toBeCloseTo(3, 12);
    const withNaN = emaSmooth([Number.NaN, 4, Number.POSITIVE_INFINITY, 4]);
    expect(withNaN[0]).toBeNaN();
    expect(withNaN.slice(1).map((x) => Number(x.toFixed(12)))).toEqual([4, 4, 4]);
    // weight 0 is no smoothing
    expect(emaSmooth([1, 7, 2], 0)).toEqual([1, 7, 2]);
  });
});

describe('summarise', () => {
  const row = (step: number, elapsed_s: number, extra: Partial<StepMetrics> = {}): StepMetrics => ({
    step,
    loss: 2,
    lr: 1e-4,
    grad_norm: 1,
    tokens: 100,
    tokens_per_s: 400,
    elapsed_s,
    ...extra,
  });

  it('sums wall time over resumed sessions, takes the best val loss and the steps-only throughput', () => {
    const rows = [
      row(1, 1),
      row(2, 2, { val_loss: 1.5 }),
      row(3, 3, { tokens: 300, tokens_per_s: 100 }),
      // resumed: elapsed_s restarts
      row(4, 0.5, { val_loss: 1.2 }),
      row(5, 1.5, { val_loss: 1.3 }),
    ];
    const s = summarise(rows);
    expect(s.wallS).toBeCloseTo(3 + 1.5, 12);
    expect(s.bestVal).toEqual({ loss: 1.2, step: 4 });
    // 700 tokens over 4 × 0.25 s + 3 s of step time
    expect(s.meanTokensPerS).toBeCloseTo(700 / 4, 12);
    expect(s.finalLossEma).toBeCloseTo(2, 12);
    expect(summarise([])).toEqual({ finalLossEma: undefined, bestVal: undefined, wallS: 0, meanTokensPerS: undefined });
  });
});

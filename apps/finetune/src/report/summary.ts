// report/summary.ts — numbers the report derives from metrics.jsonl: the smoothed loss curve, the best
// validation loss, wall time and throughput.
import type { StepMetrics } from '../train/metrics.js';

/** TensorBoard's default scalar smoothing weight. */
export const EMA_WEIGHT = 0.9;

/**
 * TensorBoard's debiased exponential moving average: `last = w·last + (1−w)·v`, divided by
 * `1 − w^n` after n values, so the first points are not pulled toward the zero it starts from.
 * Non-finite values are skipped and get the running value (NaN before any finite one).
 */
export function emaSmooth(values: readonly number[], weight = EMA_WEIGHT): number[] {
  let last = 0;
  let n = 0;
  return values.map((v) => {
    if (Number.isFinite(v)) {
      last = last * weight + (1 - weight) * v;
      n++;
    }
    return n === 0 ? Number.NaN : last / (1 - weight ** n);
  });
}

export interface RunSummary {
  /** The EMA-smoothed train loss at the last step: one batch's loss is noise, this is the level. */
  finalLossEma: number | undefined;
  bestVal: { loss: number; step: number } | undefined;
  /** Wall-clock seconds of the logged steps, summed over sessions (a resumed run restarts elapsed_s). */
  wallS: number;
  /** Tokens over the steps' own compute time (evaluation and checkpoints excluded). */
  meanTokensPerS: number | undefined;
}

export function summarise(rows: readonly StepMetrics[]): RunSummary {
  const ema = emaSmooth(rows.map((r) => r.loss));
  let bestVal: RunSummary['bestVal'];
  let wallS = 0;
  let tokens = 0;
  let stepS = 0;
  rows.forEach((r, i) => {
    if (r.val_loss !== undefined && Number.isFinite(r.val_loss) && (!bestVal || r.val_loss < bestVal.loss))
      bestVal = { loss: r.val_loss, step: r.step };
    const next = rows[i + 1];
    if (!next || next.elapsed_s < r.elapsed_s) wallS += r.elapsed_s; // the last row of a session
    if (r.tokens_per_s > 0) {
      tokens += r.tokens;
      stepS += r.tokens / r.tokens_per_s;
    }
  });
  const lastEma = ema[ema.length - 1];
  return {
    finalLossEma: lastEma !== undefined && Number.isFinite(lastEma) ? lastEma : undefined,
    bestVal,
    wallS,
    meanTokensPerS: stepS > 0 ? tokens / stepS : undefined,
  };
}

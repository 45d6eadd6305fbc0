// optim/schedule.ts — learning-rate schedules: linear warmup from 0, then cosine, linear or constant.
//
// The same lambdas as transformers' get_{cosine,linear,constant}_schedule_with_warmup (and
// get_cosine_with_min_lr_schedule_with_warmup for minLr), evaluated at a 0-based step: the update
// of optimizer step k (1-based) uses lrAt(k − 1), exactly as LambdaLR does — so with warmup the
// very first update has lr 0, as in Hugging Face training.
import { TsloraError } from '../errors.js';

export type ScheduleName = 'cosine' | 'linear' | 'constant';

export interface ScheduleOptions {
  /** Peak learning rate (reached at the end of warmup). */
  lr: number;
  /** Warmup steps: lr rises linearly from 0 over [0, warmup). */
  warmup: number;
  /** Total optimizer steps of the run. */
  total: number;
  schedule: ScheduleName;
  /** Floor of the cosine/linear decay (transformers' min_lr); default 0. Ignored by 'constant'. */
  minLr?: number;
}

const SCHEDULES: readonly ScheduleName[] = ['cosine', 'linear', 'constant'];

function validate(step: number, o: ScheduleOptions): void {
  const bad = (what: string): never => {
    throw new TsloraError(`lr schedule: ${what}`, {
      hint: 'use --schedule cosine|linear|constant, --warmup ≥ 0 and a learning rate ≥ --min-lr ≥ 0',
    });
  };
  if (!SCHEDULES.includes(o.schedule)) bad(`unknown schedule "${o.schedule}" (expected ${SCHEDULES.join(', ')})`);
  if (!(Number.isFinite(o.lr) && o.lr >= 0)) bad(`invalid learning rate ${o.lr}`);
  if (!(Number.isInteger(o.warmup) && o.warmup >= 0))
    bad(`warmup must be a whole number of steps ≥ 0, got ${o.warmup}`);
  if (!(Number.isInteger(o.total) && o.total >= 0)) bad(`total must be a whole number of steps ≥ 0, got ${o.total}`);
  const minLr = o.minLr ?? 0;
  if (!(Number.isFinite(minLr) && minLr >= 0 && minLr <= o.lr)) bad(`minLr ${minLr} must be in [0, lr = ${o.lr}]`);
  if (!(Number.isInteger(step) && step >= 0)) bad(`step must be a whole number ≥ 0, got ${step}`);
}

/** Multiplier of the peak lr at a 0-based step (transformers' lr_lambda). */
export function lrFactor(step: number, o: ScheduleOptions): number {
  validate(step, o);
  if (step < o.warmup) return step / Math.max(1, o.warmup);
  if (o.schedule === 'constant') return 1;
  // Clamped at 1: past `total` the lr stays at its floor (transformers' cosine would rise again).
  const progress = Math.min(1, (step - o.warmup) / Math.max(1, o.total - o.warmup));
  const decay = o.schedule === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  const rate = o.lr > 0 ? (o.minLr ?? 0) / o.lr : 0;
  return Math.max(0, decay * (1 - rate) + rate);
}

/** The learning rate for the update at 0-based `step` (see the file comment for the indexing). */
export function lrAt(step: number, o: ScheduleOptions): number {
  return o.lr * lrFactor(step, o);
}

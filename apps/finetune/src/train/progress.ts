// train/progress.ts — what `finetune train` prints: the lines before step 1 (as mlx-lm prints them) and
// the one-line progress display, each a pure function of its state so tests can pin the text.
import type { Module } from '@tslora/core-tensor';
import { trainableReport } from '@tslora/lora';
import { SingleBar } from 'cli-progress';
import type { Io } from '../cli/command.js';
import type { StepMetrics } from './metrics.js';
import type { TrainStart } from './trainer.js';

/** Seconds → `42s`, `2m05s`, `1h00m00s`; rounded to whole seconds first, so 59.6 s is `1m00s`, never `60s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const t = Math.round(seconds);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = t % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h${two(m)}m${two(s)}s`;
  if (m > 0) return `${m}m${two(s)}s`;
  return `${s}s`;
}

export interface ProgressState {
  step: number;
  total: number;
  /** The last step's loss (absent before step 1). */
  loss?: number;
  lr?: number;
  tokensPerS?: number;
  /** The latest validation loss and the step it was measured at (0: the baseline before training). */
  val?: { loss: number; step: number };
  /** Seconds left (absent until a step has been timed). */
  etaS?: number;
}

/** The progress line, e.g. `step 12/500 | loss 2.3456 | val 2.1234 @10 | lr 1.00e-4 | 1234 tok/s | ETA 2m05s`. */
export function renderProgress(s: ProgressState): string {
  const dash = '—';
  const parts = [
    `step ${s.step}/${s.total}`,
    `loss ${s.loss === undefined ? dash : s.loss.toFixed(4)}`,
    ...(s.val ? [`val ${s.val.loss.toFixed(4)} @${s.val.step}`] : []),
    `lr ${s.lr === undefined ? dash : s.lr.toExponential(2)}`,
    `${s.tokensPerS === undefined ? dash : s.tokensPerS.toFixed(0)} tok/s`,
    `ETA ${s.etaS === undefined ? dash : formatDuration(s.etaS)}`,
  ];
  return parts.join(' | ');
}

/**
 * Time left, from the steps' own compute time (tokens / tokens_per_s) plus the evaluations still to
 * come at their measured cost. A rate from wall time alone would fold each evaluation into the
 * following steps and make the estimate jump after every one.
 */
export class EtaClock {
  private stepS = 0;
  private steps = 0;
  private evalS = 0;
  private evals = 0;
  private lastWall: number | undefined;

  /** `evalAt(step)`: whether the run evaluates after that step (only when there is validation data). */
  constructor(private readonly evalAt: (step: number) => boolean) {}

  /** Notes one finished step, seen at wall-clock second `wallS` (after its evaluation, if any). */
  observe(m: StepMetrics, wallS: number): void {
    const stepTime = m.tokens_per_s > 0 ? m.tokens / m.tokens_per_s : 0;
    this.stepS += stepTime;
    this.steps++;
    // The evaluation runs between the step and this call: the rest of the interval is its cost.
    if (m.val_loss !== undefined && this.lastWall !== undefined) {
      this.evalS += Math.max(0, wallS - this.lastWall - stepTime);
      this.evals++;
    }
    this.lastWall = wallS;
  }

  /** Seconds left after `step` of `total`, or undefined before any step was observed. */
  secondsLeft(step: number, total: number): number | undefined {
    if (this.steps === 0) return undefined;
    let evalsLeft = 0;
    for (let s = step + 1; s <= total; s++) if (this.evalAt(s)) evalsLeft++;
    const perEval = this.evals > 0 ? this.evalS / this.evals : 0;
    return (total - step) * (this.stepS / this.steps) + evalsLeft * perEval;
  }
}

/** mlx-lm's line: `Trainable parameters: 0.297% (1.475M/496.405M)`. */
export function trainableLine(trainable: number, all: number): string {
  const pct = all > 0 ? (100 * trainable) / all : 0;
  return `Trainable parameters: ${pct.toFixed(3)}% (${(trainable / 1e6).toFixed(3)}M/${(all / 1e6).toFixed(3)}M)`;
}

export interface DataSummary {
  trainSamples: number;
  trainTokens: number;
  validSamples: number;
  validTokens: number;
  truncated: number;
}

type Samples = readonly { ids: readonly number[] }[];

/** The counts of loaded datasets (tokens before padding). */
export function dataSummary(d: { train: Samples; valid?: Samples; truncated: number }): DataSummary {
  const tokens = (x: Samples) => x.reduce((n, e) => n + e.ids.length, 0);
  return {
    trainSamples: d.train.length,
    trainTokens: tokens(d.train),
    validSamples: d.valid?.length ?? 0,
    validTokens: tokens(d.valid ?? []),
    truncated: d.truncated,
  };
}

const thousands = (n: number) => n.toLocaleString('en-US');

const count = (n: number, what: string) => `${thousands(n)} ${what}${n === 1 ? '' : 's'}`;

/** `Train: 1,000 samples, 52,311 tokens; valid: 100 samples, 5,120 tokens; 3 truncated to --max-seq-len`. */
export function dataLine(d: DataSummary): string {
  const valid =
    d.validSamples > 0 ? `; valid: ${count(d.validSamples, 'sample')}, ${count(d.validTokens, 'token')}` : '';
  const cut = d.truncated > 0 ? `; ${thousands(d.truncated)} truncated to --max-seq-len` : '';
  return `Train: ${count(d.trainSamples, 'sample')}, ${count(d.trainTokens, 'token')}${valid}${cut}`;
}

/** mlx-lm prints the validation loss before the first update (its "Iter 1: Val loss"): the base's loss. */
export function baselineLine(loss: number, seconds: number): string {
  return `Step 0: val loss ${loss.toFixed(4)} (before training; took ${formatDuration(seconds)})`;
}

/**
 * The display: a cli-progress line redrawn in place on a terminal (rendered by renderProgress, so the
 * first frame has values, not `{loss}`), or a plain line every 10 steps when stderr is piped.
 */
export class TrainProgress {
  private readonly bar: SingleBar | undefined;
  private readonly eta: EtaClock;
  private state: ProgressState = { step: 0, total: 0 };

  /** `evalEvery`/`hasValid`: when the run evaluates (the ETA prices the evaluations to come). */
  constructor(
    private readonly io: Io,
    tty: boolean,
    run: { evalEvery: number; hasValid: boolean },
  ) {
    this.eta = new EtaClock(
      (step) => run.hasValid && ((run.evalEvery > 0 && step % run.evalEvery === 0) || step === this.state.total),
    );
    this.bar =
      tty && !io.json
        ? new SingleBar({
            format: (_o, _p, payload: { line?: string }) => payload.line ?? '',
            stream: process.stderr,
            hideCursor: true,
          })
        : undefined;
  }

  /**
   * Before step 1: prints the trainable parameters, the data and (fresh runs with validation data) the
   * validation loss before training, then the first frame. Returns that baseline loss.
   */
  start(st: TrainStart, model: Module, data: Parameters<typeof dataSummary>[0]): number | undefined {
    const t = trainableReport(model);
    this.io.note(trainableLine(t.trainable, t.all));
    this.io.note(dataLine(dataSummary(data)));
    let baseline: number | undefined;
    if (st.step === 0 && data.valid?.length) {
      const t0 = performance.now();
      baseline = st.validate();
      if (baseline !== undefined) this.io.note(baselineLine(baseline, (performance.now() - t0) / 1000));
    }
    this.state = { step: st.step, total: st.total, lr: st.lr };
    if (baseline !== undefined) this.state.val = { loss: baseline, step: 0 };
    this.bar?.start(st.total, st.step, { line: renderProgress(this.state) });
    return baseline;
  }

  step(m: StepMetrics, total: number): void {
    this.eta.observe(m, performance.now() / 1000);
    this.state = {
      ...this.state,
      step: m.step,
      total,
      loss: m.loss,
      lr: m.lr,
      tokensPerS: m.tokens_per_s,
      ...(m.val_loss === undefined ? {} : { val: { loss: m.val_loss, step: m.step } }),
    };
    const etaS = this.eta.secondsLeft(m.step, total);
    if (etaS !== undefined) this.state.etaS = etaS;
    if (this.bar) {
      if (!this.bar.getTotal()) this.bar.start(total, m.step - 1);
      this.bar.update(m.step, { line: renderProgress(this.state) });
    } else if (!this.io.json && (m.step % 10 === 0 || m.step === total)) {
      this.io.note(
        `step ${m.step}/${total}  loss ${m.loss.toFixed(4)}${m.val_loss === undefined ? '' : `  val ${m.val_loss.toFixed(4)}`}  lr ${m.lr.toExponential(2)}  ${m.tokens_per_s.toFixed(0)} tok/s`,
      );
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}

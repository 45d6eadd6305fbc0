// train/trainer.ts — the training loop: micro-batches → loss → backward → clip → AdamW, with
// evaluation, checkpoints, metrics, resume and clean interruption.
import fs from 'node:fs';
import path from 'node:path';
import { AdamW, clipGradNorm, lrAt, type Module, Random, type Tensor, TsloraError } from '@tslora/core-tensor';
import { applyLora, type LoraConfig, saveAdapter } from '@tslora/lora';
import type { Io } from '../cli/command.js';
import { parseTargets } from '../commands/targets.js';
import type { Example } from '../data/format.js';
import { evaluate } from '../evaluate.js';
import { countTargets } from '../model/loss.js';
import type { Session } from '../session.js';
import { BatchStream } from './batches.js';
import { loadCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint.js';
import { MetricsLog, type StepMetrics } from './metrics.js';
import type { TrainOptions } from './options.js';
import { resumeConflictError, resumeConflicts, storedOptions, totalChangeNote } from './resume.js';

export interface TrainData {
  train: Example[];
  valid: Example[] | undefined;
  padId: number;
}

/** What the loop knows before its first step (after setup or resume). */
export interface TrainStart {
  /** Steps already done (a resumed run's checkpoint step; 0 for a fresh run). */
  step: number;
  total: number;
  /** Learning rate of the next step. */
  lr: number;
  /** One validation pass on the model as it is now (undefined without validation data). */
  validate(): number | undefined;
}

export interface TrainHooks {
  /** Once before the first step (the preamble: trainable parameters, data, a baseline validation loss). */
  onStart?(start: TrainStart): void;
  /** After every logged step (progress line). */
  onStep?(m: StepMetrics, total: number): void;
  /** After every evaluation and at the end (reports). */
  onEval?(rows: readonly StepMetrics[]): void;
  /** Polled between steps: true asks the loop to checkpoint and stop (SIGINT/SIGTERM/SIGHUP). */
  shouldStop?(): boolean;
  /** Polled after each update: true skips that step's evaluation and periodic save (a second Ctrl-C). */
  saveNow?(): boolean;
}

export interface TrainResult {
  steps: number;
  totalSteps: number;
  interrupted: boolean;
  finalLoss: number;
  valLoss: number | undefined;
  checkpoint: string | undefined;
  trainable: number;
  metrics: StepMetrics[];
}

/** Sets up LoRA (or full fine-tuning) on the loaded model; returns the trainable parameters. */
export function prepareModel(
  model: Module,
  o: TrainOptions,
  rng: Random,
): { params: [string, Tensor][]; lora: LoraConfig | undefined } {
  let lora: LoraConfig | undefined;
  if (o.fineTuneType === 'full') {
    model.unfreeze();
  } else {
    const n = (model as unknown as { config: { numHiddenLayers: number } }).config.numHiddenLayers;
    const layers =
      o.layers === undefined
        ? null
        : Array.from({ length: Math.min(o.layers, n) }, (_, i) => n - Math.min(o.layers as number, n) + i);
    lora = applyLora(
      model,
      {
        r: o.rank,
        alpha: o.alpha,
        dropout: o.dropout,
        targetModules: parseTargets(o.targets),
        layers,
        useRslora: o.rslora,
        init: o.init,
        seed: o.seed,
      },
      { rng },
    ).config;
  }
  // --grad-checkpoint: the model recomputes each layer in backward, replaying LoRA dropout from `rng`
  if (o.gradCheckpoint) (model as unknown as { _gradCheckpoint: { rng?: Random } | null })._gradCheckpoint = { rng };
  model.train();
  return { params: model.trainableParameters(), lora };
}

export function totalSteps(o: TrainOptions, batchesPerEpoch: number): number {
  if (o.iters !== undefined) return o.iters;
  const perEpoch = Math.max(1, Math.ceil(batchesPerEpoch / o.gradAccum));
  return Math.max(1, Math.round((o.epochs ?? 1) * perEpoch));
}

/** Runs (or resumes) training to the end or until interrupted. */
export async function train(
  s: Session,
  data: TrainData,
  o: TrainOptions,
  io: Io,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const rng = new Random(o.seed);
  const { params, lora } = prepareModel(s.model, o, rng);
  const opt = new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay });
  const ckptRoot = path.join(o.out, 'checkpoints');
  let state: TrainerState = {
    step: 0,
    epoch: 0,
    cursor: 0,
    rng: rng.state,
    optimizer: null,
    options: storedOptions(o),
  };
  let resumed: { dir: string; options: Record<string, unknown> } | undefined;
  if (o.resume) {
    const ck = loadCheckpoint(o.resume);
    const conflicts = resumeConflicts(ck.state.options, o as unknown as Record<string, unknown>, false);
    if (conflicts.length) throw resumeConflictError(ck.dir, conflicts);
    for (const [name, p] of params) {
      const w = ck.weights.get(name);
      if (!w || w.length !== p.size)
        throw new TsloraError(`--resume ${ck.dir}: checkpoint has no weights for ${name}`, { exitCode: 2 });
      p.f32.set(w);
    }
    opt.loadStateDict({ ...(ck.state.optimizer ?? {}), moments: ck.moments });
    // The next checkpoints store this invocation's options (a longer --iters, a new --save-every).
    state = { ...ck.state, options: storedOptions(o) };
    resumed = { dir: ck.dir, options: ck.state.options };
    rng.setState(state.rng);
  }
  const stream = new BatchStream(data.train, o.batchSize, data.padId, o.seed, {
    epoch: state.epoch,
    cursor: state.cursor,
  });
  const total = totalSteps(o, stream.length);
  if (resumed) checkResumedTotal(o, resumed, state.step, total, stream.length, io);
  const metrics = new MetricsLog(path.join(o.out, 'metrics.jsonl'), state.step);
  const trainable = params.reduce((n, [, p]) => n + p.size, 0);
  let lastCkpt: string | undefined;

  const save = (): string => {
    state = { ...state, epoch: stream.epoch, cursor: stream.cursor, rng: rng.state, optimizer: opt.stateDict().meta };
    lastCkpt = saveCheckpoint(
      ckptRoot,
      state,
      params,
      opt.stateDict().moments,
      o.fineTuneType === 'lora' ? (dir) => writeAdapter(dir, s, o, lora as LoraConfig) : undefined,
    );
    return lastCkpt;
  };
  const validate = (): number | undefined => {
    if (!data.valid?.length) return undefined;
    const subset = o.valBatches ? data.valid.slice(0, o.valBatches * o.batchSize) : data.valid;
    s.model.eval();
    const r = evaluate(s.model as never, subset, { batchSize: o.batchSize, padId: data.padId });
    s.model.train();
    return r.loss;
  };

  hooks.onStart?.({
    step: state.step,
    total,
    lr: lrAt(state.step, { lr: o.lr, warmup: o.warmup, total, schedule: o.schedule }),
    validate,
  });
  const t0 = performance.now();
  let interrupted = false;
  // A resumed run that has no step left (resuming a finished run) reports the checkpoint's last values.
  let lastLoss = metrics.rows.at(-1)?.loss ?? Number.NaN;
  let lastVal = metrics.rows.findLast((r) => r.val_loss !== undefined)?.val_loss;
  while (state.step < total) {
    if (hooks.shouldStop?.()) {
      interrupted = true;
      break;
    }
    const step = state.step + 1;
    const lr = lrAt(step - 1, { lr: o.lr, warmup: o.warmup, total, schedule: o.schedule });
    opt.lr = lr;
    const ts = performance.now();
    // Gradient accumulation: every micro-batch's loss is divided by the target tokens of the whole
    // step, so the summed gradient equals that of one large batch (DESIGN §4).
    const micro = Array.from({ length: o.gradAccum }, () => stream.next());
    const targets = micro.reduce((n, b) => n + countTargets(b.labels), 0);
    let loss = 0;
    let tokens = 0;
    for (const b of micro) {
      const l = s.model.loss(b.inputIds, b.labels, { attentionMask: b.attentionMask, divisor: Math.max(targets, 1) });
      l.backward();
      loss += l.item();
      tokens += b.tokens;
    }
    const gradNorm = clipGradNorm(
      params.map(([, p]) => p),
      o.maxGradNorm > 0 ? o.maxGradNorm : Number.POSITIVE_INFINITY,
    );
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      opt.zeroGrad();
      throw new TsloraError(
        `step ${step}: ${Number.isFinite(loss) ? `gradient norm is ${gradNorm}` : `loss is ${loss}`}; training stopped before applying the update`,
        {
          hint: `the last good checkpoint is ${lastCkpt ?? '(none yet: use --save-every)'}; lower --lr or --max-grad-norm`,
          exitCode: 1,
        },
      );
    }
    opt.step();
    opt.zeroGrad();
    state = { ...state, step };
    lastLoss = loss;
    const now = performance.now();
    const row: StepMetrics = {
      step,
      loss,
      lr,
      grad_norm: gradNorm,
      tokens,
      tokens_per_s: tokens / ((now - ts) / 1000),
      elapsed_s: (now - t0) / 1000,
    };
    // Signals that came during the step are seen before its evaluation: a second Ctrl-C skips it.
    await yieldToSignals();
    const evalNow = ((o.evalEvery > 0 && step % o.evalEvery === 0) || step === total) && !hooks.saveNow?.();
    if (evalNow) {
      lastVal = validate();
      if (lastVal !== undefined) row.val_loss = lastVal;
    }
    metrics.append(row);
    hooks.onStep?.(row, total);
    if (evalNow) hooks.onEval?.(metrics.rows);
    // Stopping saves this step anyway, after the loop: one checkpoint write, not two.
    if (o.saveEvery > 0 && step % o.saveEvery === 0 && step < total && !hooks.shouldStop?.()) save();
    await yieldToSignals();
  }
  save();
  if (!interrupted && o.fineTuneType === 'lora') writeAdapter(o.out, s, o, lora as LoraConfig);
  await yieldToSignals(); // a Ctrl-C during the save is heard (and may skip the reports), not left pending
  if (!hooks.saveNow?.()) hooks.onEval?.(metrics.rows);
  return {
    steps: state.step,
    totalSteps: total,
    interrupted,
    finalLoss: lastLoss,
    valLoss: lastVal,
    checkpoint: lastCkpt,
    trainable,
    metrics: metrics.rows,
  };
}

/** Lets the signal handlers run (the loop itself is synchronous compute). */
function yieldToSignals(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** A resumed run may end later or earlier than the checkpoint's run, never before the steps it has done. */
function checkResumedTotal(
  o: TrainOptions,
  ck: { dir: string; options: Record<string, unknown> },
  done: number,
  total: number,
  batchesPerEpoch: number,
  io: Io,
): void {
  const given = o.iters !== undefined ? `--iters ${o.iters}` : `--epochs ${o.epochs ?? 1} (${total} steps)`;
  if (total < done)
    throw new TsloraError(`--resume ${ck.dir}: ${given} ends before the ${done} steps the checkpoint has done`, {
      hint: `give --iters ${done} or more (or drop --iters/--epochs to keep the checkpoint's)`,
      exitCode: 2,
    });
  const was = { iters: ck.options.iters as number | undefined, epochs: ck.options.epochs as number | undefined };
  const note = totalChangeNote(o, done, totalSteps({ ...o, ...was }, batchesPerEpoch), total);
  io.note(`resumed from ${ck.dir} at step ${done}`);
  if (note) io.note(note);
}

function writeAdapter(dir: string, s: Session, o: TrainOptions, lora: LoraConfig): void {
  fs.mkdirSync(dir, { recursive: true });
  saveAdapter(dir, s.model, lora, { baseModelNameOrPath: path.resolve(o.model) });
}

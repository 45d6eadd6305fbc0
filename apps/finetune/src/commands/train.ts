// commands/train.ts — `finetune train`: LoRA (or full) fine-tuning with progress, signals and reports.
import fs from 'node:fs';
import path from 'node:path';
import { trainableReport } from '@tslora/lora';
import type { Command } from '../cli/command.js';
import { encodeRecords } from '../data/format.js';
import { type JsonlSource, readJsonl, resolveDataPaths, TRAIN_DATA, VALID_DATA } from '../data/jsonl.js';
import { checkOutDir, removeStaleTemps } from '../fs-util.js';
import { quantizeOf } from '../model/frozen-base.js';
import { writeReports } from '../report/write.js';
import { initBackend, openSession } from '../session.js';
import { checkTrainInputs, outputSizeNote } from '../train/limits.js';
import { TRAIN_FLAGS, type TrainOptions } from '../train/options.js';
import { TrainProgress } from '../train/progress.js';
import { resumeCommand } from '../train/resume.js';
import { lockTrainRun } from '../train/run-lock.js';
import { watchStopSignals } from '../train/stop.js';
import { type TrainResult, train } from '../train/trainer.js';
import { resolveTrainOptions } from './train-options.js';

/** Loads and encodes the datasets; notes truncation counts. */
export function loadTrainData(o: TrainOptions, tok: Parameters<typeof encodeRecords>[2], note: (s: string) => void) {
  const paths = resolveDataPaths(o.data, o.valid);
  const enc = (file: string, src: JsonlSource) => {
    const r = encodeRecords(file, readJsonl(file, src), tok, {
      maxSeqLen: o.maxSeqLen,
      maskPrompt: o.maskPrompt,
      strict: o.strict,
      chatThink: o.chatThink,
    });
    if (r.truncated)
      note(`note: ${file}: ${r.truncated} of ${r.examples.length} samples truncated to --max-seq-len ${o.maxSeqLen}`);
    return r;
  };
  const t = enc(paths.train, TRAIN_DATA);
  const v = paths.valid ? enc(paths.valid, o.valid ? VALID_DATA : TRAIN_DATA) : undefined;
  return { paths, train: t.examples, valid: v?.examples, truncated: t.truncated + (v?.truncated ?? 0) };
}

/** Runs one training job end to end (used by the command and by the demo). */
/** What a training run writes into --out; a fresh --force run removes these first (and nothing else). */
const RUN_OUTPUTS = [
  'checkpoints',
  'metrics.jsonl',
  'adapter_config.json',
  'adapter_model.safetensors',
  'loss.svg',
  'report.html',
];

/** The loop's result, plus what the report needs beyond it (the demo writes its own report). */
export type RunTrainResult = TrainResult & { baselineVal: number | undefined; started: Date };

/** Runs one training job holding its output locks (train/run-lock.ts) from before anything is written to every exit. */
export async function runTrain(o: TrainOptions, io: Parameters<Command['run']>[1]): Promise<RunTrainResult> {
  const shape = checkTrainInputs(o); // refusals before the model loads and before --out is touched
  const release = lockTrainRun(o, io.note);
  try {
    return await runTrainLocked(o, io, shape);
  } finally {
    release();
  }
}

async function runTrainLocked(
  o: TrainOptions,
  io: Parameters<Command['run']>[1],
  shape: ReturnType<typeof checkTrainInputs>,
): Promise<RunTrainResult> {
  if (!o.resume) checkOutDir(o.out, o.force);
  // A run killed while writing report.html or metrics leaves the atomic write's temp file behind.
  removeStaleTemps(o.out, RUN_OUTPUTS);
  initBackend(io.note);
  const s = openSession(o.model, undefined, quantizeOf(o));
  const data = loadTrainData(o, s.tokenizer, io.note);
  const padId = s.tokenizer.padTokenId ?? s.tokenizer.eosTokenIds[0] ?? 0;
  const sizeNote = o.resume ? undefined : outputSizeNote(shape, o, data.train.length);
  if (sizeNote) io.note(sizeNote);
  // An earlier run's checkpoints must not survive: --resume would later pick them up as this run's.
  // Removed only now, once model and data have loaded: a refused --force run leaves the old run whole.
  if (!o.resume) for (const f of RUN_OUTPUTS) fs.rmSync(path.join(o.out, f), { recursive: true, force: true });
  fs.mkdirSync(o.out, { recursive: true });
  const stop = watchStopSignals(io.note);
  const hasValid = (data.valid?.length ?? 0) > 0;
  const progress = new TrainProgress(io, process.stderr.isTTY === true, { evalEvery: o.evalEvery, hasValid });
  let baselineVal: number | undefined;
  const dataStats = {
    train_samples: data.train.length,
    valid_samples: data.valid?.length ?? 0,
    truncated: data.truncated,
    train_tokens: data.train.reduce((n, e) => n + e.ids.length, 0),
  };
  let trainableText = '';
  const started = new Date();
  const report = (
    rows: Parameters<typeof writeReports>[1]['metrics'],
    final: Record<string, number | string | undefined> = {},
  ) =>
    writeReports(o.out, {
      title: `LoRA fine-tune of ${path.basename(path.resolve(o.model))}`,
      options: { ...o },
      data: dataStats,
      trainable: trainableText,
      metrics: rows,
      final,
      samples: [],
      baselineVal,
      started,
    });
  try {
    const result = await train(s, { train: data.train, valid: data.valid, padId }, o, io, {
      onStart: (st) => {
        trainableText = trainableReport(s.model).text;
        baselineVal = progress.start(st, s.model, data);
      },
      onStep: (m, total) => progress.step(m, total),
      onEval: (rows) => report(rows),
      shouldStop: () => stop.signal !== undefined,
      saveNow: () => stop.saveNow,
    });
    progress.stop();
    if (!stop.saveNow)
      report(result.metrics, {
        steps: result.steps,
        final_loss: result.finalLoss,
        val_loss: result.valLoss,
        trainable: result.trainable,
      });
    return { ...result, baselineVal, started };
  } finally {
    progress.stop();
    stop.dispose();
  }
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'LoRA (or full) fine-tuning on JSONL data; writes a PEFT adapter, checkpoints, metrics and reports',
  flags: TRAIN_FLAGS,
  ownDefaults: true, // --config and --resume sit between the typed flags and the defaults
  async run(v, io) {
    const o = resolveTrainOptions(v);
    const r = await runTrain(o, io);
    const summary = {
      out: o.out,
      steps: r.steps,
      total_steps: r.totalSteps,
      interrupted: r.interrupted,
      final_loss: r.finalLoss,
      val_loss: r.valLoss,
      checkpoint: r.checkpoint,
      trainable: r.trainable,
    };
    if (io.json) io.out(JSON.stringify(summary));
    else if (r.interrupted)
      io.out(
        `interrupted at step ${r.steps}/${r.totalSteps}; checkpoint ${r.checkpoint}\nresume with: ${resumeCommand(o.out)}`,
      );
    else
      io.out(
        `trained ${r.steps} steps; final loss ${r.finalLoss.toFixed(4)}${r.valLoss === undefined ? '' : `, val loss ${r.valLoss.toFixed(4)}`}\nwrote ${o.out}: adapter_config.json, adapter_model.safetensors, metrics.jsonl, loss.svg, report.html`,
      );
    return r.interrupted ? 130 : 0; // 128 + SIGINT, as shells report an interrupted command
  },
};

// train/limits.ts — what a run asks of the model and of the disk, checked from config.json before
// the model loads and before --out exists, so a refused run costs nothing and leaves nothing.
import fs from 'node:fs';
import path from 'node:path';
import { NEVER_ADAPTED } from '@tslora/lora';
import { closest, distance } from 'fastest-levenshtein';
import { usageError } from '../cli/flags.js';
import { parseTargets } from '../commands/targets.js';
import type { QwenConfig } from '../model/config.js';
import { readConfig } from '../model/load.js';
import { memoryPlan, namedProjections } from '../model/memory-plan.js';
import type { TrainOptions } from './options.js';
import { totalSteps } from './trainer.js';

/** The parameters a run trains, from config.json and the options alone. */
export interface RunShape {
  trainable: number;
}

function checkTargets(names: readonly string[], o: TrainOptions): readonly string[] {
  const t = parseTargets(o.targets);
  if (t === 'all-linear') return names;
  if (t.length === 0) throw usageError('--targets is empty', `give module names (${names.join(',')}) or all-linear`);
  const never = t.filter((s) => NEVER_ADAPTED.includes(s));
  if (never.length)
    throw usageError(
      `--targets ${never.join(', ')}: embeddings and lm_head are never LoRA targets`,
      'drop them; --fine-tune-type full trains every weight, embeddings included',
    );
  const unknown = t.filter((s) => !names.includes(s));
  if (unknown.length) {
    const first = unknown[0] as string;
    const best = closest(first, [...names]);
    const near = distance(first, best) <= 2 ? `did you mean "${best}"? ` : '';
    throw usageError(
      `--targets ${unknown.map((s) => JSON.stringify(s)).join(', ')}: not ${unknown.length > 1 ? 'Linear layers' : 'a Linear layer'} of the model`,
      `${near}the Linear layers are ${names.join(', ')} (last path segment), or all-linear`,
    );
  }
  return t;
}

/**
 * Refuses a run the model cannot hold: unknown --targets, --layers beyond the model's layers, and a
 * LoRA rank ≥ min(in, out) of the smallest targeted weight — at that rank B·A is no smaller than the
 * weight itself (and --rank 100000 on hidden 128 wrote 8.7 GB for nothing). Returns the trainable count.
 */
export function checkRunShape(c: QwenConfig, o: TrainOptions): RunShape {
  const L = c.numHiddenLayers;
  if (o.layers !== undefined && o.layers > L)
    throw usageError(
      `--layers ${o.layers} is more than the model's ${L} decoder layer${L > 1 ? 's' : ''}`,
      `use --layers ${L} or fewer (it adapts the last N layers), or drop it to adapt all ${L}`,
    );
  if (o.fineTuneType === 'full') {
    const p = memoryPlan(c, { rank: 0, seqLen: 1, batchSize: 1, gradCheckpoint: false });
    return { trainable: (p.frozenProjectionBytes + p.exactBytes) / 4 };
  }
  const all = namedProjections(c);
  const wanted = checkTargets(
    all.map(([n]) => n),
    o,
  );
  const targeted = all.filter(([n]) => wanted.includes(n));
  const [name, i, out] = targeted.reduce((a, b) => (Math.min(b[1], b[2]) < Math.min(a[1], a[2]) ? b : a));
  const side = Math.min(i, out);
  if (o.rank >= side)
    throw usageError(
      `--rank ${o.rank} is not below min(in, out) = ${side} of ${name} (${i} → ${out}): the LoRA update B·A would be no smaller than the weight`,
      `use --rank below ${side} (8 to 64 are usual), or --fine-tune-type full to train every weight`,
    );
  const perLayer = targeted.reduce((n, [, a, b]) => n + o.rank * (a + b), 0);
  return { trainable: Math.min(o.layers ?? L, L) * perLayer };
}

/**
 * Everything about a run's inputs that can be refused before the model loads and before --out is
 * created or cleared: the model's config.json, the LoRA shape (checkRunShape), and --resume naming
 * a directory (a file or a typo would otherwise fail only after --out exists).
 */
export function checkTrainInputs(o: TrainOptions): RunShape {
  if (o.resume !== undefined) checkResumePath(o.resume);
  return checkRunShape(readConfig(o.model), o);
}

/** --resume must name a directory (a file or a typo is refused before anything is read or written). */
export function checkResumePath(resume: string): void {
  const st = fs.statSync(resume, { throwIfNoEntry: false });
  if (!st?.isDirectory())
    throw usageError(
      `--resume ${resume} ${st ? 'is a file' : 'does not exist'}`,
      'pass a run directory (its --out) or one of its checkpoints/step-N directories',
    );
}

/** Bytes a run writes into --out: each kept checkpoint holds the weights, AdamW m and v (and the adapter). */
export function outputBytes(trainable: number, o: TrainOptions, steps: number): { bytes: number; checkpoints: number } {
  const checkpoints = (o.saveEvery > 0 ? Math.floor((steps - 1) / o.saveEvery) : 0) + 1;
  const lora = o.fineTuneType === 'lora';
  const copies = checkpoints * (lora ? 4 : 3) + (lora ? 1 : 0);
  return { bytes: 4 * trainable * copies, checkpoints };
}

/** Free bytes on the filesystem that will hold `out` (its nearest existing ancestor). */
function freeBytes(out: string): number {
  let dir = path.resolve(out);
  while (!fs.existsSync(dir)) dir = path.dirname(dir);
  const st = fs.statfsSync(dir);
  return st.bavail * st.bsize;
}

export const NOTE_BYTES = 2 ** 30;

/**
 * A `note:` (or, when the disk has less room, a `warning:`) before a run that will write more than
 * NOTE_BYTES, with the knob that shrinks it; undefined for a run not worth a word.
 */
export function outputSizeNote(
  shape: RunShape,
  o: TrainOptions,
  trainSamples: number,
  free = freeBytes(o.out),
): string | undefined {
  const steps = totalSteps(o, Math.ceil(trainSamples / o.batchSize));
  const { bytes, checkpoints } = outputBytes(shape.trainable, o, steps);
  if (bytes <= NOTE_BYTES) return undefined;
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  const what = `this run will write about ${gib(bytes)} into ${o.out} (${checkpoints} checkpoint${checkpoints > 1 ? 's' : ''} of ${shape.trainable.toLocaleString('en-US')} trained parameters with their AdamW moments)`;
  const knob =
    o.saveEvery > 0
      ? 'a larger --save-every keeps fewer checkpoints'
      : o.fineTuneType === 'lora'
        ? 'a smaller --rank writes less'
        : '--fine-tune-type lora trains and writes far less';
  return bytes > free ? `warning: ${what}, more than the ${gib(free)} free there; ${knob}` : `note: ${what}; ${knob}`;
}

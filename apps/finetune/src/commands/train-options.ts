// commands/train-options.ts — flags > --config file > defaults, checked as one TrainOptions object.

import fs from 'node:fs';
import { FileFormatError, readJsonObject, refuseIfBeingWritten } from '@tslora/core-tensor';
import { closest } from 'fastest-levenshtein';
import { foreignFlagHint } from '../cli/flag-aliases.js';
import { checkValue, type FlagValues, usageError, withDefaults } from '../cli/flags.js';
import { quantizeFrom } from '../cli/quantize-flags.js';
import { readCheckpointState } from '../train/checkpoint.js';
import { checkResumePath } from '../train/limits.js';
import { camel, TRAIN_FLAGS, type TrainOptions } from '../train/options.js';
import { resumeConflictError, resumeConflicts, runDirOf } from '../train/resume.js';
import { resumeRunDir } from '../train/run-lock.js';

/** Reads a --config JSON file whose keys are flag names (`batch-size`) or field names (`batchSize`). */
function readConfigFile(file: string): FlagValues {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st || st.isDirectory())
    throw usageError(
      `--config ${file} ${st ? 'is a directory' : 'does not exist'}`,
      'pass --config a JSON file of options, e.g. {"rank": 16, "lr": 2e-4}',
    );
  const raw = readJsonObject(file, {
    missingHint: 'pass --config a JSON file of train options',
    hint: 'the file must be one JSON object of train options, e.g. {"rank": 8, "lr": 2e-4}',
  });
  const byField = new Map(Object.keys(TRAIN_FLAGS).map((f) => [camel(f), f]));
  const out: FlagValues = {};
  for (const [k, v] of Object.entries(raw)) {
    const flag = TRAIN_FLAGS[k] ? k : byField.get(k);
    if (!flag || flag === 'config') {
      // mlx-lm's YAML keys (learning_rate, num_layers) are its flag names with underscores
      const foreign = foreignFlagHint(k, Object.keys(TRAIN_FLAGS));
      throw new FileFormatError(file, `unknown option "${k}"`, {
        hint: `${foreign ? `${foreign};` : `did you mean "${closest(k, Object.keys(TRAIN_FLAGS))}"?`} see finetune train --help`,
      });
    }
    checkValue(flag, TRAIN_FLAGS[flag] as never, v, `${file}: "${k}"`);
    out[flag] = v as string | number | boolean;
  }
  return out;
}

/**
 * `--resume DIR`: the checkpoint's options under the given ones (flags and --config). A given option
 * that would make it another run is refused; a given --iters or --epochs replaces both stored ones;
 * --out defaults to the run directory holding the checkpoint.
 */
function resumedFlags(given: FlagValues, resume: string): FlagValues {
  // a run still being written may not exist yet, or has a moving checkpoint: say who writes it, first
  refuseIfBeingWritten(resumeRunDir(resume), {
    label: resume,
    hint: 'wait for that run to finish (or stop it), then resume',
  });
  checkResumePath(resume);
  const ck = readCheckpointState(resume);
  const byField = new Map(Object.keys(TRAIN_FLAGS).map((f) => [camel(f), f]));
  const givenFields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(given)) givenFields[camel(k)] = v;
  const conflicts = resumeConflicts(ck.state.options, givenFields, true);
  if (conflicts.length) throw resumeConflictError(ck.dir, conflicts);
  const stored: FlagValues = {};
  const extends_ = given.iters !== undefined || given.epochs !== undefined;
  for (const [field, v] of Object.entries(ck.state.options)) {
    const flag = byField.get(field);
    if (!flag || (extends_ && (flag === 'iters' || flag === 'epochs'))) continue;
    stored[flag] = v as string | number | boolean;
  }
  const out = given.out ?? runDirOf(ck.dir);
  if (out === undefined)
    throw usageError(
      `--resume ${resume}: ${ck.dir} is not inside a run's checkpoints/ directory, so the run's --out is unknown`,
      'give --out DIR for the resumed run',
    );
  return { ...stored, ...given, out };
}

/** Resolves the final options and refuses conflicting combinations. */
export function resolveTrainOptions(flags: FlagValues): TrainOptions {
  const fromFile = typeof flags.config === 'string' ? readConfigFile(flags.config) : {};
  const given = { ...fromFile, ...flags };
  const merged = withDefaults(
    'train',
    typeof given.resume === 'string' ? resumedFlags(given, given.resume) : given,
    TRAIN_FLAGS,
  );
  if (merged.iters !== undefined && merged.epochs !== undefined)
    throw usageError('--iters and --epochs conflict', 'give one of them');
  if (merged.quantize !== undefined && merged['fine-tune-type'] === 'full') {
    throw usageError(
      `--quantize ${merged.quantize} cannot be used with --fine-tune-type full: a quantized weight cannot be trained`,
      'drop --quantize, or train LoRA adapters (--fine-tune-type lora) on the quantized base',
    );
  }
  quantizeFrom(merged); // --q-group-size without --quantize, or with bf16
  if (
    merged['fine-tune-type'] === 'full' &&
    (flags.rank !== undefined || flags.alpha !== undefined || flags.rslora !== undefined)
  ) {
    throw usageError(
      '--rank/--alpha/--rslora apply to LoRA, not to --fine-tune-type full',
      'drop them or use --fine-tune-type lora',
    );
  }
  if (
    (merged.warmup as number) > 0 &&
    merged.iters !== undefined &&
    (merged.warmup as number) >= (merged.iters as number)
  ) {
    throw usageError(`--warmup ${merged.warmup} must be smaller than --iters ${merged.iters}`);
  }
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(merged)) if (k !== 'config' && k !== 'json' && v !== undefined) o[camel(k)] = v;
  return o as unknown as TrainOptions;
}

// train/resume.ts — what a resumed run takes from its checkpoint, what it may change, and how to say it.
//
// A checkpoint's trainer_state.json keeps every option of its run, so `train --resume DIR` needs no
// other flag. A given option may differ from the stored one only if it leaves the steps already done
// as they were: how far the run goes (--iters/--epochs; the schedule is then recomputed over the new
// total), how often it evaluates and saves, the validation file, memory tricks that compute the same
// numbers (--grad-checkpoint). Anything else (model, data, rank, seed, lr, batch size, …) would make
// the resumed steps continue a different run, and is refused naming both values.
import path from 'node:path';
import { TsloraError } from '@tslora/core-tensor';
import { camel, TRAIN_FLAGS, type TrainOptions } from './options.js';

/** Fields a resumed run may change (see the file comment). */
export const RESUME_MAY_CHANGE: ReadonlySet<string> = new Set([
  'iters',
  'epochs',
  'evalEvery',
  'saveEvery',
  'valBatches',
  'valid',
  'gradCheckpoint',
  'strict',
]);
/** Fields of one invocation, not of the run: never stored, never compared. */
const OF_INVOCATION: ReadonlySet<string> = new Set(['resume', 'out', 'force', 'config', 'json']);
/** Fields holding paths: stored absolute, compared resolved (`./runs/base` is `runs/base`). */
const PATHS: ReadonlySet<string> = new Set(['model', 'data', 'valid']);

/** What trainer_state.json keeps of the options. */
export function storedOptions(o: TrainOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (OF_INVOCATION.has(k) || v === undefined) continue;
    out[k] = PATHS.has(k) && typeof v === 'string' ? path.resolve(v) : v;
  }
  return out;
}

/** Default of each option by field name: an option newer than a checkpoint is taken at its default. */
const DEFAULTS: ReadonlyMap<string, unknown> = new Map(
  Object.entries(TRAIN_FLAGS)
    .filter(([, spec]) => spec.default !== undefined)
    .map(([flag, spec]) => [camel(flag), spec.default]),
);

export interface ResumeConflict {
  field: string;
  stored: unknown;
  given: unknown;
}

const same = (field: string, a: unknown, b: unknown): boolean =>
  PATHS.has(field) && typeof a === 'string' && typeof b === 'string'
    ? path.resolve(a) === path.resolve(b)
    : JSON.stringify(a) === JSON.stringify(b);

/**
 * Options of `given` that differ from the checkpoint's `stored` ones and are not allowed to. With
 * `onlyGiven` (the flags a user typed) an option absent from `given` is taken from the checkpoint;
 * without it (the complete options of a run) an option set on one side only differs too.
 */
export function resumeConflicts(
  stored: Record<string, unknown>,
  given: Record<string, unknown>,
  onlyGiven: boolean,
): ResumeConflict[] {
  const fields = new Set([...Object.keys(given), ...(onlyGiven ? [] : Object.keys(stored))]);
  const out: ResumeConflict[] = [];
  for (const field of fields) {
    if (RESUME_MAY_CHANGE.has(field) || OF_INVOCATION.has(field)) continue;
    if (onlyGiven && given[field] === undefined) continue;
    // a checkpoint written before the option existed ran with what is now its default
    if (!(field in stored) && same(field, DEFAULTS.get(field), given[field])) continue;
    if (!same(field, stored[field], given[field])) out.push({ field, stored: stored[field], given: given[field] });
  }
  return out;
}

/** 'batchSize' → 'batch-size'. */
export const flagName = (field: string): string => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const shown = (v: unknown): string => (v === undefined ? '(not set)' : typeof v === 'string' ? v : JSON.stringify(v));

/** The exit-2 refusal naming every conflicting option with the checkpoint's and the given value. */
export function resumeConflictError(checkpoint: string, conflicts: readonly ResumeConflict[]): TsloraError {
  const list = conflicts.map((c) => `--${flagName(c.field)} ${shown(c.given)} (checkpoint: ${shown(c.stored)})`);
  return new TsloraError(
    `--resume ${checkpoint}: ${list.join(', ')} ${conflicts.length === 1 ? 'differs' : 'differ'} from the checkpoint's run`,
    {
      hint: `${conflicts.length === 1 ? 'this option decides' : 'these options decide'} the steps already done: drop ${conflicts.length === 1 ? 'it' : 'them'} (a resumed run takes its options from trainer_state.json), or start a new run with another --out`,
      exitCode: 2,
    },
  );
}

/** The run directory of a checkpoint dir `…/RUN/checkpoints/step-N` (undefined for a step dir elsewhere). */
export function runDirOf(checkpointDir: string): string | undefined {
  const parent = path.dirname(checkpointDir);
  return path.basename(parent) === 'checkpoints' ? path.dirname(parent) : undefined;
}

/** A word for the shell: as it is when it is safe, else single-quoted. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The command that resumes the run in `out`, as the user would type it here (`pnpm finetune` from a clone). */
export function resumeCommand(out: string, env: NodeJS.ProcessEnv = process.env): string {
  const viaPnpm = env.npm_lifecycle_event === 'finetune' || env.npm_lifecycle_event === 'demo';
  return `${viaPnpm ? 'pnpm finetune' : 'finetune'} train --resume ${shellWord(out)}`;
}

/** The `note:` line when a resumed run's total differs from the checkpoint's run (undefined when it does not). */
export function totalChangeNote(o: TrainOptions, done: number, before: number, total: number): string | undefined {
  if (total === before) return undefined;
  const what = `note: the run now ends at step ${total} (the checkpoint's run: ${before})`;
  if (o.schedule === 'constant')
    return `${what}; the constant schedule's learning rate does not depend on the total, so the steps after ${done} are those of a ${total}-step run`;
  return `${what}; the ${o.schedule} schedule is recomputed over ${total} steps: steps 1–${done} stay as they were, the learning rates after step ${done} follow the new schedule`;
}

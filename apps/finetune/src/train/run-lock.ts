// train/run-lock.ts — the output locks a `train` run holds: its --out, and the run it resumes from.
import path from 'node:path';
import { lockOutputs } from '../fs-util.js';
import { recoverCheckpoints } from './checkpoint.js';
import type { TrainOptions } from './options.js';

/**
 * The run directory of a --resume path: `RUN/checkpoints/step-N` belongs to RUN (whose writer locks
 * RUN as its --out), anything else is a run directory itself.
 */
export function resumeRunDir(resume: string): string {
  const abs = path.resolve(resume);
  return path.basename(path.dirname(abs)) === 'checkpoints' ? path.dirname(path.dirname(abs)) : abs;
}

/**
 * Locks --out, and with --resume the run resumed from (when it is another directory): a run must
 * not write beside a live one, nor continue one that is still being written. Then, under the locks,
 * puts back a checkpoint that a killed re-save had set aside, so --resume sees it. Returns the
 * release function (the locks also go on exit and on a signal that nothing else handles).
 */
export function lockTrainRun(o: TrainOptions, note: (s: string) => void): () => void {
  const targets: { path: string; label?: string; hint?: string }[] = [{ path: o.out }];
  const from = o.resume ? resumeRunDir(o.resume) : undefined;
  if (from && from !== path.resolve(o.out))
    targets.push({ path: from, label: o.resume, hint: 'wait for that run to finish (or stop it), then resume' });
  const release = lockOutputs(targets, { command: 'finetune train', note });
  try {
    for (const run of [o.out, from]) if (run) recoverCheckpoints(path.join(run, 'checkpoints'));
  } catch (e) {
    release();
    throw e;
  }
  return release;
}

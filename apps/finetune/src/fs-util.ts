// fs-util.ts — output directories that appear whole or not at all, and the locks that give each output one writer.
import fs from 'node:fs';
import path from 'node:path';
import {
  buildDirAtomically as buildDir,
  checkOutDir as checkDir,
  OutputLock,
  type OutputLockOptions,
  TsloraError,
  withOutputLock,
} from '@tslora/core-tensor';
import type { Command } from './cli/command.js';

const FORCE_HINT = 'choose a new --out directory, or pass --force to replace it';

/** stat of an output path; one under a file (`--out data.jsonl/run`) is refused naming that file. */
function statOut(out: string): fs.Stats | undefined {
  try {
    return fs.statSync(out, { throwIfNoEntry: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw e;
    let file = path.dirname(path.resolve(out));
    while (!fs.existsSync(file)) file = path.dirname(file);
    throw new TsloraError(`output path ${out} is inside ${file}, which is a file`, {
      hint: 'choose a directory path for --out',
      exitCode: 2,
    });
  }
}

/**
 * Refuses an existing non-empty directory unless force (then it is replaced at the end, not before),
 * and an existing file always: --force replaces output directories, it never deletes a user's file.
 */
export function checkOutDir(out: string, force = false): void {
  statOut(out); // an --out under a file: named here, before the generic check
  checkDir(out, force, FORCE_HINT);
}

/**
 * Builds a directory in a hidden sibling temp dir, then renames it into place (core-tensor's one
 * output transaction; its recovery rule runs first). The caller holds the output's lock.
 */
export function buildDirAtomically<T>(out: string, build: (tmp: string) => T, force = false): T {
  return buildDir(out, build, force, FORCE_HINT);
}

/**
 * Takes the output locks of one command, in order; if one is held by a live writer, the ones taken
 * are released and the refusal (exit 2, naming that writer) is thrown. Returns the release function.
 */
export function lockOutputs(
  outs: readonly { path: string; label?: string; hint?: string }[],
  o: Pick<OutputLockOptions, 'command' | 'note'>,
): () => void {
  const held: OutputLock[] = [];
  const release = () => {
    for (const l of held.splice(0).reverse()) l.release();
  };
  try {
    for (const t of outs)
      held.push(
        OutputLock.acquire(t.path, {
          ...o,
          ...(t.label ? { label: t.label } : {}),
          ...(t.hint ? { hint: t.hint } : {}),
        }),
      );
  } catch (e) {
    release();
    throw e;
  }
  return release;
}

/**
 * `cmd` holding the lock of its --out for its whole run: taken before anything is written (the
 * recovery of a killed run's leftovers included), released on return, error and signals. For the
 * commands that write one output (merge, init-tiny, export); eval, generate and inspect only read.
 */
export function lockingOutput(cmd: Command): Command {
  return {
    ...cmd,
    run: (v, io) =>
      withOutputLock(String(v.out), { command: `finetune ${cmd.name}`, note: io.note }, () => cmd.run(v, io)),
  };
}

/**
 * Removes temp files that an atomic write (`.NAME.PID.HEX.tmp`, see core-tensor's writeFileAtomic)
 * left behind when its process was killed between writing and renaming, for the given NAMEs only.
 */
export function removeStaleTemps(dir: string, names: readonly string[]): void {
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) {
    if (f.endsWith('.tmp') && names.some((n) => f.startsWith(`.${n}.`))) fs.rmSync(path.join(dir, f), { force: true });
  }
}

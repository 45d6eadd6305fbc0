// fs-util.ts — output directories that appear whole or not at all.
import fs from 'node:fs';
import path from 'node:path';
import { replaceDir, TsloraError } from '@tslora/core-tensor';

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
  const st = statOut(out);
  if (st && !st.isDirectory()) {
    throw new TsloraError(`output path ${out} exists and is not a directory`, {
      hint: 'choose a directory path for --out',
      exitCode: 2,
    });
  }
  if (st && fs.readdirSync(out).length > 0 && !force) {
    throw new TsloraError(`output directory ${out} exists and is not empty`, {
      hint: 'choose a new --out directory, or pass --force to replace it',
      exitCode: 2,
    });
  }
}

/**
 * Builds a directory in a hidden sibling temp dir, then renames it into place, so a crash or a
 * failed write never leaves a half-written `out`. Leftover temp dirs from killed runs are removed.
 */
export function buildDirAtomically<T>(out: string, build: (tmp: string) => T, force = false): T {
  checkOutDir(out, force);
  const parent = path.dirname(path.resolve(out));
  fs.mkdirSync(parent, { recursive: true });
  const base = path.basename(out);
  for (const f of fs.readdirSync(parent)) {
    if (f.startsWith(`.${base}.tmp-`)) fs.rmSync(path.join(parent, f), { recursive: true, force: true });
  }
  const tmp = path.join(parent, `.${base}.tmp-${process.pid}`);
  fs.mkdirSync(tmp);
  try {
    const result = build(tmp);
    // never half-deleted; a set-aside `.old` or `.trash` of a killed run goes with the other temp dirs
    replaceDir(tmp, out);
    return result;
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
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

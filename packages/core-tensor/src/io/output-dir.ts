// io/output-dir.ts — the one output transaction: build in a temp dir beside the output, rename it in, and one recovery rule for what a killed run left.
//
// Names, all in the output's parent:  .NAME.tmp-PID-HEX         the dir being built
//                                     .NAME.tmp-PID-HEX.old     the previous NAME, set aside whole by replaceDir
//                                     .NAME.tmp-PID-HEX.trash   the previous NAME on its way out (may be partial)
// The recovery rule (recoverOutputs): a set-aside `.old` whose NAME is missing is the previous output,
// complete — it is put back; everything else is a killed run's garbage and is removed. That removes
// the temp dirs of any process, so it runs only under the output's OutputLock (or, for the
// checkpoints inside a run, under the run's lock): no live writer can be building one then.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TsloraError } from '../errors.js';
import { replaceDir, SET_ASIDE_SUFFIX } from './replace-dir.js';

const TMP_MARK = '.tmp-';

/** The output name a leftover entry belongs to (`.NAME.tmp-…` → NAME), or undefined for other entries. */
function leftoverOwner(entry: string): string | undefined {
  if (!entry.startsWith('.')) return undefined;
  const i = entry.lastIndexOf(TMP_MARK);
  return i > 1 ? entry.slice(1, i) : undefined;
}

/**
 * Applies the recovery rule to the leftovers in `parent` of the outputs whose names pass `owns`:
 * restores a set-aside output whose name is missing, removes every other temp entry. Returns the
 * paths restored. Call it holding the lock of those outputs.
 */
export function recoverOutputs(parent: string, owns: (name: string) => boolean): string[] {
  if (!fs.existsSync(parent)) return [];
  const restored: string[] = [];
  const entries = fs.readdirSync(parent).sort();
  // set-asides first: one that goes back must not be removed as garbage below
  for (const f of entries) {
    const name = leftoverOwner(f);
    if (name === undefined || !owns(name) || !f.endsWith(SET_ASIDE_SUFFIX)) continue;
    const out = path.join(parent, name);
    if (fs.existsSync(out)) continue;
    fs.renameSync(path.join(parent, f), out);
    restored.push(out);
  }
  for (const f of entries) {
    const name = leftoverOwner(f);
    if (name !== undefined && owns(name)) fs.rmSync(path.join(parent, f), { recursive: true, force: true });
  }
  return restored;
}

/** recoverOutputs for the one output `out`; true if its previous contents were put back. */
export function recoverOutput(out: string): boolean {
  const abs = path.resolve(out);
  const base = path.basename(abs);
  return recoverOutputs(path.dirname(abs), (n) => n === base).length > 0;
}

/**
 * Refuses an existing file always (replacing a directory must never delete a user's file) and an
 * existing non-empty directory unless `force` (then it is replaced at commit, not before).
 * `hint` is the caller's advice for the non-empty case (a CLI names its flags).
 */
export function checkOutDir(out: string, force = false, hint = 'choose a new or empty output directory'): void {
  const st = fs.statSync(out, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) {
    throw new TsloraError(`output path ${out} exists and is not a directory`, {
      hint: 'choose a directory path for the output',
      exitCode: 2,
    });
  }
  if (st && !force && fs.readdirSync(out).length > 0)
    throw new TsloraError(`output directory ${out} exists and is not empty`, { hint, exitCode: 2 });
}

/** A directory being built beside `out`: write into `tmp`, then commit() (or abort()). */
export class DirTransaction {
  readonly out: string;
  readonly tmp: string;
  private done = false;

  private constructor(out: string, tmp: string) {
    this.out = out;
    this.tmp = tmp;
  }

  /** Recovers `out`'s leftovers, then creates its temp dir (and missing parents). Hold the output's lock. */
  static begin(out: string): DirTransaction {
    const abs = path.resolve(out);
    recoverOutput(abs);
    const parent = path.dirname(abs);
    fs.mkdirSync(parent, { recursive: true });
    const tmp = path.join(parent, `.${path.basename(abs)}${TMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
    fs.mkdirSync(tmp);
    return new DirTransaction(abs, tmp);
  }

  /** Moves the finished temp dir to `out`, replacing an existing one (see replaceDir: never half-deleted). */
  commit(): void {
    if (this.done) throw new Error(`DirTransaction ${this.out}: already finished`);
    replaceDir(this.tmp, this.out);
    this.done = true;
  }

  /** Removes the temp dir; `out` stays as it was. Idempotent, and a no-op after commit(). */
  abort(): void {
    if (this.done) return;
    this.done = true;
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

/**
 * Builds `out` in a temp dir beside it and renames it into place: a crash or a failed write never
 * leaves a half-written `out`. Refuses a file, or a non-empty dir unless `force`. Hold the output's lock.
 */
export function buildDirAtomically<T>(out: string, build: (tmp: string) => T, force = false, hint?: string): T {
  recoverOutput(out); // first: a restored previous output counts as existing for the check
  checkOutDir(out, force, hint);
  const tx = DirTransaction.begin(out);
  try {
    const result = build(tx.tmp);
    tx.commit();
    return result;
  } catch (e) {
    tx.abort();
    throw e;
  }
}

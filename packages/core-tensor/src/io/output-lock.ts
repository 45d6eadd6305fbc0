// io/output-lock.ts — one process writes an output at a time: an O_EXCL lock file beside the output, taken over when stale.
//
// The lock is `<parent>/.<name>.lock`, beside the output rather than inside it: it can be taken before
// the output exists (init-tiny, merge and a fresh train create it), it is not moved away when a
// finished temp dir is renamed over the output (replaceDir), and a file output (export --out FILE)
// locks the same way as a directory.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TsloraError } from '../errors.js';
import { currentBootId, isAlive, type ProcessIdentity, processIdentity, sameProcess } from './process-identity.js';

/** What a lock file holds (JSON). `token` tells this lock from a later one of the same process. */
export interface LockRecord extends ProcessIdentity {
  pid: number;
  host: string;
  command: string;
  /** When the lock was taken (ISO). */
  startedAt: string;
  token: string;
}

export interface OutputLockOptions {
  /** What is writing, for the other user's error line: `finetune train`. */
  command: string;
  /** Receives the one `note:` line printed when a stale lock is taken over. */
  note?: (line: string) => void;
  /** How the output is named in messages (default: the path as given). */
  label?: string;
  /** The refusal's hint (default: wait, or choose another --out). */
  hint?: string;
}

/** Where the lock of `out` lives: `<parent>/.<name>.lock`. */
export function lockPathFor(out: string): string {
  const abs = path.resolve(out);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.lock`);
}

/** A lock file that is still empty or torn this long after it was created belongs to a writer killed between open and write. */
const TORN_LOCK_MS = 2000;
/** How long acquire() keeps retrying a lock that is being created or taken over by someone else. */
const ACQUIRE_DEADLINE_MS = 10_000;
/** Marks this module's signal listeners, so a command's own listeners can be told apart (Symbol.for: one mark across copies). */
const OWN = Symbol.for('tslora.output-lock');
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

interface Snapshot {
  text: string;
  mtimeMs: number;
}

/** The lock file's bytes and mtime, read through one descriptor so both describe the same file. */
function snapshot(file: string): Snapshot | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const mtimeMs = fs.fstatSync(fd).mtimeMs;
    return { text: fs.readFileSync(fd, 'utf8'), mtimeMs };
  } finally {
    fs.closeSync(fd);
  }
}

const sameSnapshot = (a: Snapshot | undefined, b: Snapshot): boolean =>
  a !== undefined && a.text === b.text && a.mtimeMs === b.mtimeMs;

/** The record in a lock file's text, or undefined when it is empty, torn or not a lock. */
export function parseLockRecord(text: string): LockRecord | undefined {
  let v: Partial<LockRecord>;
  try {
    v = JSON.parse(text) as Partial<LockRecord>;
  } catch {
    return undefined;
  }
  const ok =
    v !== null &&
    typeof v === 'object' &&
    Number.isInteger(v.pid) &&
    typeof v.host === 'string' &&
    typeof v.command === 'string' &&
    typeof v.startedAt === 'string' &&
    typeof v.token === 'string';
  return ok ? (v as LockRecord) : undefined;
}

/** Creates `file` with O_EXCL holding `text`; false if it already exists. A failed write leaves no file. */
function createExclusive(file: string, text: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  return true;
}

/** `started 14:02`, with the date when it was not today. */
function startedText(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return `started ${iso}`;
  const p = (n: number) => String(n).padStart(2, '0');
  const hm = `${p(d.getHours())}:${p(d.getMinutes())}`;
  const today = new Date().toDateString() === d.toDateString();
  return `started ${today ? '' : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} `}${hm}`;
}

const ownerText = (r: LockRecord): string =>
  `pid ${r.pid}${r.host === os.hostname() ? '' : ` on ${r.host}`} (${r.command}, ${startedText(r.startedAt)})`;

/** Why a lock is stale, or undefined while its writer may still be running. */
export function staleReason(r: LockRecord): string | undefined {
  // another machine's pids cannot be checked from here (a shared file system): never stale
  if (r.host !== os.hostname()) return undefined;
  const boot = currentBootId();
  if (r.bootId !== undefined && boot !== undefined && r.bootId !== boot) return 'the machine has rebooted since';
  if (!isAlive(r.pid)) return 'that process is gone';
  if (!sameProcess(r.pid, r)) return `pid ${r.pid} is now another process`;
  return undefined;
}

/** mkdir -p of the output's parent; one that runs into a file (`--out data.jsonl/run`) is a user's mistake, exit 2. */
function makeParent(out: string, dir: string): string | undefined {
  try {
    return fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTDIR') throw e;
    let file = dir;
    while (fs.existsSync(path.dirname(file)) && !fs.existsSync(file)) file = path.dirname(file);
    while (!fs.existsSync(file)) file = path.dirname(file);
    throw new TsloraError(`output path ${out} is inside ${file}, which is a file`, {
      hint: 'choose a directory path for --out',
      exitCode: 2,
    });
  }
}

/** The refusal of a second writer (exit 2), naming the live one. */
function beingWritten(label: string, owner: LockRecord, file: string, hint: string | undefined): TsloraError {
  const here = owner.host === os.hostname();
  return new TsloraError(`${label} is being written by ${ownerText(owner)}`, {
    hint: hint ?? `wait for it, or choose another --out${here ? '' : `; if that process is gone, remove ${file}`}`,
    exitCode: 2,
  });
}

/**
 * Throws the same refusal as acquire() when a live writer holds `out`, without taking the lock: for a
 * command that must read `out` before it can know what to lock (train --resume reads the run's options).
 */
export function refuseIfBeingWritten(out: string, o: { label?: string; hint?: string } = {}): void {
  const file = lockPathFor(out);
  const snap = snapshot(file);
  const owner = snap ? parseLockRecord(snap.text) : undefined;
  if (owner && owner.pid !== process.pid && staleReason(owner) === undefined)
    throw beingWritten(o.label ?? out, owner, file, o.hint);
}

/** The held lock of one output; release() it on every exit path (acquire() also releases it on exit and on signals). */
export class OutputLock {
  readonly file: string;
  readonly record: LockRecord;
  private released = false;
  private readonly createdParent: string | undefined;
  private readonly onExit = (): void => this.release();
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    // a command that handles the signal itself (train checkpoints, then exits) releases on its own exit path
    if (process.listeners(sig).some((l) => !(OWN in l))) return;
    this.release();
    // nobody else handles it: die of the signal as if no listener had been added
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };

  private constructor(file: string, record: LockRecord, createdParent: string | undefined) {
    this.file = file;
    this.record = record;
    this.createdParent = createdParent;
    Object.defineProperty(this.onSignal, OWN, { value: true });
    process.on('exit', this.onExit);
    for (const s of SIGNALS) process.on(s, this.onSignal);
  }

  /**
   * Takes the lock of `out` for this process, or throws (exit 2) naming the live writer that holds
   * it. A stale lock (its process gone, its pid now another process, the machine rebooted) is
   * taken over, with one `note:` line.
   */
  static acquire(out: string, o: OutputLockOptions): OutputLock {
    const file = lockPathFor(out);
    const createdParent = makeParent(out, path.dirname(file));
    const record: LockRecord = {
      pid: process.pid,
      host: os.hostname(),
      command: o.command,
      startedAt: new Date().toISOString(),
      ...processIdentity(process.pid),
      token: randomBytes(8).toString('hex'),
    };
    // listeners first: a signal between creating the file and listening would leave it behind
    const lock = new OutputLock(file, record, createdParent);
    try {
      lock.take(o.label ?? out, o);
    } catch (e) {
      lock.release();
      throw e;
    }
    return lock;
  }

  private take(label: string, o: OutputLockOptions): void {
    const text = `${JSON.stringify(this.record, null, 2)}\n`;
    let tookOver: string | undefined;
    const deadline = Date.now() + ACQUIRE_DEADLINE_MS;
    while (Date.now() < deadline) {
      if (createExclusive(this.file, text)) {
        if (tookOver) o.note?.(`note: ${label}: took over a stale lock of ${tookOver}`);
        removeDeadAsides(this.file);
        return;
      }
      const snap = snapshot(this.file);
      if (!snap) continue; // released meanwhile: try again
      const owner = parseLockRecord(snap.text);
      if (!owner) {
        if (Date.now() - snap.mtimeMs < TORN_LOCK_MS)
          sleepSync(20); // being written right now
        else if (takeOver(this.file, snap)) tookOver = 'a writer killed while taking it (empty lock file)';
        continue;
      }
      const why = staleReason(owner);
      if (why === undefined) throw beingWritten(label, owner, this.file, o.hint);
      if (takeOver(this.file, snap)) tookOver = `${ownerText(owner)}: ${why}`;
    }
    throw new TsloraError(`${label}: could not take the lock ${this.file} within ${ACQUIRE_DEADLINE_MS / 1000} s`, {
      hint: 'another process keeps creating it; wait for it, or choose another --out',
      exitCode: 1,
    });
  }

  /** Removes the lock (only if it is still this one) and the parent dirs acquire() created, if empty. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    for (const s of SIGNALS) process.off(s, this.onSignal);
    const snap = snapshot(this.file);
    if (snap && parseLockRecord(snap.text)?.token === this.record.token) fs.rmSync(this.file, { force: true });
    if (this.createdParent) removeCreatedDirs(this.createdParent, path.dirname(this.file));
  }
}

/**
 * Removes the stale lock judged from `snap`. Two processes may judge the same stale lock at once,
 * and the faster one may already have created its own live lock at the same path, so the lock is
 * first renamed to a private name and only deleted if it is still the judged file (same bytes and
 * mtime; each lock holds a random token); otherwise it is put back with link(), which, like O_EXCL,
 * fails rather than replace a lock created meanwhile. Returns true if it removed the stale lock.
 */
function takeOver(file: string, snap: Snapshot): boolean {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  const moved = sameSnapshot(snapshot(aside), snap);
  if (!moved) {
    try {
      fs.linkSync(aside, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  fs.rmSync(aside, { force: true });
  return moved;
}

/** Private names of locks being taken over (`.<name>.lock.stale-PID-HEX`) whose process died in between. */
function removeDeadAsides(file: string): void {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.stale-`;
  for (const f of fs.readdirSync(dir)) {
    if (!f.startsWith(prefix)) continue;
    const pid = Number(f.slice(prefix.length).split('-')[0]);
    if (!isAlive(pid)) fs.rmSync(path.join(dir, f), { force: true });
  }
}

/** rmdir from `deepest` up to `top` (the first dir mkdir created), stopping at the first that is not empty. */
function removeCreatedDirs(top: string, deepest: string): void {
  const stop = path.dirname(path.resolve(top));
  for (let d = path.resolve(deepest); d !== stop && d !== path.dirname(d); d = path.dirname(d)) {
    try {
      fs.rmdirSync(d);
    } catch {
      return;
    }
  }
}

/** Runs `fn` holding the lock of `out`; released when `fn` returns, throws, or its promise settles. */
export function withOutputLock<T>(out: string, o: OutputLockOptions, fn: (lock: OutputLock) => T): T {
  const lock = OutputLock.acquire(out, o);
  let r: T;
  try {
    r = fn(lock);
  } catch (e) {
    lock.release();
    throw e;
  }
  if (r instanceof Promise) return r.finally(() => lock.release()) as T;
  lock.release();
  return r;
}

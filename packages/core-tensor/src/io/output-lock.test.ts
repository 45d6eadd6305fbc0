// io/output-lock.test.ts — OutputLock: exclusive, refuses a live writer, takes over stale locks (one taker per race), released on every exit path.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TsloraError } from '../errors.js';
import { type LockRecord, lockPathFor, OutputLock, parseLockRecord, withOutputLock } from './output-lock.js';
import { processIdentity } from './process-identity.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tslora-lock-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(root, `out-${n++}`);
const readLock = (out: string) => parseLockRecord(fs.readFileSync(lockPathFor(out), 'utf8')) as LockRecord;

/** A lock file as another process would have left it: this process's record with `edit` applied. */
function plantLock(out: string, edit: Partial<LockRecord>): void {
  const rec: LockRecord = {
    pid: process.pid,
    host: os.hostname(),
    command: 'finetune train',
    startedAt: new Date().toISOString(),
    ...processIdentity(process.pid),
    token: 'planted',
    ...edit,
  };
  fs.writeFileSync(lockPathFor(out), JSON.stringify(rec));
}

/** The pid of a process that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function refusal(fn: () => unknown): TsloraError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TsloraError);
    return e as TsloraError;
  }
  throw new Error('expected a refusal');
}

describe('OutputLock', () => {
  it('writes pid, host, command, start times beside the output, before the output exists', () => {
    const out = path.join(fresh(), 'nested', 'run');
    const lock = OutputLock.acquire(out, { command: 'finetune merge' });
    expect(lock.file).toBe(path.join(path.dirname(out), '.run.lock'));
    expect(fs.existsSync(out)).toBe(false);
    const rec = readLock(out);
    expect(rec).toMatchObject({ pid: process.pid, host: os.hostname(), command: 'finetune merge' });
    expect(Math.abs(Date.parse(rec.startedAt) - Date.now())).toBeLessThan(5_000);
    // independent reference for the process start: now − process.uptime() (node starts a little after exec)
    const started = Date.now() - process.uptime() * 1000;
    expect(Math.abs(Date.parse(rec.processStart as string) - started)).toBeLessThan(3_000);
    lock.release();
    lock.release(); // idempotent
    expect(fs.existsSync(lock.file)).toBe(false);
    expect(fs.existsSync(path.dirname(out)), 'parents it created are removed with it').toBe(false);
  });

  it('refuses a second writer (exit 2, naming pid, command and start) and leaves the first lock as it was', () => {
    const out = fresh();
    const lock = OutputLock.acquire(out, { command: 'finetune train' });
    const before = fs.readFileSync(lock.file, 'utf8');
    const e = refusal(() => OutputLock.acquire(out, { command: 'finetune train', label: 'runs/same' }));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(
      new RegExp(`^runs/same is being written by pid ${process.pid} \\(finetune train, started \\d\\d:\\d\\d\\)$`),
    );
    expect(e.hint).toBe('wait for it, or choose another --out');
    expect(fs.readFileSync(lock.file, 'utf8')).toBe(before);
    lock.release();
    OutputLock.acquire(out, { command: 'x' }).release(); // free again
  });

  it('release() leaves alone a lock that is no longer its own', () => {
    const out = fresh();
    const lock = OutputLock.acquire(out, { command: 'a' });
    plantLock(out, { token: 'someone-else' });
    lock.release();
    expect(readLock(out).token).toBe('someone-else');
  });

  const staleCases: [string, () => Partial<LockRecord>, RegExp][] = [
    ['its pid has exited', () => ({ pid: deadPid() }), /that process is gone/],
    [
      'its pid is alive (this test) but started at another time',
      () => ({ startTicks: (processIdentity(process.pid).startTicks as number) - 1 }),
      new RegExp(`pid ${process.pid} is now another process`),
    ],
    [
      'its pid is 1 (alive) with a start time that is not init’s',
      () => ({ pid: 1, startTicks: 987_654_321 }),
      /pid 1 is now another process/,
    ],
    ['it was taken in another boot', () => ({ bootId: '00000000-0000-0000-0000-000000000000' }), /rebooted/],
  ];
  for (const [name, edit, why] of staleCases) {
    it(`takes over a stale lock when ${name}, with one note line`, () => {
      const out = fresh();
      fs.mkdirSync(path.dirname(out), { recursive: true });
      const planted = edit();
      plantLock(out, planted);
      const notes: string[] = [];
      const lock = OutputLock.acquire(out, { command: 'finetune train', note: (s) => notes.push(s), label: 'runs/x' });
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(/^note: runs\/x: took over a stale lock of pid \d+ \(finetune train, started .+\): /);
      expect(notes[0]).toMatch(why);
      expect(readLock(out).token).toBe(lock.record.token);
      lock.release();
      expect(fs.readdirSync(path.dirname(out)).filter((f) => f.startsWith(`.${path.basename(out)}.lock`))).toEqual([]);
    });
  }

  it('refuses a lock of another host (its pids cannot be checked), naming the host and the lock file', () => {
    const out = fresh();
    fs.mkdirSync(path.dirname(out), { recursive: true });
    plantLock(out, { host: 'elsewhere', pid: deadPid() });
    const e = refusal(() => OutputLock.acquire(out, { command: 'finetune train' }));
    expect(e.message).toMatch(/being written by pid \d+ on elsewhere \(finetune train/);
    expect(e.hint).toContain(lockPathFor(out));
  });

  it('an empty lock file (creator killed between open and write) is stale once older than 2 s', () => {
    const out = fresh();
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(lockPathFor(out), '');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lockPathFor(out), old, old);
    const notes: string[] = [];
    OutputLock.acquire(out, { command: 'c', note: (s) => notes.push(s) }).release();
    expect(notes[0]).toMatch(/empty lock file/);
    // a fresh empty file may be a writer between open() and write(): waited for, then taken over
    fs.writeFileSync(lockPathFor(out), '');
    const t0 = performance.now();
    OutputLock.acquire(out, { command: 'c' }).release();
    expect(performance.now() - t0).toBeGreaterThan(1_500);
  });

  it('withOutputLock releases on return, on throw and when the promise settles', async () => {
    const out = fresh();
    expect(withOutputLock(out, { command: 'c' }, () => fs.existsSync(lockPathFor(out)))).toBe(true);
    expect(fs.existsSync(lockPathFor(out))).toBe(false);
    expect(() =>
      withOutputLock(out, { command: 'c' }, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(fs.existsSync(lockPathFor(out))).toBe(false);
    const p = withOutputLock(out, { command: 'c' }, async () => {
      await new Promise((r) => setTimeout(r, 20));
      return fs.existsSync(lockPathFor(out));
    });
    expect(fs.existsSync(lockPathFor(out))).toBe(true);
    await expect(p).resolves.toBe(true);
    expect(fs.existsSync(lockPathFor(out))).toBe(false);
    expect(process.listenerCount('exit')).toBeLessThan(10); // no listener left behind per lock
  });
});

// ---- real processes ----

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const TSX = (() => {
  const pkg = createRequire(path.join(REPO, 'package.json')).resolve('tsx/package.json');
  const entry = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { exports: { '.': string | { import?: string } } })
    .exports['.'];
  return pathToFileURL(
    path.join(path.dirname(pkg), typeof entry === 'string' ? entry : (entry.import ?? 'dist/loader.mjs')),
  ).href;
})();
const MODULE = pathToFileURL(fileURLToPath(new URL('./output-lock.ts', import.meta.url))).href;

interface Held {
  proc: ChildProcess;
  out: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>;
}

/**
 * A child that waits for `go` to exist (so racers start together), tries the lock of `out`, prints
 * `got` or `refused: <message>`, then runs `then` (JS, default: hold 1.5 s and exit).
 */
function child(out: string, go: string, then = 'setTimeout(() => {}, 1500);'): Held {
  const code = `
    import fs from 'node:fs';
    const { OutputLock } = await import(${JSON.stringify(MODULE)});
    console.log('ready');
    while (!fs.existsSync(${JSON.stringify(go)})) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    try {
      const lock = OutputLock.acquire(${JSON.stringify(out)}, { command: 'racer', note: (s) => console.log(s) });
      console.log('got ' + lock.record.token);
      ${then}
    } catch (e) { console.log('refused: ' + e.message); process.exitCode = e.exitCode ?? 1; }`;
  const proc = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', code], { cwd: REPO });
  let outText = '';
  proc.stdout?.on('data', (d: Buffer) => {
    outText += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    outText += d.toString();
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) =>
    proc.on('close', (c, s) => resolve({ code: c, signal: s, out: outText })),
  );
  return { proc, done, out: () => outText };
}

const waitFor = async (pred: () => boolean, ms = 30_000) => {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('OutputLock across processes', () => {
  it('4 processes racing for one stale lock, 5 rounds: exactly one takes it over each time, the others are refused naming it', async () => {
    const ROUNDS = 3;
    const RACERS = 4;
    let tookOver = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const out = fresh();
      const go = `${out}.go`;
      fs.mkdirSync(path.dirname(out), { recursive: true });
      plantLock(out, { pid: deadPid() });
      const kids = Array.from({ length: RACERS }, () => child(out, go));
      await waitFor(() => kids.every((k) => k.out().includes('ready'))); // all at the barrier
      fs.writeFileSync(go, '');
      const results = await Promise.all(kids.map((k) => k.done));
      const winners = results.filter((r) => r.out.includes('got '));
      expect(winners, results.map((r) => r.out).join('\n---\n')).toHaveLength(1);
      const winner = kids[results.indexOf(winners[0] as (typeof results)[number])] as Held;
      // the note comes from the process that removed the stale lock, if it also won the create; at most once
      const notes = results.filter((r) => r.out.includes('took over a stale lock'));
      expect(notes.length).toBeLessThanOrEqual(1);
      if (notes[0]) expect(notes[0]).toBe(winners[0]);
      tookOver += notes.length;
      for (const r of results.filter((x) => x !== winners[0])) {
        expect(r.code, r.out).toBe(2);
        expect(r.out).toContain(`is being written by pid ${winner.proc.pid} (racer, started`);
      }
      expect(fs.readdirSync(path.dirname(out)).filter((f) => f.startsWith(`.${path.basename(out)}.lock`))).toEqual([]);
    }
    console.log(
      `[lock race] ${ROUNDS} rounds × ${RACERS} racers: 1 owner each round, the winner printed the note in ${tookOver}`,
    );
  }, 120_000);

  it('released on SIGTERM when nothing else handles it (the process still dies of SIGTERM); SIGKILL leaves it stale', async () => {
    const out = fresh();
    const go = `${out}.go`;
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(go, '');
    const a = child(out, go, 'setInterval(() => {}, 1000);');
    await waitFor(() => a.out().includes('got '));
    a.proc.kill('SIGTERM');
    const ra = await a.done;
    expect(ra.signal).toBe('SIGTERM');
    expect(fs.existsSync(lockPathFor(out))).toBe(false);

    const b = child(out, go, 'setInterval(() => {}, 1000);');
    await waitFor(() => b.out().includes('got '));
    b.proc.kill('SIGKILL');
    await b.done;
    expect(readLock(out).pid).toBe(b.proc.pid);
    const notes: string[] = [];
    OutputLock.acquire(out, { command: 'next', note: (s) => notes.push(s) }).release();
    expect(notes[0]).toMatch(new RegExp(`stale lock of pid ${b.proc.pid} \\(racer, .*that process is gone`));
  }, 60_000);

  it("a command's own SIGINT handler keeps the lock until its exit path (process.exit releases it)", async () => {
    const out = fresh();
    const go = `${out}.go`;
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(go, '');
    const c = child(
      out,
      go,
      "process.on('SIGINT', () => { console.log('checkpointing'); setTimeout(() => process.exit(130), 800); }); setInterval(() => {}, 1000);",
    );
    await waitFor(() => fs.existsSync(lockPathFor(out)));
    c.proc.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    expect(fs.existsSync(lockPathFor(out)), 'held while the command finishes its step').toBe(true);
    const r = await c.done;
    expect(r.code, r.out).toBe(130);
    expect(r.out).toContain('checkpointing');
    expect(fs.existsSync(lockPathFor(out))).toBe(false);
  }, 60_000);
});

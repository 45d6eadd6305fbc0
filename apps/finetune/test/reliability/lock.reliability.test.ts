// lock.reliability.test.ts — two processes never write one output: concurrent train / merge into one --out, SIGKILL and stale locks.
//
// The writers are real processes (the CLI as a child); the lock file beside --out is what they
// contend for. Every run trains with the same options as one solo reference run, so "the first
// writer was not disturbed" is checked bit for bit: adapter bytes and every metrics row.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lockPathFor, processIdentity } from '@tslora/core-tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectCleanError,
  expectIntactRun,
  expectRefusedWritingNothing,
  fileDigests,
  listTree,
  makeBaseAndData,
  metricRows,
  runCli,
  runMain,
  runMainOk,
  startCli,
  startTrainUntilLogged,
  stepDirs,
  tempWorkspace,
  tensorBytes,
  trainArgv,
  waitFor,
} from './harness.js';

const ws = tempWorkspace('lock', 'one writer per output (locks)');
const { root, base, data, ledger } = ws;
const ITERS = 40;

const trainArgs = (out: string, ...extra: string[]) =>
  trainArgv(
    { model: base, data, out, iters: ITERS },
    '--lr',
    '1e-3',
    '--seed',
    '5',
    '--dropout',
    '0.1',
    '--save-every',
    '5',
    ...extra,
  );

const pick = (rows: { step: number; loss: number }[]) =>
  rows.map((r) => ({
    step: r.step,
    loss: r.loss,
    lr: (r as { lr?: number }).lr,
    grad_norm: (r as { grad_norm?: number }).grad_norm,
  }));

interface Solo {
  adapter: Map<string, string>;
  rows: ReturnType<typeof pick>;
  steps: number[];
}
let solo: Solo;
const adapterDir = path.join(root, 'solo');

/** A finished run equals the solo run: adapter bits, metrics rows 1..ITERS once each, every checkpoint whole. */
function expectSameAsSolo(out: string): void {
  expect(tensorBytes(path.join(out, 'adapter_model.safetensors'))).toEqual(solo.adapter);
  expect(pick(metricRows(path.join(out, 'metrics.jsonl')))).toEqual(solo.rows);
  expect(expectIntactRun(out)).toEqual(solo.steps);
}

/** The hidden entries beside `out` that belong to it: its lock, temp dirs, set-asides. */
const besideOut = (out: string) =>
  fs.readdirSync(path.dirname(out)).filter((f) => f.startsWith(`.${path.basename(out)}.`));

const LOCKED = (pid: number | undefined, command: string) =>
  new RegExp(`is being written by pid ${pid} \\(finetune ${command}, started \\d\\d:\\d\\d\\)$`);

beforeAll(async () => {
  await makeBaseAndData(ws, 24);
  await runMainOk(trainArgs(adapterDir));
  solo = {
    adapter: tensorBytes(path.join(adapterDir, 'adapter_model.safetensors')),
    rows: pick(metricRows(path.join(adapterDir, 'metrics.jsonl'))),
    steps: stepDirs(path.join(adapterDir, 'checkpoints')),
  };
  expect(solo.rows.map((r) => r.step)).toEqual(Array.from({ length: ITERS }, (_, i) => i + 1));
});

describe('two train processes into one --out', () => {
  it('the second is refused (exit 2 naming the first pid) with and without --force, and with --resume; the first ends bit-identical to a solo run', async () => {
    const out = path.join(root, 'runs', 'same');
    const other = path.join(root, 'runs', 'other');
    // the second processes start as soon as the first holds the lock, so all its steps are still ahead
    const first = startCli(trainArgs(out));
    const pid = first.proc.pid;
    await waitFor(() => fs.existsSync(lockPathFor(out)), 60_000);
    const seconds = await Promise.all([
      runCli(trainArgs(out)),
      runCli(trainArgs(out, '--force')),
      runCli(trainArgs(other, '--resume', out)),
    ]);
    const stepsWhenRefused = metricRows(path.join(out, 'metrics.jsonl')).length;
    // and mid-run, after checkpoints exist (in this process: refused within ms, long before the first ends)
    await waitFor(() => stepDirs(path.join(out, 'checkpoints')).length >= 1, 120_000);
    expect(first.proc.exitCode, 'the first run is still writing').toBe(null);
    const midRun = await runMain(trainArgs(out, '--force'));
    const midStep = metricRows(path.join(out, 'metrics.jsonl')).length;
    seconds.push(midRun);
    const lines = seconds.map((r) => expectCleanError(r, 2, LOCKED(pid, 'train')));
    expect(lines[0]?.startsWith(`error: ${out} is being written by pid ${pid} (finetune train, started `)).toBe(true);
    for (const r of [seconds[0], seconds[1], midRun])
      expect(r?.stderr).toContain('hint: wait for it, or choose another --out');
    expect(seconds[2]?.stderr).toContain('hint: wait for that run to finish (or stop it), then resume');
    expect(fs.existsSync(other), '--resume refused before creating its --out').toBe(false);
    expect(besideOut(other)).toEqual([]);
    const r = await first.done;
    expect(r.code, r.stderr).toBe(0);
    expectSameAsSolo(out);
    expect(besideOut(out), 'lock released, no temp dirs').toEqual([]);
    ledger.add(
      `train into a live run's --out: 3 second processes (plain, --force, --resume from it) refused by step ${stepsWhenRefused}/${ITERS}, one more --force at step ${midStep} | each exit 2: ${lines[1]?.replace(root, '…')} | the first run finished exit 0, adapter bytes and ${solo.rows.length} metrics rows identical to the solo run; lock removed`,
    );
  }, 240_000);
});

describe('merge racing merge', () => {
  const mergeArgs = (out: string, ...extra: string[]) => [
    'merge',
    '--model',
    base,
    '--adapter',
    adapterDir,
    '--out',
    out,
    ...extra,
  ];
  let ref: Record<string, string>;
  beforeAll(async () => {
    const refOut = path.join(root, 'merged-ref');
    await runMainOk(mergeArgs(refOut));
    ref = fileDigests(refOut);
  });

  it('a merge started while another holds --out is refused, with and without --force; the output equals a solo merge', async () => {
    const parent = path.join(root, 'merge-race');
    fs.mkdirSync(parent);
    const ROUNDS = 3;
    let refused = 0;
    let line = '';
    for (let i = 0; i < ROUNDS; i++) {
      const out = path.join(parent, `m${i}`);
      let second: Promise<Awaited<ReturnType<typeof runMain>>> | undefined;
      // the second starts the moment the first's lock appears: it is still reading or writing then
      const watcher = fs.watch(parent, (_e, f) => {
        if (f === `.m${i}.lock` && !second) second = runMain(mergeArgs(out, ...(i % 2 ? ['--force'] : [])));
      });
      const a = startCli(mergeArgs(out));
      await waitFor(() => second !== undefined, 60_000);
      const b = await (second as NonNullable<typeof second>);
      watcher.close();
      const ra = await a.done;
      expect(ra.code, ra.stderr).toBe(0);
      line = expectCleanError(b, 2, LOCKED(a.proc.pid, 'merge'));
      refused++;
      expect(fileDigests(out)).toEqual(ref);
      expect(besideOut(out)).toEqual([]);
    }
    // started together, nobody waiting for anybody: one writes, any other is refused or, if it
    // came after the first had finished, replaces it (--force) with the same bytes
    let overlapped = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const out = path.join(parent, `together${i}`);
      const kids = [startCli(mergeArgs(out, '--force')), startCli(mergeArgs(out, '--force'))];
      const rs = await Promise.all(kids.map((k) => k.done));
      const ok = rs.filter((r) => r.code === 0);
      expect(ok.length, rs.map((r) => r.stderr).join('\n---\n')).toBeGreaterThanOrEqual(1);
      for (const [j, r] of rs.entries())
        if (r.code !== 0) {
          expectCleanError(r, 2, LOCKED(kids[1 - j]?.proc.pid, 'merge'));
          overlapped++;
        }
      expect(fileDigests(out)).toEqual(ref);
      expect(besideOut(out)).toEqual([]);
    }
    ledger.add(
      `merge into an --out another merge holds (${ROUNDS} rounds, second started when the first's lock appeared, with and without --force) | ${refused}× exit 2: ${line.replace(root, '…')} | output byte-identical to a solo merge, lock and temp dirs gone`,
    );
    ledger.add(
      `two merges --force started together (${ROUNDS} rounds) | overlapped ${overlapped}× (the later one exit 2 naming the other's pid), otherwise ran one after the other | output byte-identical to a solo merge every time`,
    );
  }, 300_000);
});

describe('SIGKILL leaves a stale lock; the next run takes it over', () => {
  it('train --resume after a SIGKILL takes over the lock with one note line and ends bit-identical to the solo run', async () => {
    const out = path.join(root, 'killed');
    const a = await startTrainUntilLogged(trainArgs(out), out, 7);
    a.proc.kill('SIGKILL');
    const ra = await a.done;
    expect(ra.signal).toBe('SIGKILL');
    const lock = JSON.parse(fs.readFileSync(lockPathFor(out), 'utf8')) as { pid: number; command: string };
    expect(lock).toMatchObject({ pid: a.proc.pid, command: 'finetune train' });
    const r = await runMainOk(trainArgs(out, '--resume', out));
    const notes = r.stderr.split('\n').filter((l) => l.startsWith('note: ') && l.includes('lock'));
    expect(notes).toEqual([
      expect.stringMatching(
        new RegExp(
          `^note: ${out}: took over a stale lock of pid ${a.proc.pid} \\(finetune train, started \\d\\d:\\d\\d\\): that process is gone$`,
        ),
      ),
    ]);
    expectSameAsSolo(out);
    expect(besideOut(out)).toEqual([]);
    // and a fresh --force run into a killed run's dir
    fs.rmSync(path.join(out, 'metrics.jsonl')); // so the wait below sees the new run's rows, not the old ones
    const b = await startTrainUntilLogged(trainArgs(out, '--force'), out, 2);
    b.proc.kill('SIGKILL');
    await b.done;
    const rb = await runMainOk(trainArgs(out, '--force'));
    expect(rb.stderr).toMatch(new RegExp(`took over a stale lock of pid ${b.proc.pid} `));
    expectSameAsSolo(out);
    ledger.add(
      `SIGKILL of a train after 7 steps, then \`--resume\`; SIGKILL after 2 steps, then \`--force\` | 2 | ${notes[0]?.replace(root, '…')}; both runs exit 0, adapter and metrics bit-identical to the solo run, lock removed`,
    );
  }, 240_000);
});

describe('a lock whose pid is alive but is another process', () => {
  /** A lock beside `out` as a writer would leave it: this test process's identity with `edit` applied. */
  const plant = (out: string, edit: Record<string, unknown>) => {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const rec = {
      pid: process.pid,
      host: os.hostname(),
      command: 'finetune train',
      startedAt: new Date(Date.now() - 3_600_000).toISOString(),
      ...processIdentity(process.pid),
      token: 'planted',
      ...edit,
    };
    fs.writeFileSync(lockPathFor(out), JSON.stringify(rec));
  };

  it('pid of this test process or pid 1 with a start time that does not match: stale, taken over; matching: refused, nothing written', async () => {
    const ticks = processIdentity(process.pid).startTicks as number;
    const cases: [string, Record<string, unknown>][] = [
      ['this test process, started 1 tick later', { startTicks: ticks + 1 }],
      ['pid 1, started at another time', { pid: 1, startTicks: ticks + 123_456 }],
    ];
    const seen: string[] = [];
    for (const [i, [name, edit]] of cases.entries()) {
      const out = path.join(root, 'planted', `tiny${i}`);
      plant(out, edit);
      const r = await runMainOk(['init-tiny', '--out', out, '--hidden', '16', '--intermediate', '32']);
      const note = r.stderr.split('\n').find((l) => l.startsWith('note: '));
      expect(note, name).toMatch(
        new RegExp(`took over a stale lock of pid ${edit.pid ?? process.pid} .*is now another process$`),
      );
      expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(true);
      expect(besideOut(out)).toEqual([]);
      seen.push(`${name}: ${note?.replace(root, '…')}`);
    }
    // the same pid with its real start time is a live writer: refused, the tree (lock included) untouched
    const out = path.join(root, 'planted', 'live');
    plant(out, {});
    const { line } = await expectRefusedWritingNothing(
      root,
      ['init-tiny', '--out', out],
      [LOCKED(process.pid, 'train')],
    );
    // readers never lock: inspect and eval of a base that a live writer "holds"
    plant(base, {});
    await runMainOk(['inspect', '--model', base]);
    await runMainOk(['eval', '--model', base, '--data', data, '--max-seq-len', '16']);
    expect(listTree(path.dirname(base)).filter((f) => f.startsWith('.base.'))).toEqual(['.base.lock']);
    fs.rmSync(lockPathFor(base));
    ledger.add(`lock file with a live unrelated pid and another start time | 2 | ${seen.join('; ')}; init-tiny exit 0`);
    ledger.add(
      `lock file of a live process with its real start time | 1 + inspect, eval beside it | init-tiny exit 2: ${line.replace(root, '…')}, nothing written; inspect and eval exit 0 (readers never lock)`,
    );
  }, 120_000);
});

// interrupt.reliability.test.ts — SIGINT/SIGTERM, SIGKILL at random moments, exploding loss: no checkpoint is ever half-written or lost.
//
// Every run here uses the same options as one uninterrupted reference run, so "resume continues
// exactly" is checked bit for bit: the final adapter and every metrics row must equal the reference.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectCheckpointsComplete,
  expectCleanError,
  expectIntactRun,
  killAfterEvent,
  leftovers,
  makeBaseAndData,
  metricRows,
  runMain,
  runMainOk,
  seededDelays,
  startCli,
  startTrainUntilLogged,
  stepDirs,
  tempWorkspace,
  tensorBytes,
  trainArgv,
} from './harness.js';

const ws = tempWorkspace('interrupt', 'interruption');
const { root, base, data, ledger } = ws;
const ITERS = 10;
/** SIGKILLs of training runs (the issue asks for ≥ 20 with different delays). */
const KILLS = 20;

/** The run every test repeats: dropout on, so the RNG state must survive a resume too. */
const trainArgs = (out: string, ...extra: string[]) =>
  trainArgv(
    { model: base, data, out, iters: ITERS },
    '--lr',
    '1e-3',
    '--seed',
    '3',
    '--dropout',
    '0.1',
    '--save-every',
    '1',
    ...extra,
  );

interface Reference {
  adapter: Map<string, string>;
  rows: ReturnType<typeof pick>;
}
let ref: Reference;

const pick = (rows: { step: number; loss: number }[]) =>
  rows.map((r) => ({
    step: r.step,
    loss: r.loss,
    lr: (r as { lr?: number }).lr,
    grad_norm: (r as { grad_norm?: number }).grad_norm,
  }));

/** A finished run equals the reference: adapter bits, metrics rows 1..ITERS once each, every checkpoint whole, no leftovers. */
function expectSameAsReference(out: string): void {
  expect(tensorBytes(path.join(out, 'adapter_model.safetensors'))).toEqual(ref.adapter);
  expect(pick(metricRows(path.join(out, 'metrics.jsonl')))).toEqual(ref.rows);
  expectIntactRun(out);
}

beforeAll(async () => {
  await makeBaseAndData(ws, 24);
  const out = path.join(root, 'reference');
  await runMainOk(trainArgs(out));
  ref = {
    adapter: tensorBytes(path.join(out, 'adapter_model.safetensors')),
    rows: pick(metricRows(path.join(out, 'metrics.jsonl'))),
  };
  expect(ref.rows.map((r) => r.step)).toEqual(Array.from({ length: ITERS }, (_, i) => i + 1));
});

describe('SIGINT / SIGTERM: a checkpoint is saved, exit 130, resume continues exactly', () => {
  it.each([
    ['SIGINT', 1],
    ['SIGTERM', 1],
    ['SIGINT', 2],
  ] as const)('%s ×%i after 2 logged steps (no periodic checkpoints)', async (sig, times) => {
    const out = path.join(root, `${sig}-${times}`);
    const child = await startTrainUntilLogged(trainArgs(out, '--save-every', '0'), out, 2);
    for (let i = 0; i < times; i++) child.proc.kill(sig);
    const r = await child.done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const ck = path.join(out, 'checkpoints');
    const steps = stepDirs(ck);
    if (times === 1) {
      // One signal: the loop finishes its step and saves exactly that step.
      const m = /interrupted at step (\d+)\/10; checkpoint (\S+)/.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      expect(r.stderr).toContain(`${sig}: finishing the current step, saving a checkpoint`);
      expect(steps).toEqual([Number(m?.[1])]);
    }
    // A second signal exits at once (the user means it): whatever exists must still be whole.
    expectCheckpointsComplete(ck);
    await runMainOk(steps.length ? trainArgs(out, '--resume', out) : trainArgs(out, '--force'));
    expectSameAsReference(out);
    ledger.add(
      `${sig} ×${times} | exit ${r.code} | checkpoint at step ${steps.join(',') || '(none)'} | resumed run equals the uninterrupted one bit for bit`,
    );
  });
});

type Mode = 'startup' | 'training' | 'write';

/** Which new entry of checkpoints/ starts a mode's kill delay (none: from spawn). */
const KILL_TRIGGER: Record<Mode, ((name: string) => boolean) | null> = {
  startup: null,
  training: (f) => /^step-\d+$/.test(f),
  write: (f) => /^\.step-\d+\.tmp-/.test(f),
};

/**
 * One killed (or, if the kill came too late, finished) run. Delays are measured from events, not
 * wall time, so they mean the same on a loaded machine: 'startup' from spawn, 'training' from the
 * run's first committed checkpoint, 'write' from the appearance of a checkpoint temp dir.
 */
async function killOnce(
  out: string,
  mode: Mode,
  delay: number,
): Promise<{ killed: boolean; midWrite: boolean; code: number | null; stderr: string }> {
  const ck = path.join(out, 'checkpoints');
  const resume = stepDirs(ck).length > 0;
  const before = new Set(leftovers(ck));
  fs.mkdirSync(ck, { recursive: true }); // watched from the start; a fresh run then needs --force
  const child = startCli(resume ? trainArgs(out, '--resume', out) : trainArgs(out, '--force'));
  const r = await killAfterEvent(child, ck, delay, KILL_TRIGGER[mode]);
  return {
    killed: r.signal === 'SIGKILL',
    midWrite: leftovers(ck).some((f) => /^\.step-/.test(f) && !before.has(f)),
    code: r.code,
    stderr: r.stderr,
  };
}

describe(`SIGKILL at ${KILLS} random moments of training runs`, () => {
  it('every step-N that exists is complete and loadable; leftovers are cleaned; --resume ends bit-identical to the uninterrupted run', async () => {
    const rnd = seededDelays(20_241);
    const modes: Mode[] = ['write', 'training', 'write', 'startup'];
    const stats = { kills: 0, midWrite: 0, finished: 0, chains: 0, delays: [] as string[] };
    let chain = 0;
    const finish = async (out: string) => {
      await runMainOk(
        stepDirs(path.join(out, 'checkpoints')).length ? trainArgs(out, '--resume', out) : trainArgs(out, '--force'),
      );
      expectSameAsReference(out);
      stats.chains++;
    };
    for (let i = 0; stats.kills < KILLS; i++) {
      const out = path.join(root, `kill-chain-${chain}`);
      const mode = modes[i % modes.length] as Mode;
      const delay = mode === 'write' ? rnd(0, 40) : mode === 'training' ? rnd(0, 900) : rnd(100, 2500);
      const k = await killOnce(out, mode, delay);
      const ck = path.join(out, 'checkpoints');
      // Whatever the moment of the kill: every committed checkpoint is whole and loadable.
      expectCheckpointsComplete(ck);
      if (!k.killed) {
        // The delay outlasted the run: it must have finished cleanly and equal the reference.
        expect(k.code, k.stderr).toBe(0);
        expectSameAsReference(out);
        stats.finished++;
        stats.chains++;
        chain++;
        continue;
      }
      stats.kills++;
      if (k.midWrite) stats.midWrite++;
      stats.delays.push(`${mode}+${delay}ms${k.midWrite ? '*' : ''}`);
      if (stepDirs(ck).includes(ITERS - 1)) {
        await finish(out);
        chain++;
      }
    }
    await finish(path.join(root, `kill-chain-${chain}`));
    expect(new Set(stats.delays).size, 'different delays').toBeGreaterThan(KILLS / 2);
    ledger.add(
      `SIGKILL during training | ${stats.kills} kills (${stats.midWrite} inside a checkpoint write, left a .step-N.tmp-* dir) | every step-N complete and loadable after each kill; ${stats.chains} resumed chains ended bit-identical to the uninterrupted run; ${stats.finished} runs outlived their delay`,
    );
    ledger.add(`  delays (* = mid-write): ${stats.delays.join(' ')}`);
  }, 600_000);
});

describe('non-finite values stop the run, naming the step; the last good checkpoint is kept', () => {
  it.each([
    ['--lr 1e3 (loss becomes NaN after a few steps)', '1e3'],
    ['--lr 1e39 (the first update overflows f32)', '1e39'],
  ])('%s', async (_name, lr) => {
    const out = path.join(root, `nan-${lr}`);
    const r = await runMain([
      ...trainArgs(out, '--force'),
      '--lr',
      lr,
      '--max-grad-norm',
      '0',
      '--schedule',
      'constant',
      '--dropout',
      '0',
    ]);
    const line = expectCleanError(r, 1, /^error: step (\d+): /);
    const step = Number(/step (\d+)/.exec(line)?.[1]);
    const ck = path.join(out, 'checkpoints');
    const steps = stepDirs(ck);
    // Only checkpoints from before the failing step exist, each whole and finite; the hint names the newest.
    expect(steps).toEqual(Array.from({ length: step - 1 }, (_, i) => i + 1));
    expectCheckpointsComplete(ck);
    const hint = r.stderr.split('\n').find((l) => l.startsWith('hint: ')) ?? '';
    expect(hint).toContain(steps.length ? path.join(ck, `step-${step - 1}`) : '(none yet');
    expect(fs.existsSync(path.join(out, 'adapter_model.safetensors')), 'no final adapter from a failed run').toBe(
      false,
    );
    ledger.add(`non-finite: --lr ${lr} | exit ${r.code} | ${line} | ${hint}`);
  });
});

describe('a fresh run with --force into an old run directory', () => {
  // A fresh --force run clears the old run's checkpoints/ first; otherwise `--resume DIR` would pick
  // the old run's newest step.
  it('leaves no checkpoint of the old run behind', async () => {
    const out = path.join(root, 'force-over-old');
    await runMainOk([...trainArgs(out), '--iters', '4']);
    await runMainOk([...trainArgs(out, '--force'), '--iters', '2', '--seed', '7']);
    const steps = stepDirs(path.join(out, 'checkpoints'));
    ledger.add(
      `train --force over a finished 4-step run, new run of 2 steps | exit 0 | checkpoints left: step-${steps.join(', step-')} (the old run's were removed)`,
    );
    expect(steps).toEqual([1, 2]);
  });
});

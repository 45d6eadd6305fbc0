// ctrl-c.reliability.test.ts — Ctrl-C under the README's `pnpm --silent finetune train …`, as terminals deliver it.
//
// A terminal sends SIGINT to the whole foreground process group (pnpm, its shell, node) and SIGHUP
// when it closes; pnpm may die first. Each way must leave a complete checkpoints/step-N, and
// `train --resume OUT` (nothing else) must end bit-identical to an uninterrupted run. Steps are made
// longer than 60 ms (batch 24): the old `tsx src/cli.ts` wrapper answered a Ctrl-C during such a
// step by SIGKILLing node after 2 × 30 ms, which is how the run used to be lost.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectIntactRun,
  makeBaseAndData,
  metricRows,
  runMainOk,
  stepDirs,
  tempWorkspace,
  tensorBytes,
  trainArgv,
  waitFor,
} from './harness.js';
import { HAVE_SCRIPT, type Started, startPnpmGroup, startPnpmOnPty, waitGone } from './terminal.js';

const ws = tempWorkspace('ctrl-c', 'Ctrl-C under pnpm finetune train');
const { root, base, data, ledger } = ws;
const ITERS = 6;

/** Dropout on (the RNG must survive), batch 24 so a step is longer than tsx's 60 ms grace. */
const trainArgs = (out: string) =>
  trainArgv(
    { model: base, data, out, iters: ITERS },
    '--lr',
    '1e-3',
    '--seed',
    '5',
    '--dropout',
    '0.1',
    '--batch-size',
    '24',
  );

const pick = (rows: { step: number; loss: number }[]) =>
  rows.map((r) => ({ step: r.step, loss: r.loss, lr: (r as { lr?: number }).lr }));
let ref: { adapter: Map<string, string>; rows: ReturnType<typeof pick> };

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

/** Resolves once the run has logged `n` steps (so the signal lands mid-run, inside or between steps). */
async function afterSteps(child: Started, out: string, n = 2): Promise<void> {
  await waitFor(() => metricRows(path.join(out, 'metrics.jsonl')).length >= n, 60_000, 10).catch((e) => {
    child.proc.kill('SIGKILL');
    throw e;
  });
}

/** The step the run's output says it stopped at, with the real resume command beside it. */
function interruptedStep(out: string, output: string): number {
  const m = /interrupted at step (\d+)\/6; checkpoint (\S+)/.exec(output);
  expect(m, output).not.toBeNull();
  expect(m?.[2]).toBe(path.join(out, 'checkpoints', `step-${m?.[1]}`));
  expect(output).toContain(`resume with: pnpm finetune train --resume ${out}`);
  return Number(m?.[1]);
}

/** The run saved exactly checkpoint `step`, whole; `train --resume OUT` alone finishes it bit for bit. */
async function expectSavedAndResumable(out: string, step: number): Promise<number> {
  expect(step).toBeGreaterThanOrEqual(2);
  expect(step).toBeLessThan(ITERS);
  expect(stepDirs(path.join(out, 'checkpoints'))).toEqual([step]);
  expectIntactRun(out);
  const r = await runMainOk(['train', '--resume', out]);
  expect(r.stderr).toContain(`resumed from ${path.join(out, 'checkpoints', `step-${step}`)} at step ${step}`);
  expect(tensorBytes(path.join(out, 'adapter_model.safetensors'))).toEqual(ref.adapter);
  expect(pick(metricRows(path.join(out, 'metrics.jsonl')))).toEqual(ref.rows);
  return step;
}

describe('pnpm --silent finetune train, interrupted the ways a terminal does it', () => {
  it('SIGINT to the whole process group: the step finishes, the checkpoint is saved, exit 130', async () => {
    const out = path.join(root, 'group-sigint');
    const child = startPnpmGroup(trainArgs(out));
    await afterSteps(child, out);
    child.signalGroup('SIGINT');
    const r = await child.done;
    expect(r.stderr).toContain('SIGINT: finishing the current step, saving a checkpoint…');
    expect(r.stderr).not.toMatch(/again|^\s+at /m);
    // node exits 130; dash, having seen the SIGINT, then re-raises it on itself and so does pnpm
    // (a shell shows 130 for that too): pnpm waited for node either way.
    expect(r.code === 130 || r.signal === 'SIGINT', `exit ${r.code} ${r.signal}`).toBe(true);
    expect(r.stderr).toMatch(/SIGINT: finishing[\s\S]*\[ELIFECYCLE\] Command failed/);
    const step = await expectSavedAndResumable(out, interruptedStep(out, r.stdout));
    ledger.add(
      `SIGINT to the group of pnpm --silent finetune train | pnpm ${r.signal ?? `exit ${r.code}`} after node's 130 | checkpoint step-${step} whole | --resume OUT alone ends bit-identical`,
    );
  });

  it.skipIf(!HAVE_SCRIPT)('a ^C byte on a pseudo-terminal (script): same, and the transcript shows it', async () => {
    const out = path.join(root, 'pty-ctrl-c');
    const child = startPnpmOnPty(trainArgs(out));
    await afterSteps(child, out);
    child.typeKeys('\x03');
    const r = await child.done;
    const tty = r.stdout.replaceAll('\r', '');
    expect(tty).toContain('SIGINT: finishing the current step, saving a checkpoint…');
    expect(r.code, tty).toBe(130);
    const step = await expectSavedAndResumable(out, interruptedStep(out, tty));
    ledger.add(
      `^C typed on a pty (script -qfec) | script -e exit ${r.code} | checkpoint step-${step} whole | --resume OUT alone ends bit-identical`,
    );
  });

  it('SIGINT twice to the group: "save now"; pnpm gives up at the second, node still saves', async () => {
    const out = path.join(root, 'group-sigint-twice');
    const child = startPnpmGroup(trainArgs(out));
    await afterSteps(child, out);
    child.signalGroup('SIGINT');
    // Two signals at once reach node as one (a pending signal is not queued twice): the second
    // comes once the first has been taken, as a user pressing Ctrl-C again would.
    await waitFor(() => child.seen().includes('finishing the current step'), 60_000, 2);
    child.signalGroup('SIGINT');
    const r = await child.done; // node's pipes: its output is seen even after pnpm has gone
    expect(r.stderr).toMatch(/SIG(INT|TERM) again: saving the checkpoint right after this step/);
    const step = await expectSavedAndResumable(out, interruptedStep(out, r.stdout));
    ledger.add(
      `SIGINT twice to the group | pnpm ${r.signal ?? `exit ${r.code}`} | "save now": checkpoint step-${step} whole, evaluation and reports skipped | --resume OUT alone ends bit-identical`,
    );
  });

  it.skipIf(!HAVE_SCRIPT)(
    '^C twice on the pty: pnpm exits at the second, the terminal goes with it, node saves alone',
    async () => {
      const out = path.join(root, 'pty-ctrl-c-twice');
      const child = startPnpmOnPty(trainArgs(out));
      await afterSteps(child, out);
      child.typeKeys('\x03');
      await waitFor(() => child.seen().includes('finishing the current step'), 60_000, 2);
      child.typeKeys('\x03');
      const r = await child.done;
      await waitGone(out); // node outlives pnpm and script; wait for it to finish on its own
      const steps = stepDirs(path.join(out, 'checkpoints'));
      expect(steps).toHaveLength(1);
      const step = await expectSavedAndResumable(out, steps[0] as number);
      ledger.add(
        `^C twice on a pty | script exit ${r.code} (pnpm quits on the second ^C) | node finished alone: checkpoint step-${step} whole | --resume OUT alone ends bit-identical`,
      );
    },
  );

  it('SIGINT then SIGHUP at once to the group (the terminal closing): pnpm dies, node saves anyway', async () => {
    const out = path.join(root, 'group-sigint-sighup');
    const child = startPnpmGroup(trainArgs(out));
    await afterSteps(child, out);
    child.signalGroup('SIGINT');
    child.signalGroup('SIGHUP');
    // pnpm and its shell die of SIGHUP; node's output still reaches the pipes pnpm handed it
    const r = await child.done;
    expect(r.signal ?? r.code, 'pnpm was hung up').not.toBe(0);
    const step = await expectSavedAndResumable(out, interruptedStep(out, r.stdout));
    ledger.add(
      `SIGINT + SIGHUP to the group at once | pnpm ${r.signal ?? `exit ${r.code}`}, node outlives it | checkpoint step-${step} whole | --resume OUT alone ends bit-identical`,
    );
  });

  it.skipIf(!HAVE_SCRIPT)(
    '^C, then the terminal closes at once (script killed: SIGHUP, writes fail with EIO): the checkpoint is saved',
    async () => {
      const out = path.join(root, 'pty-closed');
      const child = startPnpmOnPty(trainArgs(out));
      await afterSteps(child, out);
      child.typeKeys('\x03');
      await new Promise((r) => setTimeout(r, 5));
      child.proc.kill('SIGKILL'); // the terminal window goes away: the pty's master side closes
      const r = await child.done;
      await waitGone(out); // node has no one left to report to; wait for it to finish on its own
      // The "interrupted at" line went to a closed terminal: the checkpoint on disk is the evidence.
      const steps = stepDirs(path.join(out, 'checkpoints'));
      expect(steps).toHaveLength(1);
      const step = await expectSavedAndResumable(out, steps[0] as number);
      ledger.add(
        `^C then the pty closed (script SIGKILLed) | script ${r.signal}; node kept running without a terminal | checkpoint step-${step} whole | --resume OUT alone ends bit-identical`,
      );
    },
  );
});

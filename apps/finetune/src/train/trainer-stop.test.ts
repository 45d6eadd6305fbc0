// train/trainer-stop.test.ts — the loop's stop hooks: a stop finishes the step with its evaluation;
// "save now" (a second Ctrl-C) skips that evaluation and the final reports; both save the step.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../cli/command.js';
import { withDefaults } from '../cli/flags.js';
import { loadTrainData } from '../commands/train.js';
import { resolveTrainOptions } from '../commands/train-options.js';
import { demoTrainRecords, demoValidRecords, toJsonl } from '../demo/dataset.js';
import { createTinyCheckpoint, TINY_DEFAULTS } from '../model/init.js';
import { initBackend, openSession } from '../session.js';
import { loadCheckpoint } from './checkpoint.js';
import { TRAIN_FLAGS } from './options.js';
import { type TrainHooks, train } from './trainer.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trainer-stop-'));
const base = path.join(root, 'base');
const data = path.join(root, 'data');
const quiet: Io = { json: true, out: () => {}, note: () => {} };
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

beforeAll(() => {
  createTinyCheckpoint(base, { ...TINY_DEFAULTS, hidden: 32, intermediate: 64 });
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'train.jsonl'), toJsonl(demoTrainRecords(1)));
  fs.writeFileSync(path.join(data, 'valid.jsonl'), toJsonl(demoValidRecords(2)));
  initBackend();
});

/** Trains up to 6 steps (evaluating every step) with the given hooks; returns what it left behind. */
async function run(name: string, hooks: (evals: number[]) => TrainHooks) {
  const out = path.join(root, name);
  const o = resolveTrainOptions(
    withDefaults('train', { model: base, data, out, iters: 6, 'eval-every': 1, 'max-seq-len': 48 }, TRAIN_FLAGS),
  );
  const s = openSession(o.model);
  const d = loadTrainData(o, s.tokenizer, () => {});
  const evals: number[] = [];
  fs.mkdirSync(out, { recursive: true });
  const r = await train(s, { train: d.train, valid: d.valid, padId: s.tokenizer.padTokenId ?? 0 }, o, quiet, {
    onEval: (rows) => evals.push(rows.length),
    ...hooks(evals),
  });
  return { r, evals, out };
}

describe('stop hooks', () => {
  it('a stop after step 2 finishes step 2 with its evaluation, saves step 2, reports at the end', async () => {
    let stepsLogged = 0;
    const { r, evals, out } = await run('stop', () => ({
      onStep: (m) => {
        stepsLogged = m.step;
      },
      shouldStop: () => stepsLogged >= 2,
    }));
    expect([r.steps, r.interrupted]).toEqual([2, true]);
    expect(r.metrics.map((m) => m.val_loss !== undefined)).toEqual([true, true]);
    expect(evals).toEqual([1, 2, 2]); // after step 1, after step 2, and the final report
    expect(fs.readdirSync(path.join(out, 'checkpoints'))).toEqual(['step-2']);
    expect(loadCheckpoint(out).state.step).toBe(2);
  });

  it('"save now" during step 2 skips its evaluation and the final report; step 2 is still saved', async () => {
    // saveNow is polled once per step, after the update: false at step 1, true from step 2 on
    let polls = 0;
    const { r, evals, out } = await run('save-now', () => ({
      saveNow: () => polls >= 2 || ++polls >= 2,
      shouldStop: () => polls >= 2,
    }));
    expect([r.steps, r.interrupted]).toEqual([2, true]);
    expect(r.metrics.map((m) => m.val_loss !== undefined)).toEqual([true, false]);
    expect(evals).toEqual([1]);
    expect(fs.readdirSync(path.join(out, 'checkpoints'))).toEqual(['step-2']);
    expect(loadCheckpoint(out).state.step).toBe(2);
  });
});

// commands/train-options.test.ts — precedence (flags > --config > --resume's checkpoint > defaults) and resume refusals.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TsloraError } from '@tslora/core-tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../cli.js';
import { resolveTrainOptions } from './train-options.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'train-options-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A run dir whose checkpoints/step-N holds only trainer_state.json with `options` (all resolve reads). */
function fakeRun(name: string, step: number, options: Record<string, unknown>): string {
  const run = path.join(root, name);
  const dir = path.join(run, 'checkpoints', `step-${step}`);
  fs.mkdirSync(dir, { recursive: true });
  const state = { step, epoch: 0, cursor: 0, rng: { s: [1, 2, 3, 4], spare: null }, optimizer: null, options };
  fs.writeFileSync(path.join(dir, 'trainer_state.json'), JSON.stringify(state));
  return run;
}

const runOptions = {
  model: '/abs/base',
  data: '/abs/train.jsonl',
  rank: 16,
  alpha: 32,
  lr: 2e-4,
  batchSize: 2,
  iters: 200,
  schedule: 'constant',
  saveEvery: 50,
  maskPrompt: true,
};

function refusal(flags: Record<string, string | number | boolean>): TsloraError {
  try {
    resolveTrainOptions(flags);
  } catch (e) {
    return e as TsloraError;
  }
  throw new Error('expected a refusal');
}

describe('resolveTrainOptions', () => {
  it('--config values beat the defaults, typed flags beat --config', () => {
    const cfg = path.join(root, 'c.json');
    fs.writeFileSync(cfg, JSON.stringify({ rank: 4, 'batch-size': 2, lr: 0.01 }));
    const o = resolveTrainOptions({ model: 'm', data: 'd', out: 'o', config: cfg, lr: 0.02 });
    expect([o.rank, o.batchSize, o.lr, o.alpha]).toEqual([4, 2, 0.02, 16]);
  });

  it('through the CLI, defaults do not count as typed: --fine-tune-type full is not refused for --rank 8', async () => {
    let stderr = '';
    const write = process.stderr.write;
    process.stderr.write = ((c: string) => {
      stderr += c;
      return true;
    }) as typeof process.stderr.write;
    const missing = path.join(root, 'no-such-model');
    const args = ['train', '--model', missing, '--data', 'd.jsonl', '--out', path.join(root, 'full-out')];
    try {
      expect(await main([...args, '--fine-tune-type', 'full'])).toBe(2);
      expect(stderr).not.toMatch(/apply to LoRA/);
      expect(stderr).toContain(missing); // it got as far as opening the model
      stderr = '';
      expect(await main([...args, '--fine-tune-type', 'full', '--rank', '8'])).toBe(2);
      expect(stderr).toMatch(/^error: --rank\/--alpha\/--rslora apply to LoRA/);
    } finally {
      process.stderr.write = write;
    }
  });

  it('--resume DIR alone: every option from trainer_state.json, --out = the run dir', () => {
    const run = fakeRun('alone', 120, runOptions);
    const o = resolveTrainOptions({ resume: run });
    expect(o).toMatchObject({ ...runOptions, out: run, resume: run });
    expect(o.dropout).toBe(0); // not in the (old) state: the default
    // a step dir names its run dir too
    expect(resolveTrainOptions({ resume: path.join(run, 'checkpoints', 'step-120') }).out).toBe(run);
  });

  it('--resume with --iters or --epochs: the new length replaces both stored ones; cadence may change', () => {
    const run = fakeRun('extend', 200, runOptions);
    expect(resolveTrainOptions({ resume: run, iters: 300 })).toMatchObject({ iters: 300, lr: 2e-4 });
    const e = resolveTrainOptions({ resume: run, epochs: 3, 'save-every': 10 });
    expect([e.iters, e.epochs, e.saveEvery]).toEqual([undefined, 3, 10]);
    // the same values typed again are no conflict (paths compared resolved)
    expect(resolveTrainOptions({ resume: run, model: '/abs/./base', rank: 16, 'mask-prompt': true }).rank).toBe(16);
  });

  it('refuses, exit 2, an option that changes the steps done, naming it with both values', () => {
    const run = fakeRun('conflict', 10, runOptions);
    const e = refusal({ resume: run, rank: 8 });
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(
      `--resume ${path.join(run, 'checkpoints', 'step-10')}: --rank 8 (checkpoint: 16) differs from the checkpoint's run`,
    );
    // an option the run did not set (--layers: all layers) is a conflict too
    expect(refusal({ resume: run, 'batch-size': 4, layers: 1 }).message).toMatch(
      /: --batch-size 4 \(checkpoint: 2\), --layers 1 \(checkpoint: \(not set\)\) differ from the checkpoint's run$/,
    );
    expect(refusal({ resume: run, 'mask-prompt': false }).message).toMatch(
      /--mask-prompt false \(checkpoint: true\) differs/,
    );
  });

  it('a step dir outside a checkpoints/ dir needs --out; a dir without a checkpoint is named', () => {
    const lone = path.join(root, 'lone-step');
    fs.mkdirSync(lone, { recursive: true });
    fs.writeFileSync(
      path.join(lone, 'trainer_state.json'),
      JSON.stringify({
        step: 1,
        epoch: 0,
        cursor: 0,
        rng: { s: [1], spare: null },
        optimizer: null,
        options: runOptions,
      }),
    );
    expect(refusal({ resume: lone }).hint).toBe('give --out DIR for the resumed run');
    expect(resolveTrainOptions({ resume: lone, out: path.join(root, 'o2') }).out).toBe(path.join(root, 'o2'));
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    expect(refusal({ resume: empty }).message).toBe(`--resume ${empty}: no complete checkpoint found`);
  });
});

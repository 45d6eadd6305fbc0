// train/trainer.test.ts — the training loop end to end: loss falls, resume is exact, accumulation is exact.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SafetensorsFile } from '@tslora/core-tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../cli/command.js';
import { withDefaults } from '../cli/flags.js';
import { runTrain } from '../commands/train.js';
import { resolveTrainOptions } from '../commands/train-options.js';
import { demoTrainRecords, toJsonl } from '../demo/dataset.js';
import { createTinyCheckpoint, TINY_DEFAULTS } from '../model/init.js';
import { TRAIN_FLAGS } from './options.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trainer-'));
const base = path.join(root, 'base');
const data = path.join(root, 'data');
const quiet: Io = { json: true, out: () => {}, note: () => {} };

const options = (out: string, extra: Record<string, string | number | boolean> = {}) =>
  resolveTrainOptions(
    withDefaults(
      'train',
      {
        model: base,
        data,
        out,
        rank: 8,
        alpha: 16,
        lr: 1e-2,
        'batch-size': 4,
        'max-seq-len': 48,
        'mask-prompt': true,
        ...extra,
      },
      TRAIN_FLAGS,
    ),
  );

function adapterBytes(dir: string): Map<string, string> {
  const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
  const m = new Map(st.tensors.map((t) => [t.name, Buffer.from(st.readBytes(t.name)).toString('hex')] as const));
  st.close();
  return m;
}

beforeAll(() => {
  createTinyCheckpoint(base, { ...TINY_DEFAULTS, hidden: 32, intermediate: 64 });
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'train.jsonl'), toJsonl(demoTrainRecords(1)));
});

describe('training loop', () => {
  it('resume: 10 steps straight equal 5 + resume + 5, bit for bit', async () => {
    const straight = path.join(root, 'straight');
    const split = path.join(root, 'split');
    await runTrain(options(straight, { iters: 10, 'save-every': 5, dropout: 0.1 }), quiet);
    await runTrain(options(split, { iters: 10, 'save-every': 5, dropout: 0.1 }), { ...quiet });
    // simulate the interruption: drop everything after step 5, then resume from that checkpoint
    fs.rmSync(path.join(split, 'checkpoints', 'step-10'), { recursive: true });
    fs.rmSync(path.join(split, 'adapter_model.safetensors'));
    const r = await runTrain(
      options(split, { iters: 10, 'save-every': 5, dropout: 0.1, resume: path.join(split, 'checkpoints', 'step-5') }),
      quiet,
    );
    expect(r.steps).toBe(10);
    expect(adapterBytes(split)).toEqual(adapterBytes(straight));
    const losses = (d: string) =>
      fs
        .readFileSync(path.join(d, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).loss);
    expect(losses(split)).toEqual(losses(straight));
  });

  it('gradient accumulation 4 × batch 1 equals batch 4 to 1e-5', async () => {
    // Four samples of different lengths: both runs see exactly these four in their one step.
    const four = path.join(root, 'four');
    fs.mkdirSync(four);
    fs.writeFileSync(
      path.join(four, 'train.jsonl'),
      toJsonl(demoTrainRecords(1).filter((_, i) => [0, 7, 9, 12].includes(i))),
    );
    const a = await runTrain(
      options(path.join(root, 'acc'), { data: four, iters: 1, 'batch-size': 1, 'grad-accum': 4, 'max-grad-norm': 0 }),
      quiet,
    );
    const b = await runTrain(
      options(path.join(root, 'big'), { data: four, iters: 1, 'batch-size': 4, 'max-grad-norm': 0 }),
      quiet,
    );
    expect(Math.abs((a.metrics[0]?.loss ?? 0) - (b.metrics[0]?.loss ?? 1))).toBeLessThan(1e-5);
    expect(
      Math.abs((a.metrics[0]?.grad_norm ?? 0) - (b.metrics[0]?.grad_norm ?? 1)) / (b.metrics[0]?.grad_norm ?? 1),
    ).toBeLessThan(1e-5);
  });
});

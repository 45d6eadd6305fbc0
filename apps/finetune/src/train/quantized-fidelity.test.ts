// train/quantized-fidelity.test.ts — issue 16's fidelity bar: LoRA on the demo task with an int8 / int4
// frozen base reaches a validation loss within 3 % / 8 % of the exact f32 run (same seed, same data).
//
// The reference is tslora's own exact f32 path, itself held to the PyTorch goldens (model/qwen.test.ts):
// the quantized runs differ from it only in the frozen projections, so the gap measured here is what
// --quantize costs on a task that is actually learnt, trained to convergence (cosine schedule to 0).
//
// Validation asks the training phrasing of the facts (the demo's own valid.jsonl asks a second phrasing).
// On this random base the second phrasing is chaotic: the f32 run alone moves from 1.99 to 1.90 (4 %) when
// only --seed changes, and from 2.20 to 2.93 (33 %) at 300 steps, so a 3 % bar there would measure the
// seed, not the quantizer. Measured (16 facts, 800 steps, second phrasing): f32 1.986 / seed 1: 1.904.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../cli/command.js';
import { type FlagValues, withDefaults } from '../cli/flags.js';
import { runTrain } from '../commands/train.js';
import { resolveTrainOptions } from '../commands/train-options.js';
import { demoTrainRecords, toJsonl } from '../demo/dataset.js';
import { createTinyCheckpoint, TINY_DEFAULTS } from '../model/init.js';
import { TRAIN_FLAGS } from './options.js';

const ITERS = 400;
const FACTS = 8;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qfidelity-'));
const base = path.join(root, 'base');
const data = path.join(root, 'data');
const io: Io = { json: true, out: () => {}, note: () => {} };
const valLoss: Record<string, number> = {};

async function trainWith(mode: 'f32' | 'int8' | 'int4'): Promise<number> {
  const flags: FlagValues = {
    model: base,
    data,
    out: path.join(root, `run-${mode}`),
    iters: ITERS,
    rank: 16,
    alpha: 32,
    lr: 1e-2,
    warmup: 10,
    'batch-size': 8,
    'mask-prompt': true,
    'eval-every': ITERS,
    'save-every': ITERS,
    'max-seq-len': 64,
  };
  // group 32 divides every input dimension of the hidden-64 demo model (64 and 192)
  if (mode !== 'f32') Object.assign(flags, { quantize: mode, 'q-group-size': 32 });
  const r = await runTrain(resolveTrainOptions(withDefaults('train', flags, TRAIN_FLAGS)), io);
  if (r.valLoss === undefined) throw new Error('no validation loss');
  return r.valLoss;
}

beforeAll(async () => {
  // the demo's own base and task (commands/demo.ts): hidden 64, 2 layers, std 0.2, the first 8 capitals
  createTinyCheckpoint(base, {
    ...TINY_DEFAULTS,
    hidden: 64,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    intermediate: 192,
    initStd: 0.2,
  });
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'train.jsonl'), toJsonl(demoTrainRecords(4, FACTS)));
  fs.writeFileSync(path.join(data, 'valid.jsonl'), toJsonl(demoTrainRecords(1, FACTS)));
  for (const mode of ['f32', 'int8', 'int4'] as const) valLoss[mode] = await trainWith(mode);
  console.log(`demo task, ${ITERS} steps, final validation loss: ${JSON.stringify(valLoss)}`);
}, 600_000);

describe(`--quantize on the demo task (LoRA r16, ${FACTS} facts, ${ITERS} steps)`, () => {
  it('the f32 run learns the task (a gap measured on an unlearnt task would mean nothing)', () => {
    // ~12 nats at step 0 (uniform over 151936 ids); converged, 1.48 (the answer's first token carries the rest)
    expect(valLoss.f32).toBeLessThan(2);
  });
  it('int8 reaches a validation loss within 3 % of the f32 run', () => {
    expect(Math.abs((valLoss.int8 as number) / (valLoss.f32 as number) - 1)).toBeLessThan(0.03);
  });
  it('int4 reaches a validation loss within 8 % of the f32 run', () => {
    expect(Math.abs((valLoss.int4 as number) / (valLoss.f32 as number) - 1)).toBeLessThan(0.08);
  });
});

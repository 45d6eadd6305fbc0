// train/limits.test.ts — rank/layers/targets refusals, the trainable count against applyLora itself,
// and the output-size estimate against the bytes a real run writes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyLora } from '@tslora/lora';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectRefusal } from '../../test/refusal.js';
import type { Io } from '../cli/command.js';
import { runTrain } from '../commands/train.js';
import { resolveTrainOptions } from '../commands/train-options.js';
import { demoTrainRecords, toJsonl } from '../demo/dataset.js';
import { parseQwenConfig } from '../model/config.js';
import { createTinyCheckpoint, TINY_DEFAULTS, type TinyOptions, tinyConfigJson } from '../model/init.js';
import { QwenForCausalLM } from '../model/qwen.js';
import { checkRunShape, NOTE_BYTES, outputBytes, outputSizeNote } from './limits.js';
import type { TrainOptions } from './options.js';

// hidden 32, 4 heads of 8, 2 kv heads: k_proj/v_proj are 32 → 16, the smallest weights
const TINY: TinyOptions = { ...TINY_DEFAULTS, hidden: 32, intermediate: 64 };
const config = parseQwenConfig(tinyConfigJson(TINY));
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'limits-'));
const base = path.join(root, 'base');
const data = path.join(root, 'data');
const quiet: Io = { json: true, out: () => {}, note: () => {} };
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const opts = (extra: Record<string, string | number | boolean> = {}): TrainOptions =>
  resolveTrainOptions({ model: base, data, out: path.join(root, 'o'), ...extra });

/** The trainable parameters applyLora actually creates on a fresh model (the independent count). */
function appliedCount(o: TrainOptions): number {
  const model = new QwenForCausalLM(config);
  model.freeze();
  const L = config.numHiddenLayers;
  const n = Math.min(o.layers ?? L, L);
  applyLora(model, {
    r: o.rank,
    alpha: o.alpha,
    targetModules: o.targets === 'all-linear' ? 'all-linear' : o.targets.split(','),
    layers: o.layers === undefined ? null : Array.from({ length: n }, (_, i) => L - n + i),
  });
  return model.trainableParameters().reduce((s, [, p]) => s + p.size, 0);
}

const refusal = (fn: () => unknown) => expectRefusal(fn, { hint: true });

describe('checkRunShape', () => {
  it.each<Record<string, string | number>>([
    {},
    { rank: 15 },
    { targets: 'q_proj,o_proj', rank: 31 },
    { layers: 1 },
    { layers: 2, targets: 'down_proj', rank: 4 },
  ])('LoRA %o: the count equals what applyLora creates', (extra) => {
    const o = opts(extra);
    expect(checkRunShape(config, o).trainable).toBe(appliedCount(o));
  });

  it('full fine-tuning counts every parameter of the model once (the tied lm_head is the embedding)', () => {
    const model = new QwenForCausalLM(config);
    const all = model.namedParameters().reduce((s, [, p]) => s + p.size, 0);
    expect(checkRunShape(config, opts({ 'fine-tune-type': 'full' })).trainable).toBe(all);
  });

  it('refuses a rank ≥ min(in, out) of the smallest targeted weight, and only then', () => {
    const e = refusal(() => checkRunShape(config, opts({ rank: 16 })));
    expect(e.message).toBe(
      '--rank 16 is not below min(in, out) = 16 of k_proj (32 → 16): the LoRA update B·A would be no smaller than the weight',
    );
    expect(e.hint).toMatch(/--fine-tune-type full/);
    // q_proj and o_proj are 32 → 32: rank 31 passes (above), 32 is refused
    expect(refusal(() => checkRunShape(config, opts({ targets: 'q_proj,o_proj', rank: 32 }))).message).toMatch(
      /min\(in, out\) = 32 of q_proj/,
    );
    expect(refusal(() => checkRunShape(config, opts({ rank: 100000 }))).message).toMatch(/--rank 100000/);
  });

  it('refuses --layers beyond the model, unknown or never-adapted --targets', () => {
    expect(refusal(() => checkRunShape(config, opts({ layers: 10 }))).message).toBe(
      "--layers 10 is more than the model's 2 decoder layers",
    );
    const typo = refusal(() => checkRunShape(config, opts({ targets: 'q_proj,vproj' })));
    expect(typo.message).toBe('--targets "vproj": not a Linear layer of the model');
    expect(typo.hint).toMatch(/^did you mean "v_proj"\? the Linear layers are q_proj, k_proj/);
    expect(refusal(() => checkRunShape(config, opts({ targets: 'q_proj,lm_head' }))).message).toMatch(
      /lm_head: embeddings and lm_head are never LoRA targets/,
    );
    expect(refusal(() => checkRunShape(config, opts({ targets: ',' }))).message).toBe('--targets is empty');
  });
});

describe('output size', () => {
  beforeAll(() => {
    createTinyCheckpoint(base, TINY);
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, 'train.jsonl'), toJsonl(demoTrainRecords(1)));
  });

  it('the estimate matches the tensor bytes a run writes (checkpoints at 2 and 4, final adapter)', async () => {
    const out = path.join(root, 'sized');
    const o = opts({ out, iters: 4, 'save-every': 2, 'max-seq-len': 48 });
    await runTrain(o, quiet);
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const f of fs.readdirSync(d, { withFileTypes: true }))
        if (f.isDirectory()) walk(path.join(d, f.name));
        else if (f.name.endsWith('.safetensors')) files.push(path.join(d, f.name));
    };
    walk(out);
    // per checkpoint: trainable + optimizer (m, v) + adapter; and the final adapter
    expect(files).toHaveLength(2 * 3 + 1);
    const written = files.reduce((s, f) => s + fs.statSync(f).size, 0);
    const est = outputBytes(checkRunShape(config, o).trainable, o, 4);
    expect(est.checkpoints).toBe(2);
    // the estimate counts tensor data only; each file adds a JSON header of a few KiB
    expect(written).toBeGreaterThanOrEqual(est.bytes);
    expect(written - est.bytes).toBeLessThan(files.length * 16 * 1024);
  });

  it('a note above 1 GiB, a warning when the disk has less, nothing for a small run', () => {
    const o = opts({ iters: 100, 'save-every': 10 });
    const shape = { trainable: 10_000_000 }; // 10 checkpoints × 4 copies + 1 adapter = 41 × 40 MB
    expect(outputBytes(shape.trainable, o, 100)).toEqual({ bytes: 4e7 * 41, checkpoints: 10 });
    expect(outputSizeNote(shape, o, 8, 1e12)).toBe(
      `note: this run will write about 1.5 GiB into ${o.out} (10 checkpoints of 10,000,000 trained parameters with their AdamW moments); a larger --save-every keeps fewer checkpoints`,
    );
    expect(outputSizeNote(shape, o, 8, 2 ** 30)).toMatch(/^warning: .*, more than the 1\.0 GiB free there; /);
    expect(outputSizeNote({ trainable: NOTE_BYTES / 4 / 41 }, o, 8, 1e12)).toBeUndefined();
  });

  it('the note comes before --out is created (a full fine-tune saving 20 checkpoints: 1.2 GiB)', async () => {
    const out = path.join(root, 'big');
    const o = opts({ out, iters: 20, 'save-every': 1, 'fine-tune-type': 'full' });
    const seen: string[] = [];
    const stop = new Error('stop at the note');
    const io: Io = {
      json: false,
      out: () => {},
      note: (s) => {
        if (!/this run will write/.test(s)) return;
        seen.push(`${s} | out exists: ${fs.existsSync(out)}`);
        throw stop;
      },
    };
    await expect(runTrain(o, io)).rejects.toBe(stop);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/about 1\.\d GiB .*20 checkpoints .* \| out exists: false$/);
  });
});

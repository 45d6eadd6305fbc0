// commands/merge.test.ts — train → merge → the merged checkpoint is what transformers would load.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CheckpointReader, decodeF32, encodeF32 } from '@tslora/core-tensor';
import { readAdapter } from '@tslora/lora';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../cli/command.js';
import { withDefaults } from '../cli/flags.js';
import { encodeRecords } from '../data/format.js';
import { readJsonl } from '../data/jsonl.js';
import { demoTrainRecords, toJsonl } from '../demo/dataset.js';
import { evaluate } from '../evaluate.js';
import { createTinyCheckpoint, TINY_DEFAULTS } from '../model/init.js';
import { openSession } from '../session.js';
import { TRAIN_FLAGS } from '../train/options.js';
import { mergeCommand, verifyMerge } from './merge.js';
import { runTrain } from './train.js';
import { resolveTrainOptions } from './train-options.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'merge-'));
const base = path.join(root, 'base');
const run = path.join(root, 'run');
const merged = path.join(root, 'merged');
const data = path.join(root, 'train.jsonl');
const quiet: Io = { json: true, out: () => {}, note: () => {} };

beforeAll(async () => {
  createTinyCheckpoint(base, { ...TINY_DEFAULTS, hidden: 32, intermediate: 64, initStd: 0.2 });
  fs.writeFileSync(data, toJsonl(demoTrainRecords(1)));
  const o = resolveTrainOptions(
    withDefaults(
      'train',
      { model: base, data, out: run, iters: 8, rank: 4, alpha: 8, lr: 5e-2, 'batch-size': 4, 'max-seq-len': 48 },
      TRAIN_FLAGS,
    ),
  );
  await runTrain(o, quiet);
  await mergeCommand.run({ model: base, adapter: run, out: merged, dtype: 'auto' }, quiet);
});

describe('merge', () => {
  it('keys, shapes and dtypes equal the base; untouched tensors are byte-identical', () => {
    const a = CheckpointReader.open(base);
    const b = CheckpointReader.open(merged);
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    const adapted = new Set([...readAdapter(run).modules.keys()].map((p) => `${p}.weight`));
    expect(adapted.size).toBe(2 * 7);
    for (const [name, t] of a.tensors) {
      const m = b.get(name);
      expect(m.info.dtype, name).toBe(t.info.dtype);
      expect(m.info.shape, name).toEqual(t.info.shape);
      if (!adapted.has(name))
        expect(Buffer.compare(Buffer.from(b.readBytes(name)), Buffer.from(a.readBytes(name))), name).toBe(0);
    }
    expect(adapted.has('model.embed_tokens.weight') || adapted.has('lm_head.weight')).toBe(false);
    a.close();
    b.close();
  });

  it('merged targets equal W + scale·B@A computed independently, rounded once to bf16', () => {
    const ad = readAdapter(run);
    const scale = ad.config.alpha / ad.config.r;
    const a = CheckpointReader.open(base);
    const b = CheckpointReader.open(merged);
    for (const [p, { A, B }] of ad.modules) {
      const W = a.readF32(`${p}.weight`);
      const [out, inn] = a.get(`${p}.weight`).info.shape as [number, number];
      const r = A.shape[0] as number;
      const exact = new Float64Array(out * inn); // W + scale·B@A in f64

      for (let o = 0; o < out; o++) {
        for (let i = 0; i < inn; i++) {
          let d = 0;
          for (let k = 0; k < r; k++) d += (B.f32[o * r + k] as number) * (A.f32[k * inn + i] as number);
          exact[o * inn + i] = (W[o * inn + i] as number) + scale * d;
        }
      }
      const want = Float32Array.from(exact); // rounded to f32 once
      const got = b.readF32(`${p}.weight`);
      const rounded = decodeF32(encodeF32(want, 'bf16'), 'bf16');
      let mismatches = 0;
      for (let i = 0; i < got.length; i++) {
        if (got[i] === rounded[i]) continue;
        // Only where W + ΔW sits on a bf16 rounding boundary (within f32 summation-order noise) may
        // the two roundings differ, and then by one bf16 step: that is still "rounded once".
        const lo = Math.min(got[i] as number, rounded[i] as number);
        const hi = Math.max(got[i] as number, rounded[i] as number);
        const mid = (lo + hi) / 2;
        expect(Math.abs((exact[i] as number) - mid), `${p}[${i}]`).toBeLessThan(4 * 2 ** -23 * Math.abs(mid));
        mismatches++;
      }
      expect(mismatches, p).toBeLessThan(3);
    }
    a.close();
    b.close();
  });

  it('eval on the merged checkpoint equals eval on base+adapter within bf16 rounding (|Δloss| < 1e-2)', () => {
    const withAdapter = openSession(base, run);
    const mergedS = openSession(merged);
    const { examples } = encodeRecords(data, readJsonl(data).slice(0, 8), withAdapter.tokenizer, {
      maxSeqLen: 48,
      maskPrompt: false,
    });
    const pad = withAdapter.tokenizer.padTokenId ?? 0;
    const la = evaluate(withAdapter.model, examples, { batchSize: 4, padId: pad }).loss;
    const lb = evaluate(mergedS.model, examples, { batchSize: 4, padId: pad }).loss;
    expect(Math.abs(la - lb)).toBeLessThan(1e-2);
    const base0 = evaluate(openSession(base).model, examples, { batchSize: 4, padId: pad }).loss;
    expect(Math.abs(base0 - la)).toBeGreaterThan(10 * Math.abs(la - lb)); // the adapter really changed the model
  });

  it('--verify reports a small max logit difference', () => {
    const v = verifyMerge(base, run, merged);
    expect(v.maxAbsLogitDiff).toBeLessThan(0.02 * v.maxAbsLogit);
  });

  it('refuses a non-empty --out unless --force, and a missing adapter_config.json', async () => {
    await expect(
      Promise.resolve().then(() => mergeCommand.run({ model: base, adapter: run, out: merged, dtype: 'auto' }, quiet)),
    ).rejects.toThrow(/not empty/);
    await mergeCommand.run({ model: base, adapter: run, out: merged, dtype: 'auto', force: true }, quiet);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'noadapter-'));
    await expect(
      Promise.resolve().then(() =>
        mergeCommand.run({ model: base, adapter: empty, out: path.join(root, 'x'), dtype: 'auto' }, quiet),
      ),
    ).rejects.toThrow(/adapter_config\.json/);
    expect(fs.existsSync(path.join(root, 'x'))).toBe(false);
  });
});

// model/init.test.ts — the init-tiny default base can learn a small task; HF's 0.02 cannot, by a bound
// computed from the checkpoint's own weights.
//
// A frozen, tied lm_head E (V×C) sees h = g ⊙ x/rms(x), so |h| ≤ √C·max|g|. For a target t, by Jensen
//   loss_t = logsumexp_j(e_j·h) − e_t·h ≥ ln V + mean_j(e_j·h) − e_t·h ≥ ln V − |h|·(|ē| + max_j |e_j|),
// whatever LoRA does to the layers before the final norm. With e_j ~ N(0, σ²) that is ≈ ln V − σ·C.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SafetensorsFile } from '@tslora/core-tensor';
import { afterAll, describe, expect, it } from 'vitest';
import type { Io } from '../cli/command.js';
import { runTrain } from '../commands/train.js';
import { resolveTrainOptions } from '../commands/train-options.js';
import { demoTrainRecords, demoValidRecords, toJsonl } from '../demo/dataset.js';
import { createTinyCheckpoint, TINY_DEFAULTS } from './init.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'init-std-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const quiet: Io = { json: true, out: () => {}, note: () => {} };

/** The lower bound above on any token's loss, from the embedding and final norm of a checkpoint. */
function lossFloor(dir: string): number {
  const st = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
  const E = st.readF32('model.embed_tokens.weight');
  const g = st.readF32('model.norm.weight');
  st.close();
  const C = g.length;
  const V = E.length / C;
  const mean = new Float64Array(C);
  let maxRow = 0;
  for (let j = 0; j < V; j++) {
    let n = 0;
    for (let c = 0; c < C; c++) {
      const e = E[j * C + c] as number;
      mean[c] = (mean[c] as number) + e / V;
      n += e * e;
    }
    maxRow = Math.max(maxRow, Math.sqrt(n));
  }
  const meanNorm = Math.sqrt(mean.reduce((s, m) => s + m * m, 0));
  const hMax = Math.sqrt(C) * g.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  return Math.log(V) - hMax * (meanNorm + maxRow);
}

async function trainOn(initStd: number): Promise<{ floor: number; before: number; after: number }> {
  const base = path.join(root, `base-${initStd}`);
  createTinyCheckpoint(base, { ...TINY_DEFAULTS, hidden: 32, intermediate: 96, layers: 1, initStd });
  const data = path.join(root, 'data');
  fs.mkdirSync(data, { recursive: true });
  fs.writeFileSync(path.join(data, 'train.jsonl'), toJsonl(demoTrainRecords(2, 8)));
  fs.writeFileSync(path.join(data, 'valid.jsonl'), toJsonl(demoValidRecords(8)));
  const o = resolveTrainOptions({
    model: base,
    data,
    out: path.join(root, `run-${initStd}`),
    iters: 80,
    lr: 2e-2,
    warmup: 5,
    'batch-size': 4,
    'max-seq-len': 48,
    'mask-prompt': true,
    'eval-every': 80,
  });
  const r = await runTrain(o, quiet);
  return { floor: lossFloor(base), before: r.metrics[0]?.loss ?? Number.NaN, after: r.valLoss ?? Number.NaN };
}

describe('init-tiny --init-std', () => {
  it("the default is not HF's 0.02", () => {
    expect(TINY_DEFAULTS.initStd).toBe(0.2);
  });

  it('at 0.02 the validation loss cannot fall below ln V − |h|·(|ē| + max|e|) ≈ 10.9; the default gets far below it', async () => {
    const hf = await trainOn(0.02);
    const ours = await trainOn(TINY_DEFAULTS.initStd);
    console.log(
      `init-std 0.02: floor ${hf.floor.toFixed(2)}, val ${hf.after.toFixed(2)}; init-std ${TINY_DEFAULTS.initStd}: floor ${ours.floor.toFixed(2)}, first loss ${ours.before.toFixed(2)} → val ${ours.after.toFixed(2)}`,
    );
    expect(hf.floor).toBeGreaterThan(10.5); // ln 151936 = 11.93 minus at most ~1.4 nats
    expect(hf.after).toBeGreaterThanOrEqual(hf.floor);
    expect(ours.after).toBeGreaterThanOrEqual(ours.floor);
    // 80 steps on the default base end ≥ 2 nats below anything any adapter could reach on HF's init
    expect(ours.after).toBeLessThan(hf.floor - 2);
  }, 120_000);
});

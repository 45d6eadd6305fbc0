// explain/explain.test.ts — each section's numbers against an independent computation on the tiny demo base.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { activations, CheckpointReader, Random } from '@tslora/core-tensor';
import { applyLora, loraModules, readAdapter, saveAdapter } from '@tslora/lora';
import { inspectCheckpoint } from '@tslora/tokenizer-inspect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_BASE } from '../commands/explain.js';
import { createTinyCheckpoint } from '../model/init.js';
import { loadModel } from '../model/load.js';
import { openSession, type Session } from '../session.js';
import { activationValues } from './activations.js';
import { HEAD_TEXTS, headWeights, paddedBatch } from './attention-mask.js';
import { DEFAULT_LAYER, type LoraArithmetic, loraArithmetic } from './lora-arith.js';
import { readRunMetrics } from './run-curves.js';
import { idRanges } from './vocab.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'explain-sections-'));
const base = path.join(root, 'base');
const adapter = path.join(root, 'adapter');
let s: Session;

beforeAll(() => {
  createTinyCheckpoint(base, DEMO_BASE);
  s = openSession(base);
  // An adapter with non-zero B (as after training), saved in PEFT format.
  const m = loadModel(base).model;
  const { config } = applyLora(m, { r: 4, alpha: 12, targetModules: ['q_proj', 'v_proj'] }, { rng: new Random(3) });
  const rng = new Random(4);
  for (const [, l] of loraModules(m)) rng.fillNormal(l.lora_B.weight.f32, 0, 0.05);
  saveAdapter(adapter, m, config);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ in float64 loops, the definition written out. */
function naiveLora(a: LoraArithmetic): Float64Array {
  const T = a.x.length / a.in;
  const y = new Float64Array(T * a.out);
  for (let t = 0; t < T; t++) {
    const h = new Float64Array(a.r);
    for (let k = 0; k < a.r; k++) for (let i = 0; i < a.in; i++) h[k] = h[k]! + a.x[t * a.in + i]! * a.A[k * a.in + i]!;
    for (let o = 0; o < a.out; o++) {
      let v = a.bias ? a.bias[o]! : 0;
      for (let i = 0; i < a.in; i++) v += a.x[t * a.in + i]! * a.W[o * a.in + i]!;
      for (let k = 0; k < a.r; k++) v += a.scaling * h[k]! * a.B[o * a.r + k]!;
      y[t * a.out + o] = v;
    }
  }
  return y;
}
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('section 1: activations', () => {
  it("each f′ matches a central finite difference of its f (away from ReLU's kink)", () => {
    const h = 1e-5;
    for (const v of activationValues()) {
      if (v.name === 'relu' && v.x === 0) continue;
      const f = activations[v.name].f;
      expect(Math.abs(v.df - (f(v.x + h) - f(v.x - h)) / (2 * h))).toBeLessThan(1e-6);
    }
  });
});

describe('section 2: LoRA arithmetic', () => {
  it('without an adapter: formula, LoraLinear and merged W′ agree with a float64 loop', () => {
    const a = loraArithmetic(s.model, { rank: 8, seed: 0 });
    expect(a.layer).toBe(DEFAULT_LAYER);
    expect(a.fromAdapter).toBe(false);
    expect([a.out, a.in, a.r, a.scaling]).toEqual([64, 64, 8, 2]);
    expect(a.params).toMatchObject({ W: 4096, A: 512, B: 512, lora: 1024, savingPercent: 75 });
    const ref = naiveLora(a);
    const scale = Math.max(...Array.from(ref, Math.abs));
    expect(scale).toBeGreaterThan(0.1); // a real, non-trivial output
    for (const y of [a.formula, a.module, a.merged]) expect(maxDiff(y, ref)).toBeLessThan(1e-5 * scale);
    expect(a.maxDiff.moduleVsFormula).toBe(maxDiff(a.module, a.formula));
    expect(a.maxDiff.moduleVsFormula).toBeLessThan(1e-5);
    expect(a.maxDiff.mergedVsFormula).toBeLessThan(1e-5);
    // the LoRA term is not negligible: dropping it changes the output by far more than the tolerance
    const baseOnly = naiveLora({ ...a, scaling: 0 });
    expect(maxDiff(baseOnly, ref)).toBeGreaterThan(1e-2);
  });

  it("with --adapter: the adapter's own A and B (read back from the file) and scaling alpha/r", () => {
    const sa = openSession(base, adapter);
    const a = loraArithmetic(sa.model, { rank: 8, seed: 0 });
    expect(a.fromAdapter).toBe(true);
    expect([a.r, a.scaling]).toEqual([4, 3]);
    const mod = readAdapter(adapter).modules.get(DEFAULT_LAYER)!;
    expect(Array.from(a.A)).toEqual(Array.from(mod.A.f32));
    expect(Array.from(a.B)).toEqual(Array.from(mod.B.f32));
    const ref = naiveLora(a);
    for (const y of [a.formula, a.module, a.merged]) expect(maxDiff(y, ref)).toBeLessThan(1e-5);
  });
});

describe('section 3: vocab vs embedding rows', () => {
  it('range counts come from tokenizer.json and config.json, sum to vocab_size, norms match the rows', () => {
    const tj = JSON.parse(fs.readFileSync(path.join(base, 'tokenizer.json'), 'utf8'));
    const vocab = JSON.parse(fs.readFileSync(path.join(base, 'config.json'), 'utf8')).vocab_size as number;
    const ranges = idRanges(inspectCheckpoint(base, { withNorms: true }));
    const byName = Object.fromEntries(ranges.map((g) => [g.name, g]));
    expect(byName['BPE tokens']!.count).toBe(Object.keys(tj.model.vocab).length);
    expect(byName['added / special tokens']!.count).toBe(tj.added_tokens.length);
    const highest = Math.max(...tj.added_tokens.map((t: { id: number }) => t.id));
    expect(byName['padding rows']!.count).toBe(vocab - highest - 1);
    expect(ranges.reduce((n, g) => n + g.count, 0)).toBe(vocab);
    // mean padding-row norm from the raw embedding
    const r = CheckpointReader.open(base);
    const E = r.readF32('model.embed_tokens.weight');
    r.close();
    const C = E.length / vocab;
    let sum = 0;
    for (let row = highest + 1; row < vocab; row++) {
      let q = 0;
      for (let c = 0; c < C; c++) q += E[row * C + c]! ** 2;
      sum += Math.sqrt(q);
    }
    expect(byName['padding rows']!.norms!.mean).toBeCloseTo(sum / (vocab - highest - 1), 5);
  });
});

describe('section 4: attention_mask on a real head', () => {
  it('padding columns are exactly 0, rows sum to 1, and real tokens see what they see unpadded', () => {
    const { ids, mask } = paddedBatch(s.tokenizer, HEAD_TEXTS);
    const lens = mask.map((m) => m.reduce((a, b) => a + b, 0));
    expect(new Set(lens).size).toBe(3); // three lengths: two sequences carry padding
    const hw = headWeights(s.model, ids, mask);
    const T = ids[0]!.length;
    let padCells = 0;
    for (const [b, p] of hw.weights.entries()) {
      for (const [i, row] of p.entries()) {
        for (let j = 0; j < T; j++) {
          if (mask[b]![j] === 0 || j > i) {
            expect(row[j]).toBe(0);
            if (mask[b]![j] === 0) padCells++;
          }
        }
        expect(row.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 5);
      }
      const alone = headWeights(s.model, [ids[b]!.slice(0, lens[b])], [mask[b]!.slice(0, lens[b])]);
      for (let i = 0; i < lens[b]!; i++)
        expect(maxDiff(p[i]!.slice(0, lens[b]), alone.weights[0]![i]!)).toBeLessThan(1e-6);
    }
    expect(padCells).toBe(lens.reduce((n, l) => n + T * (T - l), 0));
  });
});

describe('section 5: run metrics', () => {
  it('reads metrics.jsonl, tolerates a cut last line, names a damaged one', () => {
    const dir = path.join(root, 'run');
    fs.mkdirSync(dir);
    const row = (step: number) =>
      JSON.stringify({ step, loss: 5 - step, lr: 1e-3, grad_norm: 1, tokens: 1, tokens_per_s: 1, elapsed_s: 1 });
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), `${row(1)}\n${row(2)}\n{"step":3,"lo`);
    expect(readRunMetrics(dir)!.map((r) => r.loss)).toEqual([4, 3]);
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), `${row(1)}\nnot json\n${row(2)}\n`);
    expect(() => readRunMetrics(dir)).toThrow(/metrics\.jsonl.*line 2 is not JSON/);
    expect(readRunMetrics(root)).toBeNull();
  });
});

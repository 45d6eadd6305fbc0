// merge.test.ts — in-memory merge/unmerge: W' = W + scaling·B·A against a naive loop, output equality, bf16 bound, refusals.

import { bf16BitsToF32, f32ToBf16Bits, Linear, Random, Tensor, TsloraError } from '@tslora/core-tensor';
import { expectClose } from '@tslora/core-tensor/testing';
import { describe, expect, it } from 'vitest';
import { TinyQwen } from './__fixtures__/tiny-qwen.js';
import { applyLora, loraModules } from './inject.js';
import { LoraLinear } from './lora-linear.js';
import { mergeAndUnload, mergedWeight, mergeLora, unmergeLora } from './merge.js';

const rng = new Random(21);
const randn = (shape: number[], std = 1): Tensor =>
  new Tensor(rng.fillNormal(new Float32Array(shape[0]! * shape[1]!), 0, std), shape);

/** ΔW[o,i] = scaling·Σ_k B[o,k]·A[k,i] in f64 — the reference the GEMM path is checked against. */
function naiveDelta(A: Tensor, B: Tensor, s: number): Float64Array {
  const [out, r] = B.shape as [number, number];
  const inF = A.dim(1);
  const d = new Float64Array(out * inF);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < inF; i++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += B.f32[o * r + k]! * A.f32[k * inF + i]!;
      d[o * inF + i] = s * acc;
    }
  return d;
}

/** A LoraLinear with random nonzero A and B (so the update is not trivially zero). */
function adapted(inF: number, out: number, r: number, bf16Base = false): LoraLinear {
  const base = new Linear(inF, out, { rng, bias: true });
  base.bias!.f32.set(rng.fillNormal(new Float32Array(out)));
  if (bf16Base) base.weight.f32.set(base.weight.f32.map((v) => bf16BitsToF32(f32ToBf16Bits(v))));
  const m = new LoraLinear(base, { r, alpha: 2 * r, scaling: 2, dropout: 0, init: 'kaiming', rng });
  m.lora_B.weight.f32.set(randn([out, r], 0.05).f32);
  return m;
}

describe('mergedWeight', () => {
  it('equals W + scaling·B·A from a naive loop (f32)', () => {
    const W = randn([7, 9]);
    const before = W.f32.slice();
    const A = randn([3, 9]);
    const B = randn([7, 3]);
    const d = naiveDelta(A, B, 1.25);
    expectClose(
      mergedWeight(W, A, B, 1.25),
      before.map((w, i) => w + d[i]!),
      { atol: 1e-6, rtol: 1e-6 },
    );
    expect(W.f32).toEqual(before); // pure: W untouched
  });

  it('rounds once to bf16 (each element = RNE(W + ΔW) of the f32 sum)', () => {
    const W = randn([5, 6]);
    const before = W.f32.slice();
    const A = randn([2, 6]);
    const B = randn([5, 2]);
    const d = naiveDelta(A, B, 3);
    const got = mergedWeight(W, A, B, 3, 'bf16').f32;
    expect(W.f32).toEqual(before);
    const want = before.map((w, i) => bf16BitsToF32(f32ToBf16Bits(Math.fround(w + d[i]!))));
    // the f32 sum may differ from the naive one in its last bit, which can flip a bf16 tie: allow one bf16 ulp
    for (const [i, g] of got.entries())
      expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(Math.abs(want[i]!) * 2 ** -7);
    expect(got.filter((g, i) => g === want[i]).length).toBeGreaterThan(got.length - 2);
    expect(got.every((g) => bf16BitsToF32(f32ToBf16Bits(g)) === g)).toBe(true);
  });

  it('refuses non-finite results, naming the tensor (NaN in B; f16 overflow)', () => {
    const W = randn([3, 4]);
    const A = randn([2, 4]);
    const B = randn([3, 2]);
    B.f32[3] = Number.NaN;
    expect(() => mergedWeight(W, A, B, 1, 'f32', 'model.layers.0.mlp.up_proj.weight')).toThrow(
      /model\.layers\.0\.mlp\.up_proj\.weight \[3, 4\] would hold 4 non-finite values \(first at \[1, 0\]/,
    );
    // 65000 + 2·1000 = 67000 > 65504 (f16 max): rounds to Inf in f16, fine in bf16
    const big = new Tensor(new Float32Array(12).fill(65000), [3, 4]);
    const ones = new Tensor(new Float32Array(8).fill(1), [2, 4]);
    const thousand = new Tensor(new Float32Array(6).fill(1000), [3, 2]);
    expect(() => mergedWeight(big, ones, thousand, 1, 'f16', 'w')).toThrow(TsloraError);
    expect(mergedWeight(big, ones, thousand, 1, 'bf16', 'w').f32[0]).toBe(67072); // RNE to 8 significant bits
    expect(() => mergedWeight(W, randn([2, 5]), B, 1)).toThrow(/expected W \(out,in\), A \(r,in\), B \(out,r\)/);
  });
});

describe('mergeLora / unmergeLora', () => {
  it('f32: the merged layer output equals the adapter output to 1e-5; unmerge restores it', () => {
    const m = adapted(24, 16, 4);
    const x = randn([5, 24]);
    const yAdapter = m.forward(x).f32.slice();
    expect(mergeLora(m)).toEqual(['']);
    expect(m.merged).toBe(true);
    expectClose(m.forward(x), yAdapter, { atol: 1e-5, rtol: 1e-5, label: 'merged vs adapter' });
    unmergeLora(m);
    expectClose(m.forward(x), yAdapter, { atol: 1e-5, rtol: 1e-5, label: 'unmerged vs adapter' });
  });

  it('bf16 base: merged output within the bf16 rounding bound |Δy_j| ≤ 2⁻⁸·Σ_i |x_i·W′_ji| (+1e-5)', () => {
    const m = adapted(32, 12, 4, true);
    const x = randn([6, 32]);
    const yAdapter = m.forward(x).f32.slice();
    mergeLora(m, { dtype: 'bf16' });
    const W = m.base_layer.weight.f32;
    expect(W.every((w) => bf16BitsToF32(f32ToBf16Bits(w)) === w)).toBe(true); // W' is exactly bf16
    const y = m.forward(x).f32;
    let maxRatio = 0;
    for (let b = 0; b < 6; b++)
      for (let j = 0; j < 12; j++) {
        // bf16 keeps 8 significant bits: RNE error ≤ 2⁻⁸ relative per weight (unit roundoff)
        let bound = 0;
        for (let i = 0; i < 32; i++) bound += Math.abs(x.f32[b * 32 + i]! * W[j * 32 + i]!);
        const err = Math.abs(y[b * 12 + j]! - yAdapter[b * 12 + j]!);
        expect(err).toBeLessThanOrEqual(2 ** -8 * bound + 1e-5);
        maxRatio = Math.max(maxRatio, err / (2 ** -8 * bound));
      }
    expect(maxRatio).toBeGreaterThan(0); // rounding did happen (the bound is not vacuous)
  });

  it('unmerge(merge(W)) restores W to f32 rounding: |W″ − W| ≤ 2⁻²²·(|W| + |ΔW|)', () => {
    const m = adapted(20, 10, 3);
    const W0 = m.base_layer.weight.f32.slice();
    const d = naiveDelta(m.lora_A.weight, m.lora_B.weight, m.scaling);
    mergeLora(m);
    expect(m.base_layer.weight.f32).not.toEqual(W0);
    unmergeLora(m);
    expect(m.merged).toBe(false);
    for (const [i, w] of m.base_layer.weight.f32.entries()) {
      expect(Math.abs(w - W0[i]!)).toBeLessThanOrEqual(2 ** -22 * (Math.abs(W0[i]!) + Math.abs(d[i]!)));
    }
  });

  it('whole model: merged logits equal adapter logits; merge is idempotent; a NaN adapter is refused by name', () => {
    const model = new TinyQwen({ C: 8, Ckv: 4, F: 12, V: 10, layers: 2 }, new Random(2));
    applyLora(model, { r: 2, targetModules: 'all-linear', seed: 3 });
    for (const [, l] of loraModules(model))
      l.lora_B.weight.f32.set(rng.fillNormal(new Float32Array(l.lora_B.weight.size), 0, 0.1));
    const ids = Tensor.int([1, 5, 2, 9, 0, 3], [2, 3]);
    const y0 = model.forward(ids).f32.slice();
    expect(mergeLora(model)).toHaveLength(14);
    expect(mergeLora(model)).toEqual([]);
    expectClose(model.forward(ids), y0, { atol: 1e-5, rtol: 1e-5 });
    unmergeLora(model);
    const [path, bad] = loraModules(model)[5]!;
    bad.lora_A.weight.f32[0] = Number.POSITIVE_INFINITY;
    const W = bad.base_layer.weight.f32.slice();
    expect(() => mergeLora(model)).toThrow(`${path}.base_layer.weight`);
    expect(bad.base_layer.weight.f32).toEqual(W);
    expect(bad.merged).toBe(false);
  });

  it('mergeAndUnload leaves a plain model with the same output', () => {
    const model = new TinyQwen({ C: 8, Ckv: 4, F: 12, V: 10, layers: 2 }, new Random(2));
    applyLora(model, { r: 2, targetModules: ['q_proj', 'up_proj'] });
    for (const [, l] of loraModules(model)) l.lora_B.weight.f32.fill(0.05);
    const ids = Tensor.int([4, 2, 7], [1, 3]);
    const y0 = model.forward(ids).f32.slice();
    expect(mergeAndUnload(model)).toHaveLength(4);
    expect(loraModules(model)).toHaveLength(0);
    expect(model.getSubmodule('model.layers.0.self_attn.q_proj')).toBeInstanceOf(Linear);
    expect(model.namedParameters().some(([n]) => n.includes('lora_'))).toBe(false);
    expectClose(model.forward(ids), y0, { atol: 1e-5, rtol: 1e-5 });
  });
});

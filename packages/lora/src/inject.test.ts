// inject.test.ts — applyLora on a 2-layer Qwen-shaped tree: what is wrapped, frozen and initialised; the PEFT report.
import { Random, Tensor } from '@tslora/core-tensor';
import { describe, expect, it } from 'vitest';
import { TinyQwen, type TinyQwenSizes } from './__fixtures__/tiny-qwen.js';
import { applyLora, availableLoraTargets, loraModules } from './inject.js';
import { LoraLinear } from './lora-linear.js';
import { formatTrainable, trainableReport } from './report.js';

const S: TinyQwenSizes = { C: 8, Ckv: 4, F: 12, V: 10, layers: 2 };
const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const paths = (layers: number[], names: string[]): string[] =>
  layers.flatMap((i) =>
    names.map(
      (n) => `model.layers.${i}.${['gate_proj', 'up_proj', 'down_proj'].includes(n) ? 'mlp' : 'self_attn'}.${n}`,
    ),
  );

describe('applyLora', () => {
  it('wraps exactly the named targets in every layer, in module order; freezes everything else', () => {
    const m = new TinyQwen(S, new Random(1));
    const { wrapped } = applyLora(m, { r: 2, targetModules: ['q_proj', 'v_proj'] });
    expect(wrapped).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.v_proj',
      'model.layers.1.self_attn.q_proj',
      'model.layers.1.self_attn.v_proj',
    ]);
    expect(m.trainableParameters().map(([n]) => n)).toEqual(
      wrapped.flatMap((p) => [`${p}.lora_A.weight`, `${p}.lora_B.weight`]),
    );
    expect(m.getSubmodule('model.layers.0.self_attn.k_proj')).not.toBeInstanceOf(LoraLinear);
  });

  it("'all-linear' wraps every Linear but lm_head; embeddings never", () => {
    const m = new TinyQwen(S, new Random(1));
    const { wrapped } = applyLora(m, { r: 2, targetModules: 'all-linear' });
    expect(wrapped).toEqual(paths([0, 1], ALL));
    expect(m.getSubmodule('lm_head')).not.toBeInstanceOf(LoraLinear);
    expect(m.namedParameters().find(([n]) => n === 'model.embed_tokens.weight')?.[1].requiresGrad).toBe(false);
  });

  it('layers subset matches layers.{i}. path segments', () => {
    const m = new TinyQwen(S, new Random(1));
    expect(applyLora(m, { r: 2, targetModules: 'all-linear', layers: [1] }).wrapped).toEqual(paths([1], ALL));
  });

  it('reports what a model offers and refuses unknown names, missing layers and a second application', () => {
    const m = new TinyQwen(S, new Random(1));
    expect(availableLoraTargets(m)).toEqual({ availableTargets: ALL, availableLayers: [0, 1] });
    expect(() => applyLora(m, { targetModules: ['c_attn'] })).toThrow(
      /unknown target module "c_attn"; the model's Linear layers are q_proj, k_proj/,
    );
    expect(() => applyLora(m, { layers: [2] })).toThrow(/layer 2 not in the model/);
    expect(loraModules(m)).toHaveLength(0); // a refused config leaves the model as it was
    applyLora(m, { r: 2 });
    expect(() => applyLora(m, { r: 2 })).toThrow(/already has LoRA adapters/);
  });

  it('is deterministic from the seed; a different seed gives a different A; B starts at zero', () => {
    const a = (seed: number): Float32Array[] => {
      const m = new TinyQwen(S, new Random(1));
      applyLora(m, { r: 2, targetModules: 'all-linear', seed });
      return loraModules(m).map(([, l]) => l.lora_A.weight.f32);
    };
    expect(a(3)).toEqual(a(3));
    expect(a(3)).not.toEqual(a(4));
    const m = new TinyQwen(S, new Random(1));
    applyLora(m, { r: 2, targetModules: 'all-linear' });
    for (const [, l] of loraModules(m)) expect(l.lora_B.weight.f32.every((v) => v === 0)).toBe(true);
  });

  it('the adapted model equals the base model at init (B = 0), and only A, B get gradients', () => {
    const m = new TinyQwen(S, new Random(1));
    const ids = Tensor.int([1, 2, 3, 4, 5, 6], [2, 3]);
    const before = m.forward(ids).f32.slice();
    applyLora(m, { r: 2, targetModules: 'all-linear' });
    expect(m.forward(ids).f32).toEqual(before);
    for (const [, l] of loraModules(m)) l.lora_B.weight.f32.fill(0.1);
    m.forward(ids).sum().backward();
    for (const [n, t] of m.namedParameters()) expect([n, t.grad !== null]).toEqual([n, /lora_[AB]/.test(n)]);
  });
});

describe('trainable report (PEFT print_trainable_parameters)', () => {
  it('formats as PEFT does (Qwen2.5-0.5B, r=8, all 7 projections)', () => {
    // per layer 8·(896+896)·2 + 8·(896+128)·2 + 8·(896+4864)·3 = 183,296; 24 layers
    expect(formatTrainable(24 * 183_296, 494_032_768 + 24 * 183_296)).toBe(
      'trainable params: 4,399,104 || all params: 498,431,872 || trainable%: 0.8826',
    );
  });

  it('counts trainable A/B and all parameters, tied embeddings once', () => {
    const tied = new TinyQwen({ ...S, tied: true }, new Random(1));
    applyLora(tied, { r: 2, targetModules: ['q_proj', 'down_proj'] });
    const { C, Ckv, F, V } = S;
    const layer = C * C + C + 2 * (C * Ckv + Ckv) + C * C + 3 * C * F + C; // projections, q/k/v biases, input_layernorm
    const base = V * C + 2 * layer + C; // embed (= lm_head, tied), layers, final norm
    const lora = 2 * (2 * (C + C) + 2 * (F + C)); // q_proj (C→C) and down_proj (F→C), r = 2, two layers
    const rep = trainableReport(tied);
    expect(rep).toEqual({
      trainable: lora,
      all: base + lora,
      percent: (100 * lora) / (base + lora),
      text: formatTrainable(lora, base + lora),
    });
    const untied = new TinyQwen(S, new Random(1));
    applyLora(untied, { r: 2, targetModules: ['q_proj', 'down_proj'] });
    expect(trainableReport(untied).all).toBe(base + lora + V * C);
  });
});

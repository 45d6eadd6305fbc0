// generate.test.ts — KV-cached greedy decoding equals argmax over repeated full forwards.
import { noGrad, Random, Tensor } from '@tslora/core-tensor';
import { describe, expect, it } from 'vitest';
import { readGolden } from '../test/golden.js';
import { generate, sampleToken } from './generate.js';
import { loadModel } from './model/load.js';

function argmaxFullForwards(model: ReturnType<typeof loadModel>['model'], prompt: number[], n: number): number[] {
  const ids = [...prompt];
  return noGrad(() => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const l = model.forward(Tensor.int(ids, [1, ids.length]));
      const V = l.shape[2] as number;
      const next = sampleToken(l.f32.subarray(l.f32.length - V), 0, 1, new Random(0));
      out.push(next);
      ids.push(next);
    }
    return out;
  });
}

describe.each(['tiny-qwen2', 'tiny-qwen3'] as const)('%s generation', (name) => {
  const { model } = loadModel(readGolden(name).dir);
  it('greedy with the KV cache equals argmax over repeated full forwards for 20 tokens', () => {
    const prompt = [7, 42, 99, 3, 250];
    const cached = generate(model, prompt, {
      maxTokens: 20,
      temperature: 0,
      topP: 1,
      rng: new Random(0),
      eosTokenIds: [],
    });
    expect(cached).toHaveLength(20);
    expect(cached).toEqual(argmaxFullForwards(model, prompt, 20));
  });

  it('stops at an eos id', () => {
    const prompt = [7, 42, 99, 3, 250];
    const full = argmaxFullForwards(model, prompt, 6);
    const out = generate(model, prompt, {
      maxTokens: 20,
      temperature: 0,
      topP: 1,
      rng: new Random(0),
      eosTokenIds: [full[3] as number],
    });
    expect(out).toEqual(full.slice(0, full.indexOf(full[3] as number) + 1));
  });
});

describe('sampling', () => {
  it('top-p keeps only the nucleus and temperature sharpens', () => {
    const logits = Float32Array.from([5, 4, 0, -2]); // p ≈ [0.72, 0.26, 0.005, 0.0007]
    const rng = new Random(1);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(sampleToken(logits, 1, 0.9, rng));
    expect([...seen].sort()).toEqual([0, 1]);
    let zeros = 0;
    for (let i = 0; i < 500; i++) zeros += sampleToken(logits, 0.1, 1, rng) === 0 ? 1 : 0;
    expect(zeros).toBeGreaterThan(495);
  });
});

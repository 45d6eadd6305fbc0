// nn/module.test.ts — Module: parameter discovery and names, freezing, modes, submodules, strict loadStateDict.
import { describe, expect, it } from 'vitest';
import { TsloraError } from '../errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { Embedding, Linear, RMSNorm } from './layers.js';
import { Module } from './module.js';

class Block extends Module {
  q_proj = new Linear(4, 4, { bias: true, rng: new Random(1) });
  norm = new RMSNorm(4);
  _cache = Tensor.zeros([3]); // private state: not a parameter
  scale = 2; // plain fields are ignored
}

class Tiny extends Module {
  embed_tokens = new Embedding(10, 4, { rng: new Random(2) });
  layers = [new Block(), new Block()];
  lm_head = new Linear(4, 10, { rng: new Random(3) });
  _notes = 'x';
}

describe('parameter discovery', () => {
  it('names parameters by dotted field path, parents first, arrays indexed, private fields skipped', () => {
    expect(new Tiny().namedParameters().map(([n]) => n)).toEqual([
      'embed_tokens.weight',
      'layers.0.q_proj.weight',
      'layers.0.q_proj.bias',
      'layers.0.norm.weight',
      'layers.1.q_proj.weight',
      'layers.1.q_proj.bias',
      'layers.1.norm.weight',
      'lm_head.weight',
    ]);
  });
  it('a Linear without bias has no bias parameter; a prefix is prepended', () => {
    expect(new Linear(2, 3).namedParameters('model').map(([n]) => n)).toEqual(['model.weight']);
  });
  it('a tied tensor is listed once, under its first name (as PyTorch)', () => {
    const m = new Tiny();
    m.lm_head.weight = m.embed_tokens.weight;
    const names = m.namedParameters().map(([n]) => n);
    expect(names).toContain('embed_tokens.weight');
    expect(names).not.toContain('lm_head.weight');
    expect(m.parameters().length).toBe(7);
    expect(m.stateDict().size).toBe(7);
  });
  it('namedModules lists every module with its path, root first', () => {
    expect(new Tiny().namedModules().map(([n]) => n)).toEqual([
      '',
      'embed_tokens',
      'layers.0',
      'layers.0.q_proj',
      'layers.0.norm',
      'layers.1',
      'layers.1.q_proj',
      'layers.1.norm',
      'lm_head',
    ]);
  });
});

describe('freeze, train/eval and submodules', () => {
  it('freeze / unfreeze flip requiresGrad; trainableParameters follows', () => {
    const m = new Tiny();
    m.freeze();
    expect(m.trainableParameters()).toEqual([]);
    m.layers[1]?.q_proj.unfreeze();
    expect(m.trainableParameters().map(([n]) => n)).toEqual(['layers.1.q_proj.weight', 'layers.1.q_proj.bias']);
    m.unfreeze();
    expect(m.trainableParameters().length).toBe(8);
  });
  it('train()/eval() reach every submodule', () => {
    const m = new Tiny().eval();
    expect(m.namedModules().every(([, x]) => !x._training)).toBe(true);
    m.train();
    expect(m.namedModules().every(([, x]) => x._training)).toBe(true);
  });
  it('getSubmodule / setSubmodule by dotted path', () => {
    const m = new Tiny();
    expect(m.getSubmodule('layers.1.q_proj')).toBe(m.layers[1]?.q_proj);
    expect(m.getSubmodule('layers.7')).toBeUndefined();
    const replacement = new Linear(4, 4);
    m.setSubmodule('layers.1.q_proj', replacement);
    expect(m.layers[1]?.q_proj).toBe(replacement);
    expect(m.namedParameters().find(([n]) => n === 'layers.1.q_proj.weight')?.[1]).toBe(replacement.weight);
  });
  it('setSubmodule refuses missing parents, non-module fields and list elements', () => {
    const m = new Tiny();
    expect(() => m.setSubmodule('nope.q_proj', new Linear(1, 1))).toThrow(TsloraError);
    expect(() => m.setSubmodule('layers.0.scale', new Linear(1, 1))).toThrow(/is not a module/);
    expect(() => m.setSubmodule('layers.0', new Block())).toThrow(/names a list element/);
  });
});

describe('stateDict / loadStateDict', () => {
  it('round-trips every parameter into another model by copy (no shared buffers)', () => {
    const a = new Tiny();
    const b = new Tiny();
    b.lm_head.weight.f32.fill(0);
    b.loadStateDict(a.stateDict());
    for (const [n, t] of b.namedParameters()) {
      const src = a.stateDict().get(n) as Tensor;
      expect(t.toArray()).toEqual(src.toArray());
      expect(t.data).not.toBe(src.data);
    }
    b.lm_head.weight.f32[0] = 123; // an in-place optimizer update must not write through to a
    expect(a.lm_head.weight.data[0]).not.toBe(123);
  });
  it('accepts a plain record and converts i32 sources to f32', () => {
    const m = new Linear(2, 1);
    m.loadStateDict({ weight: Tensor.int([3, -4], [1, 2]) });
    expect(m.weight.dtype).toBe('f32');
    expect(m.weight.toArray()).toEqual([3, -4]);
  });
  it('strict mode lists missing, unexpected and mis-shaped entries in one error, and loads nothing', () => {
    const m = new Tiny();
    const sd = m.stateDict();
    const before = m.lm_head.weight.toArray();
    sd.delete('layers.0.norm.weight');
    sd.set('layers.9.mlp.weight', Tensor.zeros([1]));
    sd.set('lm_head.weight', Tensor.zeros([4, 10]));
    let err: TsloraError | undefined;
    try {
      m.loadStateDict(sd, { source: 'model.safetensors' });
    } catch (e) {
      err = e as TsloraError;
    }
    expect(err).toBeInstanceOf(TsloraError);
    expect(err?.message).toMatch(/^model\.safetensors: /);
    expect(err?.message).toMatch(/mis-shaped: lm_head\.weight: expected \[10, 4\], got \[4, 10\]/);
    expect(err?.message).toMatch(/missing: layers\.0\.norm\.weight/);
    expect(err?.message).toMatch(/unexpected: layers\.9\.mlp\.weight/);
    expect(err?.hint).toBeTruthy();
    expect(m.lm_head.weight.toArray()).toEqual(before);
  });
  it('non-strict mode tolerates missing/unexpected names but never a shape mismatch', () => {
    const m = new Linear(2, 2, { bias: true });
    m.loadStateDict({ weight: Tensor.ones([2, 2]), extra: Tensor.zeros([1]) }, { strict: false });
    expect(m.weight.toArray()).toEqual([1, 1, 1, 1]);
    expect(() => m.loadStateDict({ weight: Tensor.ones([4]) }, { strict: false })).toThrow(/mis-shaped/);
  });
});

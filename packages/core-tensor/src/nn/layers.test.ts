// nn/layers.test.ts — Linear (HF layout), Embedding and RMSNorm against naive loops, on every backend.
import { expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { describeEachBackend } from '../testing-backends.js';
import { Embedding, Linear, RMSNorm } from './layers.js';

describeEachBackend(
  'nn layers',
  () => {
    const rng = new Random(31);

    it('Linear: y = x·Wᵀ + b with W (out,in), over any leading dims', () => {
      const lin = new Linear(6, 5, { bias: true, rng });
      lin.bias?.f32.set([0.1, -0.2, 0.3, -0.4, 0.5]);
      const x = Tensor.uniform([2, 3, 6], rng, -1, 1);
      const y = lin.forward(x);
      expect(y.shape).toEqual([2, 3, 5]);
      const ref: number[] = [];
      for (let r = 0; r < 6; r++) {
        for (let o = 0; o < 5; o++) {
          let s = lin.bias?.data[o] as number;
          for (let i = 0; i < 6; i++) s += (x.data[r * 6 + i] as number) * (lin.weight.data[o * 6 + i] as number);
          ref.push(s);
        }
      }
      expectClose(y.data, ref, { atol: 1e-6, rtol: 1e-5 });
    });

    it('Linear backward matches finite differences for x, W and b', () => {
      const lin = new Linear(4, 3, { bias: true, rng });
      lin.bias?.f32.set([0.5, -0.5, 1]);
      const x = Tensor.uniform([2, 4], rng, -1, 1);
      x.requiresGrad = true;
      gradcheck((a, w, b) => a.matmulT(w).add(b), [x, lin.weight, lin.bias as Tensor]);
      gradcheck((a) => lin.forward(a), [x]);
    });

    it('Linear init is kaiming-uniform a=√5 (|w| ≤ 1/sqrt(in)), bias zero, and shape errors name the op', () => {
      const lin = new Linear(16, 32, { bias: true, rng });
      expect([lin.inFeatures, lin.outFeatures, lin.weight.shape]).toEqual([16, 32, [32, 16]]);
      expect(Math.max(...lin.weight.toArray().map(Math.abs))).toBeLessThanOrEqual(0.25);
      expect(lin.bias?.toArray().every((v) => v === 0)).toBe(true);
      expect(new Linear(2, 2).weight.toArray()).toEqual([0, 0, 0, 0]); // no rng: zeros, filled by a checkpoint
      expect(() => lin.forward(Tensor.zeros([3, 15]))).toThrow(ShapeError);
    });

    it('frozen Linear weight: no dW computed, x still gets its gradient', () => {
      const lin = new Linear(3, 2, { rng }).freeze();
      const x = Tensor.uniform([4, 3], rng);
      x.requiresGrad = true;
      lin.forward(x).sum().backward();
      expect(lin.weight.grad).toBeNull();
      expect(x.grad?.shape).toEqual([4, 3]);
    });
  },
  { ort: 'native' },
);

it('Embedding looks up rows and its weight is N(0,1) with an rng', () => {
  const emb = new Embedding(5, 3, { rng: new Random(1) });
  const y = emb.forward(Tensor.int([4, 0, 4]));
  expect(y.shape).toEqual([3, 3]);
  expect(y.toArray()).toEqual([
    ...emb.weight.data.slice(12, 15),
    ...emb.weight.data.slice(0, 3),
    ...emb.weight.data.slice(12, 15),
  ]);
  expect(() => emb.forward(Tensor.int([5]))).toThrow(/embedding: token id 5/);
});

it('RMSNorm starts at w = 1 and normalises the last dim', () => {
  const n = new RMSNorm(4, 1e-6);
  expect(n.weight.toArray()).toEqual([1, 1, 1, 1]);
  const y = n.forward(Tensor.from([1, 2, 3, 4, 2, 2, 2, 2], [2, 4]));
  const rms = Math.sqrt((1 + 4 + 9 + 16) / 4 + 1e-6);
  expectClose(y.data, [1 / rms, 2 / rms, 3 / rms, 4 / rms, 1, 1, 1, 1], { atol: 1e-6, rtol: 1e-6 });
  expect(n.eps).toBe(1e-6);
});

// ops/norm.test.ts — fused rmsNorm: forward against the f64 formula, backward against finite differences and its composite.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { rmsNorm } from './norm.js';

const rng = new Random(17);

describe('rmsNorm', () => {
  it('forward matches w ⊙ x / sqrt(mean(x²) + eps) per row (f64 reference)', () => {
    const C = 8;
    const x = Tensor.uniform([2, 3, C], rng, -3, 3);
    const w = Tensor.uniform([C], rng, 0.5, 1.5);
    const eps = 1e-6;
    const y = rmsNorm(x, w, eps);
    expect(y.shape).toEqual([2, 3, C]);
    const ref: number[] = [];
    for (let r = 0; r < 6; r++) {
      const row = Array.from(x.data.subarray(r * C, (r + 1) * C));
      const ms = row.reduce((p, v) => p + v * v, 0) / C;
      for (const [c, v] of row.entries()) ref.push(((w.data[c] as number) * v) / Math.sqrt(ms + eps));
    }
    expectClose(y.data, ref, { atol: 1e-6, rtol: 1e-6 });
  });

  it('backward matches finite differences for x and w', () => {
    const x = Tensor.uniform([3, 5], rng, -2, 2);
    const w = Tensor.uniform([5], rng, 0.5, 1.5);
    x.requiresGrad = true;
    w.requiresGrad = true;
    gradcheck((a, b) => rmsNorm(a, b, 1e-5), [x, w]);
  });

  it('equals its composite x · rsqrt(mean(x²) + eps) · w, values and gradients', () => {
    const x1 = Tensor.uniform([4, 6], rng, -2, 2);
    const w1 = Tensor.uniform([6], rng, 0.5, 1.5);
    x1.requiresGrad = true;
    w1.requiresGrad = true;
    const x2 = new Tensor(x1.f32.slice(), x1.shape, { requiresGrad: true });
    const w2 = new Tensor(w1.f32.slice(), w1.shape, { requiresGrad: true });
    const dy = Tensor.uniform([4, 6], rng, -1, 1).f32;
    const fused = rmsNorm(x1, w1, 1e-6);
    const composite = x2.mul(x2.pow(2).mean(-1, true).add(1e-6).rsqrt()).mul(w2);
    expectClose(fused.data, composite.data, { atol: 1e-6, rtol: 1e-5 });
    fused.backward(dy);
    composite.backward(dy);
    expectClose(x1.grad?.data ?? [], x2.grad?.data ?? [], { atol: 1e-5, rtol: 1e-4, label: 'dx' });
    expectClose(w1.grad?.data ?? [], w2.grad?.data ?? [], { atol: 1e-5, rtol: 1e-4, label: 'dw' });
  });

  it('a frozen weight gets no gradient and x still does', () => {
    const x = Tensor.uniform([2, 4], rng);
    const w = Tensor.ones([4]);
    x.requiresGrad = true;
    rmsNorm(x, w).sum().backward();
    expect(w.grad).toBeNull();
    expect(x.grad?.shape).toEqual([2, 4]);
  });

  it('an all-zero row gives zeros (eps keeps rsqrt finite), not NaN', () => {
    const y = rmsNorm(Tensor.zeros([1, 4]), Tensor.ones([4]), 1e-6);
    expect(y.toArray()).toEqual([0, 0, 0, 0]);
  });

  it('refuses a weight that does not match the last dim, naming both shapes', () => {
    expect(() => rmsNorm(Tensor.zeros([2, 4]), Tensor.ones([3]))).toThrow(
      /rmsNorm: weight \[3\] does not match the last dim of x \[2, 4\]/,
    );
    expect(() => rmsNorm(Tensor.zeros([2, 4]), Tensor.ones([1, 4]))).toThrow(ShapeError);
  });
});

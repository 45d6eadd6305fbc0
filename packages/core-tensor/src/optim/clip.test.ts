// optim/clip.test.ts — clipGradNorm against torch.nn.utils.clip_grad_norm_ (golden JSON) and non-finite cases.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../tensor.js';
import { expectClose } from '../testing.js';
import { clipGradNorm } from './clip.js';

interface ClipCase {
  maxNorm: number;
  grads: number[][];
  norm: number;
  clipped: number[][];
}
const golden = JSON.parse(readFileSync(new URL('./fixtures/optim-golden.json', import.meta.url), 'utf8')) as {
  clip: ClipCase[];
};

function withGrads(grads: number[][]): Tensor[] {
  const ps = grads.map((g) => {
    const p = Tensor.zeros([g.length], { requiresGrad: true });
    p.grad = Tensor.from(g);
    return p;
  });
  return [...ps, Tensor.zeros([2], { requiresGrad: true })]; // one parameter without a gradient
}

describe('clipGradNorm vs torch', () => {
  it.each(golden.clip)('maxNorm $maxNorm: returns the pre-clip norm and scales like torch', (c) => {
    const ps = withGrads(c.grads);
    const norm = clipGradNorm(ps, c.maxNorm);
    expect(norm).toBeCloseTo(c.norm, 5);
    expect(Math.abs(norm - c.norm) / c.norm).toBeLessThan(1e-6);
    for (const [i, g] of c.clipped.entries()) expectClose(ps[i]?.grad?.data ?? [], g, { atol: 1e-7, rtol: 1e-6 });
    expect(ps[ps.length - 1]?.grad).toBeNull();
  });
  it('the golden has both a clipping and a non-clipping case', () => {
    expect(golden.clip.some((c) => c.norm > c.maxNorm)).toBe(true);
    expect(golden.clip.some((c) => c.norm < c.maxNorm)).toBe(true);
  });
});

describe('clipGradNorm details', () => {
  it('is the f64 L2 norm over all gradients together; named parameters work too', () => {
    const a = Tensor.zeros([2], { requiresGrad: true });
    const b = Tensor.zeros([1], { requiresGrad: true });
    a.grad = Tensor.from([3, 0]);
    b.grad = Tensor.from([4]);
    expect(
      clipGradNorm(
        [
          ['a', a],
          ['b', b],
        ],
        1,
      ),
    ).toBe(5);
    expectClose([...(a.grad?.data ?? []), ...(b.grad?.data ?? [])], [0.6, 0, 0.8], { atol: 1e-6, rtol: 0 });
  });
  it('maxNorm = Infinity only measures; squares beyond f32 range (1e40) are fine in the f64 sum', () => {
    const ps = withGrads([[1e20, 1e20]]);
    const want = Math.SQRT2 * Math.fround(1e20);
    expect(Math.abs(clipGradNorm(ps, Number.POSITIVE_INFINITY) - want) / want).toBeLessThan(1e-12);
    expect(ps[0]?.grad?.toArray()).toEqual([1e20, 1e20].map(Math.fround));
  });
  it('a non-finite norm is returned (not hidden) and the gradients are left as they were', () => {
    const inf = withGrads([[1, Number.POSITIVE_INFINITY]]);
    expect(clipGradNorm(inf, 1)).toBe(Number.POSITIVE_INFINITY);
    expect(inf[0]?.grad?.toArray()).toEqual([1, Number.POSITIVE_INFINITY]);
    const nan = withGrads([[1, Number.NaN]]);
    expect(clipGradNorm(nan, 1)).toBeNaN();
    expect(nan[0]?.grad?.data[0]).toBe(1);
  });
  it('no gradients at all: norm 0', () => {
    expect(clipGradNorm([Tensor.zeros([3], { requiresGrad: true })], 1)).toBe(0);
  });
});

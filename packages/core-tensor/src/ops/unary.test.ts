// ops/unary.test.ts — neg, exp, log, sqrt, rsqrt, pow: forward against Math in f64, backward by finite differences.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { exp, log, neg, pow, rsqrt, sqrt } from './unary.js';

const rng = new Random(11);

const cases = [
  { name: 'neg', op: neg, ref: (x: number) => -x, lo: -3, hi: 3 },
  { name: 'exp', op: exp, ref: Math.exp, lo: -3, hi: 3 },
  { name: 'log', op: log, ref: Math.log, lo: 0.2, hi: 4 },
  { name: 'sqrt', op: sqrt, ref: Math.sqrt, lo: 0.2, hi: 4 },
  { name: 'rsqrt', op: rsqrt, ref: (x: number) => 1 / Math.sqrt(x), lo: 0.2, hi: 4 },
  { name: 'pow 2', op: (t: Tensor) => pow(t, 2), ref: (x: number) => x * x, lo: -3, hi: 3 },
  { name: 'pow 3', op: (t: Tensor) => pow(t, 3), ref: (x: number) => x * x * x, lo: -2, hi: 2 },
  { name: 'pow 0.5', op: (t: Tensor) => pow(t, 0.5), ref: Math.sqrt, lo: 0.2, hi: 4 },
  { name: 'pow -1', op: (t: Tensor) => pow(t, -1), ref: (x: number) => 1 / x, lo: 0.5, hi: 3 },
];

describe.each(cases)('$name', ({ op, ref, lo, hi }) => {
  it('forward matches Math (f64 reference, rounded to f32)', () => {
    const x = Tensor.uniform([3, 5], rng, lo, hi);
    const y = op(x);
    expect(y.shape).toEqual([3, 5]);
    expectClose(
      y.data,
      Array.from(x.data, (v) => ref(v)),
      { atol: 0, rtol: 2e-7 },
    );
  });

  it('backward matches finite differences', () => {
    const x = Tensor.uniform([2, 4], rng, lo, hi);
    x.requiresGrad = true;
    gradcheck((t) => op(t), [x], { atol: 2e-3, rtol: 2e-3 });
  });

  it('keeps size-1 and empty shapes', () => {
    expect(op(Tensor.uniform([1, 1, 3], rng, lo, hi)).shape).toEqual([1, 1, 3]);
    expect(op(Tensor.zeros([2, 0])).shape).toEqual([2, 0]);
  });

  it('refuses an i32 tensor, naming the op', () => {
    expect(() => op(Tensor.int([1, 2]))).toThrow(ShapeError);
  });
});

describe('documented non-finite results from finite input', () => {
  it('log(0) = −Inf and log(−1) = NaN (IEEE, as PyTorch)', () => {
    expect(log(Tensor.from([0, -1])).toArray()).toEqual([Number.NEGATIVE_INFINITY, Number.NaN]);
  });
  it('sqrt/rsqrt of a negative number are NaN; rsqrt(0) = +Inf', () => {
    expect(sqrt(Tensor.from([-1])).item()).toBeNaN();
    expect(rsqrt(Tensor.from([-1, 0])).toArray()).toEqual([Number.NaN, Number.POSITIVE_INFINITY]);
  });
  it('exp of large input overflows f32 to +Inf, never NaN', () => {
    expect(exp(Tensor.from([100, -200])).toArray()).toEqual([Number.POSITIVE_INFINITY, 0]);
  });
});

// ops/reduce.test.ts — sum, mean, max over an axis or everything: naive loops, finite differences, edge shapes.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { max, mean, sum } from './reduce.js';

const rng = new Random(3);

/** Reduces along `axis` by walking every multi-index (independent of splitAt). */
function naiveReduce(
  x: Tensor,
  axis: number,
  init: number,
  f: (acc: number, v: number) => number,
  fin = (a: number) => a,
) {
  const shape = [...x.shape];
  const a = axis < 0 ? axis + shape.length : axis;
  const outShape = shape.filter((_, i) => i !== a);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((p, c) => p * c, 1));
  const nOut = outShape.reduce((p, c) => p * c, 1);
  const out: number[] = [];
  for (let flat = 0; flat < nOut; flat++) {
    const idx: number[] = [];
    let r = flat;
    for (let i = outShape.length - 1; i >= 0; i--) {
      idx.unshift(r % (outShape[i] as number));
      r = Math.floor(r / (outShape[i] as number));
    }
    idx.splice(a, 0, 0);
    let acc = init;
    for (let d = 0; d < (shape[a] as number); d++) {
      idx[a] = d;
      acc = f(acc, x.data[idx.reduce((p, c, i) => p + c * (strides[i] as number), 0)] as number);
    }
    out.push(fin(acc));
  }
  return { out, outShape, keepShape: shape.map((d, i) => (i === a ? 1 : d)) };
}

const shape = [2, 3, 4];
const axes = [0, 1, 2, -1, -2, -3];

describe('sum / mean / max over one axis', () => {
  it.each(axes)('axis %i, with and without keepdim, matches the naive loop', (axis) => {
    const x = Tensor.uniform(shape, rng, -2, 2);
    const s = naiveReduce(x, axis, 0, (p, v) => p + v);
    const m = naiveReduce(
      x,
      axis,
      0,
      (p, v) => p + v,
      (p) => p / (shape.at(axis) as number),
    );
    const mx = naiveReduce(x, axis, Number.NEGATIVE_INFINITY, Math.max);
    for (const keep of [false, true]) {
      const ys = sum(x, axis, keep);
      const ym = mean(x, axis, keep);
      const yx = max(x, axis, keep);
      expect(ys.shape).toEqual(keep ? s.keepShape : s.outShape);
      expect(ym.shape).toEqual(ys.shape);
      expect(yx.shape).toEqual(ys.shape);
      expectClose(ys.data, s.out, { atol: 1e-6, rtol: 1e-6 });
      expectClose(ym.data, m.out, { atol: 1e-6, rtol: 1e-6 });
      expectClose(yx.data, mx.out, { atol: 0, rtol: 0 });
    }
  });

  it.each(axes)('axis %i backward matches finite differences', (axis) => {
    const x = Tensor.uniform(shape, rng, -2, 2);
    x.requiresGrad = true;
    gradcheck((t) => sum(t, axis, true), [x]);
    gradcheck((t) => mean(t, axis), [x]);
    gradcheck((t) => max(t, axis), [x]); // random data: no ties, max is differentiable here
  });

  it('size-1 axis: sum/mean/max are the identity (reshaped)', () => {
    const x = Tensor.uniform([3, 1, 2], rng);
    for (const op of [sum, mean, max]) expect(op(x, 1).toArray()).toEqual(x.toArray());
  });

  it('max sends the gradient to the first maximal element on ties (as PyTorch)', () => {
    const x = Tensor.from([1, 5, 5, 2, 7, 7], [2, 3], { requiresGrad: true });
    max(x, 1).sum().backward();
    expect(x.grad?.toArray()).toEqual([0, 1, 0, 0, 1, 0]);
  });

  it('max propagates NaN instead of skipping it', () => {
    expect(max(Tensor.from([1, Number.NaN, 3, 4, 2, 0], [2, 3]), 1).data[0]).toBeNaN();
    expect(max(Tensor.from([Number.NaN, 1]), 0).item()).toBeNaN();
  });
});

describe('sum / mean over everything', () => {
  it('is a scalar equal to the naive total', () => {
    const x = Tensor.uniform([3, 4], rng, -1, 1);
    const total = x.toArray().reduce((p, c) => p + c, 0);
    expect(sum(x).shape).toEqual([]);
    expect(sum(x).item()).toBeCloseTo(total, 6);
    expect(mean(x).item()).toBeCloseTo(total / 12, 6);
  });
  it('backward matches finite differences', () => {
    const x = Tensor.uniform([3, 4], rng, -1, 1);
    x.requiresGrad = true;
    gradcheck((t) => sum(t), [x]);
    gradcheck((t) => mean(t), [x]);
  });
  it('accumulates in f64: 1e4 ones plus 1e8 stays exact where an f32 running sum would drift', () => {
    const d = new Float32Array(10001).fill(1);
    d[0] = 1e8;
    expect(sum(Tensor.from(d)).item()).toBe(100010000);
  });
});

describe('empty reductions', () => {
  it('sum over an empty axis is zeros (the empty sum), mean is NaN (0/0, as PyTorch)', () => {
    const x = Tensor.zeros([2, 0, 3]);
    expect(sum(x, 1).shape).toEqual([2, 3]);
    expect(sum(x, 1).toArray()).toEqual([0, 0, 0, 0, 0, 0]);
    expect(sum(x).item()).toBe(0);
    expect(mean(x, 1).toArray().every(Number.isNaN)).toBe(true);
  });
  it('reducing another axis of an empty tensor gives an empty result', () => {
    expect(sum(Tensor.zeros([2, 0, 3]), 2).shape).toEqual([2, 0]);
    expect(max(Tensor.zeros([0, 3]), 1).shape).toEqual([0]);
  });
  it('max over an empty axis is a ShapeError (no value, no argmax)', () => {
    expect(() => max(Tensor.zeros([2, 0]), 1)).toThrow(ShapeError);
    expect(() => max(Tensor.zeros([2, 0]), -1)).toThrow(/max: axis -1 of shape \[2, 0\] is empty/);
  });
});

describe('bad input', () => {
  it('an axis out of range names the op', () => {
    const x = Tensor.zeros([2, 3]);
    expect(() => sum(x, 2)).toThrow(/sum: axis 2 is out of range/);
    expect(() => mean(x, -3)).toThrow(ShapeError);
    expect(() => max(x, 5)).toThrow(/max/);
  });
});

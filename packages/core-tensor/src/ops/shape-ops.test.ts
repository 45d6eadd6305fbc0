// ops/shape-ops.test.ts — reshape, permute, transpose, slice, concat, expand: naive index maps and finite differences.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { concat, expand, permute, reshape, slice, transpose } from './shape-ops.js';

const rng = new Random(5);
const randT = (shape: number[], requiresGrad = false): Tensor => {
  const t = Tensor.uniform(shape, rng, -1, 1);
  t.requiresGrad = requiresGrad;
  return t;
};

/** Element of x at a multi-index (row-major), computed from scratch. */
function at(x: Tensor, idx: number[]): number {
  let off = 0;
  idx.forEach((v, i) => {
    off = off * (x.shape[i] as number) + v;
  });
  return x.data[off] as number;
}

/** Every multi-index of a shape in row-major order. */
function indices(shape: number[]): number[][] {
  const out: number[][] = [[]];
  for (const d of shape) {
    const next: number[][] = [];
    for (const p of out) for (let i = 0; i < d; i++) next.push([...p, i]);
    out.splice(0, out.length, ...next);
  }
  return out;
}

describe('reshape', () => {
  it('shares the buffer, infers −1 and keeps the order', () => {
    const x = randT([2, 3, 4]);
    const y = reshape(x, [4, -1]);
    expect(y.shape).toEqual([4, 6]);
    expect(y.data).toBe(x.data);
    expect(reshape(Tensor.zeros([0, 3]), [-1, 3]).shape).toEqual([0, 3]);
  });
  it('backward passes the gradient through', () => {
    gradcheck((t) => reshape(t, [3, 2]).mul(Tensor.from([1, 2], [2])), [randT([2, 3], true)]);
  });
  it('refuses a size mismatch naming both shapes', () => {
    expect(() => reshape(Tensor.zeros([2, 3]), [4, 2])).toThrow(/reshape: cannot reshape \[2, 3\] .* to \[4, 2\]/);
    expect(() => reshape(Tensor.zeros([2, 3]), [4, -1])).toThrow(ShapeError);
  });
});

describe('permute / transpose', () => {
  const perms = [
    [0, 1, 2],
    [2, 0, 1],
    [1, 2, 0],
    [2, 1, 0],
    [-1, 0, -2],
  ];
  it.each(perms)('permute(%i, %i, %i) matches y[i] = x[i permuted]', (...axes) => {
    const x = randT([2, 3, 4]);
    const y = permute(x, axes);
    const ax = axes.map((a) => (a < 0 ? a + 3 : a));
    expect(y.shape).toEqual(ax.map((a) => x.shape[a]));
    const ref = indices(y.shape as number[]).map((oi) => {
      const ii = new Array<number>(3);
      ax.forEach((a, k) => {
        ii[a] = oi[k] as number;
      });
      return at(x, ii);
    });
    expectClose(y.data, ref, { atol: 0, rtol: 0 });
  });
  it('permute backward matches finite differences', () => {
    gradcheck((t) => permute(t, [2, 0, 1]), [randT([2, 3, 4], true)]);
  });
  it('transpose with negative axes is the swap of the last two', () => {
    const x = randT([2, 3, 4]);
    expect(transpose(x, -1, -2).toArray()).toEqual(permute(x, [0, 2, 1]).toArray());
    gradcheck((t) => transpose(t, 0, -1), [randT([2, 3, 4], true)]);
  });
  it('permutes i32 tensors too', () => {
    expect(permute(Tensor.int([1, 2, 3, 4, 5, 6], [2, 3]), [1, 0]).toArray()).toEqual([1, 4, 2, 5, 3, 6]);
  });
  it('refuses non-permutations and bad axes', () => {
    expect(() => permute(Tensor.zeros([2, 3]), [0, 0])).toThrow(ShapeError);
    expect(() => permute(Tensor.zeros([2, 3]), [0])).toThrow(/permute/);
    expect(() => transpose(Tensor.zeros([2, 3]), 0, 2)).toThrow(/transpose: axis 2/);
  });
});

describe('slice', () => {
  it.each([0, 1, 2, -1])('axis %i matches the naive index', (axis) => {
    const x = randT([3, 4, 5]);
    const a = axis < 0 ? axis + 3 : axis;
    const y = slice(x, axis, 1, 3);
    const want = [3, 4, 5].map((d, i) => (i === a ? 2 : d));
    expect(y.shape).toEqual(want);
    const ref = indices(want).map((oi) =>
      at(
        x,
        oi.map((v, i) => (i === a ? v + 1 : v)),
      ),
    );
    expectClose(y.data, ref, { atol: 0, rtol: 0 });
    gradcheck((t) => slice(t, axis, 1, 3), [randT([3, 4, 5], true)]);
  });
  it('empty and full slices', () => {
    const x = randT([2, 3]);
    expect(slice(x, 1, 2, 2).shape).toEqual([2, 0]);
    expect(slice(x, 0, 0, 2).toArray()).toEqual(x.toArray());
  });
  it('refuses out-of-range bounds naming the axis and shape', () => {
    const x = Tensor.zeros([2, 3]);
    expect(() => slice(x, 1, 0, 4)).toThrow(/slice: \[0, 4\) is out of range for axis 1 of size 3 \(shape \[2, 3\]\)/);
    expect(() => slice(x, 0, 2, 1)).toThrow(ShapeError);
    expect(() => slice(x, 0, -1, 1)).toThrow(ShapeError);
  });
});

describe('concat', () => {
  it.each([0, 1, -1])('axis %i matches the naive join and splits the gradient back', (axis) => {
    const a = axis === 0 ? randT([1, 3], true) : randT([2, 1], true);
    const b = axis === 0 ? randT([2, 3], true) : randT([2, 2], true);
    const y = concat([a, b], axis);
    const ax = axis < 0 ? axis + 2 : axis;
    expect(y.shape).toEqual(ax === 0 ? [3, 3] : [2, 3]);
    const ref = indices(y.shape as number[]).map((oi) => {
      const k = oi[ax] as number;
      const first = a.shape[ax] as number;
      return k < first
        ? at(a, oi)
        : at(
            b,
            oi.map((v, i) => (i === ax ? v - first : v)),
          );
    });
    expectClose(y.data, ref, { atol: 0, rtol: 0 });
    gradcheck((x1, x2) => concat([x1, x2], axis), [a, b]);
  });
  it('a frozen piece gets no gradient', () => {
    const a = randT([2, 2], true);
    const b = randT([2, 2]);
    concat([a, b], 0).sum().backward();
    expect(a.grad?.toArray()).toEqual([1, 1, 1, 1]);
    expect(b.grad).toBeNull();
  });
  it('joins i32 tensors', () => {
    expect(concat([Tensor.int([1, 2]), Tensor.int([3])], 0).toArray()).toEqual([1, 2, 3]);
  });
  it('refuses mismatched shapes or dtypes, and an empty list', () => {
    expect(() => concat([Tensor.zeros([2, 3]), Tensor.zeros([3, 2])], 0)).toThrow(
      /concat: \[3, 2\] f32 does not match \[2, 3\] f32/,
    );
    expect(() => concat([Tensor.zeros([2]), Tensor.int([1])], 0)).toThrow(ShapeError);
    expect(() => concat([], 0)).toThrow(ShapeError);
  });
});

describe('expand', () => {
  it.each([
    [
      [3, 1],
      [3, 4],
    ],
    [[4], [2, 3, 4]],
    [
      [1, 1],
      [2, 2],
    ],
    [
      [2, 1, 3],
      [2, 5, 3],
    ],
  ])('%j → %j matches the naive broadcast and sums the gradient back', (from, to) => {
    const x = randT(from, true);
    const y = expand(x, to);
    expect(y.shape).toEqual(to);
    const off = to.length - from.length;
    const ref = indices(to).map((oi) =>
      at(
        x,
        oi.slice(off).map((v, i) => (from[i] === 1 ? 0 : v)),
      ),
    );
    expectClose(y.data, ref, { atol: 0, rtol: 0 });
    gradcheck((t) => expand(t, to), [x]);
  });
  it('to the same shape is a reshape (no copy)', () => {
    const x = randT([2, 3]);
    expect(expand(x, [2, 3]).data).toBe(x.data);
  });
  it('refuses a non-broadcastable target naming both shapes', () => {
    expect(() => expand(Tensor.zeros([2, 3]), [4, 3])).toThrow(/expand: cannot expand \[2, 3\] to \[4, 3\]/);
    expect(() => expand(Tensor.zeros([2, 3]), [3])).toThrow(ShapeError);
  });
});

// ops/index-ops.test.ts — embedding (gather + scatter-add backward), where, maskedFill: naive loops and finite differences.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { embedding, maskedFill, where } from './index-ops.js';

const rng = new Random(9);

describe('embedding', () => {
  const V = 6;
  const C = 4;
  it('gathers rows for ids of any shape: out[..., c] = W[id, c]', () => {
    const w = Tensor.uniform([V, C], rng, -1, 1);
    const ids = Tensor.int([5, 0, 3, 3, 1, 0], [2, 3]);
    const y = embedding(w, ids);
    expect(y.shape).toEqual([2, 3, C]);
    const ref: number[] = [];
    for (const id of ids.data) for (let c = 0; c < C; c++) ref.push(w.data[id * C + c] as number);
    expectClose(y.data, ref, { atol: 0, rtol: 0 });
  });

  it('backward scatter-adds: a repeated id gets the sum of its rows, unused rows get 0', () => {
    const w = Tensor.uniform([V, C], rng, -1, 1);
    w.requiresGrad = true;
    const ids = Tensor.int([2, 4, 2, 2]);
    const dy = Tensor.uniform([4, C], rng, -1, 1).f32;
    embedding(w, ids).backward(dy);
    const ref = new Float64Array(V * C);
    ids.data.forEach((id, i) => {
      for (let c = 0; c < C; c++) ref[id * C + c] = (ref[id * C + c] as number) + (dy[i * C + c] as number);
    });
    expectClose(w.grad?.data ?? [], ref, { atol: 1e-6, rtol: 1e-6 });
    expect(Array.from(w.grad?.data.subarray(0, C) ?? [1])).toEqual([0, 0, 0, 0]);
  });

  it('backward matches finite differences', () => {
    const w = Tensor.uniform([V, C], rng, -1, 1);
    w.requiresGrad = true;
    gradcheck((t) => embedding(t, Tensor.int([1, 1, 5, 0], [2, 2])), [w]);
  });

  it('accepts empty ids', () => {
    expect(embedding(Tensor.zeros([V, C]), Tensor.int([], [0])).shape).toEqual([0, C]);
  });

  it('out-of-range ids raise a ShapeError naming the op, the id and the weight shape', () => {
    const w = Tensor.zeros([V, C]);
    const err = (() => {
      try {
        embedding(w, Tensor.int([0, V]));
      } catch (e) {
        return e as ShapeError;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(ShapeError);
    expect(err.message).toMatch(/^embedding: token id 6 at position 1 .*6 rows \(weight \[6, 4\], ids \[2\]\)/);
    expect(err.hint).toMatch(/vocab_size/);
    expect(() => embedding(w, Tensor.int([-1]))).toThrow(/embedding: token id -1/);
  });

  it('refuses f32 ids and a weight that is not 2-D', () => {
    expect(() => embedding(Tensor.zeros([V, C]), Tensor.from([1]))).toThrow(/embedding: ids must be i32, got f32/);
    expect(() => embedding(Tensor.zeros([V]), Tensor.int([1]))).toThrow(/embedding: weight must be \(V,C\), got \[6\]/);
  });
});

describe('where / maskedFill', () => {
  it('selects elementwise with broadcasting (cond (2,1,3), a (4,3), b scalar)', () => {
    const cond = Tensor.int([1, 0, 1, 0, 0, 1], [2, 1, 3]);
    const a = Tensor.uniform([4, 3], rng);
    const b = Tensor.from([-7], []);
    const y = where(cond, a, b);
    expect(y.shape).toEqual([2, 4, 3]);
    const ref: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 4; j++)
        for (let k = 0; k < 3; k++) ref.push(cond.data[i * 3 + k] ? (a.data[j * 3 + k] as number) : -7);
    expectClose(y.data, ref, { atol: 0, rtol: 0 });
  });

  it('backward routes dy to the chosen side and sums over broadcast dims', () => {
    const cond = Tensor.int([1, 0, 0, 1, 1, 0], [2, 3]);
    const a = Tensor.uniform([2, 3], rng);
    const b = Tensor.uniform([3], rng);
    a.requiresGrad = true;
    b.requiresGrad = true;
    gradcheck((x, y) => where(cond, x, y), [a, b]);
  });

  it('maskedFill writes the value where mask ≠ 0 and blocks the gradient there', () => {
    const x = Tensor.from([1, 2, 3, 4], [2, 2], { requiresGrad: true });
    const mask = Tensor.int([0, 1], [1, 2]);
    const y = maskedFill(x, mask, Number.NEGATIVE_INFINITY);
    expect(y.toArray()).toEqual([1, Number.NEGATIVE_INFINITY, 3, Number.NEGATIVE_INFINITY]);
    y.backward(new Float32Array([1, 1, 1, 1]));
    expect(x.grad?.toArray()).toEqual([1, 0, 1, 0]);
  });

  it('refuses an f32 condition and non-broadcastable shapes', () => {
    expect(() => where(Tensor.from([1]), Tensor.zeros([1]), Tensor.zeros([1]))).toThrow(/where: condition must be i32/);
    expect(() => where(Tensor.int([1, 0]), Tensor.zeros([3]), Tensor.zeros([2]))).toThrow(ShapeError);
    expect(() => maskedFill(Tensor.zeros([2, 3]), Tensor.int([1, 0]), 0)).toThrow(/where: shapes \[2\] and \[2, 3\]/);
  });
});

// tensor.test.ts — Tensor construction, facts, typed views and that each method delegates to its op.
import { describe, expect, it } from 'vitest';
import { ShapeError, TsloraError } from './errors.js';
import * as ops from './ops/index.js';
import { Random } from './random.js';
import { Tensor } from './tensor.js';

describe('construction', () => {
  it('zeros / ones / full / from / int give the right data, shape and dtype', () => {
    expect(Tensor.zeros([2, 3]).toArray()).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Tensor.ones([2]).toArray()).toEqual([1, 1]);
    expect(Tensor.full([1, 2], 2.5).toArray()).toEqual([2.5, 2.5]);
    const f = Tensor.from([1, 2, 3, 4], [2, 2]);
    expect([f.dtype, f.shape, f.data instanceof Float32Array]).toEqual(['f32', [2, 2], true]);
    const i = Tensor.int([7, -1]);
    expect([i.dtype, i.shape, i.data instanceof Int32Array]).toEqual(['i32', [2], true]);
    expect(Tensor.from([5]).shape).toEqual([1]);
    expect(Tensor.from([5], []).item()).toBe(5);
    expect(Tensor.zeros([2], { requiresGrad: true }).requiresGrad).toBe(true);
  });

  it('randn / uniform draw from the given generator reproducibly and within range', () => {
    const a = Tensor.randn([50], new Random(4), 2);
    const b = Tensor.randn([50], new Random(4), 2);
    expect(a.toArray()).toEqual(b.toArray());
    const u = Tensor.uniform([1000], new Random(5), -3, -1);
    expect(u.toArray().every((v) => v >= -3 && v < -1)).toBe(true);
  });

  it('refuses data that does not fill the shape, naming both sizes', () => {
    expect(() => new Tensor(new Float32Array(5), [2, 3])).toThrow(ShapeError);
    expect(() => Tensor.from([1, 2, 3], [2, 2])).toThrow(/3 elements do not fill shape \[2, 2\] \(4 elements\)/);
  });

  it('copies the shape array (mutating the caller’s array later changes nothing)', () => {
    const s = [2, 2];
    const t = Tensor.zeros(s);
    s[0] = 9;
    expect(t.shape).toEqual([2, 2]);
  });
});

describe('facts and views', () => {
  const t = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
  it('size, ndim, dim with negative axes', () => {
    expect([t.size, t.ndim, t.dim(0), t.dim(-1), t.dim(-2)]).toEqual([6, 2, 2, 3, 2]);
    expect(() => t.dim(2)).toThrow(ShapeError);
    expect(() => t.dim(-3)).toThrow(/dim\(-3\)/);
  });
  it('item() only for one element', () => {
    expect(Tensor.from([4], [1, 1]).item()).toBe(4);
    expect(() => t.item()).toThrow(/item\(\): tensor has shape \[2, 3\]/);
  });
  it('f32 / i32 getters return the buffer or throw a TsloraError for the wrong dtype', () => {
    expect(t.f32).toBe(t.data);
    expect(() => t.i32).toThrow(TsloraError);
    const i = Tensor.int([1]);
    expect(i.i32).toBe(i.data);
    expect(() => i.f32).toThrow(/expected an f32 tensor, got i32/);
  });
  it('toString names shape, dtype and grad flag', () => {
    expect(String(t)).toBe('Tensor([2, 3], f32)');
    expect(String(Tensor.zeros([1], { requiresGrad: true }))).toBe('Tensor([1], f32, requiresGrad)');
  });
  it('detach shares data but leaves the tape and grad behind', () => {
    const x = Tensor.from([1, 2], [2], { requiresGrad: true });
    const y = x.mul(2);
    const d = y.detach();
    expect(d.data).toBe(y.data);
    expect([d.requiresGrad, d.node]).toEqual([false, null]);
  });
});

describe('methods delegate to the functional ops', () => {
  const rng = new Random(1);
  const a = Tensor.uniform([2, 3], rng, 0.5, 2);
  const b = Tensor.uniform([3], rng, 0.5, 2);
  const same = (x: Tensor, y: Tensor): void => {
    expect(x.shape).toEqual(y.shape);
    expect(x.toArray()).toEqual(y.toArray());
  };
  it('binary, unary and activation methods', () => {
    same(a.add(b), ops.add(a, b));
    same(a.sub(2), ops.sub(a, 2));
    same(a.mul(b), ops.mul(a, b));
    same(a.div(b), ops.div(a, b));
    const unary: [Tensor, Tensor][] = [
      [a.neg(), ops.neg(a)],
      [a.exp(), ops.exp(a)],
      [a.log(), ops.log(a)],
      [a.sqrt(), ops.sqrt(a)],
      [a.rsqrt(), ops.rsqrt(a)],
      [a.sigmoid(), ops.sigmoid(a)],
      [a.tanh(), ops.tanh(a)],
      [a.relu(), ops.relu(a)],
      [a.silu(), ops.silu(a)],
      [a.gelu(), ops.gelu(a)],
    ];
    for (const [x, y] of unary) same(x, y);
    same(a.pow(3), ops.pow(a, 3));
  });
  it('reductions, shape ops, matmul and softmax', () => {
    same(a.sum(), ops.sum(a));
    same(a.sum(-1, true), ops.sum(a, -1, true));
    same(a.mean(0), ops.mean(a, 0));
    same(a.max(1), ops.max(a, 1));
    same(a.reshape([3, 2]), ops.reshape(a, [3, 2]));
    same(a.transpose(0, 1), ops.transpose(a, 0, 1));
    same(a.permute([1, 0]), ops.permute(a, [1, 0]));
    same(a.slice(1, 0, 2), ops.slice(a, 1, 0, 2));
    same(b.expand([2, 3]), ops.expand(b, [2, 3]));
    same(a.matmul(a.transpose(0, 1)), ops.matmul(a, a, { transB: true }));
    same(a.matmulT(a), ops.matmul(a, a, { transB: true }));
    same(a.softmax(), ops.softmax(a, -1));
    same(a.logSoftmax(0), ops.logSoftmax(a, 0));
  });
});

describe('grad bookkeeping', () => {
  it('accumulateGrad keeps an owned buffer, copies a borrowed one, then adds', () => {
    const x = Tensor.zeros([2], { requiresGrad: true });
    const g = new Float32Array([1, 2]);
    x.accumulateGrad(g, false);
    expect(x.grad?.data).not.toBe(g);
    x.accumulateGrad(g, false);
    expect(x.grad?.toArray()).toEqual([2, 4]);
    expect(g).toEqual(new Float32Array([1, 2]));
    const y = Tensor.zeros([2], { requiresGrad: true });
    y.accumulateGrad(g, true);
    expect(y.grad?.data).toBe(g);
    y.zeroGrad();
    expect(y.grad).toBeNull();
  });
});

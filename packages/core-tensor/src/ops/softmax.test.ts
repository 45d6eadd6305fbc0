// ops/softmax.test.ts — softmax, logSoftmax and fused crossEntropy: f64 references, finite differences, masking edge cases.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { embedding } from './index-ops.js';
import { crossEntropy, logSoftmax, softmax } from './softmax.js';

const rng = new Random(13);
const NEG_INF = Number.NEGATIVE_INFINITY;

/** Softmax of each line along `axis` in f64, written from the definition with a max shift. */
function naiveSoftmax(x: Tensor, axis: number, log: boolean): number[] {
  const shape = x.shape as number[];
  const a = axis < 0 ? axis + shape.length : axis;
  const dim = shape[a] as number;
  const stride = shape.slice(a + 1).reduce((p, c) => p * c, 1);
  const out = new Array<number>(x.size).fill(0);
  for (let start = 0; start < x.size; start++) {
    if (Math.floor(start / stride) % dim !== 0) continue; // first element of its line only
    const line = Array.from({ length: dim }, (_, d) => x.data[start + d * stride] as number);
    const mx = Math.max(...line);
    const sum = line.reduce((p, v) => p + Math.exp(v - mx), 0);
    line.forEach((v, d) => {
      out[start + d * stride] = log ? v - mx - Math.log(sum) : Math.exp(v - mx) / sum;
    });
  }
  return out;
}

describe.each([
  { name: 'softmax', op: softmax, log: false },
  { name: 'logSoftmax', op: logSoftmax, log: true },
])('$name', ({ op, log }) => {
  it.each([0, 1, 2, -1, -2])('axis %i matches the f64 definition', (axis) => {
    const x = Tensor.uniform([2, 3, 4], rng, -3, 3);
    expectClose(op(x, axis).data, naiveSoftmax(x, axis, log), { atol: 1e-6, rtol: 1e-6 });
  });
  it.each([0, 1, -1])('axis %i backward matches finite differences', (axis) => {
    const x = Tensor.uniform([2, 3, 4], rng, -2, 2);
    x.requiresGrad = true;
    gradcheck((t) => op(t, axis), [x]);
  });
  it('large logits (±1e4, ±1e38) do not overflow', () => {
    const x = Tensor.from([1e4, 1e4 - 1, -1e4, 1e38, 1e38, -1e38], [2, 3]);
    const y = op(x, -1);
    for (const v of y.data) expect(Number.isNaN(v)).toBe(false);
    expectClose(y.data, naiveSoftmax(x, -1, log), { atol: 1e-6, rtol: 1e-6 });
  });
  it('−Infinity entries get probability 0 and no gradient leaks to them', () => {
    const x = Tensor.from([0.5, NEG_INF, -1, NEG_INF], [1, 4], { requiresGrad: true });
    const y = softmax(x, -1);
    expect(y.data[1]).toBe(0);
    expect(y.data[3]).toBe(0);
    expectClose([y.data[0] as number, y.data[2] as number], [1 / (1 + Math.exp(-1.5)), 1 / (1 + Math.exp(1.5))], {
      atol: 1e-7,
      rtol: 1e-6,
    });
    if (!log) {
      y.backward(new Float32Array([1, 2, 3, 4]));
      expect([x.grad?.data[1], x.grad?.data[3]]).toEqual([0, 0]);
    }
  });
  it('size-1 axis: softmax is 1, logSoftmax is 0', () => {
    const y = op(Tensor.uniform([3, 1], rng), 1);
    expect(y.toArray()).toEqual(log ? [0, 0, 0] : [1, 1, 1]);
  });
  it('refuses a bad axis naming the op', () => {
    expect(() => op(Tensor.zeros([2, 3]), 2)).toThrow(ShapeError);
  });
});

describe('fully masked rows (every entry −Infinity)', () => {
  it('softmax gives zeros and a zero gradient, never NaN (DESIGN §4: masked rows yield zeros)', () => {
    const x = Tensor.from([NEG_INF, NEG_INF, NEG_INF, 0, 1, 2], [2, 3], { requiresGrad: true });
    const y = softmax(x, -1);
    expect(y.toArray().slice(0, 3)).toEqual([0, 0, 0]);
    expectClose(y.data.subarray(3), naiveSoftmax(Tensor.from([0, 1, 2], [1, 3]), -1, false), {
      atol: 1e-7,
      rtol: 1e-6,
    });
    y.backward(new Float32Array([1, 2, 3, 1, 2, 3]));
    expect(x.grad?.toArray().slice(0, 3)).toEqual([0, 0, 0]);
  });
  it('logSoftmax gives −Infinity (log 0), not NaN, and passes dy through', () => {
    const x = Tensor.from([NEG_INF, NEG_INF], [1, 2], { requiresGrad: true });
    const y = logSoftmax(x, -1);
    expect(y.toArray()).toEqual([NEG_INF, NEG_INF]);
    y.backward(new Float32Array([0.5, -1]));
    expect(x.grad?.toArray()).toEqual([0.5, -1]);
  });
  it('softmax along a non-last axis handles a masked column too', () => {
    const x = Tensor.from([NEG_INF, 1, NEG_INF, 2], [2, 2]);
    const y = softmax(x, 0);
    expect([y.data[0], y.data[2]]).toEqual([0, 0]);
    expect((y.data[1] as number) + (y.data[3] as number)).toBeCloseTo(1, 6);
  });
});

/** Mean/sum negative log-likelihood from the definition, in f64. */
function naiveCE(logits: Tensor, targets: number[], ignore = -100): { total: number; count: number } {
  const [N, V] = logits.shape as [number, number];
  let total = 0;
  let count = 0;
  for (let r = 0; r < N; r++) {
    const t = targets[r] as number;
    if (t === ignore) continue;
    const row = Array.from(logits.data.subarray(r * V, (r + 1) * V));
    const mx = Math.max(...row);
    total += mx + Math.log(row.reduce((p, v) => p + Math.exp(v - mx), 0)) - (row[t] as number);
    count++;
  }
  return { total, count };
}

describe('crossEntropy', () => {
  const N = 6;
  const V = 7;
  const targets = [3, -100, 0, 6, -100, 2];

  it('mean over non-ignored targets (−100 skipped) matches the definition', () => {
    const x = Tensor.uniform([N, V], rng, -3, 3);
    const { total, count } = naiveCE(x, targets);
    const loss = crossEntropy(x, Tensor.int(targets));
    expect(loss.shape).toEqual([]);
    expect(loss.item()).toBeCloseTo(total / count, 6);
    expect(crossEntropy(x, Tensor.int(targets), { reduction: 'sum' }).item()).toBeCloseTo(total, 5);
    expect(crossEntropy(x, Tensor.int(targets), { reduction: 'sum', divisor: 10 }).item()).toBeCloseTo(total / 10, 6);
  });

  it('a custom ignoreIndex is honoured', () => {
    const x = Tensor.uniform([3, V], rng);
    const { total, count } = naiveCE(x, [1, 5, 1], 5);
    expect(crossEntropy(x, Tensor.int([1, 5, 1]), { ignoreIndex: 5 }).item()).toBeCloseTo(total / count, 6);
  });

  it('backward matches finite differences (mean, sum and divisor)', () => {
    const x = Tensor.uniform([N, V], rng, -2, 2);
    x.requiresGrad = true;
    const t = Tensor.int(targets);
    gradcheck((l) => crossEntropy(l, t), [x]);
    gradcheck((l) => crossEntropy(l, t, { reduction: 'sum' }), [x]);
    gradcheck((l) => crossEntropy(l, t, { divisor: 3 }), [x]);
  });

  it('the fused op equals its composite: −mean(gather(logSoftmax(x), t)) and its gradient', () => {
    const valid = targets.map((t, r) => [r, t] as const).filter(([, t]) => t !== -100);
    const x1 = Tensor.uniform([N, V], rng, -2, 2);
    x1.requiresGrad = true;
    const x2 = new Tensor(x1.f32.slice(), [N, V], { requiresGrad: true });
    const fused = crossEntropy(x1, Tensor.int(targets));
    // composite: pick row·V + t out of the flattened log-probs with an embedding over a (N·V, 1) table
    const lp = logSoftmax(x2, -1).reshape([N * V, 1]);
    const picked = embedding(lp, Tensor.int(valid.map(([r, t]) => r * V + t)));
    const composite = picked.sum().mul(-1 / valid.length);
    expect(fused.item()).toBeCloseTo(composite.item(), 6);
    fused.backward();
    composite.backward();
    expectClose(x1.grad?.data ?? [], x2.grad?.data ?? [], { atol: 1e-6, rtol: 1e-5 });
  });

  it('all targets ignored: loss 0 (not NaN) and a zero gradient', () => {
    const x = Tensor.uniform([3, V], rng);
    x.requiresGrad = true;
    const loss = crossEntropy(x, Tensor.int([-100, -100, -100]));
    expect(loss.item()).toBe(0);
    loss.backward();
    expect(x.grad?.toArray().every((v) => v === 0)).toBe(true);
  });

  it('large logits do not overflow', () => {
    const x = Tensor.from([1e4, 0, -1e4, 3e38, -3e38, 0], [2, 3]);
    const loss = crossEntropy(x, Tensor.int([1, 0]), { reduction: 'sum' });
    expect(loss.item()).toBeCloseTo(1e4, 0);
  });

  it('−Infinity logits off the target are fine', () => {
    const x = Tensor.from([0, NEG_INF, 0, NEG_INF], [1, 4]);
    expect(crossEntropy(x, Tensor.int([0])).item()).toBeCloseTo(Math.log(2), 6);
  });

  it('refuses wrong shapes, f32 targets and out-of-range targets, naming the op and shapes', () => {
    const x = Tensor.zeros([2, 3]);
    expect(() => crossEntropy(x, Tensor.int([0, 1, 2]))).toThrow(/crossEntropy: .* got \[2, 3\] and \[3\] i32/);
    expect(() => crossEntropy(Tensor.zeros([2, 3, 1]), Tensor.int([0, 1]))).toThrow(ShapeError);
    expect(() => crossEntropy(x, Tensor.from([0, 1]))).toThrow(/f32/);
    expect(() => crossEntropy(x, Tensor.int([0, 3]))).toThrow(
      /crossEntropy: target 3 at row 1 is outside \[0, 3\) \(logits \[2, 3\], targets \[2\]\)/,
    );
    expect(() => crossEntropy(x, Tensor.int([-1, 0]))).toThrow(ShapeError);
  });
});

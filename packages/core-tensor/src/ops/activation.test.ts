// ops/activation.test.ts — sigmoid, tanh, relu, silu, gelu: values against independent formulas, f' against differences.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { type Activation, type ActivationName, activations, gelu, relu, sigmoid, silu, tanh } from './activation.js';

/** erf by its Maclaurin series in f64 (independent of the library's rational fit); exact to ~1e-12 for |x| ≤ 4. */
function erfSeries(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const refs: Record<ActivationName, (x: number) => number> = {
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: (x) => (Math.exp(2 * x) - 1) / (Math.exp(2 * x) + 1),
  relu: (x) => Math.max(0, x),
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu: (x) => 0.5 * x * (1 + erfSeries(x / Math.SQRT2)),
};
const ops: Record<ActivationName, (t: Tensor) => Tensor> = { sigmoid, tanh, relu, silu, gelu };
const names = Object.keys(refs) as ActivationName[];
const grid = Array.from({ length: 41 }, (_, i) => -4 + i * 0.2 + 0.013); // avoids exactly 0 (relu's kink)

describe.each(names)('%s', (name) => {
  const act: Activation = activations[name];
  const op = ops[name];

  it('scalar f matches the reference formula on [−4, 4]', () => {
    const got = grid.map((x) => act.f(x));
    expectClose(got, grid.map(refs[name]), { atol: 1e-7, rtol: 1e-7, label: name });
  });

  it("scalar f' matches a central difference of the reference (f64)", () => {
    const h = 1e-5;
    const got = grid.map((x) => act.df(x, act.f(x)));
    const num = grid.map((x) => (refs[name](x + h) - refs[name](x - h)) / (2 * h));
    expectClose(got, num, { atol: 1e-6, rtol: 1e-6, label: `${name}'` });
  });

  it('the op applies f elementwise and keeps the shape', () => {
    const x = Tensor.from(grid.slice(0, 40), [2, 4, 5]);
    const y = op(x);
    expect(y.shape).toEqual([2, 4, 5]);
    expectClose(y.data, grid.slice(0, 40).map(refs[name]), { atol: 1e-6, rtol: 1e-6 });
  });

  it('backward matches finite differences', () => {
    const x = Tensor.from([-2.5, -1.1, -0.3, 0.4, 0.9, 2.2], [2, 3], { requiresGrad: true });
    gradcheck((t) => op(t), [x], { atol: 2e-3, rtol: 2e-3 });
  });

  it('large |x| gives finite values (no overflow to NaN)', () => {
    const y = op(Tensor.from([-1000, -100, 100, 1000]));
    for (const v of y.data) expect(Number.isFinite(v)).toBe(true);
    for (const [x, v] of [-1000, -100, 100, 1000].map((x, i) => [x, y.data[i] as number] as const)) {
      expect(act.df(x, v)).not.toBeNaN();
    }
  });

  it('refuses an i32 tensor', () => {
    expect(() => op(Tensor.int([1]))).toThrow(ShapeError);
  });
});

describe('activation conventions', () => {
  it("relu'(0) = 0 (PyTorch's choice at the kink)", () => {
    expect(activations.relu.df(0)).toBe(0);
    const x = Tensor.from([0, -1, 2], [3], { requiresGrad: true });
    relu(x).sum().backward();
    expect(x.grad?.toArray()).toEqual([0, 0, 1]);
  });
  it('saturated sigmoid is exactly 0/1 and silu(−large) → −0-ish, not NaN', () => {
    expect(activations.sigmoid.f(1000)).toBe(1);
    expect(activations.sigmoid.f(-1000)).toBe(0);
    expect(Math.abs(activations.silu.f(-1000))).toBe(0);
  });
});

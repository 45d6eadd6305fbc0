// testing.test.ts — expectClose/compareClose semantics, and that gradcheck passes right rules and catches wrong ones.
import { describe, expect, it } from 'vitest';
import { record } from './autograd.js';
import { Tensor } from './tensor.js';
import { compareClose, expectClose, gradcheck } from './testing.js';

describe('compareClose / expectClose', () => {
  it('accepts |a−b| ≤ atol + rtol·|b| and rejects just beyond it', () => {
    expect(compareClose([1.0], [1.0 + 2e-5], { atol: 1e-5, rtol: 1e-5 }).ok).toBe(true);
    expect(compareClose([1.0], [1.0 + 3e-5], { atol: 1e-5, rtol: 1e-5 }).ok).toBe(false);
    expect(compareClose([100], [101], { atol: 0, rtol: 0.01 }).ok).toBe(true);
    expect(compareClose([100], [101.1], { atol: 0, rtol: 0.01 }).ok).toBe(false);
  });
  it('reports the largest difference and where it is', () => {
    const r = compareClose([0, 1, 2, 3], [0, 1.5, 2, 2], { atol: 0, rtol: 0 });
    expect(r).toEqual({ ok: false, maxDiff: 1, worst: 3 });
  });
  it('NaN equals NaN, but NaN vs a number fails; equal infinities pass, opposite ones fail', () => {
    expect(compareClose([Number.NaN], [Number.NaN]).ok).toBe(true);
    expect(compareClose([Number.NaN], [0]).ok).toBe(false);
    expect(compareClose([0], [Number.NaN]).ok).toBe(false);
    expect(compareClose([Number.POSITIVE_INFINITY], [Number.POSITIVE_INFINITY]).ok).toBe(true);
    expect(compareClose([Number.POSITIVE_INFINITY], [Number.NEGATIVE_INFINITY]).ok).toBe(false);
    expect(compareClose([Number.POSITIVE_INFINITY], [1e30]).ok).toBe(false);
    expect(compareClose([1e30], [Number.POSITIVE_INFINITY]).ok).toBe(false);
    expect(compareClose([Number.NEGATIVE_INFINITY], [-3.4e38], { atol: 1, rtol: 1 }).ok).toBe(false);
  });
  it('a length mismatch fails', () => {
    expect(compareClose([1, 2], [1]).ok).toBe(false);
  });
  it('expectClose throws a report naming the label, position and values; accepts Tensors', () => {
    expect(() => expectClose([1, 2], [1, 2.5], { label: 'probe' })).toThrow(
      /probe: lengths 2\/2, max \|diff\| 5\.000e-1 at \[1\]: 2 vs 2\.5/,
    );
    expect(() => expectClose(Tensor.from([1, 2]), Tensor.from([1, 2]))).not.toThrow();
  });
});

/** y = x² with a backward rule scaled by `factor` (1 = correct). */
function squareWithRule(factor: number) {
  return (x: Tensor): Tensor => {
    const X = x.f32;
    const out = new Tensor(
      X.map((v) => v * v),
      x.shape,
    );
    return record('square', [x], out, (dy) => [dy.map((g, i) => factor * 2 * (X[i] as number) * g)]);
  };
}

describe('gradcheck', () => {
  const x = (): Tensor => Tensor.from([0.7, -1.3, 2.1, 0.4, -0.9, 1.6], [2, 3], { requiresGrad: true });

  it('passes a correct rule', () => {
    expect(() => gradcheck(squareWithRule(1), [x()])).not.toThrow();
  });
  it('fails a rule that is 3% off, and one with the wrong sign', () => {
    expect(() => gradcheck(squareWithRule(1.03), [x()])).toThrow(/gradcheck input 0/);
    expect(() => gradcheck(squareWithRule(-1), [x()])).toThrow(/gradcheck input 0/);
  });
  it('fails a rule that forgets an input (its gradient stays zero)', () => {
    const a = x();
    const b = x();
    const f = (p: Tensor, q: Tensor): Tensor =>
      record('dropsB', [p, q], p.detach().mul(q.detach()), (dy) => [dy.map((g, i) => g * (q.data[i] as number)), null]);
    expect(() => gradcheck(f, [a, b])).toThrow(/gradcheck input 1/);
  });
  it('skips inputs that do not require grad', () => {
    const frozen = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(() => gradcheck((p, q) => p.mul(q), [x(), frozen])).not.toThrow();
    expect(frozen.grad).toBeNull();
  });
  it('restores the inputs it perturbs', () => {
    const a = x();
    const before = a.toArray();
    gradcheck(squareWithRule(1), [a]);
    expect(a.toArray()).toEqual(before);
  });
});

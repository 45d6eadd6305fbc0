// ops/dropout.test.ts — inverted dropout: identity cases, mask statistics, scaling and the backward through the same mask.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { gradcheck } from '../testing.js';
import { dropout } from './dropout.js';

describe('dropout', () => {
  it('p = 0 and eval mode return the input and draw nothing from the RNG', () => {
    const x = Tensor.ones([4]);
    const rng = new Random(1);
    const before = rng.state;
    expect(dropout(x, 0, rng)).toBe(x);
    expect(dropout(x, 0.5, rng, false)).toBe(x);
    expect(rng.state).toEqual(before);
  });

  it('zeros about p of the elements and scales survivors by 1/(1−p)', () => {
    const p = 0.3;
    const y = dropout(Tensor.ones([20000]), p, new Random(2));
    const zeros = y.toArray().filter((v) => v === 0).length;
    // binomial sd = sqrt(n p (1-p)) ≈ 65; 5 sd
    expect(Math.abs(zeros - 20000 * p)).toBeLessThan(325);
    expect(new Set(y.toArray())).toEqual(new Set([0, Math.fround(1 / (1 - p))]));
  });

  it('the same seed gives the same mask', () => {
    const x = Tensor.ones([64]);
    expect(dropout(x, 0.5, new Random(3)).toArray()).toEqual(dropout(x, 0.5, new Random(3)).toArray());
  });

  it('backward uses the forward mask (finite differences with a re-seeded RNG)', () => {
    const x = Tensor.uniform([3, 5], new Random(4), -1, 1);
    x.requiresGrad = true;
    gradcheck((t) => dropout(t, 0.4, new Random(99)), [x]);
  });

  it('refuses p outside [0, 1)', () => {
    expect(() => dropout(Tensor.ones([2]), 1, new Random(1))).toThrow(ShapeError);
    expect(() => dropout(Tensor.ones([2]), -0.1, new Random(1))).toThrow(/dropout: p must be in \[0, 1\)/);
  });
});

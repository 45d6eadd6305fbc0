// finite.test.ts — nonFinite against Number.isFinite, element by element.
import { describe, expect, it } from 'vitest';
import { nonFinite } from './finite.js';
import { Random } from './random.js';

describe('nonFinite', () => {
  it('counts NaN, +Inf and −Inf and finds the first; finite extremes, −0 and subnormals pass', () => {
    expect(nonFinite(new Float32Array(0))).toEqual({ count: 0, first: -1 });
    expect(nonFinite(Float32Array.of(0, -0, 3.4e38, -3.4e38, 1e-45, 1))).toEqual({ count: 0, first: -1 });
    const x = Float32Array.of(1, 2, Number.POSITIVE_INFINITY, 4, Number.NaN, Number.NEGATIVE_INFINITY);
    expect(nonFinite(x)).toEqual({ count: 3, first: 2 });
    expect(nonFinite([Number.NaN])).toEqual({ count: 1, first: 0 });
  });

  it('agrees with Number.isFinite on random data with specials sprinkled in', () => {
    const rng = new Random(5);
    const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    const x = rng.fillNormal(new Float32Array(10_000), 0, 1e30);
    for (let i = 0; i < 37; i++) x[rng.int(x.length)] = specials[i % 3] as number;
    const want = Array.from(x).filter((v) => !Number.isFinite(v)).length;
    expect(nonFinite(x)).toEqual({ count: want, first: Array.from(x).findIndex((v) => !Number.isFinite(v)) });
  });
});

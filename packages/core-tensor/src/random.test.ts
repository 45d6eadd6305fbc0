// random.test.ts — the seeded generator: xoshiro128** against a BigInt reference, distributions, state round trip.
import { describe, expect, it } from 'vitest';
import { Random } from './random.js';

/** xoshiro128** written from the reference C code with BigInt (independent of the Math.imul version). */
function* xoshiroRef(state: number[]): Generator<number> {
  const M = 0xffffffffn;
  const s = state.map((v) => BigInt(v >>> 0));
  const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M;
  for (;;) {
    const [s0, s1, s2, s3] = s as [bigint, bigint, bigint, bigint];
    const result = (rotl((s1 * 5n) & M, 7n) * 9n) & M;
    const t = (s1 << 9n) & M;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    s[1] = s1 ^ n2;
    s[0] = s0 ^ n3;
    s[2] = n2 ^ t;
    s[3] = rotl(n3, 11n);
    yield Number(result);
  }
}

function moments(xs: number[]): { mean: number; variance: number; kurtosis: number } {
  const n = xs.length;
  const mean = xs.reduce((p, c) => p + c, 0) / n;
  const variance = xs.reduce((p, c) => p + (c - mean) ** 2, 0) / n;
  const kurtosis = xs.reduce((p, c) => p + (c - mean) ** 4, 0) / n / variance ** 2;
  return { mean, variance, kurtosis };
}

describe('Random', () => {
  it('nextU32 follows xoshiro128** from any state', () => {
    for (const st of [
      [1, 2, 3, 4],
      [0xdeadbeef, 0x12345678, 0xffffffff, 7],
    ]) {
      const r = Random.fromState({ s: st, spare: null });
      const ref = xoshiroRef(st);
      for (let i = 0; i < 1000; i++) expect(r.nextU32()).toBe(ref.next().value);
    }
  });

  it('is reproducible from its seed; different seeds (including 0) give different streams', () => {
    const draw = (seed: number): number[] => {
      const r = new Random(seed);
      return Array.from({ length: 8 }, () => r.nextU32());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect(new Set(draw(0)).size).toBeGreaterThan(1);
  });

  it('state / fromState resume the exact stream, including the cached Box–Muller spare', () => {
    const r = new Random(7);
    r.normal(); // leaves a spare
    const saved = JSON.parse(JSON.stringify(r.state)) as Random['state'];
    expect(saved.spare).not.toBeNull();
    const a = [r.normal(), r.normal(), r.uniform(), r.nextU32()];
    const q = Random.fromState(saved);
    expect([q.normal(), q.normal(), q.uniform(), q.nextU32()]).toEqual(a);
  });

  it('uniform() is in [0,1) with mean 1/2 and variance 1/12', () => {
    const r = new Random(1);
    const xs = Array.from({ length: 100000 }, () => r.uniform());
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const m = moments(xs);
    // standard errors: mean 9e-4, variance 2.7e-4 → 5 sigma bounds
    expect(Math.abs(m.mean - 0.5)).toBeLessThan(5e-3);
    expect(Math.abs(m.variance - 1 / 12)).toBeLessThan(1.5e-3);
  });

  it('normal() has mean 0, variance 1 and kurtosis 3', () => {
    const r = new Random(2);
    const m = moments(Array.from({ length: 100000 }, () => r.normal()));
    expect(Math.abs(m.mean)).toBeLessThan(0.016);
    expect(Math.abs(m.variance - 1)).toBeLessThan(0.025);
    expect(Math.abs(m.kurtosis - 3)).toBeLessThan(0.08);
  });

  it('fillNormal / fillUniform honour mean, std and bounds', () => {
    const r = new Random(3);
    const n = r.fillNormal(new Float32Array(50000), 2, 0.5);
    const m = moments(Array.from(n));
    expect(Math.abs(m.mean - 2)).toBeLessThan(0.012);
    expect(Math.abs(Math.sqrt(m.variance) - 0.5)).toBeLessThan(0.01);
    const u = Array.from(r.fillUniform(new Float32Array(10000), -2, 6));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...u)).toBeLessThan(6);
  });

  it('fillKaimingUniform matches torch kaiming_uniform_: bound 1/sqrt(fanIn) for a=√5, sqrt(6/fanIn) for a=0', () => {
    const r = new Random(4);
    const fanIn = 64;
    const w = Array.from(r.fillKaimingUniform(new Float32Array(20000), fanIn));
    const bound = 1 / Math.sqrt(fanIn);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(bound * 0.999);
    expect(Math.abs(moments(w).variance - bound ** 2 / 3)).toBeLessThan(bound ** 2 * 0.02);
    const relu = Array.from(r.fillKaimingUniform(new Float32Array(20000), fanIn, 0));
    expect(Math.max(...relu.map(Math.abs))).toBeGreaterThan(Math.sqrt(6 / fanIn) * 0.999);
    expect(Math.max(...relu.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / fanIn));
  });

  it('int(n) covers [0, n) evenly', () => {
    const r = new Random(5);
    const counts = new Array<number>(7).fill(0);
    for (let i = 0; i < 70000; i++) {
      const k = r.int(7);
      counts[k] = (counts[k] as number) + 1;
    }
    expect(counts.length).toBe(7);
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(500);
  });

  it('shuffle is an in-place permutation and depends on the seed', () => {
    const a = Array.from({ length: 50 }, (_, i) => i);
    const s = new Random(6).shuffle([...a]);
    expect([...s].sort((x, y) => x - y)).toEqual(a);
    expect(s).not.toEqual(a);
    expect(new Random(6).shuffle([...a])).toEqual(s);
    expect(new Random(8).shuffle([...a])).not.toEqual(s);
  });
});

// wasm-rows.test.ts — the SIMD row kernels against plain loops: exp accuracy over the whole range, masks, max, the softmax backward.
import { Random } from '@tslora/core-tensor';
import { describe, expect, it } from 'vitest';
import { expNonPositive } from './softmax-rows.js';
import { buildRowsModule, rowKernels, wasmArena } from './wasm-rows.js';

const k = rowKernels();

describe('SIMD row kernels', () => {
  it('build a valid module that Node instantiates', () => {
    expect(Array.from(buildRowsModule().subarray(0, 4))).toEqual([0x00, 0x61, 0x73, 0x6d]); // \0asm
    expect(k).not.toBeNull();
  });

  it('expRow: e^(x − sub) within 2 ulp (2.5e-7 relative) over [−87, 0], 0 below f32 range and for −∞, and the row sum', () => {
    if (!k) return;
    const n = 4096;
    const xs = Float32Array.from({ length: n }, (_, i) => -87 * (i / (n - 1)) + 1.5); // x − 1.5 spans [−87, 0]
    xs.set([-1e3, Number.NEGATIVE_INFINITY, -90, 1.5], n - 4);
    const mem = wasmArena(k, 2 * n);
    mem.set(xs, 16);
    const sum = k.expRow(64, n, 1.5);
    let want = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp(Math.fround((xs[i] as number) - 1.5)); // the kernel subtracts in f32
      const got = mem[16 + i] as number;
      if ((xs[i] as number) - 1.5 < -87.4) expect(got).toBe(0);
      else expect(Math.abs(got - e) / e).toBeLessThan(2.5e-7);
      want += got;
    }
    expect(Math.abs(sum - want) / want).toBeLessThan(1e-6);
    expect(mem[15]).toBe(0); // nothing written before the row
  });

  it('expRowBias and rowMaxBias add the key bias (−∞ masks a key to exactly 0)', () => {
    if (!k) return;
    const x = [0.5, 2, -1, 3, 1, 1, 0, -2];
    const bias = [0, Number.NEGATIVE_INFINITY, 0, Number.NEGATIVE_INFINITY, 0, 0, Number.NEGATIVE_INFINITY, 0];
    const mem = wasmArena(k, 64);
    mem.set(x, 0);
    mem.set(bias, 32);
    expect(k.rowMaxBias(0, 128, 8)).toBe(1);
    expect(k.rowMax(0, 8)).toBe(3);
    const sum = k.expRowBias(0, 128, 8, 1);
    const want = x.map((v, i) => (bias[i] === 0 ? Math.exp(v - 1) : 0));
    for (let i = 0; i < 8; i++) expect(mem[i]).toBeCloseTo(want[i] as number, 6);
    expect(sum).toBeCloseTo(
      want.reduce((a, b) => a + b, 0),
      6,
    );
  });

  it('dsRow computes P ⊙ (dP − dot) in place', () => {
    if (!k) return;
    const rng = new Random(4);
    const P = rng.fillUniform(new Float32Array(12), 0, 1);
    const dP = rng.fillNormal(new Float32Array(12), 0, 1);
    const mem = wasmArena(k, 64);
    mem.set(P, 0);
    mem.set(dP, 16);
    k.dsRow(0, 64, 12, 0.25);
    for (let i = 0; i < 12; i++)
      expect(mem[16 + i]).toBeCloseTo(Math.fround((P[i] as number) * Math.fround((dP[i] as number) - 0.25)), 6);
  });
});

describe('expNonPositive (the scalar path)', () => {
  it('is within 1e-9 relative of Math.exp on [−99, 0] and 0 below', () => {
    for (let i = 0; i <= 10000; i++) {
      const x = -99 * (i / 10000);
      expect(Math.abs(expNonPositive(x) - Math.exp(x)) / Math.exp(x)).toBeLessThan(1e-9);
    }
    expect(expNonPositive(-100)).toBe(0);
    expect(expNonPositive(Number.NEGATIVE_INFINITY)).toBe(0);
  });
});

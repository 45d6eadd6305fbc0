// quant/quantize.test.ts — the quantizer against a naive per-element loop, packing, round-trip error and errors.
import { describe, expect, it } from 'vitest';
import { TsloraError } from '../errors.js';
import { Random } from '../random.js';
import {
  allocQuantized,
  dequantizeRows,
  type QuantBits,
  quantizedBytes,
  quantizeMatrix,
  quantizeRowsInto,
} from './quantize.js';

function randn(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  new Random(seed).fillNormal(x, 0, 0.02);
  return x;
}

/** The naive reference: per element, its group's min/max (or absmax), its code and its value, no packing. */
function naive(w: Float32Array, n: number, k: number, bits: QuantBits, bs: number, sym: boolean): Float32Array {
  const qmax = 2 ** bits - 1;
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const g = Math.floor(c / bs);
      const group = Array.from(w.subarray(r * k + g * bs, r * k + (g + 1) * bs));
      let scale: number;
      let zp: number;
      if (sym) {
        const m = group.reduce((a, v) => (Math.abs(v) > Math.abs(a) ? v : a), 0);
        scale = Math.fround(m / -(2 ** (bits - 1)));
        zp = 2 ** (bits - 1);
      } else {
        const lo = Math.min(0, ...group);
        const hi = Math.max(0, ...group);
        scale = Math.fround((hi - lo) / qmax);
        zp = scale === 0 ? 0 : Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
      }
      const q = scale === 0 ? zp : Math.min(qmax, Math.max(0, Math.round(w[r * k + c]! / scale) + zp));
      out[r * k + c] = (q - zp) * scale;
    }
  }
  return out;
}

describe('quantizeMatrix / dequantizeRows', () => {
  const n = 6;
  const k = 128;
  const w = randn(n * k, 1);
  for (const bits of [4, 8] as const) {
    for (const bs of [16, 32, 64]) {
      for (const sym of [false, true]) {
        it(`int${bits} group ${bs} ${sym ? 'symmetric' : 'asymmetric'}: equals the naive loop exactly`, () => {
          const q = quantizeMatrix(w, n, k, { bits, blockSize: bs, symmetric: sym });
          expect(Array.from(dequantizeRows(q))).toEqual(Array.from(naive(w, n, k, bits, bs, sym)));
          expect(q.data.length).toBe((n * k * bits) / 8);
          expect(q.scales.length).toBe(n * (k / bs));
          expect(q.zeroPoints?.length ?? 0).toBe(sym ? 0 : n * Math.ceil(((k / bs) * bits) / 8));
        });
      }
    }
  }

  it('packs 4-bit codes low nibble first, and zero points per row with padding (odd block count)', () => {
    // one row, K=48, group 16: 3 groups -> 2 zero-point bytes per row, the second half-used
    const row = new Float32Array(48);
    for (let i = 0; i < 48; i++) row[i] = i < 16 ? i : i < 32 ? -(i - 16) : (i - 32) / 15; // [0..15], [0..-15], [0..1]
    const q = quantizeMatrix(row, 1, 48, { bits: 4, blockSize: 16 });
    expect(Array.from(q.scales)).toEqual([1, 1, Math.fround(1 / 15)]);
    // group 0: lo 0 -> zp 0, codes = values; group 1: lo −15 -> zp 15, codes 15..0; group 2: zp 0
    expect(Array.from(q.zeroPoints ?? [])).toEqual([0 | (15 << 4), 0]);
    expect(q.data[0]).toBe(0 | (1 << 4));
    expect(q.data[7]).toBe(14 | (15 << 4));
    expect(q.data[8]).toBe(15 | (14 << 4));
  });

  it('round-trips within one step per element (clamping at the range ends), asymmetric int4 with the lower error', () => {
    const big = randn(64 * 256, 2);
    const err = (sym: boolean): number => {
      const q = quantizeMatrix(big, 64, 256, { bits: 4, blockSize: 32, symmetric: sym });
      const d = dequantizeRows(q);
      let s = 0;
      for (let i = 0; i < big.length; i++) {
        const g = Math.floor(i / 32);
        expect(Math.abs(d[i]! - big[i]!)).toBeLessThanOrEqual(Math.abs(q.scales[g]!) * (1 + 1e-6));
        s += (d[i]! - big[i]!) ** 2;
      }
      return Math.sqrt(s / big.length);
    };
    expect(err(false)).toBeLessThan(err(true));
  });

  it('streams: rows quantized in slices equal the whole matrix', () => {
    const w2 = randn(10 * 64, 3);
    const whole = quantizeMatrix(w2, 10, 64, { bits: 4, blockSize: 16 });
    const sliced = allocQuantized(10, 64, { bits: 4, blockSize: 16 });
    quantizeRowsInto(sliced, w2.subarray(0, 3 * 64), 0);
    quantizeRowsInto(sliced, w2.subarray(3 * 64), 3);
    expect(sliced.data).toEqual(whole.data);
    expect(sliced.scales).toEqual(whole.scales);
    expect(sliced.zeroPoints).toEqual(whole.zeroPoints);
    expect(dequantizeRows(whole, 4, 7)).toEqual(dequantizeRows(whole).subarray(4 * 64, 7 * 64));
    expect(quantizedBytes(whole)).toBe(320 + 40 * 4 + 20);
  });

  it('keeps an all-zero group exactly zero', () => {
    const z = new Float32Array(2 * 32);
    z[40] = 0.5;
    const d = dequantizeRows(quantizeMatrix(z, 2, 32, { bits: 8, blockSize: 16 }));
    expect(Array.from(d.subarray(0, 32))).toEqual(new Array(32).fill(0));
    expect(d[40]).toBeCloseTo(0.5, 6);
  });

  it('refuses a group size that does not divide K, or is out of range, naming the flag (exit 2)', () => {
    const bad = (bs: number, k2: number): TsloraError => {
      try {
        allocQuantized(2, k2, { bits: 4, blockSize: bs });
      } catch (e) {
        return e as TsloraError;
      }
      throw new Error('no error');
    };
    const e = bad(64, 96);
    expect(e).toBeInstanceOf(TsloraError);
    expect(e.message).toContain('--q-group-size 64 does not divide the input dimension 96');
    expect(e.exitCode).toBe(2);
    expect(bad(512, 1024).message).toContain('power of two from 16 to 256');
    expect(bad(24, 96).message).toContain('power of two');
  });
});

// ggml-quant.test.ts — Q8_0 against a naive transcription of ggml's reference loop; F16/BF16 through the dtype codecs.
import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../dtype.js';
import { Random } from '../random.js';
import {
  decodeGgml,
  dequantizeQ8_0,
  encodeGgml,
  ggmlBytes,
  ggmlTypeFromId,
  ggmlTypeId,
  quantizeQ8_0,
} from './ggml-quant.js';

/**
 * quantize_row_q8_0_ref written out with f32 scalars only (a Float32Array as the f32 register):
 * amax, d = amax/127, id = 1/d, q = roundf(x·id) with C's roundf (half away from zero, by trunc).
 */
function naiveQ8_0(x: Float32Array): { d: number[]; q: number[] } {
  const r = new Float32Array(4);
  const d: number[] = [];
  const q: number[] = [];
  for (let b = 0; b < x.length / 32; b++) {
    r[0] = 0;
    for (let j = 0; j < 32; j++) if (Math.abs(x[b * 32 + j]!) > r[0]!) r[0] = Math.abs(x[b * 32 + j]!);
    r[1] = r[0]! / 127; // d
    r[2] = r[1] === 0 ? 0 : 1 / r[1]!; // id
    d.push(f32ToF16Bits(r[1]!));
    for (let j = 0; j < 32; j++) {
      r[3] = x[b * 32 + j]! * r[2]!;
      const v = r[3]!;
      q.push(Math.trunc(v + (v >= 0 ? 0.5 : -0.5)) + 0); // + 0 turns -0 into 0, as int8 storage does
    }
  }
  return { d, q };
}

function blocksOf(bytes: Uint8Array): { d: number[]; q: number[] } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const d: number[] = [];
  const q: number[] = [];
  for (let b = 0; b < bytes.length / 34; b++) {
    d.push(v.getUint16(b * 34, true));
    for (let j = 0; j < 32; j++) q.push(v.getInt8(b * 34 + 2 + j));
  }
  return { d, q };
}

describe('ggml types', () => {
  it('have the enum ggml_type ids and block sizes of ggml.h', () => {
    expect(['F32', 'F16', 'Q8_0', 'BF16'].map((t) => ggmlTypeId(t as 'F32'))).toEqual([0, 1, 8, 30]);
    expect(ggmlTypeFromId(30)).toBe('BF16');
    expect(ggmlTypeFromId(2)).toBeUndefined(); // Q4_0: not handled
    expect([ggmlBytes('F32', 3), ggmlBytes('F16', 3), ggmlBytes('BF16', 3), ggmlBytes('Q8_0', 64)]).toEqual([
      12, 6, 6, 68,
    ]);
    expect(() => ggmlBytes('Q8_0', 48)).toThrow(/48 values are not a whole number of 32-value blocks/);
  });
});

describe('Q8_0', () => {
  it('matches the naive reference loop on random blocks of mixed scales, zeros and outliers', () => {
    const rng = new Random(3);
    const x = new Float32Array(32 * 64);
    rng.fillNormal(x, 0, 1);
    for (let b = 0; b < 64; b++) {
      const s = 10 ** ((b % 9) - 4); // 1e-4 .. 1e4
      for (let j = 0; j < 32; j++) x[b * 32 + j]! *= s;
    }
    x.fill(0, 5 * 32, 6 * 32); // an all-zero block: d = 0, id = 0, q = 0
    x[7 * 32 + 3] = 1e3; // one outlier dominating its block
    const got = blocksOf(quantizeQ8_0(x));
    const want = naiveQ8_0(x);
    expect(got.d).toEqual(want.d);
    expect(got.q).toEqual(want.q);
    expect(got.q.slice(5 * 32, 6 * 32).every((v) => v === 0)).toBe(true);
    expect(Math.max(...got.q.map(Math.abs))).toBe(127);
  });

  it('rounds halves away from zero (C roundf), not to even', () => {
    // amax 127 → d = 1, id = 1: q is roundf(x) exactly
    const x = new Float32Array(32);
    x.set([127, 2.5, -2.5, 3.5, -3.5, 0.5, -0.5, 0.49999997, -126.5]);
    const { d, q } = blocksOf(quantizeQ8_0(x));
    expect(f16BitsToF32(d[0]!)).toBe(1);
    expect(q.slice(0, 9)).toEqual([127, 3, -3, 4, -4, 1, -1, 0, -127]);
  });

  it('dequantizes to f16(d)·q and stays within d/2 of the input', () => {
    const rng = new Random(9);
    const x = new Float32Array(32 * 8);
    rng.fillNormal(x, 0, 0.05);
    const bytes = quantizeQ8_0(x);
    const y = dequantizeQ8_0(bytes);
    const { d, q } = blocksOf(bytes);
    for (let i = 0; i < x.length; i++) {
      const scale = f16BitsToF32(d[Math.floor(i / 32)]!);
      expect(y[i]).toBe(Math.fround(scale * q[i]!));
      expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(scale * 0.5 + scale * 2 ** -10 * 127);
    }
    expect(decodeGgml(encodeGgml(x, 'Q8_0'), 'Q8_0')).toEqual(y);
  });
});

describe('F16 / BF16 / F32', () => {
  it('encode with one round-to-nearest-even and decode exactly', () => {
    const x = Float32Array.from([1, -2.5, 1 / 3, 65504, 1e-8, Math.PI]);
    const f16 = new Uint16Array(encodeGgml(x, 'F16').buffer);
    const bf16 = new Uint16Array(encodeGgml(x, 'BF16').buffer);
    expect([...f16]).toEqual([...x].map(f32ToF16Bits));
    expect([...bf16]).toEqual([...x].map(f32ToBf16Bits));
    expect([...decodeGgml(encodeGgml(x, 'BF16'), 'BF16')]).toEqual([...bf16].map(bf16BitsToF32));
    expect(decodeGgml(encodeGgml(x, 'F32'), 'F32')).toEqual(x);
  });
});

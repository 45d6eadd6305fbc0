// dtype.test.ts — dtype codecs against torch goldens, an exact double-precision rounding reference and round trips.

import fs from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ALL_DTYPES,
  bf16BitsToF32,
  type DType,
  decodeF32,
  decodeInt,
  dtypeFromSafetensors,
  dtypeToSafetensors,
  encodeF32,
  encodeInt,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  isFloatDType,
  itemSize,
} from './dtype.js';
import { TsloraError } from './errors.js';

const golden = JSON.parse(fs.readFileSync(new URL('./io/fixtures/dtype_rounding.json', import.meta.url), 'utf8')) as {
  f32_bits: number[];
  bf16_bits: number[];
  f16_bits: number[];
};

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function fromBits(bits: number): number {
  u32[0] = bits;
  return f32[0]!;
}

/**
 * Reference rounding of a double to a binary format with `mant` stored mantissa bits and exponent
 * range [minExp, maxExp], round-to-nearest-even, computed with plain arithmetic (no bit tricks).
 */
function roundRef(x: number, mant: number, minExp: number, maxExp: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1; // log2 can be off by one next to powers of two
  if (2 ** (e + 1) <= a) e += 1;
  const quantum = 2 ** (Math.max(e, minExp) - mant);
  const q = a / quantum;
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r += 1;
  const v = r * quantum;
  return Math.sign(x) * (v >= 2 ** (maxExp + 1) ? Infinity : v);
}
const bf16Ref = (x: number): number => roundRef(x, 7, -126, 127);
const f16Ref = (x: number): number => roundRef(x, 10, -14, 15);

const isNaN16 = (bits: number, expMask: number): boolean =>
  (bits & expMask) === expMask && (bits & ~expMask & 0x7fff) !== 0;

describe('dtype tables', () => {
  it('item sizes and safetensors names', () => {
    expect(ALL_DTYPES.map(itemSize)).toEqual([8, 8, 4, 4, 2, 2, 2, 1, 1, 1]);
    for (const d of ALL_DTYPES) expect(dtypeFromSafetensors(dtypeToSafetensors(d))).toBe(d);
    expect(ALL_DTYPES.map(dtypeToSafetensors)).toEqual([
      'I64',
      'F64',
      'F32',
      'I32',
      'BF16',
      'F16',
      'I16',
      'I8',
      'U8',
      'BOOL',
    ]);
    expect(dtypeFromSafetensors('F8_E4M3')).toBeUndefined();
    expect(dtypeFromSafetensors('f32')).toBeUndefined();
    expect(ALL_DTYPES.filter(isFloatDType)).toEqual(['f64', 'f32', 'bf16', 'f16']);
  });
});

describe('scalar codecs vs torch', () => {
  it(`bf16 matches torch .to(bfloat16) on ${golden.f32_bits.length} values (ties, NaN, Inf, subnormals)`, () => {
    golden.f32_bits.forEach((bits, i) => {
      const want = golden.bf16_bits[i]!;
      const got = f32ToBf16Bits(fromBits(bits));
      if (isNaN16(want, 0x7f80)) {
        expect(isNaN16(got, 0x7f80), `bits 0x${bits.toString(16)} -> 0x${got.toString(16)}`).toBe(true);
        expect(got & 0x0040).toBe(0x0040); // quiet
      } else {
        expect(got, `f32 bits 0x${bits.toString(16)}`).toBe(want);
      }
    });
  });

  it(`f16 matches torch .half() on ${golden.f32_bits.length} values (ties, overflow, subnormals)`, () => {
    golden.f32_bits.forEach((bits, i) => {
      const want = golden.f16_bits[i]!;
      const got = f32ToF16Bits(fromBits(bits));
      if (isNaN16(want, 0x7c00)) {
        expect(isNaN16(got, 0x7c00), `bits 0x${bits.toString(16)} -> 0x${got.toString(16)}`).toBe(true);
        expect(got & 0x0200).toBe(0x0200); // quiet
      } else {
        expect(got, `f32 bits 0x${bits.toString(16)}`).toBe(want);
      }
    });
  });

  it('signalling NaN becomes NaN, not Inf', () => {
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(fromBits(0x7f800001))))).toBe(true);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(fromBits(0xff800001))))).toBe(true);
  });
});

describe('scalar codecs vs exact rounding reference', () => {
  // Tight loops collect mismatches and assert once: an expect() per element would take minutes.
  it('decoders match the format formulas for all 65536 patterns', () => {
    const bad: string[] = [];
    const same = (a: number, b: number): boolean => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
    for (let h = 0; h < 65536; h++) {
      const s = h & 0x8000 ? -1 : 1;
      const e16 = (h >>> 10) & 0x1f;
      const m16 = h & 0x3ff;
      const f16 =
        e16 === 31
          ? m16
            ? NaN
            : s * Infinity
          : e16 === 0
            ? s * m16 * 2 ** -24
            : s * 2 ** (e16 - 15) * (1 + m16 / 1024);
      if (!same(f16BitsToF32(h), f16)) bad.push(`f16 0x${h.toString(16)}`);
      const eb = (h >>> 7) & 0xff;
      const mb = h & 0x7f;
      const bf =
        eb === 255 ? (mb ? NaN : s * Infinity) : eb === 0 ? s * mb * 2 ** -133 : s * 2 ** (eb - 127) * (1 + mb / 128);
      if (!same(bf16BitsToF32(h), bf)) bad.push(`bf16 0x${h.toString(16)}`);
    }
    expect(bad).toEqual([]);
  });

  it('every non-NaN 16-bit pattern survives decode -> encode unchanged', () => {
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      if (!isNaN16(h, 0x7c00) && f32ToF16Bits(f16BitsToF32(h)) !== h) bad.push(h);
      if (!isNaN16(h, 0x7f80) && f32ToBf16Bits(bf16BitsToF32(h)) !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('stratified sweep: every f32 high half with tie and near-tie low bits', () => {
    const lows = [0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x2000, 0x3000, 0x7fff, 0x8000, 0x8001, 0xf000, 0xffff];
    const bad: string[] = [];
    for (let hi = 0; hi < 65536; hi++) {
      for (const lo of lows) {
        const bits = ((hi << 16) | lo) >>> 0;
        const x = fromBits(bits);
        if (Number.isNaN(x)) continue;
        if (!Object.is(bf16BitsToF32(f32ToBf16Bits(x)), bf16Ref(x))) bad.push(`bf16 0x${bits.toString(16)}`);
        if (!Object.is(f16BitsToF32(f32ToF16Bits(x)), f16Ref(x))) bad.push(`f16 0x${bits.toString(16)}`);
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('property: random f32 rounds like the reference', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        expect(Object.is(bf16BitsToF32(f32ToBf16Bits(x)), bf16Ref(x))).toBe(true);
        expect(Object.is(f16BitsToF32(f32ToF16Bits(x)), f16Ref(x))).toBe(true);
      }),
      { numRuns: 20000 },
    );
  });
});

function randomF32(n: number, seed: number): Float32Array {
  // Random bit patterns (all exponents, NaNs included) from a small LCG: reproducible, no dependency.
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    bits[i] = s;
  }
  return out;
}

/** Copies `bytes` into a fresh buffer at byte offset `offset` (to test unaligned inputs). */
function atOffset(bytes: Uint8Array, offset: number): Uint8Array {
  const buf = new Uint8Array(bytes.length + offset);
  buf.set(bytes, offset);
  return buf.subarray(offset);
}

describe('array codecs', () => {
  const xs = randomF32(4099, 7);

  it.each(['bf16', 'f16'] as const)('%s encode/decode equal the scalar codecs element by element', (d) => {
    const enc = encodeF32(xs, d);
    const u16 = new Uint16Array(enc.buffer);
    const toBits = d === 'bf16' ? f32ToBf16Bits : f32ToF16Bits;
    const fromB = d === 'bf16' ? bf16BitsToF32 : f16BitsToF32;
    const bad: number[] = [];
    const dec = decodeF32(enc, d);
    for (let i = 0; i < xs.length; i++) {
      if (u16[i] !== toBits(xs[i]!)) bad.push(i);
      const want = fromB(u16[i]!);
      if (!(Object.is(dec[i], want) || (Number.isNaN(want) && Number.isNaN(dec[i]!)))) bad.push(i);
    }
    expect(bad).toEqual([]);
  });

  it.each(['f64', 'f32', 'f16', 'bf16'] as const)(
    '%s: decode(encode(decode(b))) is a fixed point, aligned and unaligned',
    (d) => {
      const once = decodeF32(encodeF32(xs, d), d);
      const bytes = encodeF32(once, d);
      for (const off of [0, 1, 3]) {
        const again = decodeF32(atOffset(bytes, off), d);
        expect(new Uint8Array(encodeF32(again, d))).toEqual(bytes);
      }
      if (d === 'f32' || d === 'f64') {
        // Lossless dtypes: the bit patterns of non-NaN values come back exactly.
        const bad: number[] = [];
        for (let i = 0; i < xs.length; i++) if (!Number.isNaN(xs[i]!) && !Object.is(once[i], xs[i])) bad.push(i);
        expect(bad).toEqual([]);
      }
    },
  );

  it('f64 decode rounds once to f32 (Math.fround)', () => {
    const vals = [1 / 3, Math.PI, 1e-300, -1e300, 2 ** -149 * 0.5, 16777217, 0.1];
    const dec = decodeF32(new Uint8Array(Float64Array.from(vals).buffer), 'f64');
    vals.forEach((v, i) => {
      expect(Object.is(dec[i], Math.fround(v))).toBe(true);
    });
  });

  it('refuses byte counts that are not whole elements, and wrong dtype kinds', () => {
    expect(() => decodeF32(new Uint8Array(3), 'f16')).toThrow(/3 bytes is not a whole number of f16/);
    expect(() => decodeF32(new Uint8Array(4), 'i32')).toThrow(TsloraError);
    expect(() => decodeInt(new Uint8Array(4), 'f32')).toThrow(/not an integer dtype/);
    expect(() => encodeF32(new Float32Array(1), 'u8')).toThrow(TsloraError);
    expect(() => encodeInt(new Int32Array(1), 'bf16')).toThrow(TsloraError);
  });
});

describe('integer codecs', () => {
  const limits: Record<string, [number, number]> = {
    i64: [-(2 ** 31), 2 ** 31 - 1],
    i32: [-(2 ** 31), 2 ** 31 - 1],
    i16: [-32768, 32767],
    i8: [-128, 127],
    u8: [0, 255],
    bool: [0, 1],
  };
  const ints = ['i64', 'i32', 'i16', 'i8', 'u8', 'bool'] as const;

  it.each(ints)('%s round trips its full range, aligned and unaligned, with the expected little-endian bytes', (d) => {
    const [lo, hi] = limits[d]!;
    const vals = Int32Array.from(
      [lo, hi, 0, Math.trunc((lo + hi) / 3), hi - 1, lo + 1].map((v) => Math.max(lo, Math.min(hi, v))),
    );
    const bytes = encodeInt(vals, d);
    expect(bytes.length).toBe(vals.length * itemSize(d));
    // Independent check of the byte layout through DataView.
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    vals.forEach((v, i) => {
      const read =
        d === 'i64'
          ? Number(dv.getBigInt64(8 * i, true))
          : d === 'i32'
            ? dv.getInt32(4 * i, true)
            : d === 'i16'
              ? dv.getInt16(2 * i, true)
              : d === 'i8'
                ? dv.getInt8(i)
                : dv.getUint8(i);
      expect(read).toBe(v);
    });
    for (const off of [0, 1, 5]) expect(decodeInt(atOffset(bytes, off), d)).toEqual(vals);
  });

  it('i64 outside int32 is refused, naming the value', () => {
    for (const big of [2n ** 31n, -(2n ** 31n) - 1n, 2n ** 62n + 5n]) {
      const bytes = new Uint8Array(BigInt64Array.from([0n, big]).buffer);
      expect(() => decodeInt(bytes, 'i64')).toThrow(TsloraError);
      expect(() => decodeInt(bytes, 'i64')).toThrow(new RegExp(`i64 value ${big} at index 1`));
    }
  });

  it('bool decodes any non-zero byte as 1 and encodes non-zero as 1', () => {
    expect(Array.from(decodeInt(Uint8Array.from([0, 1, 2, 255]), 'bool'))).toEqual([0, 1, 1, 1]);
    expect(Array.from(encodeInt(Int32Array.from([0, 5, -1]), 'bool'))).toEqual([0, 1, 1]);
  });

  it('encode refuses values that do not fit', () => {
    expect(() => encodeInt(Int32Array.from([0, 32768]), 'i16')).toThrow(/value 32768 at index 1 does not fit in i16/);
    expect(() => encodeInt(Int32Array.from([-129]), 'i8')).toThrow(/does not fit in i8/);
    expect(() => encodeInt(Int32Array.from([256]), 'u8')).toThrow(/does not fit in u8/);
    expect(() => encodeInt(Int32Array.from([-1]), 'u8')).toThrow(TsloraError);
  });

  it('property: random int32 arrays round trip through i64 and i32', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
        fc.constantFrom<DType>('i64', 'i32'),
        (a, d) => {
          const v = Int32Array.from(a);
          expect(decodeInt(encodeInt(v, d), d)).toEqual(v);
        },
      ),
    );
  });
});

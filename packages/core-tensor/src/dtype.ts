// dtype.ts — element types, their sizes and safetensors names, and f16/bf16 <-> f32 codecs (round-to-nearest-even).

import { TsloraError } from './errors.js';

/** Element types tslora can read and write. Compute happens in f32; the others are storage formats. */
export type DType = 'f64' | 'f32' | 'f16' | 'bf16' | 'i64' | 'i32' | 'i16' | 'i8' | 'u8' | 'bool';

/** Float storage dtypes (decoded to f32 by {@link decodeF32}). */
export type FloatDType = 'f64' | 'f32' | 'f16' | 'bf16';
/** Integer storage dtypes (decoded to int32 by {@link decodeInt}). */
export type IntDType = 'i64' | 'i32' | 'i16' | 'i8' | 'u8' | 'bool';

const ITEM_SIZE: Record<DType, number> = {
  f64: 8,
  f32: 4,
  f16: 2,
  bf16: 2,
  i64: 8,
  i32: 4,
  i16: 2,
  i8: 1,
  u8: 1,
  bool: 1,
};

const TO_SAFETENSORS: Record<DType, string> = {
  f64: 'F64',
  f32: 'F32',
  f16: 'F16',
  bf16: 'BF16',
  i64: 'I64',
  i32: 'I32',
  i16: 'I16',
  i8: 'I8',
  u8: 'U8',
  bool: 'BOOL',
};

const FROM_SAFETENSORS: ReadonlyMap<string, DType> = new Map(
  (Object.entries(TO_SAFETENSORS) as [DType, string][]).map(([d, s]) => [s, d]),
);

/** Every dtype, in the order safetensors writers lay tensors out (descending alignment, as the Rust crate's `Dtype` enum). */
export const ALL_DTYPES: readonly DType[] = ['i64', 'f64', 'f32', 'i32', 'bf16', 'f16', 'i16', 'i8', 'u8', 'bool'];

/** Bytes per element. */
export function itemSize(dtype: DType): number {
  return ITEM_SIZE[dtype];
}

/** True for f64/f32/f16/bf16. */
export function isFloatDType(dtype: DType): dtype is FloatDType {
  return dtype === 'f32' || dtype === 'bf16' || dtype === 'f16' || dtype === 'f64';
}

/** Maps a safetensors dtype string ('F32', 'BF16', ...) to a DType; undefined for dtypes tslora does not support. */
export function dtypeFromSafetensors(s: string): DType | undefined {
  return FROM_SAFETENSORS.get(s);
}

/** The safetensors header name of a dtype ('bf16' -> 'BF16'). */
export function dtypeToSafetensors(d: DType): string {
  return TO_SAFETENSORS[d];
}

// ---------------------------------------------------------------------------------------------
// Scalar codecs. Bit tricks on the f32 pattern, read through one shared scratch word.

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

// All byte codecs below reinterpret little-endian file bytes through typed-array views, which use
// host order. Every platform Node runs on is little-endian; refuse loudly rather than corrupt data.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** f32 bit pattern -> bf16 bits, RNE: add 0x7fff plus the lowest kept bit, then truncate. NaN -> quiet NaN, sign kept. */
function bf16FromBits(w: number): number {
  if ((w & 0x7fffffff) > 0x7f800000) return ((w >>> 16) & 0x8000) | 0x7fc0;
  return ((w + 0x7fff + ((w >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * f32 bit pattern -> f16 bits with round-to-nearest-even.
 * Normal range: rebias the exponent (127 -> 15) and round 23 -> 10 mantissa bits; a carry out of
 * the mantissa correctly bumps the exponent (up to Inf). Below 2^-14 the result is subnormal:
 * round mantissa·2^(e-126) to an integer count of 2^-24 units. NaN -> quiet NaN (0x7e00), sign kept.
 */
function f16FromBits(w: number): number {
  const sign = (w >>> 16) & 0x8000;
  const abs = w & 0x7fffffff;
  if (abs >= 0x7f800000) return sign | (abs > 0x7f800000 ? 0x7e00 : 0x7c00);
  if (abs >= 0x477ff000) return sign | 0x7c00; // >= 65520 = halfway 65504..65536 rounds (to even) to Inf
  if (abs >= 0x38800000) {
    const v = abs - 0x38000000; // exponent 127-bias -> 15-bias
    return sign | ((v + 0xfff + ((v >>> 13) & 1)) >>> 13);
  }
  const e = abs >>> 23;
  if (e < 102) return sign; // < 2^-25: rounds to zero
  const mant = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - e; // 14..24
  let q = mant >>> shift;
  const rem = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (q & 1) === 1)) q += 1; // q may reach 0x400 = smallest normal: correct
  return sign | q;
}

/** f16 bits -> f32 bit pattern (exact; every f16 is an f32). */
function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal: normalise the mantissa; value = mant·2^-24.
  let m = mant;
  let e = 113;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e -= 1;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** Rounds `x` to f32 and then to bf16 (round-to-nearest-even); returns the 16-bit pattern. NaN stays a quiet NaN. */
export function f32ToBf16Bits(x: number): number {
  scratchF32[0] = x;
  return bf16FromBits(scratchU32[0]!);
}

/** Expands bf16 bits to the f32 value they denote (exact). */
export function bf16BitsToF32(u16: number): number {
  scratchU32[0] = (u16 & 0xffff) << 16;
  return scratchF32[0]!;
}

/** Rounds `x` to f32 and then to f16 (RNE, subnormals, overflow -> ±Inf); returns the 16-bit pattern. */
export function f32ToF16Bits(x: number): number {
  scratchF32[0] = x;
  return f16FromBits(scratchU32[0]!);
}

/** Expands f16 bits to the f32 value they denote (exact, subnormals included). */
export function f16BitsToF32(u16: number): number {
  scratchU32[0] = f16ToF32Bits(u16 & 0xffff);
  return scratchF32[0]!;
}

// f16 decode is a table lookup: 65536 f32 bit patterns (256 KiB), built on first use.
let f16Table: Uint32Array | undefined;
function getF16Table(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32Bits(h);
  }
  return f16Table;
}

// ---------------------------------------------------------------------------------------------
// Array codecs over little-endian bytes.

function checkBytes(bytes: Uint8Array, dtype: DType, op: string): number {
  if (!HOST_LITTLE_ENDIAN) {
    throw new TsloraError(`${op}: this host is big-endian; safetensors data is little-endian`, {
      hint: 'run tslora on a little-endian machine (x86-64, arm64)',
      exitCode: 1,
    });
  }
  const size = ITEM_SIZE[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new TsloraError(
      `${op}: ${bytes.byteLength} bytes is not a whole number of ${dtype} elements (${size} bytes each)`,
      {
        hint: 'the byte range does not hold whole elements of this dtype; check the tensor dtype and offsets',
      },
    );
  }
  return bytes.byteLength / size;
}

/** A typed-array view of `bytes`, copying first when the byte offset is not a multiple of the element size. */
function alignedView<T>(bytes: Uint8Array, size: number, make: (buf: ArrayBufferLike, off: number, n: number) => T): T {
  const n = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return make(bytes.buffer, bytes.byteOffset, n);
  return make(bytes.slice().buffer, 0, n);
}

/**
 * Decodes little-endian float bytes (f64/f32/f16/bf16) to f32. For f32 with an aligned byte offset
 * the result is a view sharing memory with `bytes` (no copy: checkpoints are hundreds of MB);
 * otherwise a new array. f64 rounds once to f32 (RNE). NaN payloads of f32/f16/bf16 are kept.
 */
export function decodeF32(bytes: Uint8Array, dtype: DType): Float32Array {
  if (!isFloatDType(dtype)) {
    throw new TsloraError(`decodeF32: dtype ${dtype} is not a float dtype`, {
      hint: 'use decodeInt for integer and bool tensors',
    });
  }
  const n = checkBytes(bytes, dtype, 'decodeF32');
  if (dtype === 'f32') return alignedView(bytes, 4, (b, o, k) => new Float32Array(b, o, k));
  if (dtype === 'f64') {
    const out = new Float32Array(n);
    out.set(alignedView(bytes, 8, (b, o, k) => new Float64Array(b, o, k))); // set() rounds f64 -> f32 RNE
    return out;
  }
  const src = alignedView(bytes, 2, (b, o, k) => new Uint16Array(b, o, k));
  const out = new Float32Array(n);
  const out32 = new Uint32Array(out.buffer); // write bit patterns: NaN payloads survive, no float conversion
  if (dtype === 'bf16') {
    for (let i = 0; i < n; i++) out32[i] = src[i]! << 16;
  } else {
    const table = getF16Table();
    for (let i = 0; i < n; i++) out32[i] = table[src[i]!]!;
  }
  return out;
}

/** Encodes f32 values as little-endian bytes of a float dtype, rounding once (RNE) for f16/bf16. Always a new buffer. */
export function encodeF32(data: Float32Array, dtype: DType): Uint8Array {
  if (!isFloatDType(dtype)) {
    throw new TsloraError(`encodeF32: dtype ${dtype} is not a float dtype`, {
      hint: 'use encodeInt for integer and bool tensors',
    });
  }
  checkBytes(new Uint8Array(0), dtype, 'encodeF32');
  const n = data.length;
  if (dtype === 'f32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  if (dtype === 'f64') return new Uint8Array(Float64Array.from(data).buffer);
  const src = new Uint32Array(data.buffer, data.byteOffset, n); // Float32Array offsets are always 4-aligned
  const out = new Uint16Array(n);
  if (dtype === 'bf16') {
    for (let i = 0; i < n; i++) out[i] = bf16FromBits(src[i]!);
  } else {
    for (let i = 0; i < n; i++) out[i] = f16FromBits(src[i]!);
  }
  return new Uint8Array(out.buffer);
}

/**
 * Decodes little-endian integer bytes (i64/i32/i16/i8/u8/bool) to int32. bool bytes become 0/1.
 * i64 values outside the int32 range throw a TsloraError naming the value. For i32 with an
 * aligned byte offset the result is a view sharing memory with `bytes`.
 */
export function decodeInt(bytes: Uint8Array, dtype: DType): Int32Array {
  if (isFloatDType(dtype)) {
    throw new TsloraError(`decodeInt: dtype ${dtype} is not an integer dtype`, {
      hint: 'use decodeF32 for float tensors',
    });
  }
  const n = checkBytes(bytes, dtype, 'decodeInt');
  switch (dtype) {
    case 'i32':
      return alignedView(bytes, 4, (b, o, k) => new Int32Array(b, o, k));
    case 'i16':
      return Int32Array.from(alignedView(bytes, 2, (b, o, k) => new Int16Array(b, o, k)));
    case 'i8':
      return Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, n));
    case 'u8':
      return Int32Array.from(bytes);
    case 'bool': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = bytes[i] === 0 ? 0 : 1;
      return out;
    }
    case 'i64':
      return decodeI64(bytes, n);
  }
}

/** i64 -> int32 through (lo, hi) word pairs: a value fits iff hi is the sign extension of lo. */
function decodeI64(bytes: Uint8Array, n: number): Int32Array {
  const words = alignedView(bytes, 8, (b, o, k) => new Int32Array(b, o, 2 * k));
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const lo = words[2 * i]!;
    const hi = words[2 * i + 1]!;
    if (hi !== lo >> 31) {
      const value = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
      throw new TsloraError(`decodeInt: i64 value ${value} at index ${i} does not fit in int32`, {
        hint: 'tslora holds integer tensors as int32; this tensor needs values in [-2147483648, 2147483647]',
      });
    }
    out[i] = lo;
  }
  return out;
}

const INT_RANGE: Record<'i16' | 'i8' | 'u8', [number, number]> = {
  i16: [-32768, 32767],
  i8: [-128, 127],
  u8: [0, 255],
};

/** Encodes int32 values as little-endian bytes of an integer dtype. Values outside i16/i8/u8 range throw; bool stores x != 0. */
export function encodeInt(data: Int32Array, dtype: DType): Uint8Array {
  if (isFloatDType(dtype)) {
    throw new TsloraError(`encodeInt: dtype ${dtype} is not an integer dtype`, {
      hint: 'use encodeF32 for float tensors',
    });
  }
  checkBytes(new Uint8Array(0), dtype, 'encodeInt');
  const n = data.length;
  switch (dtype) {
    case 'i32':
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    case 'i64': {
      const words = new Int32Array(2 * n);
      for (let i = 0; i < n; i++) {
        words[2 * i] = data[i]!;
        words[2 * i + 1] = data[i]! >> 31; // sign extension
      }
      return new Uint8Array(words.buffer);
    }
    case 'bool': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = data[i] === 0 ? 0 : 1;
      return out;
    }
    default: {
      const [lo, hi] = INT_RANGE[dtype];
      for (let i = 0; i < n; i++) {
        const v = data[i]!;
        if (v < lo || v > hi) {
          throw new TsloraError(`encodeInt: value ${v} at index ${i} does not fit in ${dtype} [${lo}, ${hi}]`, {
            hint: `use a wider integer dtype than ${dtype}`,
          });
        }
      }
      if (dtype === 'i16') return new Uint8Array(Int16Array.from(data).buffer);
      if (dtype === 'i8') return new Uint8Array(Int8Array.from(data).buffer);
      return Uint8Array.from(data);
    }
  }
}

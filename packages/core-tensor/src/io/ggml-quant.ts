// io/ggml-quant.ts — ggml tensor types a GGUF file can hold here (F32, F16, BF16, Q8_0): ids, sizes, encoders, decoders.

import { decodeF32, encodeF32, f16BitsToF32, f32ToF16Bits } from '../dtype.js';
import { TsloraError } from '../errors.js';

/** The ggml tensor types tslora writes and reads, named as ggml names them (`ggml_type_name`). */
export type GgmlType = 'F32' | 'F16' | 'BF16' | 'Q8_0';

interface TypeTraits {
  /** Value of `enum ggml_type` (ggml.h); stored in each GGUF tensor info. */
  id: number;
  /** Values per block (1 for plain floats, 32 for Q8_0). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

const TRAITS: Record<GgmlType, TypeTraits> = {
  F32: { id: 0, blockSize: 1, typeSize: 4 },
  F16: { id: 1, blockSize: 1, typeSize: 2 },
  Q8_0: { id: 8, blockSize: 32, typeSize: 34 }, // block_q8_0 = { ggml_half d; int8_t qs[32]; }
  BF16: { id: 30, blockSize: 1, typeSize: 2 },
};

const BY_ID: ReadonlyMap<number, GgmlType> = new Map(
  (Object.entries(TRAITS) as [GgmlType, TypeTraits][]).map(([t, tr]) => [tr.id, t]),
);

/** Values in one Q8_0 block (ggml's QK8_0). */
export const QK8_0 = 32;

/** The `enum ggml_type` value of `type`. */
export function ggmlTypeId(type: GgmlType): number {
  return TRAITS[type].id;
}

/** The type with `enum ggml_type` value `id`, or undefined for the types tslora does not handle. */
export function ggmlTypeFromId(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

/** Values per block of `type`: a row's length must be a multiple of it. */
export function ggmlBlockSize(type: GgmlType): number {
  return TRAITS[type].blockSize;
}

/** Bytes of `n` values of `type` (`ggml_row_size`); throws unless `n` is a whole number of blocks. */
export function ggmlBytes(type: GgmlType, n: number): number {
  const { blockSize, typeSize } = TRAITS[type];
  if (n % blockSize !== 0) {
    throw new TsloraError(`${type}: ${n} values are not a whole number of ${blockSize}-value blocks`, {
      hint: `${type} needs rows whose length is a multiple of ${blockSize}`,
    });
  }
  return (n / blockSize) * typeSize;
}

// ggml's roundf: halves go away from zero (Math.round sends -2.5 to -2).
function roundAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/**
 * Q8_0 as ggml's reference quantizer (`quantize_row_q8_0_ref`) makes it, block by block of 32:
 * d = amax/127 and id = 1/d in f32, q = roundf(x·id), and d stored as f16. The quants use the f32
 * d, not the f16 one — so a block's values dequantize to f16(d)·q.
 * data: (n,) with n a multiple of 32  →  (n/32) blocks of 34 bytes
 */
export function quantizeQ8_0(data: Float32Array): Uint8Array {
  const nb = ggmlBytes('Q8_0', data.length) / 34;
  const out = new Uint8Array(nb * 34);
  const view = new DataView(out.buffer);
  const f = Math.fround;
  for (let b = 0; b < nb; b++) {
    const x = data.subarray(b * QK8_0, (b + 1) * QK8_0);
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(x[j]!));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    view.setUint16(b * 34, f32ToF16Bits(d), true);
    for (let j = 0; j < QK8_0; j++) view.setInt8(b * 34 + 2 + j, roundAway(f(x[j]! * id)));
  }
  return out;
}

/** Q8_0 blocks back to f32: value = f16(d)·q (`dequantize_row_q8_0`). */
export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 34 !== 0) {
    throw new TsloraError(`Q8_0: ${bytes.byteLength} bytes are not a whole number of 34-byte blocks`, {
      hint: 'the tensor data is truncated or not Q8_0',
    });
  }
  const nb = bytes.byteLength / 34;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(nb * QK8_0);
  for (let b = 0; b < nb; b++) {
    const d = f16BitsToF32(view.getUint16(b * 34, true));
    for (let j = 0; j < QK8_0; j++) out[b * QK8_0 + j] = d * view.getInt8(b * 34 + 2 + j);
  }
  return out;
}

/** f32 values → the bytes of a ggml tensor of `type` (F16/BF16 round to nearest even, once). */
export function encodeGgml(data: Float32Array, type: GgmlType): Uint8Array {
  switch (type) {
    case 'F32':
      return encodeF32(data, 'f32');
    case 'F16':
      return encodeF32(data, 'f16');
    case 'BF16':
      return encodeF32(data, 'bf16');
    case 'Q8_0':
      return quantizeQ8_0(data);
  }
}

/** The bytes of a ggml tensor of `type` → f32 values (a new array, or a view for aligned F32). */
export function decodeGgml(bytes: Uint8Array, type: GgmlType): Float32Array {
  switch (type) {
    case 'F32':
      return decodeF32(bytes, 'f32');
    case 'F16':
      return decodeF32(bytes, 'f16');
    case 'BF16':
      return decodeF32(bytes, 'bf16');
    case 'Q8_0':
      return dequantizeQ8_0(bytes);
  }
}

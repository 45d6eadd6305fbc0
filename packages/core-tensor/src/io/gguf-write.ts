// io/gguf-write.ts — streaming GGUF v3 writer: header, typed metadata, tensor infos, aligned tensor data; atomic.

import fs from 'node:fs';
import { TsloraError } from '../errors.js';
import { type GgmlType, ggmlBlockSize, ggmlBytes, ggmlTypeId } from './ggml-quant.js';
import { commitTempFile, discardTempFile, ioFailure, tempPathFor, writeAll } from './safetensors-write.js';

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
export const GGUF_VERSION = 3;
/** Alignment of the data section and of each tensor when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_NAME: a tensor name must be shorter (it is stored NUL-terminated in ggml_tensor). */
export const GGML_MAX_NAME = 64;
/** ggml's GGML_MAX_DIMS. */
export const GGML_MAX_DIMS = 4;

/** `enum gguf_type`: the metadata value types, in the order of their ids. */
export const GGUF_VALUE_TYPES = [
  'uint8',
  'int8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'float32',
  'bool',
  'string',
  'array',
  'uint64',
  'int64',
  'float64',
] as const;
export type GgufValueType = (typeof GGUF_VALUE_TYPES)[number];
/** The value types an array may hold here (GGUF allows arrays of arrays; nothing llama.cpp reads uses them). */
export type GgufScalarType = Exclude<GgufValueType, 'array'>;
/** A scalar: numbers for the ≤32-bit and float types, bigint (or a safe integer) for the 64-bit integers. */
export type GgufScalar = number | bigint | boolean | string;

/** One metadata value with its GGUF type. */
export type GgufMetaValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: 'array'; itemType: GgufScalarType; value: readonly GgufScalar[] };

/** A tensor as declared in the header; `dims` in ggml order (ne[0], the contiguous one, first). */
export interface GgufTensorSpec {
  name: string;
  type: GgmlType;
  dims: readonly number[];
}

/** Byte size of one fixed-size value type (strings and arrays are variable). */
export const GGUF_SCALAR_SIZE: Partial<Record<GgufValueType, number>> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  bool: 1,
  uint64: 8,
  int64: 8,
  float64: 8,
};

const INT_RANGE: Partial<Record<GgufValueType, [number, number]>> = {
  uint8: [0, 0xff],
  int8: [-0x80, 0x7f],
  uint16: [0, 0xffff],
  int16: [-0x8000, 0x7fff],
  uint32: [0, 0xffffffff],
  int32: [-0x80000000, 0x7fffffff],
};

/** A little-endian byte builder that grows as needed. */
class Bytes {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  /** Reserves n bytes and returns the buffer to write them to and their offset (the buffer may be new). */
  private room(n: number): [Buffer, number] {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return [this.buf, at];
  }
  u32(v: number): void {
    const [b, at] = this.room(4);
    b.writeUInt32LE(v, at);
  }
  u64(v: number | bigint): void {
    const [b, at] = this.room(8);
    b.writeBigUInt64LE(BigInt(v), at);
  }
  raw(bytes: Uint8Array): void {
    const [b, at] = this.room(bytes.length);
    b.set(bytes, at);
  }
  str(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.raw(bytes);
  }
  pad(alignment: number): void {
    this.room((alignment - (this.length % alignment)) % alignment); // Buffer.alloc zero-fills
  }
  scalar(type: GgufScalarType, v: GgufScalar, where: string): void {
    const bad = (): TsloraError =>
      new TsloraError(`GGUF metadata ${where}: ${JSON.stringify(String(v))} is not a valid ${type}`, {
        hint: 'give each metadata value a type that can hold it',
        exitCode: 1,
      });
    if (type === 'string') {
      if (typeof v !== 'string') throw bad();
      this.str(v);
      return;
    }
    const [b, at] = this.room(GGUF_SCALAR_SIZE[type]!);
    if (type === 'bool') {
      if (typeof v !== 'boolean') throw bad();
      b.writeUInt8(v ? 1 : 0, at);
    } else if (type === 'float32' || type === 'float64') {
      if (typeof v !== 'number') throw bad();
      if (type === 'float32') b.writeFloatLE(v, at);
      else b.writeDoubleLE(v, at);
    } else if (type === 'uint64' || type === 'int64') {
      if ((typeof v !== 'number' || !Number.isSafeInteger(v)) && typeof v !== 'bigint') throw bad();
      const big = BigInt(v);
      const ok = type === 'uint64' ? big >= 0n && big < 1n << 64n : big >= -(1n << 63n) && big < 1n << 63n;
      if (!ok) throw bad();
      if (type === 'uint64') b.writeBigUInt64LE(big, at);
      else b.writeBigInt64LE(big, at);
    } else {
      const [lo, hi] = INT_RANGE[type]!;
      const n = typeof v === 'number' || typeof v === 'bigint' ? Number(v) : Number.NaN;
      if (!Number.isInteger(n) || n < lo || n > hi) throw bad();
      if (type === 'uint8') b.writeUInt8(n, at);
      else if (type === 'int8') b.writeInt8(n, at);
      else if (type === 'uint16') b.writeUInt16LE(n, at);
      else if (type === 'int16') b.writeInt16LE(n, at);
      else if (type === 'uint32') b.writeUInt32LE(n, at);
      else b.writeInt32LE(n, at);
    }
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/** One tensor's place in the file: `offset` relative to the data section, `nbytes` of data (before padding). */
export interface GgufTensorLayout extends GgufTensorSpec {
  offset: number;
  nbytes: number;
}

function fail(path: string, msg: string, hint?: string): TsloraError {
  return new TsloraError(`${path}: ${msg}`, hint ? { hint, exitCode: 1 } : { exitCode: 1 });
}

/** `general.alignment` if given (a power of two, uint32), else the GGUF default 32. */
function alignmentOf(path: string, metadata: ReadonlyMap<string, GgufMetaValue>): number {
  const a = metadata.get('general.alignment');
  if (a === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const v = Number(a.value);
  if (a.type !== 'uint32' || !Number.isInteger(v) || v <= 0 || (v & (v - 1)) !== 0)
    throw fail(path, 'general.alignment must be a uint32 power of two', 'use 32, the GGUF default');
  return v;
}

function checkSpec(path: string, t: GgufTensorSpec, seen: Set<string>): number {
  const name = JSON.stringify(t.name);
  if (t.name === '' || Buffer.byteLength(t.name, 'utf8') >= GGML_MAX_NAME)
    throw fail(path, `tensor name ${name} is empty or ${GGML_MAX_NAME}+ bytes`, 'ggml names are 1..63 bytes');
  if (seen.has(t.name)) throw fail(path, `tensor ${name} is declared twice`, 'give each tensor a unique name');
  seen.add(t.name);
  if (t.dims.length < 1 || t.dims.length > GGML_MAX_DIMS || !t.dims.every((d) => Number.isSafeInteger(d) && d > 0))
    throw fail(path, `tensor ${name} has dims [${t.dims.join(', ')}]`, 'ggml tensors have 1..4 positive dims');
  const block = ggmlBlockSize(t.type);
  if (t.dims[0]! % block !== 0)
    throw new TsloraError(
      `${path}: tensor ${name} has rows of ${t.dims[0]} values, not a multiple of ${block} as ${t.type} needs`,
      { hint: `export this model with a type other than ${t.type} (f16, bf16 or f32)` },
    );
  return ggmlBytes(
    t.type,
    t.dims.reduce((a, b) => a * b, 1),
  );
}

/** Lays out the header (magic, version, counts, metadata, tensor infos) and every tensor's offset. */
function encodeHeader(
  path: string,
  metadata: ReadonlyMap<string, GgufMetaValue>,
  specs: readonly GgufTensorSpec[],
): { header: Buffer; layout: GgufTensorLayout[]; alignment: number } {
  const alignment = alignmentOf(path, metadata);
  const b = new Bytes();
  b.u32(GGUF_MAGIC);
  b.u32(GGUF_VERSION);
  b.u64(specs.length);
  b.u64(metadata.size);
  for (const [key, v] of metadata) {
    if (key === '') throw fail(path, 'a metadata key is empty', 'GGUF keys are non-empty strings');
    b.str(key);
    b.u32(GGUF_VALUE_TYPES.indexOf(v.type));
    if (v.type !== 'array') b.scalar(v.type, v.value, key);
    else {
      b.u32(GGUF_VALUE_TYPES.indexOf(v.itemType));
      b.u64(v.value.length);
      for (const [i, x] of v.value.entries()) b.scalar(v.itemType, x, `${key}[${i}]`);
    }
  }
  const seen = new Set<string>();
  const layout: GgufTensorLayout[] = [];
  let offset = 0;
  for (const t of specs) {
    const nbytes = checkSpec(path, t, seen);
    b.str(t.name);
    b.u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(ggmlTypeId(t.type));
    b.u64(offset);
    layout.push({ name: t.name, type: t.type, dims: [...t.dims], offset, nbytes });
    offset += nbytes + ((alignment - (nbytes % alignment)) % alignment);
  }
  b.pad(alignment);
  return { header: b.bytes(), layout, alignment };
}

/**
 * Streaming GGUF v3 writer. The header — metadata in the order given, tensor infos in `tensors`
 * order — is written up front; then call `write` once per tensor in that order, then `commit`
 * (fsync + rename onto `path`) or `abort`. Nothing appears at `path` before `commit` succeeds, so
 * only one tensor's bytes need be in memory at a time.
 */
export class GgufWriter {
  /** Each tensor's offset (from the data section) and size, in file order. */
  readonly layout: readonly GgufTensorLayout[];
  readonly alignment: number;
  /** Bytes before the data section (the padded header). */
  readonly dataOffset: number;
  private readonly tmp: string;
  private fd: number | undefined;
  private next = 0;
  private written = 0;

  constructor(
    readonly path: string,
    metadata: ReadonlyMap<string, GgufMetaValue>,
    tensors: readonly GgufTensorSpec[],
  ) {
    const { header, layout, alignment } = encodeHeader(path, metadata, tensors);
    this.layout = layout;
    this.alignment = alignment;
    this.dataOffset = header.length;
    this.tmp = tempPathFor(path);
    try {
      this.fd = fs.openSync(this.tmp, 'wx', 0o644);
      writeAll(this.fd, header);
    } catch (e) {
      this.abort();
      throw ioFailure(path, 'creating the temp file', e);
    }
  }

  /** The name `write` expects next, or undefined when every tensor is written. */
  get expected(): string | undefined {
    return this.layout[this.next]?.name;
  }

  /** Appends the data of `name` (the next tensor in order): exactly its ggml byte size, then padding. */
  write(name: string, bytes: Uint8Array): void {
    if (this.fd === undefined) throw fail(this.path, `write of ${JSON.stringify(name)} after commit/abort`);
    const t = this.layout[this.next];
    if (t === undefined || t.name !== name)
      throw fail(
        this.path,
        `tensor ${JSON.stringify(name)} written out of order; expected ${JSON.stringify(t?.name ?? 'no more tensors')}`,
        'call write() in the order the tensors were declared',
      );
    if (bytes.byteLength !== t.nbytes)
      throw fail(
        this.path,
        `tensor ${JSON.stringify(name)} ${t.type} [${t.dims.join(', ')}] needs ${t.nbytes} bytes, got ${bytes.byteLength}`,
        'the data does not match the declared dims and type',
      );
    try {
      writeAll(this.fd, bytes);
      const pad = (this.alignment - (bytes.byteLength % this.alignment)) % this.alignment;
      if (pad > 0) writeAll(this.fd, new Uint8Array(pad));
    } catch (e) {
      this.abort();
      throw ioFailure(this.path, `writing tensor ${JSON.stringify(name)}`, e);
    }
    this.written += bytes.byteLength;
    this.next += 1;
  }

  /** Bytes of tensor data written so far (without padding). */
  get bytesWritten(): number {
    return this.written;
  }

  /** Checks every tensor was written, fsyncs and renames the temp file onto `path`. */
  commit(): void {
    if (this.fd === undefined) throw fail(this.path, 'commit() after commit() or abort()');
    if (this.next !== this.layout.length) {
      const missing = this.layout.length - this.next;
      const first = this.expected;
      this.abort();
      throw fail(this.path, `commit() with ${missing} tensors unwritten (next: ${first}); nothing was written`);
    }
    const fd = this.fd;
    this.fd = undefined;
    commitTempFile(fd, this.tmp, this.path);
  }

  /** Closes and removes the temp file; `path` is left as it was. Safe to call more than once. */
  abort(): void {
    discardTempFile(this.fd, this.tmp);
    this.fd = undefined;
  }
}

// io/gguf-read.ts — a validated GGUF v3 reader: metadata, tensor infos, per-tensor reads (header read in growing chunks).

import fs from 'node:fs';
import { FileFormatError } from '../errors.js';
import { decodeGgml, type GgmlType, ggmlBytes, ggmlTypeFromId } from './ggml-quant.js';
import {
  GGML_MAX_DIMS,
  GGML_MAX_NAME,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_SCALAR_SIZE,
  GGUF_VALUE_TYPES,
  type GgufMetaValue,
  type GgufScalar,
  type GgufScalarType,
  type GgufTensorLayout,
} from './gguf-write.js';

const HINT = 'the file is truncated, corrupt or not a GGUF v3 file; export it again';
/** Counts past these are refused before anything is allocated. */
const MAX_COUNT = 1 << 24;

/** Thrown by the cursor when the header runs past the bytes read so far. */
class NeedMore extends Error {}

class Cursor {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly eof: boolean,
    private readonly file: string,
  ) {}
  private take(n: number): number {
    if (this.pos + n > this.buf.length) {
      if (this.eof)
        throw new FileFormatError(this.file, `header ends early (at byte ${this.buf.length})`, { hint: HINT });
      throw new NeedMore();
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u32(): number {
    return this.buf.readUInt32LE(this.take(4));
  }
  u64(): number {
    const v = this.buf.readBigUInt64LE(this.take(8));
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new FileFormatError(this.file, `a u64 at byte ${this.pos - 8} is ${v}, past 2^53`, { hint: HINT });
    return Number(v);
  }
  str(what: string): string {
    const n = this.u64();
    if (n > this.buf.length && this.eof)
      throw new FileFormatError(this.file, `${what}: string of ${n} bytes runs past the end`, { hint: HINT });
    const at = this.take(n);
    const bytes = this.buf.subarray(at, at + n);
    const s = bytes.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(bytes))
      throw new FileFormatError(this.file, `${what}: string is not valid UTF-8`, { hint: HINT });
    return s;
  }
  scalar(type: GgufScalarType, what: string): GgufScalar {
    if (type === 'string') return this.str(what);
    const at = this.take(GGUF_SCALAR_SIZE[type]!);
    const b = this.buf;
    switch (type) {
      case 'uint8':
        return b.readUInt8(at);
      case 'int8':
        return b.readInt8(at);
      case 'uint16':
        return b.readUInt16LE(at);
      case 'int16':
        return b.readInt16LE(at);
      case 'uint32':
        return b.readUInt32LE(at);
      case 'int32':
        return b.readInt32LE(at);
      case 'float32':
        return b.readFloatLE(at);
      case 'float64':
        return b.readDoubleLE(at);
      case 'uint64':
        return b.readBigUInt64LE(at);
      case 'int64':
        return b.readBigInt64LE(at);
      case 'bool': {
        const v = b.readUInt8(at);
        if (v > 1) throw new FileFormatError(this.file, `${what}: bool byte is ${v}, not 0 or 1`, { hint: HINT });
        return v === 1;
      }
    }
  }
  valueType(what: string): (typeof GGUF_VALUE_TYPES)[number] {
    const id = this.u32();
    const t = GGUF_VALUE_TYPES[id];
    if (t === undefined) throw new FileFormatError(this.file, `${what}: unknown value type ${id}`, { hint: HINT });
    return t;
  }
}

interface Parsed {
  version: number;
  metadata: Map<string, GgufMetaValue>;
  infos: Omit<GgufTensorLayout, 'nbytes'>[];
  headerEnd: number;
}

function count(c: Cursor, file: string, what: string): number {
  const n = c.u64();
  if (n > MAX_COUNT) throw new FileFormatError(file, `${what} ${n} is implausibly large`, { hint: HINT });
  return n;
}

function parseMetadata(c: Cursor, file: string, n: number): Map<string, GgufMetaValue> {
  const metadata = new Map<string, GgufMetaValue>();
  for (let i = 0; i < n; i++) {
    const key = c.str(`metadata key ${i}`);
    if (metadata.has(key)) throw new FileFormatError(file, `metadata key ${JSON.stringify(key)} appears twice`);
    const type = c.valueType(key);
    if (type !== 'array') {
      metadata.set(key, { type, value: c.scalar(type, key) });
      continue;
    }
    const itemType = c.valueType(`${key}[]`);
    if (itemType === 'array')
      throw new FileFormatError(file, `${key}: arrays of arrays are not supported`, { hint: HINT });
    const len = count(c, file, `${key}: array length`);
    const value: GgufScalar[] = [];
    for (let j = 0; j < len; j++) value.push(c.scalar(itemType, `${key}[${j}]`));
    metadata.set(key, { type: 'array', itemType, value });
  }
  return metadata;
}

function parseTensorInfos(c: Cursor, file: string, n: number): Omit<GgufTensorLayout, 'nbytes'>[] {
  const infos: Omit<GgufTensorLayout, 'nbytes'>[] = [];
  const names = new Set<string>();
  for (let i = 0; i < n; i++) {
    const name = c.str(`tensor ${i} name`);
    if (name === '' || Buffer.byteLength(name) >= GGML_MAX_NAME || names.has(name))
      throw new FileFormatError(file, `tensor ${i} has an empty, too long or repeated name ${JSON.stringify(name)}`, {
        hint: HINT,
      });
    names.add(name);
    const nd = c.u32();
    if (nd < 1 || nd > GGML_MAX_DIMS) throw new FileFormatError(file, `tensor ${name} has ${nd} dims`, { hint: HINT });
    const dims: number[] = [];
    for (let d = 0; d < nd; d++) dims.push(c.u64());
    const id = c.u32();
    const type = ggmlTypeFromId(id);
    if (type === undefined)
      throw new FileFormatError(file, `tensor ${name} has ggml type ${id}, which tslora cannot read`, {
        hint: 'tslora reads F32, F16, BF16 and Q8_0 tensors',
      });
    infos.push({ name, type, dims, offset: c.u64() });
  }
  return infos;
}

function parseHeader(buf: Buffer, eof: boolean, file: string): Parsed {
  const c = new Cursor(buf, eof, file);
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) throw new FileFormatError(file, 'does not start with the GGUF magic', { hint: HINT });
  const version = c.u32();
  if (version !== 3)
    throw new FileFormatError(file, `is GGUF version ${version}; tslora reads version 3`, { hint: HINT });
  const nTensors = count(c, file, 'tensor count');
  const nKv = count(c, file, 'metadata count');
  const metadata = parseMetadata(c, file, nKv);
  const infos = parseTensorInfos(c, file, nTensors);
  return { version, metadata, infos, headerEnd: c.pos };
}

/**
 * A GGUF file opened for reading. The header is parsed and validated in full (types, names, dims,
 * alignment, that every tensor's data lies inside the file and no two overlap); tensor data is read
 * on demand.
 */
export class GgufFile {
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GgufMetaValue>;
  /** Tensor infos in file order; offsets relative to `dataOffset`. */
  readonly tensors: readonly GgufTensorLayout[];
  readonly alignment: number;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  private fd: number | undefined;
  private readonly byName: Map<string, GgufTensorLayout>;

  private constructor(
    readonly path: string,
    fd: number,
    size: number,
  ) {
    this.fd = fd;
    let parsed: Parsed | undefined;
    for (let n = Math.min(size, 1 << 20); parsed === undefined; n = Math.min(size, n * 4)) {
      const buf = Buffer.alloc(n);
      fs.readSync(fd, buf, 0, n, 0);
      try {
        parsed = parseHeader(buf, n === size, path);
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
      }
    }
    this.version = parsed.version;
    this.metadata = parsed.metadata;
    const a = parsed.metadata.get('general.alignment');
    this.alignment = a === undefined ? GGUF_DEFAULT_ALIGNMENT : Number(a.value);
    if (
      a !== undefined &&
      (a.type !== 'uint32' || this.alignment <= 0 || (this.alignment & (this.alignment - 1)) !== 0)
    )
      throw new FileFormatError(path, 'general.alignment is not a uint32 power of two', { hint: HINT });
    this.dataOffset = Math.ceil(parsed.headerEnd / this.alignment) * this.alignment;
    this.tensors = parsed.infos.map((t) => ({ ...t, nbytes: this.sizeOf(t) }));
    this.checkExtents(size);
    this.byName = new Map(this.tensors.map((t) => [t.name, t]));
  }

  private sizeOf(t: Omit<GgufTensorLayout, 'nbytes'>): number {
    try {
      return ggmlBytes(
        t.type,
        t.dims.reduce((a, b) => a * b, 1),
      );
    } catch {
      throw new FileFormatError(this.path, `tensor ${t.name} ${t.type} [${t.dims.join(', ')}] is not whole blocks`, {
        hint: HINT,
      });
    }
  }

  private checkExtents(size: number): void {
    const sorted = [...this.tensors].sort((x, y) => x.offset - y.offset);
    let end = 0;
    for (const t of sorted) {
      if (t.offset % this.alignment !== 0)
        throw new FileFormatError(this.path, `tensor ${t.name} offset ${t.offset} is not ${this.alignment}-aligned`, {
          hint: HINT,
        });
      if (t.offset < end) throw new FileFormatError(this.path, `tensor ${t.name} overlaps another`, { hint: HINT });
      end = t.offset + t.nbytes;
      if (this.dataOffset + end > size)
        throw new FileFormatError(this.path, `tensor ${t.name} runs past the end of the file`, { hint: HINT });
    }
  }

  /** Opens and validates `path`. */
  static open(path: string): GgufFile {
    const fd = fs.openSync(path, 'r');
    try {
      return new GgufFile(path, fd, fs.fstatSync(fd).size);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** The tensor info of `name`; throws naming the file when absent. */
  info(name: string): GgufTensorLayout {
    const t = this.byName.get(name);
    if (!t) throw new FileFormatError(this.path, `has no tensor ${JSON.stringify(name)}`);
    return t;
  }

  /** A metadata value (without its type), or undefined. */
  get(key: string): GgufScalar | readonly GgufScalar[] | undefined {
    return this.metadata.get(key)?.value;
  }

  /** The raw bytes of one tensor's data. */
  readBytes(name: string): Uint8Array {
    if (this.fd === undefined) throw new FileFormatError(this.path, 'read after close()');
    const t = this.info(name);
    const buf = new Uint8Array(t.nbytes);
    fs.readSync(this.fd, buf, 0, t.nbytes, this.dataOffset + t.offset);
    return buf;
  }

  /** One tensor's values as f32 (dequantized for Q8_0). */
  readF32(name: string): Float32Array {
    const t = this.info(name);
    return decodeGgml(this.readBytes(name), t.type as GgmlType);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

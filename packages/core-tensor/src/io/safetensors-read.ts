// safetensors-read.ts — validated safetensors header parsing and lazy, per-tensor reads (files > 2 GiB fine).

import fs from 'node:fs';
import { type DType, decodeF32, decodeInt, dtypeFromSafetensors, isFloatDType, itemSize } from '../dtype.js';
import { FileFormatError, TsloraError } from '../errors.js';

/** One tensor of a safetensors file. `begin`/`end` are byte offsets relative to the data section. */
export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/** Headers larger than this are refused before anything is allocated (same limit as the Rust crate). */
export const MAX_HEADER_SIZE = 100_000_000;

const CORRUPT_HINT = 'the file is truncated, corrupt or not a safetensors file; re-download or re-export it';
const SUPPORTED = 'F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL';

/**
 * Returns the first key that occurs twice in one JSON object of `text` (any depth), or undefined.
 * JSON.parse silently keeps the last duplicate, so a file could show one tensor to us and another to
 * a different reader. Call only on text JSON.parse accepted: the scan trusts the structure.
 */
export function findDuplicateKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = []; // one entry per open container; null for arrays
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) stack.push(new Set());
    else if (c === 0x5b) stack.push(null);
    else if (c === 0x7d || c === 0x5d) stack.pop();
    else if (c === 0x22) {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      const keys = stack[stack.length - 1];
      let k = j + 1;
      while (k < text.length && ' \t\r\n'.includes(text[k]!)) k++;
      if (keys && text[k] === ':') {
        const key = JSON.parse(text.slice(i, j + 1)) as string; // decodes escapes: "a" and "\u0061" collide
        if (keys.has(key)) return key;
        keys.add(key);
      }
      i = j;
    }
  }
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function decodeHeaderJson(headerBytes: Uint8Array, file: string): Record<string, unknown> {
  const fail = (msg: string): FileFormatError => new FileFormatError(file, msg, { hint: CORRUPT_HINT });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw fail('safetensors header is not valid UTF-8');
  }
  if (!text.startsWith('{'))
    throw fail(`safetensors header does not start with "{" (starts with ${JSON.stringify(text.slice(0, 16))})`);
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    throw fail(`safetensors header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(root)) throw fail('safetensors header is not a JSON object');
  const dup = findDuplicateKey(text);
  if (dup !== undefined) throw fail(`safetensors header lists the key ${JSON.stringify(dup)} more than once`);
  return root;
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  const hint = '__metadata__ must map strings to strings, e.g. {"format":"pt"}; re-export the file';
  if (!isPlainObject(value)) throw new FileFormatError(file, '__metadata__ is not a JSON object', { hint });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string')
      throw new FileFormatError(
        file,
        `__metadata__ value of ${JSON.stringify(k)} is ${JSON.stringify(v)}, not a string`,
        { hint },
      );
    out[k] = v;
  }
  return out;
}

function parseTensorEntry(name: string, entry: unknown, dataSize: number, file: string): TensorInfo {
  const fail = (msg: string, hint = CORRUPT_HINT): FileFormatError =>
    new FileFormatError(file, `tensor ${JSON.stringify(name)}: ${msg}`, { hint });
  if (!isPlainObject(entry)) throw fail('header entry is not an object with dtype, shape and data_offsets');
  const { dtype: st, shape, data_offsets: offsets } = entry;
  if (typeof st !== 'string') throw fail(`dtype is ${JSON.stringify(st)}, not a string`);
  const dtype = dtypeFromSafetensors(st);
  if (dtype === undefined)
    throw fail(
      `unknown or unsupported dtype ${JSON.stringify(st)}`,
      `tslora reads ${SUPPORTED}; convert the checkpoint to one of them`,
    );
  if (!Array.isArray(shape) || !shape.every(isCount))
    throw fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw fail(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw fail(`data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataSize)
    throw fail(`data_offsets [${begin}, ${end}] run past the end of the file (data section has ${dataSize} bytes)`);
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  if (numel * itemSize(dtype) !== end - begin) {
    throw fail(
      `shape [${shape.join(', ')}] of ${st} needs ${numel * itemSize(dtype)} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Checks that the tensors tile the data section exactly: no overlap, no gap, nothing after the last. */
function checkLayout(sorted: TensorInfo[], dataSize: number, file: string): void {
  let pos = 0;
  let prev: TensorInfo | undefined;
  for (const t of sorted) {
    if (t.begin < pos) {
      throw new FileFormatError(
        file,
        `tensor ${JSON.stringify(t.name)} [${t.begin}, ${t.end}] overlaps tensor ${JSON.stringify(prev?.name)} [${prev?.begin}, ${prev?.end}]`,
        { hint: CORRUPT_HINT },
      );
    }
    if (t.begin > pos) {
      throw new FileFormatError(
        file,
        `gap of ${t.begin - pos} bytes before tensor ${JSON.stringify(t.name)} (data_offsets begin at ${t.begin}, previous data ends at ${pos})`,
        { hint: CORRUPT_HINT },
      );
    }
    pos = t.end;
    prev = t;
  }
  if (pos !== dataSize) {
    throw new FileFormatError(
      file,
      `tensor data ends at byte ${pos} of the data section but the file has ${dataSize - pos} more bytes after it`,
      { hint: CORRUPT_HINT },
    );
  }
}

/**
 * Parses and validates a safetensors header (the N bytes after the 8-byte length). `dataSize` is
 * the number of bytes after the header (file size - 8 - N). Tensors are returned in file order.
 * Every problem is a FileFormatError naming `file`, the tensor and what is wrong.
 */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  dataSize: number,
  file: string,
): { tensors: TensorInfo[]; metadata: Record<string, string> } {
  const root = decodeHeaderJson(headerBytes, file);
  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(root)) {
    if (name === '__metadata__') metadata = parseMetadata(entry, file);
    else tensors.push(parseTensorEntry(name, entry, dataSize, file));
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkLayout(tensors, dataSize, file);
  return { tensors, metadata };
}

/** Reads exactly `out.length` bytes at `position`, in chunks (a single read is capped near 2 GiB). */
export function readFully(fd: number, out: Uint8Array, position: number, file: string): void {
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < out.length) {
    const n = fs.readSync(fd, out, done, Math.min(CHUNK, out.length - done), position + done);
    if (n === 0) {
      throw new FileFormatError(
        file,
        `file ended at byte ${position + done} while reading ${out.length} bytes at ${position}`,
        {
          hint: 'the file was truncated or changed while being read; re-download it',
        },
      );
    }
    done += n;
  }
}

/** Levenshtein distance, for "did you mean" lists. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Up to `k` names closest to `name` by edit distance. */
export function similarNames(name: string, names: Iterable<string>, k = 3): string[] {
  const scored = [...names].map((n) => ({ n, d: editDistance(name, n) }));
  scored.sort((a, b) => a.d - b.d || (a.n < b.n ? -1 : 1));
  return scored.slice(0, k).map((s) => s.n);
}

function openFailure(path: string, e: unknown): FileFormatError {
  const code = (e as NodeJS.ErrnoException).code ?? String(e);
  return new FileFormatError(path, `cannot open safetensors file (${code})`, {
    hint: 'check that the path exists and is readable',
    cause: e,
  });
}

/**
 * An open safetensors file. `open` reads and validates only the header; tensor data is read on
 * demand, one tensor at a time, so files larger than 2 GiB (or than RAM) work.
 */
export class SafetensorsFile {
  /** Tensors in file order. */
  readonly tensors: TensorInfo[];
  /** `__metadata__` of the header ({} when absent). */
  readonly metadata: Record<string, string>;
  private readonly byName: Map<string, TensorInfo>;
  private fd: number | undefined;

  private constructor(
    /** The path given to `open`. */
    readonly path: string,
    fd: number,
    private readonly dataStart: number,
    parsed: { tensors: TensorInfo[]; metadata: Record<string, string> },
  ) {
    this.fd = fd;
    this.tensors = parsed.tensors;
    this.metadata = parsed.metadata;
    this.byName = new Map(parsed.tensors.map((t) => [t.name, t]));
  }

  /** Opens `path` and validates its header against the real file size before allocating anything sized by the file. */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw openFailure(path, e);
    }
    try {
      const { dataStart, parsed } = readHeader(fd, path);
      return new SafetensorsFile(path, fd, dataStart, parsed);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Header entry of `name`; the error lists the closest names in the file. */
  get(name: string): TensorInfo {
    const info = this.byName.get(name);
    if (info !== undefined) return info;
    const near = similarNames(name, this.byName.keys());
    throw new FileFormatError(
      this.path,
      `no tensor named ${JSON.stringify(name)}${near.length ? `; similar names: ${near.map((n) => JSON.stringify(n)).join(', ')}` : ' (the file holds no tensors)'}`,
      {
        hint: 'the checkpoint and the model config come from different models, or the name is misspelled',
      },
    );
  }

  /** True when the file holds a tensor called `name`. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The raw little-endian bytes of one tensor, in a fresh buffer (byteOffset 0). */
  readBytes(name: string): Uint8Array {
    const info = this.get(name);
    if (this.fd === undefined)
      throw new TsloraError(`${this.path}: read of ${JSON.stringify(name)} after close()`, { exitCode: 1 });
    const out = new Uint8Array(info.end - info.begin);
    readFully(this.fd, out, this.dataStart + info.begin, this.path);
    return out;
  }

  /** A float tensor (F64/F32/F16/BF16) decoded to f32. */
  readF32(name: string): Float32Array {
    const info = this.get(name);
    if (!isFloatDType(info.dtype)) {
      throw new FileFormatError(
        this.path,
        `tensor ${JSON.stringify(name)} has dtype ${info.dtype}, not a float dtype`,
        { hint: 'read integer tensors with readInt' },
      );
    }
    return decodeF32(this.readBytes(name), info.dtype);
  }

  /** An integer or bool tensor decoded to int32 (i64 values outside int32 are refused). */
  readInt(name: string): Int32Array {
    const info = this.get(name);
    if (isFloatDType(info.dtype)) {
      throw new FileFormatError(
        this.path,
        `tensor ${JSON.stringify(name)} has dtype ${info.dtype}, not an integer dtype`,
        { hint: 'read float tensors with readF32' },
      );
    }
    try {
      return decodeInt(this.readBytes(name), info.dtype);
    } catch (e) {
      if (e instanceof FileFormatError || !(e instanceof TsloraError)) throw e;
      throw new FileFormatError(this.path, `tensor ${JSON.stringify(name)}: ${e.message}`, { hint: e.hint, cause: e });
    }
  }

  /** Closes the file descriptor; idempotent. */
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Reads the 8-byte length and the header; every size is checked against the file before use. */
function readHeader(
  fd: number,
  path: string,
): { dataStart: number; parsed: ReturnType<typeof parseSafetensorsHeader> } {
  const stat = fs.fstatSync(fd);
  if (!stat.isFile())
    throw new FileFormatError(path, 'is not a regular file', { hint: 'pass the path of a .safetensors file' });
  const size = stat.size;
  if (size < 8)
    throw new FileFormatError(path, `file has ${size} bytes, fewer than the 8-byte safetensors header length`, {
      hint: CORRUPT_HINT,
    });
  const lenBytes = new Uint8Array(8);
  readFully(fd, lenBytes, 0, path);
  const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw new FileFormatError(path, `header length ${n} exceeds the ${MAX_HEADER_SIZE}-byte limit`, {
      hint: CORRUPT_HINT,
    });
  }
  const headerLen = Number(n);
  if (8 + headerLen > size) {
    throw new FileFormatError(path, `header length ${headerLen} runs past the end of the ${size}-byte file`, {
      hint: CORRUPT_HINT,
    });
  }
  const header = Buffer.alloc(headerLen);
  readFully(fd, header, 8, path);
  return { dataStart: 8 + headerLen, parsed: parseSafetensorsHeader(header, size - 8 - headerLen, path) };
}

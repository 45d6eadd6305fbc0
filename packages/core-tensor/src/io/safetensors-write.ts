// safetensors-write.ts — atomic safetensors writers (whole-file and streaming), laid out as the Rust crate does.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import nodePath from 'node:path';
import { ALL_DTYPES, type DType, dtypeToSafetensors, itemSize } from '../dtype.js';
import { TsloraError } from '../errors.js';
import type { TensorInfo } from './safetensors-read.js';

/** What the streaming writer needs to know about a tensor before its data arrives. */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

/** A tensor to write: its spec plus little-endian bytes (numel × itemsize of them). */
export interface TensorData extends TensorSpec {
  data: Uint8Array;
}

// Rank in the Rust crate's `Dtype` enum order: writers sort descending, so 8-byte types come first
// and every tensor's data stays aligned to its element size.
const DTYPE_RANK = new Map(ALL_DTYPES.map((d, i) => [d, ALL_DTYPES.length - i]));

const WRITE_CHUNK = 1 << 30; // a single write is capped near 2 GiB

export function ioFailure(path: string, what: string, e: unknown): TsloraError {
  const code = (e as NodeJS.ErrnoException).code ?? String(e);
  return new TsloraError(`${path}: ${what} failed (${code})`, {
    hint: 'check that the directory exists, is writable and has free space',
    exitCode: 1,
    cause: e,
  });
}

export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) {
    done += fs.writeSync(fd, bytes, done, Math.min(WRITE_CHUNK, bytes.length - done));
  }
}

/** A hidden temp path in the same directory as `path`, so the final rename stays on one file system. */
export function tempPathFor(path: string): string {
  const dir = nodePath.dirname(path);
  return nodePath.join(dir, `.${nodePath.basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * The last step of an atomic write: fsync and close `fd` (the open temp file `tmp`), rename it onto
 * `path`, fsync the directory. On any failure the temp file is removed and `path` is left as it was.
 */
export function commitTempFile(fd: number, tmp: string, path: string): void {
  let open = true;
  try {
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    open = false;
    fs.renameSync(tmp, path);
  } catch (e) {
    discardTempFile(open ? fd : undefined, tmp);
    throw ioFailure(path, 'committing', e);
  }
  syncDir(nodePath.dirname(path));
}

/** Closes `fd` if given (ignoring errors: it may be unusable already) and removes the temp file. */
export function discardTempFile(fd: number | undefined, tmp: string): void {
  if (fd !== undefined) {
    try {
      fs.closeSync(fd);
    } catch {
      // already unusable; removing the temp file is what matters
    }
  }
  fs.rmSync(tmp, { force: true });
}

/** fsyncs the directory so the rename itself survives a crash; some file systems refuse, which is harmless. */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // not supported here (e.g. some network file systems): the rename is still atomic
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes `data` to `path` atomically: temp file in the same directory, fsync, rename. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    writeAll(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw ioFailure(path, 'atomic write', e);
  }
  syncDir(nodePath.dirname(path));
}

function checkSpecs(path: string, specs: readonly TensorSpec[], metadata: Record<string, string>): void {
  const bad = (msg: string, hint: string): TsloraError => new TsloraError(`${path}: ${msg}`, { hint });
  const seen = new Set<string>();
  for (const s of specs) {
    if (typeof s.name !== 'string' || s.name === '' || s.name === '__metadata__') {
      throw bad(
        `invalid tensor name ${JSON.stringify(s.name)}`,
        'tensor names must be non-empty strings other than "__metadata__"',
      );
    }
    if (seen.has(s.name))
      throw bad(`tensor ${JSON.stringify(s.name)} is given twice`, 'give each tensor a unique name');
    seen.add(s.name);
    if (!DTYPE_RANK.has(s.dtype))
      throw bad(
        `tensor ${JSON.stringify(s.name)} has unknown dtype ${JSON.stringify(s.dtype)}`,
        `use one of ${ALL_DTYPES.join(', ')}`,
      );
    if (!Array.isArray(s.shape) || !s.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(
        `tensor ${JSON.stringify(s.name)} has shape ${JSON.stringify(s.shape)}`,
        'shape entries must be non-negative integers',
      );
    }
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string')
      throw bad(
        `metadata value of ${JSON.stringify(k)} is not a string`,
        'safetensors metadata maps strings to strings',
      );
  }
}

/** Orders tensors as the Rust crate does (descending dtype alignment, then name) and assigns offsets. */
function layout(specs: readonly TensorSpec[]): TensorInfo[] {
  const sorted = [...specs].sort(
    (a, b) => DTYPE_RANK.get(b.dtype)! - DTYPE_RANK.get(a.dtype)! || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  let offset = 0;
  return sorted.map((s) => {
    const nbytes = s.shape.reduce((a, b) => a * b, 1) * itemSize(s.dtype);
    const info = { name: s.name, dtype: s.dtype, shape: [...s.shape], begin: offset, end: offset + nbytes };
    offset += nbytes;
    return info;
  });
}

/** The 8-byte length plus the header JSON, space-padded so the data section starts 8-aligned. */
function encodeHeader(infos: readonly TensorInfo[], metadata: Record<string, string>): Uint8Array {
  // Built by hand: JSON.stringify of an object would move integer-like tensor names to the front.
  const parts: string[] = [];
  if (Object.keys(metadata).length > 0) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  for (const t of infos) {
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${dtypeToSafetensors(t.dtype)}","shape":${JSON.stringify(t.shape)},"data_offsets":[${t.begin},${t.end}]}`,
    );
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = Buffer.alloc(8 + padded, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  return out;
}

/**
 * Streaming safetensors writer for outputs too big to hold at once. The header (and so the tensor
 * order) is fixed up front; call `write` once per tensor in `order`, then `commit` (fsync + atomic
 * rename) or `abort` (removes the temp file). Nothing appears at `path` until `commit` succeeds.
 */
export class SafetensorsWriter {
  /** Tensor names in the order `write` must be called. */
  readonly order: string[];
  /** Header entries in file order, with their offsets. */
  readonly tensors: TensorInfo[];
  private readonly tmp: string;
  private fd: number | undefined;
  private next = 0;

  constructor(
    /** Final path of the file. */
    readonly path: string,
    specs: readonly TensorSpec[],
    metadata: Record<string, string> = { format: 'pt' },
  ) {
    checkSpecs(path, specs, metadata);
    this.tensors = layout(specs);
    this.order = this.tensors.map((t) => t.name);
    const header = encodeHeader(this.tensors, metadata);
    this.tmp = tempPathFor(path);
    try {
      this.fd = fs.openSync(this.tmp, 'wx', 0o644);
      writeAll(this.fd, header);
    } catch (e) {
      this.abort();
      throw ioFailure(path, 'creating the temp file', e);
    }
  }

  /** Appends the bytes of `name`, which must be the next name in `order`, with numel × itemsize bytes. */
  write(name: string, bytes: Uint8Array): void {
    if (this.fd === undefined)
      throw new TsloraError(`${this.path}: write of ${JSON.stringify(name)} after commit() or abort()`, {
        exitCode: 1,
      });
    const info = this.tensors[this.next];
    if (info === undefined || info.name !== name) {
      throw new TsloraError(
        `${this.path}: tensor ${JSON.stringify(name)} written out of order; expected ${info ? JSON.stringify(info.name) : 'no more tensors'}`,
        {
          hint: 'call write() in the order given by writer.order',
          exitCode: 1,
        },
      );
    }
    if (bytes.byteLength !== info.end - info.begin) {
      throw new TsloraError(
        `${this.path}: tensor ${JSON.stringify(name)} of shape [${info.shape.join(', ')}] ${info.dtype} needs ${info.end - info.begin} bytes, got ${bytes.byteLength}`,
        {
          hint: 'the data does not match the declared shape and dtype',
        },
      );
    }
    try {
      writeAll(this.fd, bytes);
    } catch (e) {
      this.abort();
      throw ioFailure(this.path, `writing tensor ${JSON.stringify(name)}`, e);
    }
    this.next += 1;
  }

  /** Checks every tensor was written, fsyncs and renames the temp file onto `path`. */
  commit(): void {
    if (this.fd === undefined)
      throw new TsloraError(`${this.path}: commit() after commit() or abort()`, { exitCode: 1 });
    if (this.next !== this.tensors.length) {
      const missing = this.order.slice(this.next);
      this.abort();
      throw new TsloraError(
        `${this.path}: commit() with ${missing.length} tensors unwritten (next: ${JSON.stringify(missing[0])}); nothing was written`,
        { exitCode: 1 },
      );
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

/**
 * Writes a whole safetensors file atomically. Tensors are laid out by descending dtype alignment
 * then name; metadata defaults to {"format":"pt"} (pass {} for none).
 */
export function writeSafetensors(
  path: string,
  tensors: readonly TensorData[],
  metadata?: Record<string, string>,
): void {
  const writer = new SafetensorsWriter(path, tensors, metadata);
  const byName = new Map(tensors.map((t) => [t.name, t.data]));
  try {
    for (const name of writer.order) writer.write(name, byName.get(name)!);
    writer.commit();
  } catch (e) {
    writer.abort();
    throw e;
  }
}

// norms.ts — L2 norm of every embedding row, streamed from the safetensors file in row chunks (never the whole matrix).
import { closeSync, openSync, readSync } from 'node:fs';
import { decodeF32, FileFormatError, isFloatDType, itemSize, type TensorInfo } from '@tslora/core-tensor';

/** Bytes read per chunk: large enough for few syscalls, small next to a 0.5B model's 272 MB bf16 embedding. */
const CHUNK_BYTES = 16 << 20;

/**
 * Per-row L2 norms of a 2-D float tensor `info` in safetensors file `path`.
 * Rows are decoded to f32 a chunk at a time and squared-summed in f64 (a 4096-wide row of f32 squares
 * loses digits in an f32 sum). Non-finite values give a non-finite norm (reported, not hidden).
 * @returns norms: (V,)
 */
export function embeddingRowNorms(path: string, info: TensorInfo): Float64Array {
  if (info.shape.length !== 2 || !isFloatDType(info.dtype)) {
    throw new FileFormatError(
      path,
      `tensor ${JSON.stringify(info.name)} must be a 2-D float matrix, got ${info.dtype} [${info.shape.join(', ')}]`,
    );
  }
  const [rows, cols] = info.shape as [number, number]; // embed: (V,C)
  const rowBytes = cols * itemSize(info.dtype);
  const norms = new Float64Array(rows);
  if (rows === 0 || cols === 0) return norms;
  const fd = openSync(path, 'r');
  try {
    const dataStart = 8 + readHeaderLength(fd, path);
    const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / rowBytes));
    const buf = new Uint8Array(rowsPerChunk * rowBytes);
    for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
      const n = Math.min(rowsPerChunk, rows - r0);
      const bytes = buf.subarray(0, n * rowBytes);
      readExactly(fd, bytes, dataStart + info.begin + r0 * rowBytes, path);
      const x = decodeF32(bytes, info.dtype); // (n,C)
      for (let r = 0; r < n; r++) {
        let ss = 0;
        for (let c = r * cols, end = c + cols; c < end; c++) {
          const v = x[c] as number;
          ss += v * v;
        }
        norms[r0 + r] = Math.sqrt(ss);
      }
    }
  } finally {
    closeSync(fd);
  }
  return norms;
}

/** The 8-byte little-endian header length N; tensor data starts at byte 8 + N (the reader validated it already). */
function readHeaderLength(fd: number, path: string): number {
  const b = new Uint8Array(8);
  readExactly(fd, b, 0, path);
  return Number(new DataView(b.buffer).getBigUint64(0, true));
}

function readExactly(fd: number, out: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, out.length - done, position + done);
    if (n === 0)
      throw new FileFormatError(path, `file ended at byte ${position + done} while reading embedding rows`, {
        hint: 'the file was truncated or changed while being read; re-download it',
      });
    done += n;
  }
}

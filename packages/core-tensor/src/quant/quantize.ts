// quant/quantize.ts — group-wise int8/int4 weight quantization in onnxruntime's MatMulNBits layout, and its inverse.
//
// A frozen Linear weight W (N,K) = (out,in) is cut along K (the input dimension, the one the dot
// product runs over) into groups of `blockSize`; each group gets its own f32 scale and, when
// asymmetric, an integer zero point:  W[n,k] ≈ (q[n,k] − zp[n,g]) · scale[n,g],  g = k / blockSize.
// The arrays are laid out exactly as com.microsoft.MatMulNBits reads them, so the ort backend can
// hand them to onnxruntime as they are:
//   data        (N, nBlocks, blobSize) u8, blobSize = blockSize·bits/8; 4-bit: element 2i in the low
//               nibble of byte i, element 2i+1 in the high nibble
//   scales      (N, nBlocks) f32
//   zeroPoints  8-bit: (N, nBlocks) u8;  4-bit: (N, ceil(nBlocks/2)) u8, block 2j low nibble, 2j+1 high;
//               null when symmetric (MatMulNBits then uses the implicit 2^(bits−1): 8 or 128)
// Asymmetric is the default: the group's [min(0,·), max(0,·)] range maps onto all 2^bits levels with
// 0 exactly representable, a lower round-trip error than a symmetric scale (quantize.test.ts measures both).
import { TsloraError } from '../errors.js';

export type QuantBits = 4 | 8;

export interface QuantOptions {
  bits: QuantBits;
  /** Group length along K: a power of two in 16..256 that divides K. */
  blockSize: number;
  /** No zero points: levels centred on 2^(bits−1) (default false: asymmetric). */
  symmetric?: boolean;
}

/** A quantized (N,K) matrix in MatMulNBits layout (see the header). */
export interface QuantizedMatrix {
  readonly bits: QuantBits;
  /** Rows (out features). */
  readonly n: number;
  /** Columns (in features), the quantized dimension. */
  readonly k: number;
  readonly blockSize: number;
  readonly nBlocks: number;
  readonly data: Uint8Array;
  readonly scales: Float32Array;
  readonly zeroPoints: Uint8Array | null;
}

/** Bytes of one row's zero points. */
export function zeroPointRowBytes(bits: QuantBits, nBlocks: number): number {
  return Math.ceil((nBlocks * bits) / 8);
}

/** Throws TsloraError (exit 2, naming `flag`) unless the options fit a K-wide matrix. */
export function checkQuantOptions(k: number, opts: QuantOptions, flag = '--q-group-size'): void {
  const { bits, blockSize } = opts;
  if (bits !== 4 && bits !== 8) {
    throw new TsloraError(`quantize: bits must be 4 or 8, got ${String(bits)}`, { exitCode: 2 });
  }
  if (!Number.isInteger(blockSize) || blockSize < 16 || blockSize > 256 || (blockSize & (blockSize - 1)) !== 0) {
    throw new TsloraError(`${flag} ${blockSize}: the group size must be a power of two from 16 to 256`, {
      hint: 'try 32, 64 or 128',
      exitCode: 2,
    });
  }
  if (k % blockSize !== 0) {
    throw new TsloraError(`${flag} ${blockSize} does not divide the input dimension ${k}`, {
      hint: `choose a power of two that divides ${k}`,
      exitCode: 2,
    });
  }
}

/** An all-zero quantized matrix of the given shape, to be filled by {@link quantizeRowsInto}. */
export function allocQuantized(n: number, k: number, opts: QuantOptions): QuantizedMatrix {
  checkQuantOptions(k, opts);
  const { bits, blockSize } = opts;
  const nBlocks = k / blockSize;
  return {
    bits,
    n,
    k,
    blockSize,
    nBlocks,
    data: new Uint8Array((n * k * bits) / 8),
    scales: new Float32Array(n * nBlocks),
    zeroPoints: opts.symmetric ? null : new Uint8Array(n * zeroPointRowBytes(bits, nBlocks)),
  };
}

/** Scale and zero point of one group x[off, off+len). Symmetric: the largest-|·| value maps to level 0. */
function groupParams(x: Float32Array, off: number, len: number, bits: QuantBits, sym: boolean): [number, number] {
  const qmax = (1 << bits) - 1;
  if (sym) {
    let m = 0;
    for (let i = off; i < off + len; i++) if (Math.abs(x[i]!) > Math.abs(m)) m = x[i]!;
    // m / −2^(bits−1): the extreme lands exactly on level 0 and the other side keeps 2^(bits−1)−1 levels.
    return [Math.fround(m / -(1 << (bits - 1))), 1 << (bits - 1)];
  }
  let lo = 0;
  let hi = 0;
  for (let i = off; i < off + len; i++) {
    const v = x[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const scale = Math.fround((hi - lo) / qmax);
  if (scale === 0) return [0, 0];
  const zp = Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
  return [scale, zp];
}

/**
 * Quantizes rows [rowStart, rowStart + rows.length/K) of `q` from `rows` (row-major f32). Lets a
 * caller stream a large weight in slices, so its f32 form never exists whole.
 */
export function quantizeRowsInto(q: QuantizedMatrix, rows: Float32Array, rowStart: number): void {
  const { bits, k, blockSize, nBlocks, data, scales, zeroPoints } = q;
  const count = rows.length / k;
  if (!Number.isInteger(count) || rowStart < 0 || rowStart + count > q.n) {
    throw new RangeError(`quantizeRowsInto: ${rows.length} values are not whole rows of ${k} within ${q.n} rows`);
  }
  const qmax = (1 << bits) - 1;
  const zpRow = zeroPointRowBytes(bits, nBlocks);
  for (let r = 0; r < count; r++) {
    const row = rowStart + r;
    for (let g = 0; g < nBlocks; g++) {
      const off = r * k + g * blockSize;
      const [scale, zp] = groupParams(rows, off, blockSize, bits, zeroPoints === null);
      scales[row * nBlocks + g] = scale;
      if (zeroPoints) {
        if (bits === 8) zeroPoints[row * zpRow + g] = zp;
        else zeroPoints[row * zpRow + (g >> 1)]! |= zp << ((g & 1) * 4);
      }
      const base = (row * k + g * blockSize) * (bits / 8); // byte offset of this group's blob
      for (let i = 0; i < blockSize; i++) {
        const v = scale === 0 ? zp : Math.min(qmax, Math.max(0, Math.round(rows[off + i]! / scale) + zp));
        if (bits === 8) data[base + i] = v;
        else data[base + (i >> 1)]! |= v << ((i & 1) * 4);
      }
    }
  }
}

/** Quantizes a whole (N,K) row-major f32 matrix. */
export function quantizeMatrix(w: Float32Array, n: number, k: number, opts: QuantOptions): QuantizedMatrix {
  if (w.length !== n * k) throw new RangeError(`quantizeMatrix: ${w.length} values for (${n},${k})`);
  const q = allocQuantized(n, k, opts);
  quantizeRowsInto(q, w, 0);
  return q;
}

/** Zero point of group g of `row` (the implicit 2^(bits−1) when symmetric). */
function zeroPointAt(q: QuantizedMatrix, row: number, g: number): number {
  const { bits, nBlocks, zeroPoints } = q;
  if (!zeroPoints) return 1 << (bits - 1);
  const zpRow = zeroPointRowBytes(bits, nBlocks);
  return bits === 8 ? zeroPoints[row * zpRow + g]! : (zeroPoints[row * zpRow + (g >> 1)]! >> ((g & 1) * 4)) & 15;
}

/**
 * Dequantizes rows [rowStart, rowEnd) into `out` ((rowEnd−rowStart)·K f32, allocated when absent):
 * the exact f32 matrix MatMulNBits multiplies by at accuracy level 1. On the backward's hot path
 * (dX = dY·W through a scratch), so the two widths get their own tight loops.
 */
export function dequantizeRows(q: QuantizedMatrix, rowStart = 0, rowEnd = q.n, out?: Float32Array): Float32Array {
  const { bits, k, blockSize, nBlocks, scales, data } = q;
  const dst = out ?? new Float32Array((rowEnd - rowStart) * k);
  if (dst.length < (rowEnd - rowStart) * k) throw new RangeError('dequantizeRows: out is too small');
  for (let row = rowStart; row < rowEnd; row++) {
    let o = (row - rowStart) * k;
    for (let g = 0; g < nBlocks; g++) {
      const scale = scales[row * nBlocks + g]!;
      const zp = zeroPointAt(q, row, g);
      if (bits === 8) {
        const b0 = row * k + g * blockSize;
        for (let i = 0; i < blockSize; i++) dst[o++] = (data[b0 + i]! - zp) * scale;
      } else {
        const b0 = (row * k + g * blockSize) >> 1;
        for (let i = 0; i < blockSize >> 1; i++) {
          const byte = data[b0 + i]!;
          dst[o++] = ((byte & 15) - zp) * scale;
          dst[o++] = ((byte >> 4) - zp) * scale;
        }
      }
    }
  }
  return dst;
}

/** Bytes held by the quantized arrays. */
export function quantizedBytes(q: QuantizedMatrix): number {
  return q.data.byteLength + q.scales.byteLength + (q.zeroPoints?.byteLength ?? 0);
}

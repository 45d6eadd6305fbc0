// quant/frozen-weight.ts — a frozen Linear weight (out,in) stored as f32, bf16 or int8/int4, and its two products.
//
// A LoRA base weight is only ever used in two products, so that is the whole interface:
//   forward   y  (N,out) = x  (N,in) · Wᵀ
//   backward  dx (N,in)  = dy (N,out) · W        (no dW: the weight is frozen)
// - f32: the weight itself, through backend.gemm (today's path).
// - bf16: 2 bytes a parameter; widened (exactly) into a shared f32 scratch per use, then the same
//   gemm — so the result is bit-identical to f32 storage of the same bf16 values.
// - int8/int4: MatMulNBits layout; forward through backend.matmulNBits when the backend has it
//   (ort: MLAS, int8 compute at accuracy level 4), else dequantize + gemm. Backward always
//   dequantizes into the scratch + f32 gemm: MatMulNBits has no transB, and a second copy quantized
//   along N would be a different W from the forward's (bench/qlora-kernels.bench.ts measures both).
// The scratch is one f32 buffer shared by every weight of a model (they are used one at a time); a
// weight wider than its cap is processed in row slices, so an lm_head never needs its f32 form whole.
import { getBackend } from '../backend/backend.js';
import { dequantizeRows, type QuantizedMatrix, quantizedBytes } from './quantize.js';

export type FrozenStorage = 'f32' | 'bf16' | 'int8' | 'int4';

/** One reusable f32 buffer for widened/dequantized weight slices, shared by a model's frozen weights. */
export class WeightScratch {
  private buf = new Float32Array(0);
  /** Largest slice in floats (default 2^25 = 128 MiB): wider weights go through in row slices. */
  constructor(readonly maxFloats = 1 << 25) {}
  take(floats: number): Float32Array {
    if (this.buf.length < floats) this.buf = new Float32Array(floats);
    return this.buf.subarray(0, floats);
  }
  get bytes(): number {
    return this.buf.byteLength;
  }
}

/** bf16 bit patterns → f32, exactly (a left shift by 16). */
function widenBf16(src: Uint16Array, dst: Float32Array): void {
  const u = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < u.length; i++) u[i] = src[i]! << 16;
}

export class FrozenWeight {
  private constructor(
    readonly storage: FrozenStorage,
    readonly outFeatures: number,
    readonly inFeatures: number,
    private readonly f32: Float32Array | null,
    private readonly bf16: Uint16Array | null,
    readonly quantized: QuantizedMatrix | null,
    private readonly scratch: WeightScratch | null,
  ) {}

  static f32(w: Float32Array, out: number, inF: number): FrozenWeight {
    if (w.length !== out * inF) throw new RangeError(`FrozenWeight.f32: ${w.length} values for (${out},${inF})`);
    return new FrozenWeight('f32', out, inF, w, null, null, null);
  }

  /** `bits`: the weight's bf16 bit patterns, row-major (out,in). */
  static bf16(bits: Uint16Array, out: number, inF: number, scratch: WeightScratch): FrozenWeight {
    if (bits.length !== out * inF) throw new RangeError(`FrozenWeight.bf16: ${bits.length} values for (${out},${inF})`);
    return new FrozenWeight('bf16', out, inF, null, bits, null, scratch);
  }

  static quantized(q: QuantizedMatrix, scratch: WeightScratch): FrozenWeight {
    return new FrozenWeight(q.bits === 8 ? 'int8' : 'int4', q.n, q.k, null, null, q, scratch);
  }

  /** Bytes held for the weight (not counting the shared scratch or a backend's packed copy). */
  get bytes(): number {
    if (this.f32) return this.f32.byteLength;
    if (this.bf16) return this.bf16.byteLength;
    return quantizedBytes(this.quantized as QuantizedMatrix);
  }

  /** Rows [r0, r1) of W as f32 in `dst` (a view of the stored array when f32). */
  rowsF32(r0: number, r1: number, dst?: Float32Array): Float32Array {
    const k = this.inFeatures;
    if (this.f32) return this.f32.subarray(r0 * k, r1 * k);
    const out = dst ?? new Float32Array((r1 - r0) * k);
    if (this.bf16) widenBf16(this.bf16.subarray(r0 * k, r1 * k), out);
    else dequantizeRows(this.quantized as QuantizedMatrix, r0, r1, out);
    return out;
  }

  /** Rows per slice so one slice fits the scratch. */
  private sliceRows(): number {
    const cap = this.scratch?.maxFloats ?? Number.POSITIVE_INFINITY;
    return Math.max(1, Math.min(this.outFeatures, Math.floor(cap / this.inFeatures)));
  }

  /** y (n,out) = x (n,in) · Wᵀ. `accuracyLevel` goes to MatMulNBits (quantized storage on a backend that has it). */
  forward(x: Float32Array, n: number, out?: Float32Array, accuracyLevel?: number): Float32Array {
    const be = getBackend();
    const { outFeatures: N, inFeatures: k } = this;
    const y = out ?? new Float32Array(n * N);
    if (this.f32) return be.gemm({ a: x, b: this.f32, m: n, n: N, k, transB: true, out: y });
    if (this.quantized && be.matmulNBits)
      return be.matmulNBits({ a: x, m: n, w: this.quantized, out: y, accuracyLevel });
    const rows = this.sliceRows();
    const scratch = this.scratch as WeightScratch;
    if (rows === N)
      return be.gemm({ a: x, b: this.rowsF32(0, N, scratch.take(N * k)), m: n, n: N, k, transB: true, out: y });
    // Row slice [r0,r1) of W gives columns [r0,r1) of y: computed into a temp, then scattered.
    const tmp = new Float32Array(n * rows);
    for (let r0 = 0; r0 < N; r0 += rows) {
      const c = Math.min(rows, N - r0);
      const w = this.rowsF32(r0, r0 + c, scratch.take(c * k));
      be.gemm({ a: x, b: w, m: n, n: c, k, transB: true, out: tmp.subarray(0, n * c) });
      for (let i = 0; i < n; i++) y.set(tmp.subarray(i * c, (i + 1) * c), i * N + r0);
    }
    return y;
  }

  /** dx (n,in) = dy (n,out) · W. `beta` 1 accumulates into `out`. */
  backwardInput(dy: Float32Array, n: number, out?: Float32Array, beta = 0): Float32Array {
    const be = getBackend();
    const { outFeatures: N, inFeatures: k } = this;
    const dx = out ?? new Float32Array(n * k);
    if (this.f32) return be.gemm({ a: dy, b: this.f32, m: n, n: k, k: N, beta, out: dx });
    const rows = this.sliceRows();
    const scratch = this.scratch as WeightScratch;
    if (rows === N)
      return be.gemm({ a: dy, b: this.rowsF32(0, N, scratch.take(N * k)), m: n, n: k, k: N, beta, out: dx });
    // dx = Σ over row slices: dy[:, r0:r1] · W[r0:r1, :], accumulated (beta 1 after the first).
    const dyc = new Float32Array(n * rows);
    for (let r0 = 0; r0 < N; r0 += rows) {
      const c = Math.min(rows, N - r0);
      for (let i = 0; i < n; i++) dyc.set(dy.subarray(i * N + r0, i * N + r0 + c), i * c);
      const w = this.rowsF32(r0, r0 + c, scratch.take(c * k));
      be.gemm({ a: dyc.subarray(0, n * c), b: w, m: n, n: k, k: c, beta: r0 === 0 ? beta : 1, out: dx });
    }
    return dx;
  }

  /** Releases a backend's per-weight state (the ort MatMulNBits session). */
  release(): void {
    if (this.quantized) getBackend().releaseWeight?.(this.quantized);
  }
}

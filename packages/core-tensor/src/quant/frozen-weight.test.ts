// quant/frozen-weight.test.ts — frozen f32/bf16/int8/int4 weights on both backends against an f64 reference of the same values.
import { afterAll, describe, expect, it } from 'vitest';
import { getBackend, registerBackend, setBackend } from '../backend/backend.js';
import { ortBackend } from '../backend/index.js';
import { tsBackend } from '../backend/ts/ts-backend.js';
import { f32ToBf16Bits } from '../dtype.js';
import { Random } from '../random.js';
import { FrozenWeight, WeightScratch } from './frozen-weight.js';
import { dequantizeRows, type QuantBits, quantizeMatrix } from './quantize.js';

registerBackend(tsBackend);
registerBackend(ortBackend);
afterAll(() => ortBackend.dispose());

function randn(n: number, seed: number, std = 1): Float32Array {
  return new Random(seed).fillNormal(new Float32Array(n), 0, std);
}

/** y = x·Wᵀ in f64 (the independent reference). */
function refForward(x: Float32Array, w: Float32Array, n: number, N: number, k: number): Float64Array {
  const y = new Float64Array(n * N);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += x[i * k + c]! * w[j * k + c]!;
      y[i * N + j] = s;
    }
  return y;
}

/** dx = dy·W in f64. */
function refBackward(dy: Float32Array, w: Float32Array, n: number, N: number, k: number): Float64Array {
  const dx = new Float64Array(n * k);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < N; j++)
      for (let c = 0; c < k; c++) dx[i * k + c] = dx[i * k + c]! + dy[i * N + j]! * w[j * k + c]!;
  return dx;
}

/** max |a − b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

const n = 37; // rows of x (tokens), deliberately odd
const N = 96; // out features
const k = 256; // in features
const wF32 = randn(N * k, 1, 0.05);
const x = randn(n * k, 2);
const dy = randn(n * N, 3);

for (const backend of ['ts', 'ort'] as const) {
  describe(`FrozenWeight on the ${backend} backend`, () => {
    const use = (): void => void setBackend(backend);

    for (const bits of [4, 8] as QuantBits[]) {
      for (const blockSize of [32, 128]) {
        it(`int${bits} group ${blockSize}: forward (accuracy level 1) and backward equal dequantize-then-f64 to 1e-5`, () => {
          use();
          const q = quantizeMatrix(wF32, N, k, { bits, blockSize });
          const deq = dequantizeRows(q);
          const fw = FrozenWeight.quantized(q, new WeightScratch());
          expect(relErr(fw.forward(x, n, undefined, 1), refForward(x, deq, n, N, k))).toBeLessThan(1e-5);
          expect(relErr(fw.backwardInput(dy, n), refBackward(dy, deq, n, N, k))).toBeLessThan(1e-5);
          fw.release();
        });
      }
    }

    it('int4/int8 at accuracy level 4 (int8 compute): error against the dequantized reference is small and reported', () => {
      use();
      for (const bits of [4, 8] as QuantBits[]) {
        const q = quantizeMatrix(wF32, N, k, { bits, blockSize: 32 });
        const fw = FrozenWeight.quantized(q, new WeightScratch());
        const e = relErr(fw.forward(x, n, undefined, 4), refForward(x, dequantizeRows(q), n, N, k));
        const vsF32 = relErr(fw.forward(x, n, undefined, 4), refForward(x, wF32, n, N, k));
        console.log(
          `${backend} int${bits} g32 acc4: rel err vs dequantized ${e.toExponential(2)}, vs f32 weight ${vsF32.toExponential(2)}`,
        );
        // int8 activations: ~2^-8 of a row's range per element, averaged down over K=256
        expect(e).toBeLessThan(2e-2);
        expect(vsF32).toBeLessThan(bits === 8 ? 3e-2 : 1.5e-1);
        fw.release();
      }
    });

    it('bf16 storage is bit-identical to f32 storage of the same bf16 values (forward and backward)', () => {
      use();
      const bits = new Uint16Array(N * k);
      const exact = new Float32Array(N * k);
      for (let i = 0; i < bits.length; i++) {
        bits[i] = f32ToBf16Bits(wF32[i]!);
        exact[i] = new Float32Array(new Uint32Array([bits[i]! << 16]).buffer)[0]!;
      }
      const b = FrozenWeight.bf16(bits, N, k, new WeightScratch());
      const f = FrozenWeight.f32(exact, N, k);
      expect(b.forward(x, n)).toEqual(f.forward(x, n));
      expect(b.backwardInput(dy, n)).toEqual(f.backwardInput(dy, n));
      expect(b.bytes).toBe(f.bytes / 2);
    });

    it('a scratch smaller than the weight goes through row slices with the same result', () => {
      use();
      const q = quantizeMatrix(wF32, N, k, { bits: 4, blockSize: 64 });
      const whole = FrozenWeight.quantized(q, new WeightScratch());
      const sliced = FrozenWeight.quantized(q, new WeightScratch(10 * k)); // 10 rows per slice, 96 = 9·10 + 6
      expect(relErr(sliced.backwardInput(dy, n), whole.backwardInput(dy, n))).toBeLessThan(1e-6);
      const bits = Uint16Array.from(wF32, (v) => f32ToBf16Bits(v));
      const bw = FrozenWeight.bf16(bits, N, k, new WeightScratch());
      const bs = FrozenWeight.bf16(bits, N, k, new WeightScratch(10 * k));
      expect(relErr(bs.forward(x, n), bw.forward(x, n))).toBeLessThan(1e-6);
      // beta = 1 accumulates
      const acc = whole.backwardInput(dy, n);
      const twice = sliced.backwardInput(dy, n, whole.backwardInput(dy, n), 1);
      expect(
        relErr(
          twice,
          acc.map((v) => 2 * v),
        ),
      ).toBeLessThan(1e-6);
    });

    it('backward matches finite differences of the forward (sum(dy ⊙ y) in x)', () => {
      use();
      const q = quantizeMatrix(wF32, N, k, { bits: 8, blockSize: 32 });
      const fw = FrozenWeight.quantized(q, new WeightScratch());
      const dx = fw.backwardInput(dy, n);
      const loss = (xx: Float32Array): number => {
        const y = fw.forward(xx, n, undefined, 1);
        let s = 0;
        for (let i = 0; i < y.length; i++) s += y[i]! * dy[i]!;
        return s;
      };
      const h = 1e-2; // the loss is linear in x, so a large step only reduces rounding noise
      for (const idx of [0, 5, 300, n * k - 1]) {
        const xp = x.slice();
        const xm = x.slice();
        xp[idx] = xp[idx]! + h;
        xm[idx] = xm[idx]! - h;
        expect((loss(xp) - loss(xm)) / (2 * h)).toBeCloseTo(dx[idx]!, 2);
      }
      fw.release();
    });
  });
}

describe('ort MatMulNBits sessions', () => {
  it('one cached session per (weight, accuracy level), released with the weight', () => {
    setBackend('ort');
    ortBackend.dispose();
    const a = FrozenWeight.quantized(quantizeMatrix(wF32, N, k, { bits: 4, blockSize: 32 }), new WeightScratch());
    const b = FrozenWeight.quantized(quantizeMatrix(wF32, N, k, { bits: 8, blockSize: 32 }), new WeightScratch());
    a.forward(x, n);
    a.forward(x, 3);
    b.forward(x, n);
    expect(ortBackend.sessionCount).toBe(2);
    a.forward(x, n, undefined, 1);
    expect(ortBackend.sessionCount).toBe(3);
    a.release();
    expect(ortBackend.sessionCount).toBe(1);
    expect(getBackend().name).toBe('ort');
  });
});

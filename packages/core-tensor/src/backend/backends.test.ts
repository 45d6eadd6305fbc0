// backend/backends.test.ts — one GEMM suite run against every backend (tfjs describeWithFlags style), vs a naive loop.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import type { Backend, GemmArgs } from './backend.js';
import { OrtBackend } from './ort/ort-backend.js';
import { tsBackend } from './ts/ts-backend.js';

/** Every backend under test. 'ort-native' forces even 1×1×1 through onnxruntime; 'ort' routes small ones to TS. */
const ortNative = new OrtBackend();
ortNative.smallGemmMacs = 0;
const BACKENDS: { label: string; backend: Backend }[] = [
  { label: 'ts', backend: tsBackend },
  { label: 'ort-native', backend: ortNative },
  { label: 'ort', backend: new OrtBackend() },
];

function describeBackends(name: string, fn: (backend: Backend) => void): void {
  for (const { label, backend } of BACKENDS) describe(`${name} [${label}]`, () => fn(backend));
}

/** mulberry32: a tiny seeded generator, so every run sees the same inputs. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randn(n: number, next: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => 2 * next() - 1);
}

interface Case extends Required<Omit<GemmArgs, 'out'>> {
  out: Float32Array;
}

/**
 * Naive reference in f64 straight from the definition, element by element, with its own indexing.
 * Returns C and Σ|alpha·a·b| + |beta·c| per element (the scale of the rounding error allowed).
 */
function naiveGemm(c: Case): { ref: Float64Array; scale: Float64Array } {
  const { m, n, k, batch, alpha, beta } = c;
  const ref = new Float64Array(batch * m * n);
  const scale = new Float64Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    const bBase = c.broadcastB ? 0 : bi * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let abs = 0;
        for (let p = 0; p < k; p++) {
          const av = c.a[bi * m * k + (c.transA ? p * m + i : i * k + p)] as number;
          const bv = c.b[bBase + (c.transB ? j * k + p : p * n + j)] as number;
          s += av * bv;
          abs += Math.abs(av * bv);
        }
        const idx = bi * m * n + i * n + j;
        const c0 = beta === 0 ? 0 : beta * (c.out[idx] as number);
        ref[idx] = alpha * s + c0;
        scale[idx] = Math.abs(alpha) * abs + Math.abs(c0);
      }
    }
  }
  return { ref, scale };
}

function makeCase(
  m: number,
  n: number,
  k: number,
  flags: Partial<Omit<GemmArgs, 'a' | 'b' | 'm' | 'n' | 'k'>>,
  seed: number,
): Case {
  const next = rng(seed);
  const batch = flags.batch ?? 1;
  const broadcastB = flags.broadcastB ?? false;
  return {
    a: randn(batch * m * k, next),
    b: randn((broadcastB ? 1 : batch) * k * n, next),
    out: randn(batch * m * n, next),
    m,
    n,
    k,
    batch,
    broadcastB,
    transA: flags.transA ?? false,
    transB: flags.transB ?? false,
    alpha: flags.alpha ?? 1,
    beta: flags.beta ?? 0,
  };
}

/** Runs the case on `backend` and checks every element within f32 rounding of the naive result. */
function checkCase(backend: Backend, c: Case): void {
  const { ref, scale } = naiveGemm(c);
  const a0 = c.a.slice();
  const b0 = c.b.slice();
  const out = c.out.slice();
  const got = backend.gemm({ ...c, out });
  expect(got).toBe(out);
  // Worst-case f32 dot-product bound: (k+2)·2⁻²³·Σ|terms|. A wrong index or flag errs by O(Σ|terms|/√k).
  const tolFactor = (c.k + 2) * 2 ** -23;
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs((got[i] as number) - (ref[i] as number)) - tolFactor * (scale[i] as number) - 1e-30;
    if (!(err <= worst)) {
      worst = err;
      worstAt = i;
    }
  }
  expect(worstAt, `element ${worstAt}: got ${got[worstAt]}, want ${ref[worstAt]}`).toBe(-1);
  // Inputs are never written (the native path wraps their memory without copying).
  expect(sameBits(c.a, a0) && sameBits(c.b, b0), 'inputs were modified').toBe(true);
}

function sameBits(x: Float32Array, y: Float32Array): boolean {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [65, 33, 129],
];
const BATCHING = [
  { batch: 1, broadcastB: false },
  { batch: 3, broadcastB: false },
  { batch: 3, broadcastB: true },
];
const SCALES = [
  { alpha: 1, beta: 0 },
  { alpha: 1, beta: 1 },
  { alpha: -0.5, beta: 0 },
  { alpha: 2, beta: 0.75 },
];

describeBackends('gemm flags × sizes', (backend) => {
  let seed = 1;
  for (const [m, n, k] of SIZES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const bt of BATCHING) {
          const name = `${m}x${n}x${k} tA=${+transA} tB=${+transB} batch=${bt.batch}${bt.broadcastB ? ' bcastB' : ''}`;
          const s = seed++;
          it(name, () => {
            for (const sc of SCALES) checkCase(backend, makeCase(m, n, k, { transA, transB, ...bt, ...sc }, s));
          });
        }
      }
    }
  }
});

describeBackends('gemm blocking edges and degenerate sizes', (backend) => {
  // Crosses every TS block size (MC=128, KC=256, NC=1024) with ragged remainders.
  it.each([
    [false, false],
    [true, true],
  ])('131x1030x259 tA=%s tB=%s', (transA, transB) => {
    checkCase(backend, makeCase(131, 1030, 259, { transA, transB, beta: 1 }, 99));
  });
  it('batch=2 broadcastB with transA and a large k', () => {
    checkCase(backend, makeCase(33, 70, 300, { transA: true, batch: 2, broadcastB: true, alpha: 0.5 }, 7));
  });
  it.each([
    [0, 4, 3],
    [4, 0, 3],
    [4, 5, 0],
  ])('m=%i n=%i k=%i: C = beta·C', (m, n, k) => {
    checkCase(backend, makeCase(m, n, k, { beta: 0.5, batch: 2 }, 5));
    checkCase(backend, makeCase(m, n, k, { beta: 0, batch: 2 }, 6));
  });
  it('alpha = 0 leaves beta·C', () => {
    checkCase(backend, makeCase(20, 30, 40, { alpha: 0, beta: 2 }, 8));
  });
});

describeBackends('gemm semantics', (backend) => {
  it('small integers give the exact product', () => {
    // A (2,3), B (3,2): C = [[1·7+2·9+3·11, 1·8+2·10+3·12], [4·7+5·9+6·11, 4·8+5·10+6·12]]
    const a = Float32Array.of(1, 2, 3, 4, 5, 6);
    const b = Float32Array.of(7, 8, 9, 10, 11, 12);
    expect(Array.from(backend.gemm({ a, b, m: 2, n: 2, k: 3 }))).toEqual([58, 64, 139, 154]);
  });
  it('beta = 0 overwrites NaN already in out; beta ≠ 0 without out starts from zeros', () => {
    const c = makeCase(40, 50, 60, {}, 3);
    const out = new Float32Array(40 * 50).fill(Number.NaN);
    const got = backend.gemm({ ...c, out });
    expect(got.every(Number.isFinite)).toBe(true);
    const fresh = backend.gemm({ a: c.a, b: c.b, m: 40, n: 50, k: 60, beta: 1 });
    expect(fresh).toEqual(got);
  });
  it('reads and writes views at a byte offset, leaving the rest of the buffer alone', () => {
    const c = makeCase(48, 40, 56, { transB: true, beta: 1 }, 4);
    const pool = new Float32Array(8 + c.a.length + c.b.length + c.out.length + 8).fill(-7);
    const a = pool.subarray(8, 8 + c.a.length);
    const b = pool.subarray(8 + c.a.length, 8 + c.a.length + c.b.length);
    const out = pool.subarray(8 + c.a.length + c.b.length, 8 + c.a.length + c.b.length + c.out.length);
    a.set(c.a);
    b.set(c.b);
    out.set(c.out);
    const want = backend.gemm({ ...c, out: c.out.slice() });
    expect(backend.gemm({ ...c, a, b, out })).toEqual(want);
    expect(Array.from(pool.subarray(pool.length - 8))).toEqual(new Array(8).fill(-7));
    expect(Array.from(pool.subarray(0, 8))).toEqual(new Array(8).fill(-7));
  });
  it('rejects short operands and an out that overlaps an input, naming the operand', () => {
    const a = new Float32Array(6);
    const b = new Float32Array(6);
    expect(() => backend.gemm({ a, b, m: 2, n: 2, k: 4 })).toThrow(ShapeError);
    expect(() => backend.gemm({ a, b, m: 2, n: 2, k: 4 })).toThrow(/a has 6 elements .* needs 8/);
    expect(() => backend.gemm({ a, b, m: 2, n: 3, k: 3, batch: 2, broadcastB: true })).toThrow(/a has 6/);
    expect(() => backend.gemm({ a, b, m: 2, n: 2, k: 3, out: new Float32Array(3) })).toThrow(/out has 3/);
    expect(() => backend.gemm({ a, b, m: 2, n: 2, k: 3, out: a.subarray(2) })).toThrow(/overlaps/);
    expect(() => backend.gemm({ a, b, m: 2.5, n: 2, k: 3 })).toThrow(ShapeError);
  });
});

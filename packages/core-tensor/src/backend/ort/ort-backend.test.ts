// backend/ort/ort-backend.test.ts — routing, session caching and registration of the ort backend.
// (Numerical correctness of every flag combination is in ../backends.test.ts, shared with 'ts'.)
import { afterEach, describe, expect, it } from 'vitest';
import { getBackend, listBackends } from '../backend.js';
import { ortBackend, useBestBackend } from '../index.js';
import { encodeModel } from './onnx-proto.js';
import { OrtBackend } from './ort-backend.js';
import { SessionCache } from './sessions.js';

function ones(n: number): Float32Array {
  return new Float32Array(n).fill(1);
}

describe('OrtBackend', () => {
  const backend = new OrtBackend();
  afterEach(() => backend.dispose());

  it('sends products below smallGemmMacs to the TS kernel and creates no session for them', () => {
    const c = backend.gemm({ a: ones(4 * 4), b: ones(4 * 4), m: 4, n: 4, k: 4 });
    expect(Array.from(c)).toEqual(new Array(16).fill(4));
    expect(backend.sessionCount).toBe(0);
  });

  it('creates one session per kind and reuses it across sizes', () => {
    backend.gemm({ a: ones(64 * 64), b: ones(64 * 64), m: 64, n: 64, k: 64 });
    backend.gemm({ a: ones(70 * 50), b: ones(50 * 90), m: 70, n: 90, k: 50 });
    expect(backend.sessionCount).toBe(1);
    backend.gemm({ a: ones(64 * 64), b: ones(64 * 64), m: 64, n: 64, k: 64, transB: true });
    backend.gemm({ a: ones(2 * 64 * 64), b: ones(2 * 64 * 64), m: 64, n: 64, k: 64, batch: 2 });
    expect(backend.sessionCount).toBe(3);
  });

  it('alpha and beta are runtime inputs: any value reuses the session of its structure', () => {
    // (32x32 ones)·(32x32 ones) = 32 everywhere; C starts at 1, so after step i: c = alpha·32 + beta·c
    const a = ones(32 * 32);
    const out = ones(32 * 32);
    let want = 1;
    let after1 = -1;
    for (let i = 0; i < 40; i++) {
      const alpha = 1 / (i + 3); // e.g. the fused cross-entropy's 1/targets, different every step
      const beta = i % 2 === 0 ? 1 : 0.5 + 1 / (i + 2);
      backend.gemm({ a, b: a, m: 32, n: 32, k: 32, alpha, beta, out });
      want = Math.fround(Math.fround(alpha) * 32 + Math.fround(beta) * want);
      expect(Math.abs((out[0] as number) - want)).toBeLessThan(1e-5 * want);
      expect(out[1023]).toBe(out[0]);
      const fresh = backend.gemm({ a, b: a, m: 32, n: 32, k: 32, alpha });
      expect(fresh[5]).toBeCloseTo(32 * alpha, 5);
      if (i === 1) after1 = backend.sessionCount;
      if (i > 1) expect(backend.sessionCount).toBe(after1);
    }
    // alpha on A with C, alpha on A with beta·C, alpha on A without C
    expect(after1).toBe(3);
  });

  it('keeps at most 32 sessions, releasing the least recently used', () => {
    const cache = new SessionCache();
    const built: number[] = [];
    const model = (i: number) => () => {
      built.push(i);
      return encodeModel({
        nodes: [{ opType: 'Identity', inputs: ['X'], outputs: ['Y'] }],
        inputs: [{ name: 'X', dims: ['N'] }],
        outputs: [{ name: 'Y', dims: ['N'] }],
        opset: 13,
      });
    };
    for (let i = 0; i < 40; i++) cache.graph(`g${i}`, model(i));
    expect(cache.size).toBe(32);
    cache.graph('g39', model(39)); // most recent: still cached
    cache.graph('g0', model(0)); // the oldest was released: built again
    expect(built.slice(40)).toEqual([0]);
    cache.dispose();
    expect(cache.size).toBe(0);
  });

  it('works again after dispose()', () => {
    backend.gemm({ a: ones(64 * 64), b: ones(64 * 64), m: 64, n: 64, k: 64 });
    backend.dispose();
    expect(backend.sessionCount).toBe(0);
    const c = backend.gemm({ a: ones(64 * 64), b: ones(64 * 64), m: 64, n: 64, k: 64 });
    expect(c[4095]).toBe(64);
  });
});

describe('useBestBackend', () => {
  it('registers ts and ort and selects ort, with no session created yet', () => {
    const { backend, reason } = useBestBackend();
    expect(reason).toBeUndefined();
    expect(backend).toBe(ortBackend);
    expect(getBackend().name).toBe('ort');
    expect(listBackends().sort()).toEqual(['ort', 'ts']);
    expect(ortBackend.sessionCount).toBe(0);
  });
});

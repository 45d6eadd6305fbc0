// backend/ort/ort-backend.test.ts — routing, session caching and registration of the ort backend.
// (Numerical correctness of every flag combination is in ../backends.test.ts, shared with 'ts'.)
import { afterEach, describe, expect, it } from 'vitest';
import { getBackend, listBackends } from '../backend.js';
import { ortBackend, useBestBackend } from '../index.js';
import { OrtBackend } from './ort-backend.js';

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

  it('keeps at most 32 sessions, releasing the least recently used', () => {
    for (let i = 0; i < 40; i++) {
      const c = backend.gemm({ a: ones(32 * 32), b: ones(32 * 32), m: 32, n: 32, k: 32, alpha: i + 1 });
      expect(c[0]).toBe(32 * (i + 1));
    }
    expect(backend.sessionCount).toBe(32);
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

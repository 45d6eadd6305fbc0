// backend/ort/attention-block.test.ts — the onnxruntime attention block graphs against a float64 naive loop.
import { describe, expect, it } from 'vitest';
import { Random } from '../../random.js';
import { ATTENTION_MASKED } from '../backend.js';
import { OrtBackend } from './ort-backend.js';

/** softmax(q·kᵀ + mask)·v and its backward, row by row in float64. */
function naive(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  mask: Float32Array,
  dO: Float32Array,
  R: number,
  L: number,
  D: number,
) {
  const P = new Float64Array(R * L);
  const o = new Float64Array(R * D);
  const dq = new Float64Array(R * D);
  const dk = new Float64Array(L * D);
  const dv = new Float64Array(L * D);
  const delta = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    const s = Array.from({ length: L }, (_, j) => {
      let acc = mask[r * L + j] as number;
      for (let x = 0; x < D; x++) acc += (q[r * D + x] as number) * (k[j * D + x] as number);
      return acc;
    });
    const mx = Math.max(...s);
    const e = s.map((x) => Math.exp(x - mx));
    const sum = e.reduce((a, b) => a + b, 0);
    for (let j = 0; j < L; j++) P[r * L + j] = (e[j] as number) / sum;
    for (let x = 0; x < D; x++)
      for (let j = 0; j < L; j++)
        o[r * D + x] = (o[r * D + x] as number) + (P[r * L + j] as number) * (v[j * D + x] as number);
    for (let x = 0; x < D; x++) delta[r] = (delta[r] as number) + (dO[r * D + x] as number) * (o[r * D + x] as number);
  }
  for (let r = 0; r < R; r++) {
    for (let j = 0; j < L; j++) {
      const p = P[r * L + j] as number;
      let dp = 0;
      for (let x = 0; x < D; x++) dp += (dO[r * D + x] as number) * (v[j * D + x] as number);
      const ds = p * (dp - (delta[r] as number));
      for (let x = 0; x < D; x++) {
        dv[j * D + x] = (dv[j * D + x] as number) + p * (dO[r * D + x] as number);
        dq[r * D + x] = (dq[r * D + x] as number) + ds * (k[j * D + x] as number);
        dk[j * D + x] = (dk[j * D + x] as number) + ds * (q[r * D + x] as number);
      }
    }
  }
  return { o, dq, dk, dv, delta };
}

function maxRelErr(got: Float32Array, want: Float64Array): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i] as number));
    err = Math.max(err, Math.abs((got[i] as number) - (want[i] as number)));
  }
  return err / scale;
}

describe('ort attention block graphs', () => {
  for (const [R, L, D] of [
    [5, 6, 3],
    [37, 50, 16],
  ] as const) {
    it(`forward and backward equal a float64 loop (rows ${R}, L ${L}, D ${D}, causal mask, one row fully masked)`, () => {
      const rng = new Random(R + L);
      const q = rng.fillNormal(new Float32Array(R * D), 0, 0.5);
      const k = rng.fillNormal(new Float32Array(L * D), 0, 0.5);
      const v = rng.fillNormal(new Float32Array(L * D));
      const dO = rng.fillNormal(new Float32Array(R * D));
      const mask = new Float32Array(R * L);
      // row r sees keys j ≤ r + 1 (a causal limit); row 2 sees none — its result is finite and uniform
      for (let r = 0; r < R; r++)
        for (let j = 0; j < L; j++) if (j > r + 1 || r === 2) mask[r * L + j] = ATTENTION_MASKED;
      const want = naive(q, k, v, mask, dO, R, L, D);
      const be = new OrtBackend();
      const o = new Float32Array(R * D);
      be.attentionBlockForward({ q, k, v, mask, rows: R, L, D, o });
      expect(maxRelErr(o, want.o)).toBeLessThan(1e-5);
      expect(o.every(Number.isFinite)).toBe(true);
      // dk and dv accumulate: start them at 1 and expect 1 + the block's share
      const dq = new Float32Array(R * D);
      const [dk, dv] = [new Float32Array(L * D).fill(1), new Float32Array(L * D).fill(1)];
      be.attentionBlockBackward({ q, k, v, mask, rows: R, L, D, dO, o, dq, dk, dv });
      expect(maxRelErr(dq, want.dq)).toBeLessThan(1e-5);
      expect(
        maxRelErr(
          dk,
          want.dk.map((x) => x + 1),
        ),
      ).toBeLessThan(1e-5);
      expect(
        maxRelErr(
          dv,
          want.dv.map((x) => x + 1),
        ),
      ).toBeLessThan(1e-5);
      expect(be.sessionCount).toBe(2);
      be.dispose();
    });
  }
});

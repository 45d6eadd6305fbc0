// backend/ts/linear-softmax.ts — the reference lm_head+softmax block: gemm() then a TypeScript row softmax.
import { ShapeError } from '../../errors.js';
import type { GemmArgs, LinearSoftmaxArgs } from '../backend.js';

/** Validates a linearSoftmax call at the backend boundary (sizes, target range); throws ShapeError. */
export function checkLinearSoftmax(g: LinearSoftmaxArgs, backend: string): void {
  const { m, n, k } = g;
  const where = `linearSoftmax (${backend} backend)`;
  const short = (what: string, has: number, need: number): never => {
    throw new ShapeError(`${where}: ${what} has ${has} elements but m=${m} n=${n} k=${k} needs ${need}`);
  };
  if (![m, n, k].every((x) => Number.isInteger(x) && x >= 0) || n === 0) {
    throw new ShapeError(`${where}: invalid sizes m=${m} n=${n} k=${k}`);
  }
  if (g.h.length < m * k) short('h', g.h.length, m * k);
  if (g.w.length < n * k) short('w', g.w.length, n * k);
  if (g.targets.length < m) short('targets', g.targets.length, m);
  if (g.picked.length < m) short('picked', g.picked.length, m);
  if (g.pw && g.pw.length < m * k) short('pw', g.pw.length, m * k);
  if (g.p && g.p.length < m * n) short('p', g.p.length, m * n);
  for (let r = 0; r < m; r++) {
    const t = g.targets[r] as number;
    if (!(t >= 0 && t < n)) throw new ShapeError(`${where}: target ${t} of row ${r} is outside [0, ${n})`);
  }
}

/**
 * The block as a composition: L = h·Wᵀ through `gemm`, a max-subtracted softmax per row in place
 * (exp in f64, stored f32, sum in f64), then picked and P·W. Used by the 'ts' backend and by any
 * backend without its own linearSoftmax.
 */
export function linearSoftmaxVia(gemm: (a: GemmArgs) => Float32Array, g: LinearSoftmaxArgs): void {
  const { m, n, k, targets } = g;
  if (m === 0) return;
  const P = g.p ?? new Float32Array(m * n);
  gemm({ a: g.h, b: g.w, m, n, k, transB: true, out: P }); // P: (m,n) = h·Wᵀ, softmaxed below
  for (let r = 0; r < m; r++) {
    const o = r * n;
    let mx = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < n; v++) if ((P[o + v] as number) > mx) mx = P[o + v] as number;
    let s = 0;
    for (let v = 0; v < n; v++) {
      const e = Math.exp((P[o + v] as number) - mx);
      P[o + v] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let v = 0; v < n; v++) P[o + v] = (P[o + v] as number) * inv;
    g.picked[r] = P[o + (targets[r] as number)] as number;
  }
  if (g.pw) gemm({ a: P, b: g.w, m, n: k, k: n, out: g.pw }); // pw: (m,k) = P·W
}

// backend/ts/gemm-args.ts — validates GemmArgs once at the backend boundary and fills in the defaults.
import { ShapeError } from '../../errors.js';
import type { GemmArgs } from '../backend.js';

/** GemmArgs with every default applied and `out` allocated; what the kernels consume. */
export interface ResolvedGemm {
  a: Float32Array;
  b: Float32Array;
  out: Float32Array;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  batch: number;
  broadcastB: boolean;
  alpha: number;
  beta: number;
}

function isDim(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0x7fffffff;
}

function overlaps(x: Float32Array, xLen: number, y: Float32Array, yLen: number): boolean {
  if (x.buffer !== y.buffer || xLen === 0 || yLen === 0) return false;
  const x0 = x.byteOffset;
  const y0 = y.byteOffset;
  return x0 < y0 + yLen * 4 && y0 < x0 + xLen * 4;
}

/**
 * Checks sizes (a, b and out must hold at least batch·m·k, (1 or batch)·k·n and batch·m·n
 * elements; only that prefix is read or written) and that `out` does not overlap `a` or `b`.
 * Throws ShapeError naming the operand and the expected count.
 */
export function resolveGemm(args: GemmArgs, backend: string): ResolvedGemm {
  const { a, b, m, n, k } = args;
  const batch = args.batch ?? 1;
  const broadcastB = args.broadcastB ?? false;
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const where = `gemm (${backend} backend)`;
  if (!isDim(m) || !isDim(n) || !isDim(k) || !Number.isInteger(batch) || batch < 1) {
    throw new ShapeError(`${where}: invalid sizes m=${m} n=${n} k=${k} batch=${batch}`, {
      hint: 'm, n, k must be non-negative integers and batch a positive integer',
    });
  }
  const needA = batch * m * k;
  const needB = (broadcastB ? 1 : batch) * k * n;
  const needC = batch * m * n;
  const shapeA = transA ? `(${k},${m})` : `(${m},${k})`;
  const shapeB = transB ? `(${n},${k})` : `(${k},${n})`;
  if (a.length < needA) {
    throw new ShapeError(`${where}: a has ${a.length} elements but ${batch} × A${shapeA} needs ${needA}`);
  }
  if (b.length < needB) {
    const count = broadcastB ? 1 : batch;
    throw new ShapeError(`${where}: b has ${b.length} elements but ${count} × B${shapeB} needs ${needB}`);
  }
  const out = args.out ?? new Float32Array(needC);
  if (out.length < needC) {
    throw new ShapeError(`${where}: out has ${out.length} elements but ${batch} × C(${m},${n}) needs ${needC}`);
  }
  if (overlaps(out, needC, a, needA) || overlaps(out, needC, b, needB)) {
    throw new ShapeError(`${where}: out overlaps an input (A${shapeA} or B${shapeB})`, {
      hint: 'pass a separate destination array; GEMM cannot run in place',
    });
  }
  return {
    a,
    b,
    out,
    m,
    n,
    k,
    transA,
    transB,
    batch,
    broadcastB,
    alpha: args.alpha ?? 1,
    beta: args.beta ?? 0,
  };
}

/** C ← beta·C over the first `len` elements; beta = 0 overwrites (a NaN already in C does not survive). */
export function scaleC(out: Float32Array, len: number, beta: number): void {
  if (beta === 1) return;
  if (beta === 0) {
    out.fill(0, 0, len);
    return;
  }
  for (let i = 0; i < len; i++) out[i] = beta * (out[i] as number);
}

// backend/ts/gemm.ts — reference GEMM in plain TypeScript, cache-blocked and packed (BLIS/GotoBLAS layout).
//
// C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b], row-major f32, accumulated in f64 registers.
// The loop nest is the classic five-loop Goto scheme: a KC×NC block of op(B) and an MC×KC block of
// alpha·op(A) are copied into contiguous panels (this is where transA/transB are absorbed, so a
// single micro-kernel serves all four layouts), then a 4×4 register-blocked micro-kernel walks the
// panels. V8 keeps the 16 accumulators in registers; measured ~4.5 GFLOPS for the micro-kernel on
// one Zen 4 core, 2–4 GFLOPS end to end (see bench/gemm.bench.ts).
import type { GemmArgs } from '../backend.js';
import { type ResolvedGemm, resolveGemm, scaleC } from './gemm-args.js';

const MR = 4; // micro-tile rows
const NR = 4; // micro-tile cols
const KC = 256; // depth of a packed block: a 4-wide panel of A and of B is 4 KiB each, L1-resident
const MC = 128; // rows of A packed at once (128·256·4 B = 128 KiB, L2-resident)
const NC = 1024; // cols of B packed at once (256·1024·4 B = 1 MiB, shared L3)

/** Scratch panels reused across calls: the reference backend should not allocate per GEMM. */
const packA = new Float32Array(MC * KC);
const packB = new Float32Array(KC * NC);
const edge = new Float64Array(MR * NR);

/** Runs C = alpha·op(A)·op(B) + beta·C for every batch entry. */
export function gemmTs(args: GemmArgs): Float32Array {
  return gemmResolved(resolveGemm(args, 'ts'));
}

/** Same as gemmTs for arguments already validated (used by the ort backend for small sizes). */
export function gemmResolved(g: ResolvedGemm): Float32Array {
  const { m, n, k, batch } = g;
  scaleC(g.out, batch * m * n, g.beta);
  if (m === 0 || n === 0 || k === 0 || g.alpha === 0) return g.out;
  if (g.broadcastB && !g.transA) {
    // One shared B and row-major A[b] stacked: the batch is just batch·m more rows of one GEMM.
    gemmBlocked(g, batch * m, 0, 0, 0);
    return g.out;
  }
  const strideB = g.broadcastB ? 0 : k * n;
  for (let bi = 0; bi < batch; bi++) gemmBlocked(g, m, bi * m * k, bi * strideB, bi * m * n);
  return g.out;
}

/** One product C(rows,n) += alpha·op(A)(rows,k)·op(B)(k,n) at the given element offsets. */
function gemmBlocked(g: ResolvedGemm, rows: number, aOff: number, bOff: number, cOff: number): void {
  const { n, k } = g;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      packPanelsB(g, bOff, pc, jc, kc, nc);
      for (let ic = 0; ic < rows; ic += MC) {
        const mc = Math.min(MC, rows - ic);
        packPanelsA(g, rows, aOff, ic, pc, mc, kc);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = Math.min(NR, nc - jr);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = Math.min(MR, mc - ir);
            const c0 = cOff + (ic + ir) * n + jc + jr;
            micro4x4(packA, ir * kc, packB, jr * kc, kc, g.out, c0, n, mr, nr);
          }
        }
      }
    }
  }
}

/**
 * Packs alpha·op(A)[ic:ic+mc, pc:pc+kc] as MR-row panels: panel p holds, for each depth index,
 * its MR row values side by side (zero-padded past the last row).
 */
function packPanelsA(g: ResolvedGemm, rows: number, aOff: number, ic: number, pc: number, mc: number, kc: number) {
  const { a, alpha, transA } = g;
  // A is (rows,k) row-major, or (k,rows) when transA: element (i,p) lives at rowStride·i + colStride·p.
  const rowStride = transA ? 1 : g.k;
  const colStride = transA ? rows : 1;
  let dst = 0;
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = Math.min(MR, mc - ir);
    for (let p = 0; p < kc; p++) {
      const base = aOff + (ic + ir) * rowStride + (pc + p) * colStride;
      for (let r = 0; r < MR; r++) packA[dst++] = r < mr ? alpha * (a[base + r * rowStride] as number) : 0;
    }
  }
}

/** Packs op(B)[pc:pc+kc, jc:jc+nc] as NR-column panels (zero-padded past the last column). */
function packPanelsB(g: ResolvedGemm, bOff: number, pc: number, jc: number, kc: number, nc: number) {
  const { b, transB, n, k } = g;
  // B is (k,n) row-major, or (n,k) when transB: element (p,j) lives at rowStride·p + colStride·j.
  const rowStride = transB ? 1 : n;
  const colStride = transB ? k : 1;
  let dst = 0;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = Math.min(NR, nc - jr);
    for (let p = 0; p < kc; p++) {
      const base = bOff + (pc + p) * rowStride + (jc + jr) * colStride;
      for (let c = 0; c < NR; c++) packB[dst++] = c < nr ? (b[base + c * colStride] as number) : 0;
    }
  }
}

/**
 * C[c0 + i·ldc + j] += Σ_p ap[ao + p·MR + i] · bp[bo + p·NR + j] for i < mr, j < nr.
 * Written out by hand (16 named accumulators) because that is what lets V8 keep them in registers;
 * a loop over an accumulator array runs ~3× slower.
 */
// biome-ignore format: the 4×4 register tile reads best as a grid, one row of C per line
function micro4x4(
  ap: Float32Array,
  aoStart: number,
  bp: Float32Array,
  boStart: number,
  kc: number,
  c: Float32Array,
  c0: number,
  ldc: number,
  mr: number,
  nr: number,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  let ao = aoStart;
  let bo = boStart;
  for (let p = 0; p < kc; p++) {
    const a0 = ap[ao] as number, a1 = ap[ao + 1] as number, a2 = ap[ao + 2] as number, a3 = ap[ao + 3] as number;
    const b0 = bp[bo] as number, b1 = bp[bo + 1] as number, b2 = bp[bo + 2] as number, b3 = bp[bo + 3] as number;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    ao += MR;
    bo += NR;
  }
  if (mr === MR && nr === NR) {
    let o = c0;
    c[o] = (c[o] as number) + c00; c[o + 1] = (c[o + 1] as number) + c01; c[o + 2] = (c[o + 2] as number) + c02; c[o + 3] = (c[o + 3] as number) + c03;
    o += ldc;
    c[o] = (c[o] as number) + c10; c[o + 1] = (c[o + 1] as number) + c11; c[o + 2] = (c[o + 2] as number) + c12; c[o + 3] = (c[o + 3] as number) + c13;
    o += ldc;
    c[o] = (c[o] as number) + c20; c[o + 1] = (c[o + 1] as number) + c21; c[o + 2] = (c[o + 2] as number) + c22; c[o + 3] = (c[o + 3] as number) + c23;
    o += ldc;
    c[o] = (c[o] as number) + c30; c[o + 1] = (c[o + 1] as number) + c31; c[o + 2] = (c[o + 2] as number) + c32; c[o + 3] = (c[o + 3] as number) + c33;
    return;
  }
  // Edge tile: go through a small buffer so only the valid mr×nr corner is written.
  edge[0] = c00; edge[1] = c01; edge[2] = c02; edge[3] = c03;
  edge[4] = c10; edge[5] = c11; edge[6] = c12; edge[7] = c13;
  edge[8] = c20; edge[9] = c21; edge[10] = c22; edge[11] = c23;
  edge[12] = c30; edge[13] = c31; edge[14] = c32; edge[15] = c33;
  for (let i = 0; i < mr; i++) {
    for (let j = 0; j < nr; j++) c[c0 + i * ldc + j] = (c[c0 + i * ldc + j] as number) + (edge[i * NR + j] as number);
  }
}

// backend/ort/ort-backend.ts — the 'ort' backend: GEMM on onnxruntime-node (MLAS), small sizes on the TS kernel.
import { TsloraError } from '../../errors.js';
import type { QuantizedMatrix } from '../../quant/quantize.js';
import type {
  AttentionBlockBackwardArgs,
  AttentionBlockForwardArgs,
  Backend,
  GemmArgs,
  LinearSoftmaxArgs,
  MatMulNBitsArgs,
} from '../backend.js';
import { gemmResolved } from '../ts/gemm.js';
import { type ResolvedGemm, resolveGemm } from '../ts/gemm-args.js';
import { checkLinearSoftmax } from '../ts/linear-softmax.js';
import { runAttentionBackward, runAttentionForward } from './attention-block.js';
import { loadBinding, type NativeTensor, tensor } from './binding.js';
import { runLinearSoftmax } from './linear-softmax.js';
import { NBitsSessions } from './matmul-nbits.js';
import { type AlphaAt, type CInput, SessionCache } from './sessions.js';

/**
 * Below this many multiply-adds (batch·m·n·k) the TS kernel is used: a native run costs ~10 µs
 * of fixed overhead, which the TS kernel beats for tiny products. Measured crossover on 2 cores
 * of this machine: see bench/gemm.bench.ts ("small GEMM crossover").
 */
export const SMALL_GEMM_MACS = 8192;

/** The kernels the ort backend runs natively (keys of OrtBackend.nativeRuns). */
export type OrtKernel = 'gemm' | 'linearSoftmax' | 'attentionBlockForward' | 'attentionBlockBackward' | 'matmulNBits';

/** The first `len` elements of `x`, as a view (the native side requires exact lengths). */
function head(x: Float32Array, len: number): Float32Array {
  return x.length === len ? x : x.subarray(0, len);
}

/**
 * GEMM and batched GEMM on onnxruntime-node. Native sessions are created on first use, one per
 * op kind; `dispose()` releases them (a later gemm() creates them again).
 */
export class OrtBackend implements Backend {
  readonly name = 'ort';
  /** Products with fewer multiply-adds than this go to the TS kernel (see SMALL_GEMM_MACS). */
  smallGemmMacs = SMALL_GEMM_MACS;
  private cache: SessionCache | undefined;
  /** One session per quantized weight (its bytes are the graph's initializers; see matmul-nbits.ts). */
  private nbits: NBitsSessions | undefined;
  /**
   * Native runs per kernel since construction (a GEMM routed to the TS kernel is not counted). Tests
   * use it to show which path really ran — e.g. that attention went through the fused block graphs.
   */
  readonly nativeRuns: Record<OrtKernel, number> = {
    gemm: 0,
    linearSoftmax: 0,
    attentionBlockForward: 0,
    attentionBlockBackward: 0,
    matmulNBits: 0,
  };

  /** Loads the native binding now (throws TsloraError if it cannot), without creating sessions. */
  load(): void {
    loadBinding();
  }

  gemm(args: GemmArgs): Float32Array {
    const g = resolveGemm(args, 'ort');
    const { m, n, k, batch } = g;
    if (m === 0 || n === 0 || k === 0 || g.alpha === 0 || batch * m * n * k < this.smallGemmMacs) {
      return gemmResolved(g);
    }
    this.cache ??= new SessionCache();
    this.nativeRuns.gemm++;
    try {
      runOrt(this.cache, g);
    } catch (cause) {
      if (cause instanceof TsloraError) throw cause;
      const flags = `transA=${g.transA} transB=${g.transB} batch=${batch} broadcastB=${g.broadcastB}`;
      throw new TsloraError(`gemm (ort backend): onnxruntime failed for m=${m} n=${n} k=${k} ${flags}`, {
        hint: `${cause instanceof Error ? cause.message : String(cause)}; setBackend('ts') avoids onnxruntime`,
        exitCode: 1,
        cause,
      });
    }
    return g.out;
  }

  /** lm_head GEMM + softmax + the cross-entropy reductions in one onnxruntime graph (see linear-softmax.ts). */
  linearSoftmax(args: LinearSoftmaxArgs): void {
    checkLinearSoftmax(args, 'ort');
    if (args.m === 0) return;
    this.cache ??= new SessionCache();
    this.nativeRuns.linearSoftmax++;
    try {
      runLinearSoftmax(this.cache, args);
    } catch (cause) {
      throw new TsloraError(`linearSoftmax (ort backend): onnxruntime failed for m=${args.m} n=${args.n} k=${args.k}`, {
        hint: `${cause instanceof Error ? cause.message : String(cause)}; setBackend('ts') avoids onnxruntime`,
        exitCode: 1,
        cause,
      });
    }
  }

  /** One attention block, forward, as one onnxruntime graph (see attention-block.ts). */
  attentionBlockForward(args: AttentionBlockForwardArgs): void {
    this.cache ??= new SessionCache();
    this.guard('attentionBlockForward', args, () => runAttentionForward(this.cache as SessionCache, args));
  }

  /** One attention block, backward, as one onnxruntime graph (see attention-block.ts). */
  attentionBlockBackward(args: AttentionBlockBackwardArgs): void {
    this.cache ??= new SessionCache();
    this.guard('attentionBlockBackward', args, () => runAttentionBackward(this.cache as SessionCache, args));
  }

  private guard(op: OrtKernel, a: { rows: number; L: number; D: number }, run: () => void): void {
    this.nativeRuns[op]++;
    try {
      run();
    } catch (cause) {
      throw new TsloraError(`${op} (ort backend): onnxruntime failed for rows=${a.rows} L=${a.L} D=${a.D}`, {
        hint: `${cause instanceof Error ? cause.message : String(cause)}; setBackend('ts') avoids onnxruntime`,
        exitCode: 1,
        cause,
      });
    }
  }

  /** Y = A·Wᵀ for a quantized W via com.microsoft.MatMulNBits (one cached session per weight). */
  matmulNBits(args: MatMulNBitsArgs): Float32Array {
    const { m, w } = args;
    const out = args.out ?? new Float32Array(m * w.n);
    if (m === 0) return out;
    this.nbits ??= new NBitsSessions();
    this.nativeRuns.matmulNBits++;
    try {
      this.nbits.run(w, args.a, m, out, args.accuracyLevel ?? 4);
    } catch (cause) {
      throw new TsloraError(
        `matmulNBits (ort backend): onnxruntime failed for m=${m} n=${w.n} k=${w.k} bits=${w.bits}`,
        {
          hint: `${cause instanceof Error ? cause.message : String(cause)}; setBackend('ts') avoids onnxruntime`,
          exitCode: 1,
          cause,
        },
      );
    }
    return out;
  }

  /** Releases the MatMulNBits session of `w`. */
  releaseWeight(w: QuantizedMatrix): void {
    this.nbits?.release(w);
  }

  /** Number of live native sessions (for tests and diagnostics). */
  get sessionCount(): number {
    return (this.cache?.size ?? 0) + (this.nbits?.size ?? 0);
  }

  /** Releases every native session. */
  dispose(): void {
    this.cache?.dispose();
    this.cache = undefined;
    this.nbits?.dispose();
    this.nbits = undefined;
  }
}

/**
 * Where alpha ≠ 1 is cheapest to apply: on A (sizeA elements), on B, or — when nothing is accumulated — on the
 * product Y. alpha is a runtime input of the session (see sessions.ts), never part of its key.
 */
function alphaAt(alpha: number, sizeA: number, sizeB: number, sizeY: number, accumulates: boolean): AlphaAt {
  if (alpha === 1) return 'none';
  if (!accumulates && sizeY < Math.min(sizeA, sizeB)) return 'Y';
  return sizeA <= sizeB ? 'A' : 'B';
}

/** The runtime scalar inputs of a session: alpha when it applies, beta when C is scaled. */
function scalarFeeds(at: AlphaAt, alpha: number, c: CInput, beta: number): Record<string, NativeTensor> {
  const feeds: Record<string, NativeTensor> = {};
  if (at !== 'none') feeds.alpha = tensor(Float32Array.of(alpha), [1]);
  if (c === 'scaled') feeds.beta = tensor(Float32Array.of(beta), [1]);
  return feeds;
}

function runOrt(cache: SessionCache, g: ResolvedGemm): void {
  const { m, n, k, batch, a, b, out } = g;
  if (batch === 1 || (g.broadcastB && !g.transA)) {
    // One 2-D Gemm; a shared B with row-major A[b] is the same as batch·m rows of A.
    runGemm2d(cache, g, batch * m, head(a, batch * m * k), head(b, k * n), head(out, batch * m * n));
    return;
  }
  if (g.beta !== 0) {
    // FusedMatMul has no C input; one Gemm per batch entry accumulates in place instead of a temp + add.
    const strideB = g.broadcastB ? 0 : k * n;
    for (let i = 0; i < batch; i++) {
      const aI = a.subarray(i * m * k, (i + 1) * m * k);
      const bI = b.subarray(i * strideB, i * strideB + k * n);
      runGemm2d(cache, g, m, aI, bI, out.subarray(i * m * n, (i + 1) * m * n));
    }
    return;
  }
  const kind = g.broadcastB ? 'bmm-bcast' : 'bmm';
  const nB = (g.broadcastB ? 1 : batch) * k * n;
  const at = alphaAt(g.alpha, batch * m * k, nB, batch * m * n, false);
  const session = cache.get({ kind, transA: g.transA, transB: g.transB, alphaAt: at, c: 'none' });
  const dimsA = g.transA ? [batch, k, m] : [batch, m, k];
  const dimsB2 = g.transB ? [n, k] : [k, n];
  const dimsB = g.broadcastB ? dimsB2 : [batch, ...dimsB2];
  const feeds = {
    A: tensor(head(a, batch * m * k), dimsA),
    B: tensor(head(b, nB), dimsB),
    ...scalarFeeds(at, g.alpha, 'none', 0),
  };
  session.run(feeds, { Y: tensor(head(out, batch * m * n), [batch, m, n]) }, {});
}

/** Y(rows,n) = alpha·op(A)·op(B) + beta·Y via Gemm, with Y fed as C too when beta ≠ 0 (in-place accumulate). */
function runGemm2d(
  cache: SessionCache,
  g: ResolvedGemm,
  rows: number,
  a: Float32Array,
  b: Float32Array,
  y: Float32Array,
): void {
  const { n, k, transA, transB, alpha, beta } = g;
  const c: CInput = beta === 0 ? 'none' : beta === 1 ? 'one' : 'scaled';
  const at = alphaAt(alpha, rows * k, k * n, rows * n, c !== 'none');
  const session = cache.get({ kind: 'gemm', transA, transB, alphaAt: at, c });
  const feeds: Record<string, NativeTensor> = {
    A: tensor(a, transA ? [k, rows] : [rows, k]),
    B: tensor(b, transB ? [n, k] : [k, n]),
    ...scalarFeeds(at, alpha, c, beta),
  };
  // Gemm copies C (or beta·C) into Y before the MLAS call (a self-copy here), then accumulates.
  if (c !== 'none') feeds.C = tensor(y, [rows, n]);
  session.run(feeds, { Y: tensor(y, [rows, n]) }, {});
}

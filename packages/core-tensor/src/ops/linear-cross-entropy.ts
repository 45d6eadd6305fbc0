// ops/linear-cross-entropy.ts — lm_head and cross-entropy fused: loss = CE(h·Wᵀ, targets) without a (T,V) tape.
//
// With a 151936-wide vocabulary the logits dominate a small model's step: (T,V) floats to keep for
// backward, a softmax over them, and three GEMMs. As llm.c's fused classifier does, the gradient is
// computed in the forward pass (the loss is the last node, so dlogits = softmax − onehot is known up
// to the upstream scalar): one exp pass, two GEMMs (logits, dh), and only dh (T,C) is kept for the
// backward, which merely scales it. Ignored targets (−100: prompt, padding) are dropped before any
// GEMM, so masked tokens cost nothing.
//
// The (rows,V) block work runs on the backend's fused linearSoftmax (onnxruntime: Gemm → Softmax →
// GatherElements → MatMul in one graph, MLAS's vectorised exp on every core; the logits never reach
// JS). The loss of a row is −log P[target] — exact to f32 rounding while P[target] ≥ 1e-30, i.e. a loss
// below ~69; a row beyond that is recomputed as logsumexp − logit in f64, so no loss turns into Inf.
import { isGradEnabled, record } from '../autograd.js';
import { type Backend, getBackend, type LinearSoftmaxArgs } from '../backend/backend.js';
import { linearSoftmaxVia } from '../backend/ts/linear-softmax.js';
import { ShapeError } from '../errors.js';
import { gradBuffer } from '../grad-pool.js';
import { shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

export interface LinearCrossEntropyOptions {
  ignoreIndex?: number;
  /** Divide the summed loss by this (default: the number of non-ignored targets, i.e. the mean). */
  divisor?: number;
  /** Bounds the backend's (rows × V) scratch to about this many floats per block (default 2^26). */
  chunk?: number;
}

/** Below this a row's P[target] has lost precision (loss > ~69): its loss is recomputed exactly. */
const TINY = 1e-30;

/** logsumexp(h_r·Wᵀ) − h_r·W[t] for one row, from scratch in f64 (the rare underflow fallback). */
function exactRowLoss(be: Backend, hr: Float32Array, W: Float32Array, V: number, C: number, t: number): number {
  const l = be.gemm({ a: hr, b: W, m: 1, n: V, k: C, transB: true }); // l: (1,V)
  let mx = Number.NEGATIVE_INFINITY;
  for (let v = 0; v < V; v++) if ((l[v] as number) > mx) mx = l[v] as number;
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp((l[v] as number) - mx);
  return mx + Math.log(s) - (l[t] as number);
}

/** One block on the backend's fused kernel, or on gemm() + a TypeScript softmax when it has none. */
function linearSoftmax(be: Backend, args: LinearSoftmaxArgs): void {
  if (be.linearSoftmax) be.linearSoftmax(args);
  else linearSoftmaxVia((a) => be.gemm(a), args);
}

/**
 * Mean (or `divisor`-normalised) cross-entropy of logits h·Wᵀ against targets.
 * h: (N,C)  W: (V,C) (the lm_head / tied embedding)  targets: (N) i32  →  scalar.
 * Gradients: dh always when h requires grad; dW only when W does (full fine-tuning).
 */
export function linearCrossEntropy(
  h: Tensor,
  W: Tensor,
  targets: Tensor,
  opts: LinearCrossEntropyOptions = {},
): Tensor {
  const ignore = opts.ignoreIndex ?? -100;
  if (
    h.ndim !== 2 ||
    W.ndim !== 2 ||
    h.shape[1] !== W.shape[1] ||
    targets.dtype !== 'i32' ||
    targets.size !== h.shape[0]
  ) {
    throw new ShapeError(
      `linearCrossEntropy: h ${shapeStr(h.shape)}, W ${shapeStr(W.shape)}, targets ${shapeStr(targets.shape)} ${targets.dtype}: need (N,C), (V,C), (N) i32`,
    );
  }
  const [N, C] = h.shape as [number, number];
  const V = W.shape[0] as number;
  const T = targets.i32;
  const rows: number[] = [];
  for (let r = 0; r < N; r++) {
    const t = T[r] as number;
    if (t === ignore) continue;
    if (t < 0 || t >= V) throw new ShapeError(`linearCrossEntropy: target ${t} at row ${r} is outside [0, ${V})`);
    rows.push(r);
  }
  const M = rows.length;
  const div = opts.divisor ?? M;
  const scale = div > 0 ? 1 / div : 0;
  const H = h.f32;
  const hc = new Float32Array(M * C); // hc: (M,C) the rows that have a target
  const tg = new Int32Array(M);
  rows.forEach((r, i) => {
    hc.set(H.subarray(r * C, (r + 1) * C), i * C);
    tg[i] = T[r] as number;
  });
  const needH = h.requiresGrad && isGradEnabled();
  const needW = W.requiresGrad && isGradEnabled();
  const be = getBackend();
  const Wd = W.f32;
  // Row blocks of equal size bound the backend's (rows × V) logits/probabilities; every block sees the
  // whole vocabulary at once, so its softmax needs no cross-chunk rescaling. 2^26 floats (256 MiB for
  // each of the two) is 2 blocks at T=512, V=151936: taller blocks amortise the packing of W in both
  // GEMMs (measured at C=896: 1.72 s with 103-row blocks, 1.58 s with 256, 1.50 s with one 511-row block).
  const blocks = Math.max(1, Math.ceil((M * V) / (opts.chunk ?? 1 << 26)));
  const blockRows = Math.max(1, Math.ceil(M / blocks));
  const picked = new Float32Array(blockRows);
  const P = needW ? new Float32Array(blockRows * V) : undefined;
  const dhc = needH ? new Float32Array(M * C) : null;
  const dW = needW ? new Float32Array(V * C) : null;
  let total = 0;
  for (let r0 = 0; r0 < M; r0 += blockRows) {
    const m = Math.min(blockRows, M - r0);
    const hb = hc.subarray(r0 * C, (r0 + m) * C);
    const tb = tg.subarray(r0, r0 + m);
    const pw = dhc ? dhc.subarray(r0 * C, (r0 + m) * C) : undefined;
    // P = softmax(hb·Wᵀ) stays in the backend; back come P[r, t_r], P·W (for dh) and P only for dW
    linearSoftmax(be, { h: hb, w: Wd, m, n: V, k: C, targets: tb, picked, pw, p: P });
    for (let i = 0; i < m; i++) {
      const pt = picked[i] as number;
      const t = tb[i] as number;
      total += pt >= TINY ? -Math.log(pt) : exactRowLoss(be, hb.subarray(i * C, (i + 1) * C), Wd, V, C, t);
      // dlogits = scale·(P − onehot), so dh = scale·(P·W − W[t]); the loss is the last node (llm.c)
      if (pw)
        for (let c = 0; c < C; c++) pw[i * C + c] = scale * ((pw[i * C + c] as number) - (Wd[t * C + c] as number));
      if (P) P[i * V + t] = (P[i * V + t] as number) - 1;
    }
    if (dW && P) be.gemm({ a: P, b: hb, m: V, n: C, k: m, transA: true, alpha: scale, beta: 1, out: dW }); // dW += scale·(P−1ₜ)ᵀ·hb
  }
  const out = new Tensor(new Float32Array([total * scale]), []);
  return record('linearCrossEntropy', [h, W], out, (dy, needs) => {
    const g = dy[0] as number;
    let dh: Float32Array | null = null;
    if (needs[0] && dhc) {
      dh = gradBuffer(N * C, rows.length !== N); // ignored rows stay zero
      rows.forEach((r, i) => {
        for (let c = 0; c < C; c++) (dh as Float32Array)[r * C + c] = (dhc[i * C + c] as number) * g;
      });
    }
    if (dW && g !== 1) for (let i = 0; i < dW.length; i++) dW[i] = (dW[i] as number) * g;
    return [dh, needs[1] ? dW : null];
  });
}

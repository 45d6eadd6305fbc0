// ops/linear-cross-entropy.ts — lm_head and cross-entropy fused: loss = CE(h·Wᵀ, targets) without a (T,V) tape.
//
// With a 151936-wide vocabulary the logits dominate a small model's step: (T,V) floats to keep for
// backward, a softmax over them, and three GEMMs. As llm.c's fused classifier does, the gradient is
// computed in the forward pass (the loss is the last node, so dlogits = softmax − onehot is known up
// to the upstream scalar): one exp pass, two GEMMs (logits, dh), and only dh (T,C) is kept for the
// backward, which merely scales it. Ignored targets (−100: prompt, padding) are dropped before any
// GEMM, so masked tokens cost nothing.
import { isGradEnabled, record } from '../autograd.js';
import { getBackend } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

export interface LinearCrossEntropyOptions {
  ignoreIndex?: number;
  /** Divide the summed loss by this (default: the number of non-ignored targets, i.e. the mean). */
  divisor?: number;
  /** Vocabulary rows per GEMM; bounds the scratch to rows·chunk floats. */
  chunk?: number;
}

/** Σ over rows of logsumexp(logits_row) − logits_row[target], plus (optionally) d/dlogits in place. */
function lossAndDlogits(
  L: Float32Array,
  M: number,
  V: number,
  tg: Int32Array,
  scale: number,
  wantGrad: boolean,
): number {
  let total = 0;
  for (let r = 0; r < M; r++) {
    const o = r * V;
    let mx = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < V; v++) if ((L[o + v] as number) > mx) mx = L[o + v] as number;
    const t = tg[r] as number;
    const lt = L[o + t] as number;
    let s = 0;
    for (let v = 0; v < V; v++) {
      const e = Math.exp((L[o + v] as number) - mx);
      L[o + v] = e; // keep e = exp(l − max): the gradient needs only a rescale, not a second exp
      s += e;
    }
    total += mx + Math.log(s) - lt;
    if (wantGrad) {
      const k = scale / s;
      for (let v = 0; v < V; v++) L[o + v] = (L[o + v] as number) * k;
      L[o + t] = (L[o + t] as number) - scale;
    }
  }
  return total;
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
  // Row blocks bound the (rows × V) scratch; every block sees the whole vocabulary at once so the
  // log-sum-exp needs no cross-chunk rescaling.
  const blockRows = Math.max(1, Math.min(M, Math.floor((opts.chunk ?? 1 << 24) / V)));
  const scratch = new Float32Array(blockRows * V);
  const dhc = needH ? new Float32Array(M * C) : null;
  const dW = needW ? new Float32Array(V * C) : null;
  let total = 0;
  for (let r0 = 0; r0 < M; r0 += blockRows) {
    const m = Math.min(blockRows, M - r0);
    const hb = hc.subarray(r0 * C, (r0 + m) * C);
    const L = scratch.subarray(0, m * V);
    be.gemm({ a: hb, b: Wd, m, n: V, k: C, transB: true, out: L }); // L: (m,V) = hb·Wᵀ
    total += lossAndDlogits(L, m, V, tg.subarray(r0, r0 + m), scale, needH || needW);
    if (dhc) be.gemm({ a: L, b: Wd, m, n: C, k: V, out: dhc.subarray(r0 * C, (r0 + m) * C) }); // dh: (m,C) = dL·W
    if (dW) be.gemm({ a: L, b: hb, m: V, n: C, k: m, transA: true, beta: 1, out: dW }); // dW += dLᵀ·hb
  }
  const out = new Tensor(new Float32Array([total * scale]), []);
  return record('linearCrossEntropy', [h, W], out, (dy, needs) => {
    const g = dy[0] as number;
    let dh: Float32Array | null = null;
    if (needs[0] && dhc) {
      dh = new Float32Array(N * C);
      rows.forEach((r, i) => {
        for (let c = 0; c < C; c++) (dh as Float32Array)[r * C + c] = (dhc[i * C + c] as number) * g;
      });
    }
    if (dW && g !== 1) for (let i = 0; i < dW.length; i++) dW[i] = (dW[i] as number) * g;
    return [dh, needs[1] ? dW : null];
  });
}

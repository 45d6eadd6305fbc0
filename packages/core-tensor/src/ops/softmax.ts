// ops/softmax.ts — softmax, log-softmax (max-subtracted) and fused cross-entropy with ignore_index.
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import { normAxis, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';
import { splitAt } from './reduce.js';

/**
 * softmax along `axis`: exp(x − max) / Σ exp(x − max), so large logits never overflow.
 * −Infinity entries get probability 0; a row that is −Infinity everywhere (every key masked)
 * yields zeros and a zero gradient, never NaN (DESIGN §4).
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  const a = normAxis('softmax', axis, x.ndim);
  const [outer, dim, inner] = splitAt(x.shape, a);
  const X = x.f32;
  const Y = new Float32Array(X.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * dim * inner + i;
      let mx = Number.NEGATIVE_INFINITY;
      for (let d = 0; d < dim; d++) mx = Math.max(mx, X[base + d * inner] as number);
      if (mx === Number.NEGATIVE_INFINITY) continue; // fully masked row: stays 0 (−Inf − −Inf would be NaN)
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const e = Math.exp((X[base + d * inner] as number) - mx);
        Y[base + d * inner] = e;
        s += e;
      }
      for (let d = 0; d < dim; d++) Y[base + d * inner] = (Y[base + d * inner] as number) / s;
    }
  }
  const out = new Tensor(Y, x.shape);
  return record('softmax', [x], out, (dy) => {
    // dx = y ⊙ (dy − Σ dy⊙y)
    const dx = new Float32Array(X.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * dim * inner + i;
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += (dy[base + d * inner] as number) * (Y[base + d * inner] as number);
        for (let d = 0; d < dim; d++) {
          const j = base + d * inner;
          dx[j] = (Y[j] as number) * ((dy[j] as number) - dot);
        }
      }
    }
    return [dx];
  });
}

/**
 * log-softmax along `axis`: x − max − log Σ exp(x − max). A row that is −Infinity everywhere
 * yields −Infinity (log of the all-zero softmax above), not NaN; its gradient passes dy through.
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const a = normAxis('logSoftmax', axis, x.ndim);
  const [outer, dim, inner] = splitAt(x.shape, a);
  const X = x.f32;
  const Y = new Float32Array(X.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * dim * inner + i;
      let mx = Number.NEGATIVE_INFINITY;
      for (let d = 0; d < dim; d++) mx = Math.max(mx, X[base + d * inner] as number);
      if (mx === Number.NEGATIVE_INFINITY) {
        // Fully −Inf row: (x − max) would be NaN; log of the all-zero softmax is −Inf.
        for (let d = 0; d < dim; d++) Y[base + d * inner] = Number.NEGATIVE_INFINITY;
        continue;
      }
      let s = 0;
      for (let d = 0; d < dim; d++) s += Math.exp((X[base + d * inner] as number) - mx);
      // (x − max) − log s, not x − (max + log s): for |max| ≳ 1e16 the sum would swallow log s.
      const ls = Math.log(s);
      for (let d = 0; d < dim; d++) Y[base + d * inner] = (X[base + d * inner] as number) - mx - ls;
    }
  }
  const out = new Tensor(Y, x.shape);
  return record('logSoftmax', [x], out, (dy) => {
    // dx = dy − softmax ⊙ Σ dy
    const dx = new Float32Array(X.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * dim * inner + i;
        let s = 0;
        for (let d = 0; d < dim; d++) s += dy[base + d * inner] as number;
        for (let d = 0; d < dim; d++) {
          const j = base + d * inner;
          dx[j] = (dy[j] as number) - Math.exp(Y[j] as number) * s;
        }
      }
    }
    return [dx];
  });
}

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (HF/PyTorch: −100). */
  ignoreIndex?: number;
  /**
   * 'mean' divides by the number of non-ignored targets; 'sum' does not. For gradient accumulation
   * use 'sum' with `divisor` = target tokens of the whole accumulated batch.
   */
  reduction?: 'mean' | 'sum';
  divisor?: number;
}

/**
 * Cross-entropy of logits (N,V) against integer targets (N), fused with log-softmax: the forward
 * keeps only one log-sum-exp per row, and the backward writes softmax − onehot straight into dx.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const ignore = opts.ignoreIndex ?? -100;
  if (logits.ndim !== 2 || targets.dtype !== 'i32' || targets.size !== logits.shape[0]) {
    throw new ShapeError(
      `crossEntropy: logits must be (N,V) and targets (N) i32; got ${shapeStr(logits.shape)} and ${shapeStr(targets.shape)} ${targets.dtype}`,
    );
  }
  const [N, V] = logits.shape as [number, number];
  const X = logits.f32;
  const Tg = targets.i32;
  const lse = new Float64Array(N);
  let total = 0;
  let count = 0;
  for (let r = 0; r < N; r++) {
    const t = Tg[r] as number;
    if (t === ignore) continue;
    if (t < 0 || t >= V)
      throw new ShapeError(
        `crossEntropy: target ${t} at row ${r} is outside [0, ${V}) (logits ${shapeStr(logits.shape)}, targets ${shapeStr(targets.shape)})`,
      );
    const row = X.subarray(r * V, (r + 1) * V);
    let mx = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < V; v++) if ((row[v] as number) > mx) mx = row[v] as number;
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp((row[v] as number) - mx);
    lse[r] = mx + Math.log(s);
    total += (lse[r] as number) - (row[t] as number);
    count++;
  }
  const div = opts.divisor ?? (opts.reduction === 'sum' ? 1 : count);
  // No targets at all: the loss is 0 (not 0/0 = NaN), and so is the gradient.
  const scale = div > 0 ? 1 / div : 0;
  const out = new Tensor(new Float32Array([total * scale]), []);
  return record('crossEntropy', [logits], out, (dy) => {
    const g = (dy[0] as number) * scale;
    const dx = new Float32Array(N * V);
    for (let r = 0; r < N; r++) {
      const t = Tg[r] as number;
      if (t === ignore) continue;
      const l = lse[r] as number;
      const o = r * V;
      for (let v = 0; v < V; v++) dx[o + v] = Math.exp((X[o + v] as number) - l) * g;
      dx[o + t] = (dx[o + t] as number) - g;
    }
    return [dx];
  });
}

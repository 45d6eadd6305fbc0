// ops/matmul.ts — (batched) matrix product on the active backend, transposes as GEMM flags.
import { record } from '../autograd.js';
import { getBackend } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { gradBuffer } from '../grad-pool.js';
import { numel, shapeEq, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * C = op(A)·op(B) over the last two dims.  A: (...,m,k) or (...,k,m) with transA;
 * B: (...,k,n) or (...,n,k) with transB, with the same leading dims as A — or 2-D, shared by every
 * batch (a weight: then the batch folds into m and one GEMM does all of it).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  if (a.ndim < 2 || b.ndim < 2 || a.dtype !== 'f32' || b.dtype !== 'f32') {
    throw new ShapeError(
      `matmul: needs f32 tensors with ≥ 2 dims, got ${shapeStr(a.shape)} ${a.dtype} and ${shapeStr(b.shape)} ${b.dtype}`,
    );
  }
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const kb = transB ? bc : br;
  const n = transB ? br : bc;
  const lead = a.shape.slice(0, -2);
  const shared = b.ndim === 2;
  if (k !== kb || (!shared && !shapeEq(lead, b.shape.slice(0, -2)))) {
    throw new ShapeError(
      `matmul: ${shapeStr(a.shape)}${transA ? 'ᵀ' : ''} @ ${shapeStr(b.shape)}${transB ? 'ᵀ' : ''} — inner dims ${k} and ${kb} or batch dims differ`,
    );
  }
  const batch = numel(lead);
  const be = getBackend();
  const A = a.f32;
  const B = b.f32;
  // A shared weight with untransposed A: fold the batch into m (one big GEMM instead of many small).
  const fold = shared && !transA;
  const C = fold
    ? be.gemm({ a: A, b: B, m: batch * m, n, k, transB })
    : be.gemm({ a: A, b: B, m, n, k, transA, transB, batch, broadcastB: shared });
  const out = new Tensor(C, [...lead, m, n]);
  return record('matmul', [a, b], out, (dC, needs) => {
    let dA: Float32Array | null = null;
    let dB: Float32Array | null = null;
    if (needs[0]) {
      // dopA = dC·opB(B)ᵀ; with transA, dA = opB(B)·dCᵀ
      const out = gradBuffer(a.size);
      if (fold) dA = be.gemm({ a: dC, b: B, m: batch * m, n: k, k: n, transB: !transB, out });
      else if (!transA) dA = be.gemm({ a: dC, b: B, m, n: k, k: n, transB: !transB, batch, broadcastB: shared, out });
      else if (!shared) dA = be.gemm({ a: B, b: dC, m: k, n: m, k: n, transA: transB, transB: true, batch, out });
      else {
        // B shared but on the left of this product: one GEMM per batch entry.
        dA = out;
        for (let i = 0; i < batch; i++) {
          const dCi = dC.subarray(i * m * n, (i + 1) * m * n);
          be.gemm({
            a: B,
            b: dCi,
            m: k,
            n: m,
            k: n,
            transA: transB,
            transB: true,
            out: dA.subarray(i * k * m, (i + 1) * k * m),
          });
        }
      }
    }
    if (needs[1]) {
      // dopB = opA(A)ᵀ·dC; with transB, dB = dCᵀ·opA(A). A shared B sums over the batch.
      const out = gradBuffer(b.size, shared && !fold); // the shared-B loop accumulates (beta 1)
      if (fold) {
        dB = transB
          ? be.gemm({ a: dC, b: A, m: n, n: k, k: batch * m, transA: true, out })
          : be.gemm({ a: A, b: dC, m: k, n, k: batch * m, transA: true, out });
      } else if (shared) {
        dB = out;
        for (let i = 0; i < batch; i++) {
          const Ai = A.subarray(i * m * k, (i + 1) * m * k);
          const dCi = dC.subarray(i * m * n, (i + 1) * m * n);
          if (transB) be.gemm({ a: dCi, b: Ai, m: n, n: k, k: m, transA: true, transB: transA, beta: 1, out: dB });
          else be.gemm({ a: Ai, b: dCi, m: k, n, k: m, transA: !transA, beta: 1, out: dB });
        }
      } else {
        dB = transB
          ? be.gemm({ a: dC, b: A, m: n, n: k, k: m, transA: true, transB: transA, batch, out })
          : be.gemm({ a: A, b: dC, m: k, n, k: m, transA: !transA, batch, out });
      }
    }
    return [dA, dB];
  });
}

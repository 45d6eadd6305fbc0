// ops/index-ops.ts — embedding (row gather with scatter-add backward), where and masked fill.
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import { broadcastShapes, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';
import { broadcastIndex, sumToShape } from './broadcast.js';

/**
 * out[..., :] = weight[ids[...], :]   weight: (V,C)  ids: (...) i32  →  (..., C)
 * Backward scatter-adds dy rows into dWeight (a repeated id gets the sum of its rows' gradients).
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be (V,C), got ${shapeStr(weight.shape)}`);
  if (ids.dtype !== 'i32') throw new ShapeError(`embedding: ids must be i32, got ${ids.dtype}`);
  const [V, C] = weight.shape as [number, number];
  const I = ids.i32;
  for (let i = 0; i < I.length; i++) {
    const id = I[i] as number;
    if (id < 0 || id >= V) {
      throw new ShapeError(
        `embedding: token id ${id} at position ${i} is outside the embedding's ${V} rows (weight ${shapeStr(weight.shape)}, ids ${shapeStr(ids.shape)})`,
        {
          hint: 'token ids must be < config.vocab_size; the tokenizer and checkpoint may not belong together',
        },
      );
    }
  }
  const W = weight.f32;
  const Y = new Float32Array(I.length * C);
  for (let i = 0; i < I.length; i++) {
    const r = (I[i] as number) * C;
    Y.set(W.subarray(r, r + C), i * C);
  }
  const out = new Tensor(Y, [...ids.shape, C]);
  return record('embedding', [weight], out, (dy) => {
    const dW = new Float32Array(V * C);
    for (let i = 0; i < I.length; i++) {
      const r = (I[i] as number) * C;
      for (let c = 0; c < C; c++) dW[r + c] = (dW[r + c] as number) + (dy[i * C + c] as number);
    }
    return [dW];
  });
}

/** out = cond ? a : b elementwise (broadcasting); cond is an i32 tensor, nonzero = true. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  if (cond.dtype !== 'i32') throw new ShapeError(`where: condition must be i32 (0/1), got ${cond.dtype}`);
  const outShape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), b.shape);
  const ic = broadcastIndex(cond.shape, outShape);
  const ia = broadcastIndex(a.shape, outShape);
  const ib = broadcastIndex(b.shape, outShape);
  const Cd = cond.i32;
  const A = a.f32;
  const B = b.f32;
  const n = outShape.reduce((p, c) => p * c, 1);
  const Y = new Float32Array(n);
  const take = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = (Cd[ic ? (ic[i] as number) : i] as number) !== 0;
    take[i] = c ? 1 : 0;
    Y[i] = c ? (A[ia ? (ia[i] as number) : i] as number) : (B[ib ? (ib[i] as number) : i] as number);
  }
  const out = new Tensor(Y, outShape);
  return record('where', [cond, a, b], out, (dy, needs) => {
    const ga = needs[1] ? dy.map((v, i) => (take[i] ? v : 0)) : null;
    const gb = needs[2] ? dy.map((v, i) => (take[i] ? 0 : v)) : null;
    return [null, ga && sumToShape(ga, outShape, a.shape), gb && sumToShape(gb, outShape, b.shape)];
  });
}

/** x with `value` wherever mask (i32, broadcast to x) is nonzero; no gradient flows there. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, new Tensor(new Float32Array([value]), []), x);
}

// ops/reduce.ts — sum, mean and max over one axis (or all elements) and their backward rules.
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import { normAxis, numel, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

/** View of a shape around `axis` as (outer, dim, inner): element (o,d,i) is at (o·dim + d)·inner + i. */
export function splitAt(shape: readonly number[], axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis] as number, numel(shape.slice(axis + 1))];
}

function reducedShape(shape: readonly number[], axis: number, keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (i === axis ? 1 : d)) : shape.filter((_, i) => i !== axis);
}

function sumAll(x: Tensor, scale: number, op: string): Tensor {
  const X = x.f32;
  let s = 0;
  for (let i = 0; i < X.length; i++) s += X[i] as number; // f64 accumulator
  const out = new Tensor(new Float32Array([s * scale]), []);
  return record(op, [x], out, (dy) => [new Float32Array(X.length).fill((dy[0] as number) * scale)]);
}

function sumAxis(x: Tensor, axis: number, keepdim: boolean, scale: number, op: string): Tensor {
  const [outer, dim, inner] = splitAt(x.shape, axis);
  const X = x.f32;
  const Y = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let d = 0; d < dim; d++) {
      const base = (o * dim + d) * inner;
      for (let i = 0; i < inner; i++) Y[o * inner + i] = (Y[o * inner + i] as number) + (X[base + i] as number);
    }
  }
  if (scale !== 1) for (let i = 0; i < Y.length; i++) Y[i] = (Y[i] as number) * scale;
  const out = new Tensor(Y, reducedShape(x.shape, axis, keepdim));
  return record(op, [x], out, (dy) => {
    const dx = new Float32Array(X.length);
    for (let o = 0; o < outer; o++) {
      for (let d = 0; d < dim; d++) {
        const base = (o * dim + d) * inner;
        for (let i = 0; i < inner; i++) dx[base + i] = (dy[o * inner + i] as number) * scale;
      }
    }
    return [dx];
  });
}

/** Sum over `axis`, or over everything when axis is undefined (a scalar). */
export function sum(x: Tensor, axis?: number, keepdim = false): Tensor {
  if (axis === undefined) return sumAll(x, 1, 'sum');
  return sumAxis(x, normAxis('sum', axis, x.ndim), keepdim, 1, 'sum');
}

/** Mean over `axis`, or over everything. */
export function mean(x: Tensor, axis?: number, keepdim = false): Tensor {
  if (axis === undefined) return sumAll(x, 1 / x.size, 'mean');
  const a = normAxis('mean', axis, x.ndim);
  return sumAxis(x, a, keepdim, 1 / (x.shape[a] as number), 'mean');
}

/** Max over `axis`; the gradient goes to the first maximal element (as PyTorch's max(dim)). */
export function max(x: Tensor, axis: number, keepdim = false): Tensor {
  const a = normAxis('max', axis, x.ndim);
  const [outer, dim, inner] = splitAt(x.shape, a);
  if (dim === 0) {
    // As PyTorch: the max of nothing has no value (and no argmax for the backward to use).
    throw new ShapeError(
      `max: axis ${axis} of shape ${shapeStr(x.shape)} is empty; the max of an empty axis is undefined`,
    );
  }
  const X = x.f32;
  const Y = new Float32Array(outer * inner).fill(Number.NEGATIVE_INFINITY);
  const arg = new Int32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let d = 0; d < dim; d++) {
      const base = (o * dim + d) * inner;
      for (let i = 0; i < inner; i++) {
        const v = X[base + i] as number;
        const k = o * inner + i;
        // NaN propagates: a NaN input makes the max NaN, never silently skipped.
        if (v > (Y[k] as number) || Number.isNaN(v)) {
          if (!Number.isNaN(Y[k] as number)) {
            Y[k] = v;
            arg[k] = d;
          }
        }
      }
    }
  }
  const out = new Tensor(Y, reducedShape(x.shape, a, keepdim));
  return record('max', [x], out, (dy) => {
    const dx = new Float32Array(X.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const k = o * inner + i;
        dx[(o * dim + (arg[k] as number)) * inner + i] = dy[k] as number;
      }
    }
    return [dx];
  });
}

// ops/shape-ops.ts — reshape, permute/transpose, slice, concat, expand: data movement and its adjoint.
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import { gradBuffer } from '../grad-pool.js';
import { normAxis, numel, type Shape, shapeStr, stridesOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { broadcastIndex, sumToShape } from './broadcast.js';
import { splitAt } from './reduce.js';

/** Same data, new shape (one dim may be −1). Shares the buffer: ops never mutate their inputs. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const free = s.indexOf(-1);
  if (free >= 0) {
    const known = numel(s.filter((_, i) => i !== free));
    s[free] = known === 0 ? 0 : x.size / known;
  }
  if (numel(s) !== x.size || s.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`reshape: cannot reshape ${shapeStr(x.shape)} (${x.size} elements) to ${shapeStr(shape)}`);
  }
  const out = new Tensor(x.data, s);
  return record('reshape', [x], out, (dy) => [dy]);
}

function permuteData<T extends Float32Array | Int32Array>(src: T, shape: Shape, axes: readonly number[], dst: T): T {
  const nd = shape.length;
  const inStrides = stridesOf(shape);
  const outShape = axes.map((a) => shape[a] as number);
  const st = axes.map((a) => inStrides[a] as number); // input stride of each output dim
  const n = src.length;
  const counter = new Array<number>(nd).fill(0);
  const last = nd - 1;
  const lastLen = outShape[last] ?? 1;
  const lastStride = st[last] ?? 1;
  let off = 0;
  // Walk the output in order, innermost dim as a tight loop.
  for (let o = 0; o < n; o += lastLen) {
    for (let j = 0; j < lastLen; j++) dst[o + j] = src[off + j * lastStride] as number;
    for (let d = last - 1; d >= 0; d--) {
      const c = (counter[d] as number) + 1;
      if (c < (outShape[d] as number)) {
        counter[d] = c;
        off += st[d] as number;
        break;
      }
      counter[d] = 0;
      off -= (st[d] as number) * ((outShape[d] as number) - 1);
    }
  }
  return dst;
}

/** Reorders dimensions (a copy, row-major in the new order). */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  const nd = x.ndim;
  const ax = axes.map((a) => normAxis('permute', a, nd));
  if (ax.length !== nd || new Set(ax).size !== nd) {
    throw new ShapeError(
      `permute: axes [${axes.join(', ')}] are not a permutation of ${nd} dims (shape ${shapeStr(x.shape)})`,
    );
  }
  const outShape = ax.map((a) => x.shape[a] as number);
  const data =
    x.data instanceof Int32Array
      ? permuteData(x.data, x.shape, ax, new Int32Array(x.size))
      : permuteData(x.data, x.shape, ax, gradBuffer(x.size));
  const out = new Tensor(data, outShape);
  const inverse = new Array<number>(nd);
  ax.forEach((a, i) => {
    inverse[a] = i;
  });
  return record('permute', [x], out, (dy) => [permuteData(dy, outShape, inverse, gradBuffer(dy.length))]);
}

/** Swaps two dimensions. */
export function transpose(x: Tensor, a: number, b: number): Tensor {
  const axes = x.shape.map((_, i) => i);
  const i = normAxis('transpose', a, x.ndim);
  const j = normAxis('transpose', b, x.ndim);
  axes[i] = j;
  axes[j] = i;
  return permute(x, axes);
}

/** x[..., start:end, ...] along `axis` (a copy). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = normAxis('slice', axis, x.ndim);
  const dim = x.shape[a] as number;
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end <= dim && start <= end)) {
    throw new ShapeError(
      `slice: [${start}, ${end}) is out of range for axis ${axis} of size ${dim} (shape ${shapeStr(x.shape)})`,
    );
  }
  const [outer, , inner] = splitAt(x.shape, a);
  const len = end - start;
  const outShape = x.shape.map((d, i) => (i === a ? len : d));
  const X = x.data;
  const Y = X instanceof Int32Array ? new Int32Array(outer * len * inner) : new Float32Array(outer * len * inner);
  for (let o = 0; o < outer; o++)
    Y.set(X.subarray((o * dim + start) * inner, (o * dim + end) * inner), o * len * inner);
  const out = new Tensor(Y, outShape);
  return record('slice', [x], out, (dy) => {
    const dx = gradBuffer(x.size, true);
    for (let o = 0; o < outer; o++)
      dx.set(dy.subarray(o * len * inner, (o + 1) * len * inner), (o * dim + start) * inner);
    return [dx];
  });
}

/** Joins tensors along `axis`; all other dims must match. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  const first = xs[0];
  if (!first) throw new ShapeError('concat: needs at least one tensor');
  const a = normAxis('concat', axis, first.ndim);
  for (const t of xs) {
    if (t.ndim !== first.ndim || t.shape.some((d, i) => i !== a && d !== first.shape[i]) || t.dtype !== first.dtype) {
      throw new ShapeError(
        `concat: ${shapeStr(t.shape)} ${t.dtype} does not match ${shapeStr(first.shape)} ${first.dtype} outside axis ${axis}`,
      );
    }
  }
  const [outer, , inner] = splitAt(first.shape, a);
  const dims = xs.map((t) => t.shape[a] as number);
  const total = dims.reduce((p, c) => p + c, 0);
  const outShape = first.shape.map((d, i) => (i === a ? total : d));
  const Y =
    first.data instanceof Int32Array ? new Int32Array(outer * total * inner) : new Float32Array(outer * total * inner);
  let off = 0;
  xs.forEach((t, k) => {
    const d = dims[k] as number;
    for (let o = 0; o < outer; o++)
      Y.set(t.data.subarray(o * d * inner, (o + 1) * d * inner), (o * total + off) * inner);
    off += d;
  });
  const out = new Tensor(Y, outShape);
  return record('concat', xs, out, (dy, needs) => {
    let start = 0;
    return xs.map((t, k) => {
      const d = dims[k] as number;
      const s = start;
      start += d;
      if (!needs[k]) return null;
      const g = gradBuffer(t.size);
      for (let o = 0; o < outer; o++)
        g.set(dy.subarray((o * total + s) * inner, (o * total + s + d) * inner), o * d * inner);
      return g;
    });
  });
}

/** Broadcasts x to `shape` (materialised); the backward sums over the broadcast dims. */
export function expand(x: Tensor, shape: Shape): Tensor {
  const target = [...shape];
  const off = target.length - x.ndim;
  const ok = off >= 0 && x.shape.every((d, i) => d === 1 || d === target[i + off]);
  if (!ok) throw new ShapeError(`expand: cannot expand ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  const idx = broadcastIndex(x.shape, target);
  if (!idx) return reshape(x, target);
  const X = x.f32;
  const Y = new Float32Array(idx.length);
  for (let i = 0; i < idx.length; i++) Y[i] = X[idx[i] as number] as number;
  const out = new Tensor(Y, target);
  return record('expand', [x], out, (dy) => [sumToShape(dy, target, x.shape)]);
}

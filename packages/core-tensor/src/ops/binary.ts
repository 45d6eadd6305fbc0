// ops/binary.ts — add, sub, mul, div with NumPy broadcasting, and their backward rules.
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import { gradBuffer } from '../grad-pool.js';
import { broadcastShapes, numel, type Shape, shapeEq } from '../shape.js';
import { Tensor } from '../tensor.js';
import { broadcastIndex, sumToShape } from './broadcast.js';

type Kind = 'add' | 'sub' | 'mul' | 'div';

function asTensor(x: Tensor | number): Tensor {
  return typeof x === 'number' ? new Tensor(new Float32Array([x]), []) : x;
}

function checkF32(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== 'f32' || b.dtype !== 'f32') {
    throw new ShapeError(`${op}: expects f32 tensors, got ${a.dtype} and ${b.dtype}`);
  }
}

/** Elementwise a∘b over the broadcast shape; same-shape and scalar cases run without index maps. */
function forward(
  kind: Kind,
  a: Float32Array,
  aShape: Shape,
  b: Float32Array,
  bShape: Shape,
  outShape: Shape,
  out: Float32Array = new Float32Array(numel(outShape)),
): Float32Array {
  const n = out.length;
  const ia = broadcastIndex(aShape, outShape);
  const ib = b.length === 1 ? null : broadcastIndex(bShape, outShape);
  if (!ia && b.length === 1) {
    const s = b[0] as number;
    if (kind === 'add') for (let i = 0; i < n; i++) out[i] = (a[i] as number) + s;
    else if (kind === 'sub') for (let i = 0; i < n; i++) out[i] = (a[i] as number) - s;
    else if (kind === 'mul') for (let i = 0; i < n; i++) out[i] = (a[i] as number) * s;
    else for (let i = 0; i < n; i++) out[i] = (a[i] as number) / s;
    return out;
  }
  if (!ia && !ib) {
    if (kind === 'add') for (let i = 0; i < n; i++) out[i] = (a[i] as number) + (b[i] as number);
    else if (kind === 'sub') for (let i = 0; i < n; i++) out[i] = (a[i] as number) - (b[i] as number);
    else if (kind === 'mul') for (let i = 0; i < n; i++) out[i] = (a[i] as number) * (b[i] as number);
    else for (let i = 0; i < n; i++) out[i] = (a[i] as number) / (b[i] as number);
    return out;
  }
  const bScalar = b.length === 1;
  for (let i = 0; i < n; i++) {
    const x = a[ia ? (ia[i] as number) : i] as number;
    const y = b[bScalar ? 0 : ib ? (ib[i] as number) : i] as number;
    out[i] = kind === 'add' ? x + y : kind === 'sub' ? x - y : kind === 'mul' ? x * y : x / y;
  }
  return out;
}

/** Gathers x (of xShape) broadcast to outShape as a full buffer (backward of mul/div needs it). */
function expandTo(x: Float32Array, xShape: Shape, outShape: Shape): Float32Array {
  const idx = broadcastIndex(xShape, outShape);
  if (!idx) return x;
  const out = new Float32Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = x[idx[i] as number] as number;
  return out;
}

function binary(kind: Kind, aIn: Tensor | number, bIn: Tensor | number): Tensor {
  const a = asTensor(aIn);
  const b = asTensor(bIn);
  checkF32(kind, a, b);
  const outShape = shapeEq(a.shape, b.shape) ? [...a.shape] : broadcastShapes(kind, a.shape, b.shape);
  const A = a.f32;
  const B = b.f32;
  const out = new Tensor(forward(kind, A, a.shape, B, b.shape, outShape, gradBuffer(numel(outShape))), outShape);
  return record(kind, [a, b], out, (dy, needs) => {
    let da: Float32Array | null = null;
    let db: Float32Array | null = null;
    if (kind === 'add' || kind === 'sub') {
      if (needs[0]) da = sumToShape(dy, outShape, a.shape);
      if (needs[1]) {
        const g = kind === 'add' ? dy : dy.map((v) => -v);
        db = sumToShape(g, outShape, b.shape);
      }
    } else if (kind === 'mul') {
      // d(a·b)/da = b, d(a·b)/db = a
      const n = dy.length;
      if (needs[0])
        da = sumToShape(forward('mul', dy, outShape, B, b.shape, outShape, gradBuffer(n)), outShape, a.shape);
      if (needs[1])
        db = sumToShape(forward('mul', dy, outShape, A, a.shape, outShape, gradBuffer(n)), outShape, b.shape);
    } else {
      // d(a/b)/da = 1/b, d(a/b)/db = -a/b²
      if (needs[0])
        da = sumToShape(forward('div', dy, outShape, B, b.shape, outShape, gradBuffer(dy.length)), outShape, a.shape);
      if (needs[1]) {
        const ae = expandTo(A, a.shape, outShape);
        const be = expandTo(B, b.shape, outShape);
        const g = new Float32Array(dy.length);
        for (let i = 0; i < g.length; i++) {
          const bv = be[i] as number;
          g[i] = (-(dy[i] as number) * (ae[i] as number)) / (bv * bv);
        }
        db = sumToShape(g, outShape, b.shape);
      }
    }
    return [da, db];
  });
}

/** a + b (broadcasting). */
export function add(a: Tensor | number, b: Tensor | number): Tensor {
  return binary('add', a, b);
}
/** a − b (broadcasting). */
export function sub(a: Tensor | number, b: Tensor | number): Tensor {
  return binary('sub', a, b);
}
/** a · b elementwise (broadcasting). */
export function mul(a: Tensor | number, b: Tensor | number): Tensor {
  return binary('mul', a, b);
}
/** a / b elementwise (broadcasting). Division by zero gives ±Inf or NaN, as IEEE says. */
export function div(a: Tensor | number, b: Tensor | number): Tensor {
  return binary('div', a, b);
}

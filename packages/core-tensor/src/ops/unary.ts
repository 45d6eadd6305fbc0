// ops/unary.ts — elementwise math (neg, exp, log, sqrt, rsqrt, pow) and their backward rules.
//
// NaN from finite input: log(x ≤ 0) gives −Inf/NaN, sqrt/rsqrt of x < 0 give NaN, pow of a
// negative base to a fractional power gives NaN — IEEE semantics, as in PyTorch. Callers that feed
// user data (the loss, the norms) guard their inputs instead (eps inside rsqrt, max-subtracted exp).
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import { gradBuffer } from '../grad-pool.js';
import { Tensor } from '../tensor.js';

/** Applies f elementwise; `df(x, y)` is the local derivative given input x and output y. */
export function unaryOp(op: string, x: Tensor, f: (x: number) => number, df: (x: number, y: number) => number): Tensor {
  if (x.dtype !== 'f32') throw new ShapeError(`${op}: expects an f32 tensor, got ${x.dtype}`);
  const X = x.f32;
  const Y = new Float32Array(X.length);
  for (let i = 0; i < X.length; i++) Y[i] = f(X[i] as number);
  const out = new Tensor(Y, x.shape);
  return record(op, [x], out, (dy) => {
    const dx = gradBuffer(dy.length);
    for (let i = 0; i < dx.length; i++) dx[i] = (dy[i] as number) * df(X[i] as number, Y[i] as number);
    return [dx];
  });
}

export function neg(x: Tensor): Tensor {
  return unaryOp(
    'neg',
    x,
    (v) => -v,
    () => -1,
  );
}
export function exp(x: Tensor): Tensor {
  return unaryOp('exp', x, Math.exp, (_, y) => y);
}
/** Natural log; log(0) = −Inf and log(x<0) = NaN (documented, not hidden). */
export function log(x: Tensor): Tensor {
  return unaryOp('log', x, Math.log, (v) => 1 / v);
}
export function sqrt(x: Tensor): Tensor {
  return unaryOp('sqrt', x, Math.sqrt, (_, y) => 0.5 / y);
}
/** 1/sqrt(x); d/dx = −½·x^(−3/2) = −½·y³. */
export function rsqrt(x: Tensor): Tensor {
  return unaryOp(
    'rsqrt',
    x,
    (v) => 1 / Math.sqrt(v),
    (_, y) => -0.5 * y * y * y,
  );
}
/** x^p for a constant exponent p. */
export function pow(x: Tensor, p: number): Tensor {
  if (p === 2)
    return unaryOp(
      'pow',
      x,
      (v) => v * v,
      (v) => 2 * v,
    );
  return unaryOp(
    'pow',
    x,
    (v) => v ** p,
    (v) => p * v ** (p - 1),
  );
}

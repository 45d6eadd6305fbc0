// ops/dropout.ts — inverted dropout: zero with probability p, scale survivors by 1/(1−p).
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import type { Random } from '../random.js';
import { Tensor } from '../tensor.js';

/** Identity when p = 0 or not training (no mask is drawn, so the RNG stream is unchanged). */
export function dropout(x: Tensor, p: number, rng: Random, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new ShapeError(`dropout: p must be in [0, 1), got ${p}`);
  if (p === 0 || !training) return x;
  const X = x.f32;
  const keep = new Uint8Array(X.length);
  const Y = new Float32Array(X.length);
  const s = 1 / (1 - p);
  for (let i = 0; i < X.length; i++) {
    if (rng.uniform() >= p) {
      keep[i] = 1;
      Y[i] = (X[i] as number) * s;
    }
  }
  return record('dropout', [x], new Tensor(Y, x.shape), (dy) => [dy.map((v, i) => (keep[i] ? v * s : 0))]);
}

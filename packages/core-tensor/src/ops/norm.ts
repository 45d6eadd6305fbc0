// ops/norm.ts — fused RMSNorm: y = w ⊙ x · rsqrt(mean(x²) + eps), computed in f32 per row.
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import { gradBuffer } from '../grad-pool.js';
import { shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

/**
 * x: (...,C)  weight: (C)  →  (...,C). The forward saves one rstd per row; the backward is
 *   dx = rstd·(w⊙dy − x̂·mean(x̂ ⊙ w⊙dy)),  dw = Σ_rows dy ⊙ x̂,  with x̂ = x·rstd.
 */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  const C = x.shape[x.ndim - 1] as number;
  if (weight.ndim !== 1 || weight.shape[0] !== C) {
    throw new ShapeError(
      `rmsNorm: weight ${shapeStr(weight.shape)} does not match the last dim of x ${shapeStr(x.shape)}`,
    );
  }
  const X = x.f32;
  const W = weight.f32;
  const rows = X.length / C;
  const rstd = new Float32Array(rows);
  const Y = new Float32Array(X.length);
  for (let r = 0; r < rows; r++) {
    const o = r * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += (X[o + c] as number) * (X[o + c] as number);
    const s = 1 / Math.sqrt(ss / C + eps);
    rstd[r] = s;
    for (let c = 0; c < C; c++) Y[o + c] = (W[c] as number) * ((X[o + c] as number) * s);
  }
  const out = new Tensor(Y, x.shape);
  return record('rmsNorm', [x, weight], out, (dy, needs) => {
    const dx = needs[0] ? gradBuffer(X.length) : null;
    const dw = needs[1] ? new Float32Array(C) : null;
    for (let r = 0; r < rows; r++) {
      const o = r * C;
      const s = rstd[r] as number;
      if (dw) for (let c = 0; c < C; c++) dw[c] = (dw[c] as number) + (dy[o + c] as number) * (X[o + c] as number) * s;
      if (dx) {
        let dot = 0;
        for (let c = 0; c < C; c++) dot += (W[c] as number) * (dy[o + c] as number) * (X[o + c] as number) * s;
        const m = dot / C;
        for (let c = 0; c < C; c++)
          dx[o + c] = s * ((W[c] as number) * (dy[o + c] as number) - (X[o + c] as number) * s * m);
      }
    }
    return [dx, dw];
  });
}

// nn/frozen-linear.ts — y = x·Wᵀ + b for a FrozenWeight W (f32/bf16/int8/int4): an op whose backward yields dx only.
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import type { FrozenWeight } from '../quant/frozen-weight.js';
import { numel, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

/**
 * x (...,in) → (...,out). The weight is not a Tensor and gets no gradient; a bias, if given, does when
 * it requires one (it is frozen too in LoRA training, then it costs nothing).
 */
export function frozenLinear(x: Tensor, w: FrozenWeight, bias: Tensor | null): Tensor {
  const inF = w.inFeatures;
  const out = w.outFeatures;
  if (x.dim(-1) !== inF || (bias && (bias.ndim !== 1 || bias.dim(0) !== out))) {
    throw new ShapeError(
      `frozenLinear: x ${shapeStr(x.shape)}, W (${out},${inF})${bias ? `, b ${shapeStr(bias.shape)}` : ''} — expected x (...,in), b (out)`,
    );
  }
  const n = numel(x.shape) / inF;
  const y = w.forward(x.f32, n); // (N,out)
  if (bias) {
    const b = bias.f32;
    for (let i = 0; i < n; i++) for (let j = 0; j < out; j++) y[i * out + j] = y[i * out + j]! + b[j]!;
  }
  const inputs = bias ? [x, bias] : [x];
  return record('frozenLinear', inputs, new Tensor(y, [...x.shape.slice(0, -1), out]), (dy, needs) => {
    const dx = needs[0] ? w.backwardInput(dy, n) : null;
    let db: Float32Array | null = null;
    if (bias && needs[1]) {
      db = new Float32Array(out);
      for (let i = 0; i < n; i++) for (let j = 0; j < out; j++) db[j] = db[j]! + dy[i * out + j]!;
    }
    return bias ? [dx, db] : [dx];
  });
}

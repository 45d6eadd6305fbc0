// index.ts — the public entry of @tslora/core-tensor.

export { type BackwardFn, backward, type GradNode, isGradEnabled, noGrad, record } from './autograd.js';
// ---- backends ----
export * from './backend/index.js';
// ---- dtypes and checkpoint I/O ----
export * from './dtype.js';
export * from './errors.js';
export * from './io/safetensors.js';
export * from './io/sharded.js';
// ---- nn modules ----
export * from './nn/index.js';
// ---- ops (each with its backward rule) ----
export * from './ops/index.js';
// ---- optim ----
export * from './optim/index.js';
// ---- plotting ----
export { type PlotActivationsOptions, plotActivations } from './plot.js';
export { Random } from './random.js';
export { broadcastShapes, normAxis, numel, type Shape, shapeEq, shapeStr, stridesOf } from './shape.js';
// ---- tensors and autograd ----
export { type Scalar, Tensor, type TensorArray, type TensorDType } from './tensor.js';

// index.ts — the public entry of @tslora/core-tensor.

// ---- tensors and autograd ----
export { Tensor, type Scalar, type TensorArray, type TensorDType } from './tensor.js';
export { backward, type BackwardFn, type GradNode, isGradEnabled, noGrad, record } from './autograd.js';
export { broadcastShapes, normAxis, numel, type Shape, shapeEq, shapeStr, stridesOf } from './shape.js';
export { Random } from './random.js';
export * from './errors.js';

// ---- ops (each with its backward rule) ----
export * from './ops/index.js';

// ---- backends ----
export * from './backend/index.js';

// ---- nn modules ----
export * from './nn/index.js';

// ---- dtypes and checkpoint I/O ----
export * from './dtype.js';
export * from './io/safetensors.js';
export * from './io/sharded.js';

// ---- optim ----
export * from './optim/index.js';

// ---- plotting ----
export { type PlotActivationsOptions, plotActivations } from './plot.js';

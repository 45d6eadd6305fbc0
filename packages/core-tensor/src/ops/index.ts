// ops/index.ts — every op with a backward rule, one family per file.
export { add, div, mul, sub } from './binary.js';
export { exp, log, neg, pow, rsqrt, sqrt, unaryOp } from './unary.js';
export { activations, type Activation, type ActivationName, gelu, relu, sigmoid, silu, tanh } from './activation.js';
export { max, mean, sum } from './reduce.js';
export { concat, expand, permute, reshape, slice, transpose } from './shape-ops.js';
export { embedding, maskedFill, where } from './index-ops.js';
export { matmul, type MatmulOptions } from './matmul.js';
export { crossEntropy, type CrossEntropyOptions, logSoftmax, softmax } from './softmax.js';
export { rmsNorm } from './norm.js';
export { dropout } from './dropout.js';
export { linearCrossEntropy, type LinearCrossEntropyOptions } from './linear-cross-entropy.js';

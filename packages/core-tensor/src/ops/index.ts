// ops/index.ts — every op with a backward rule, one family per file.

export { type Activation, type ActivationName, activations, gelu, relu, sigmoid, silu, tanh } from './activation.js';
export { add, div, mul, sub } from './binary.js';
export { dropout } from './dropout.js';
export { embedding, maskedFill, where } from './index-ops.js';
export { type LinearCrossEntropyOptions, linearCrossEntropy } from './linear-cross-entropy.js';
export { type MatmulOptions, matmul } from './matmul.js';
export { rmsNorm } from './norm.js';
export { max, mean, sum } from './reduce.js';
export { concat, expand, permute, reshape, slice, transpose } from './shape-ops.js';
export { type CrossEntropyOptions, crossEntropy, logSoftmax, softmax } from './softmax.js';
export { swiglu } from './swiglu.js';
export { exp, log, neg, pow, rsqrt, sqrt, unaryOp } from './unary.js';

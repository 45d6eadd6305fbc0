// index.ts — the public entry of @tslora/core-tensor.

export { type BackwardFn, backward, type GradNode, isGradEnabled, noGrad, record } from './autograd.js';
// ---- backends ----
export * from './backend/index.js';
export { checkpoint } from './checkpoint.js';
// ---- dtypes and checkpoint I/O ----
export * from './dtype.js';
export * from './errors.js';
export { nonFinite } from './finite.js';
export {
  clearGradPool,
  doneWith,
  gradBuffer,
  gradPoolFloats,
  isGradBuffer,
  releaseGradBuffer,
} from './grad-pool.js';
export {
  decodeGgml,
  dequantizeQ8_0,
  encodeGgml,
  type GgmlType,
  ggmlBlockSize,
  ggmlBytes,
  ggmlTypeFromId,
  ggmlTypeId,
  QK8_0,
  quantizeQ8_0,
} from './io/ggml-quant.js';
export { GgufFile } from './io/gguf-read.js';
export {
  GGML_MAX_DIMS,
  GGML_MAX_NAME,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_TYPES,
  GGUF_VERSION,
  type GgufMetaValue,
  type GgufScalar,
  type GgufScalarType,
  type GgufTensorLayout,
  type GgufTensorSpec,
  type GgufValueType,
  GgufWriter,
} from './io/gguf-write.js';
export * from './io/json-file.js';
export * from './io/output-dir.js';
export * from './io/output-lock.js';
export { type ProcessIdentity, processIdentity } from './io/process-identity.js';
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
// ---- frozen-weight quantization (QLoRA) ----
export * from './quant/index.js';
export { Random } from './random.js';
export { broadcastShapes, normAxis, numel, type Shape, shapeEq, shapeStr, stridesOf } from './shape.js';
// ---- tensors and autograd ----
export { type Scalar, Tensor, type TensorArray, type TensorDType } from './tensor.js';
// ---- WebAssembly SIMD kernels (shared with @tslora/attention) ----
export {
  assembleWasm,
  buildWasmModule,
  instantiateWasm,
  WASM_F32,
  WASM_I32,
  WASM_V128,
  type WasmFunction,
  type WasmMemory,
  type WasmTemps,
  wasmF32,
} from './wasm/assembler.js';
export { simdBoth, simdExp, simdReduce, simdRowLoop } from './wasm/simd-macros.js';

// quant/index.ts — group-wise weight quantization and the frozen-weight storages built on it.

export { type FrozenStorage, FrozenWeight, WeightScratch } from './frozen-weight.js';
export {
  allocQuantized,
  checkQuantOptions,
  dequantizeRows,
  type QuantBits,
  type QuantizedMatrix,
  type QuantOptions,
  quantizedBytes,
  quantizeMatrix,
  quantizeRowsInto,
  zeroPointRowBytes,
} from './quantize.js';

// core-io.ts — the safetensors and dtype parts of core-tensor this package uses, in one place.
//
// core-tensor's index.ts does not export io/ and dtype.ts yet (another engineer is finishing them);
// until it does, they are imported here by relative path, so switching to '@tslora/core-tensor'
// is a one-file change.
export { type DType, decodeF32, encodeF32, isFloatDType, itemSize } from '../../core-tensor/src/dtype.js';
export {
  SafetensorsFile,
  SafetensorsWriter,
  type TensorData,
  writeFileAtomic,
  writeSafetensors,
} from '../../core-tensor/src/io/safetensors.js';
export { CheckpointReader, INDEX_FILE, SINGLE_FILE, writeShardedIndex } from '../../core-tensor/src/io/sharded.js';

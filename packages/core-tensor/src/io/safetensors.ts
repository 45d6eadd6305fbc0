// safetensors.ts — the safetensors reader and writers, one import for both (see safetensors-read.ts / -write.ts).

export {
  MAX_HEADER_SIZE,
  SafetensorsFile,
  findDuplicateKey,
  parseSafetensorsHeader,
  similarNames,
  type TensorInfo,
} from './safetensors-read.js';
export { SafetensorsWriter, writeFileAtomic, writeSafetensors, type TensorData, type TensorSpec } from './safetensors-write.js';

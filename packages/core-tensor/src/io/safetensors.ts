// safetensors.ts — the safetensors reader and writers, one import for both (see safetensors-read.ts / -write.ts).

export { replaceDir, SET_ASIDE_SUFFIX } from './replace-dir.js';
export {
  findDuplicateKey,
  MAX_HEADER_SIZE,
  parseSafetensorsHeader,
  SafetensorsFile,
  similarNames,
  type TensorInfo,
} from './safetensors-read.js';
export {
  SafetensorsWriter,
  type TensorData,
  type TensorSpec,
  writeFileAtomic,
  writeSafetensors,
} from './safetensors-write.js';

// index.ts — the public entry of @tslora/lora: LoRA config, LoraLinear, injection, merge, PEFT adapter I/O and the trainable report.

/** This package's npm name (lets tools and the packaging test check which build they loaded). */
export const name = '@tslora/lora';

export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  type AdapterContents,
  adapterKeys,
  loadAdapter,
  PEFT_KEY_PREFIX,
  readAdapter,
  readAdapterConfig,
  type SaveAdapterOptions,
  saveAdapter,
} from './adapter-io.js';
export {
  LORA_DEFAULTS,
  type LoraConfig,
  type LoraConfigInput,
  type LoraInit,
  type LoraTargetsAvailable,
  loraScaling,
  NEVER_ADAPTED,
  resolveLoraConfig,
} from './config.js';
export {
  type ApplyLoraResult,
  applyLora,
  availableLoraTargets,
  lastSegment,
  layerIndexOf,
  loraModules,
  selectTargets,
} from './inject.js';
export { LoraLinear, type LoraLinearOptions, loraLinear } from './lora-linear.js';
export {
  addLoraDelta,
  checkFinite,
  type MergeDType,
  type MergeOptions,
  mergeAndUnload,
  mergedWeight,
  mergeLora,
  roundToDType,
  unmergeLora,
} from './merge.js';
export {
  CHECKPOINT_SIDE_FILES,
  type MergeCheckpointOptions,
  type MergeOutDType,
  type MergeSummary,
  type MergeTarget,
  mergeCheckpoint,
  mergeTensor,
  planTargets as planMergeTargets,
} from './merge-checkpoint.js';
export { fromPeftConfig, type PeftConfigExtras, peftJson, toPeftConfig } from './peft-config.js';
export { formatTrainable, type TrainableReport, trainableReport } from './report.js';

// train/options.ts — every knob of a training run: one typed object, its defaults and flag specs.
import type { FlagSpecs } from '../cli/flags.js';
import { QUANTIZE_FLAGS } from '../cli/quantize-flags.js';
import { CHAT_THINK_FLAG, type ChatThink } from '../data/think.js';
import type { QuantizeMode } from '../model/frozen-base.js';

export interface TrainOptions {
  model: string;
  data: string;
  out: string;
  valid?: string;
  rank: number;
  alpha: number;
  dropout: number;
  targets: string;
  layers?: number;
  rslora: boolean;
  init: 'kaiming' | 'gaussian';
  iters?: number;
  epochs?: number;
  batchSize: number;
  gradAccum: number;
  maxSeqLen: number;
  lr: number;
  warmup: number;
  schedule: 'cosine' | 'linear' | 'constant';
  weightDecay: number;
  maxGradNorm: number;
  seed: number;
  maskPrompt: boolean;
  /** --chat-think: the empty think block of reasoning chat templates (data/think.ts). */
  chatThink: ChatThink;
  evalEvery: number;
  saveEvery: number;
  valBatches?: number;
  resume?: string;
  fineTuneType: 'lora' | 'full';
  /** --quantize: the frozen base's storage (absent: exact f32). */
  quantize?: QuantizeMode;
  qGroupSize?: number;
  /** --grad-checkpoint: recompute each decoder layer's forward in backward (keeps only layer inputs). */
  gradCheckpoint: boolean;
  strict: boolean;
  force: boolean;
}

/**
 * What an option's value was, in effect, before the option existed: a checkpoint written then has no
 * such key, and --resume compares against this (the template's think block was trained verbatim).
 */
export const OPTION_BEFORE_IT_EXISTED: Partial<TrainOptions> = { chatThink: 'keep' };

/** Flag specs of `finetune train`; names map to TrainOptions fields by camel-casing. */
export const TRAIN_FLAGS: FlagSpecs = {
  model: { kind: 'string', required: true, help: 'base checkpoint directory (HF layout)' },
  data: { kind: 'string', required: true, help: 'train JSONL, or a directory with train.jsonl / valid.jsonl' },
  out: { kind: 'string', required: true, help: 'output directory (adapter, checkpoints, metrics, reports)' },
  valid: { kind: 'string', help: 'validation JSONL (default: valid.jsonl beside train.jsonl)' },
  config: { kind: 'string', help: 'JSON file with any of these options (flags override it)' },
  rank: { kind: 'int', min: 1, default: 8, help: 'LoRA rank r' },
  alpha: { kind: 'number', min: 0, exclusiveMin: true, default: 16, help: 'LoRA alpha (scale = alpha/r)' },
  dropout: { kind: 'number', min: 0, max: 1, exclusiveMax: true, default: 0, help: 'LoRA dropout' },
  targets: {
    kind: 'string',
    default: 'all-linear',
    help: 'all-linear or q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj',
  },
  layers: { kind: 'int', min: 1, help: 'adapt only the last N layers (default all)' },
  rslora: { kind: 'boolean', default: false, help: 'rank-stabilised scale alpha/sqrt(r)' },
  init: { kind: 'string', choices: ['kaiming', 'gaussian'], default: 'kaiming', help: 'lora_A initialisation' },
  iters: { kind: 'int', min: 1, help: 'optimizer steps (default: one epoch)' },
  epochs: { kind: 'number', min: 0, exclusiveMin: true, help: 'epochs instead of --iters' },
  'batch-size': { kind: 'int', min: 1, default: 4, help: 'sequences per micro-batch' },
  'grad-accum': { kind: 'int', min: 1, default: 1, help: 'micro-batches per optimizer step' },
  'max-seq-len': { kind: 'int', min: 2, default: 2048, help: 'longer samples are truncated (and counted)' },
  lr: { kind: 'number', min: 0, exclusiveMin: true, default: 1e-4, help: 'peak learning rate' },
  warmup: { kind: 'int', min: 0, default: 0, help: 'linear warmup steps' },
  schedule: {
    kind: 'string',
    choices: ['cosine', 'linear', 'constant'],
    default: 'cosine',
    help: 'decay after warmup',
  },
  'weight-decay': { kind: 'number', min: 0, default: 0.01, help: 'AdamW decoupled weight decay' },
  'max-grad-norm': { kind: 'number', min: 0, default: 1, help: 'global-norm clipping (0 = off)' },
  seed: { kind: 'int', min: 0, default: 0, help: 'seed for LoRA init, batch order and dropout' },
  'mask-prompt': {
    kind: 'boolean',
    default: false,
    help: 'no loss on prompts (only completions / final assistant turn)',
  },
  'chat-think': CHAT_THINK_FLAG,
  'eval-every': { kind: 'int', min: 0, default: 0, help: 'validation loss every N steps (0 = only at the end)' },
  'save-every': { kind: 'int', min: 0, default: 0, help: 'checkpoint every N steps (0 = only at the end)' },
  'val-batches': { kind: 'int', min: 1, help: 'validation batches per evaluation (default all)' },
  resume: {
    kind: 'string',
    help: 'continue from a run directory or checkpoints/step-N, with the options in its trainer_state.json (then --model, --data and --out are not needed; a longer --iters/--epochs extends the run)',
  },
  'fine-tune-type': {
    kind: 'string',
    choices: ['lora', 'full'],
    default: 'lora',
    help: 'lora trains A/B only; full trains every weight',
  },
  ...QUANTIZE_FLAGS,
  'grad-checkpoint': {
    kind: 'boolean',
    default: false,
    help: "recompute each decoder layer's forward during backward: activations of one layer plus the layer inputs",
  },
  strict: { kind: 'boolean', default: false, help: 'refuse samples longer than --max-seq-len instead of truncating' },
  force: { kind: 'boolean', default: false, help: 'write into a non-empty --out' },
  json: { kind: 'boolean', help: 'print one JSON summary; no progress line' },
};

/** 'batch-size' → 'batchSize'. */
export function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

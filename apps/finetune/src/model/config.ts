// model/config.ts — config.json of a Qwen2 / Qwen2.5 / Qwen3 checkpoint, validated field by field.
import { FileFormatError } from '@tslora/core-tensor';

export type Arch = 'qwen2' | 'qwen3';

/** The subset of HF's Qwen2Config / Qwen3Config the decoder needs, normalised. */
export interface QwenConfig {
  modelType: Arch;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  /** q/k/v bias: always for Qwen2, `attention_bias` for Qwen3. */
  attentionBias: boolean;
  /** Qwen3's per-head RMSNorm on q and k before RoPE. */
  qkNorm: boolean;
  maxPositionEmbeddings: number;
  torchDtype: string | undefined;
  bosTokenId: number | undefined;
  eosTokenId: number[];
  /** The parsed JSON as read, so a merge can write it back unchanged. */
  raw: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function field(
  file: string,
  raw: Json,
  key: string,
  kind: 'int' | 'number' | 'bool',
  fallback?: number | boolean,
): number | boolean {
  const v = raw[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new FileFormatError(file, `missing field "${key}"`, {
      hint: 'config.json must be a Hugging Face Qwen2/Qwen3 config',
    });
  }
  const ok =
    kind === 'bool'
      ? typeof v === 'boolean'
      : typeof v === 'number' && Number.isFinite(v) && (kind === 'number' || (Number.isInteger(v) && v > 0));
  if (!ok)
    throw new FileFormatError(
      file,
      `field "${key}" must be ${kind === 'int' ? 'a positive integer' : kind === 'bool' ? 'true or false' : 'a number'}, got ${JSON.stringify(v)}`,
    );
  return v as number | boolean;
}

/** Validates a parsed config.json; every refusal names the field and says why. */
export function parseQwenConfig(raw: unknown, file = 'config.json'): QwenConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new FileFormatError(file, 'is not a JSON object');
  const j = raw as Json;
  const modelType = j.model_type;
  if (modelType !== 'qwen2' && modelType !== 'qwen3') {
    throw new FileFormatError(file, `model_type ${JSON.stringify(modelType)} is not supported`, {
      hint: 'tslora loads Qwen2, Qwen2.5 (model_type "qwen2") and Qwen3 ("qwen3") checkpoints',
    });
  }
  const int = (k: string, d?: number) => field(file, j, k, 'int', d) as number;
  const hiddenSize = int('hidden_size');
  const numAttentionHeads = int('num_attention_heads');
  const numKeyValueHeads = int('num_key_value_heads', numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new FileFormatError(
      file,
      `num_attention_heads ${numAttentionHeads} is not a multiple of num_key_value_heads ${numKeyValueHeads}`,
    );
  }
  const headDim = j.head_dim == null ? hiddenSize / numAttentionHeads : int('head_dim');
  if (!Number.isInteger(headDim) || headDim % 2 !== 0)
    throw new FileFormatError(file, `head_dim ${headDim} must be an even integer (RoPE rotates pairs)`);
  const act = j.hidden_act ?? 'silu';
  if (act !== 'silu')
    throw new FileFormatError(file, `hidden_act "${String(act)}" is not supported (Qwen uses "silu")`);
  if (j.use_sliding_window === true) {
    throw new FileFormatError(file, 'use_sliding_window is true; sliding-window attention is not implemented', {
      hint: 'the published small Qwen models set it to false',
    });
  }
  // Newer transformers move rope_theta/rope_type into rope_parameters; older ones use rope_scaling.
  const ropeParams = (j.rope_parameters ?? null) as Json | null;
  const scaling = (j.rope_scaling ?? null) as Json | null;
  const ropeType = scaling ? (scaling.rope_type ?? scaling.type) : ropeParams?.rope_type;
  if (ropeType !== undefined && ropeType !== 'default') {
    throw new FileFormatError(file, `RoPE scaling ${JSON.stringify(scaling ?? ropeParams)} is not supported`, {
      hint: 'only the default RoPE is implemented; remove rope_scaling for contexts within max_position_embeddings',
    });
  }
  const ropeTheta =
    (ropeParams?.rope_theta as number | undefined) ?? (field(file, j, 'rope_theta', 'number', 10000) as number);
  const eos = j.eos_token_id;
  const eosTokenId = Array.isArray(eos)
    ? eos.filter((x): x is number => typeof x === 'number')
    : typeof eos === 'number'
      ? [eos]
      : [];
  return {
    modelType,
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numHiddenLayers: int('num_hidden_layers'),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    vocabSize: int('vocab_size'),
    rmsNormEps: field(file, j, 'rms_norm_eps', 'number', 1e-6) as number,
    ropeTheta,
    tieWordEmbeddings: field(file, j, 'tie_word_embeddings', 'bool', false) as boolean,
    attentionBias: modelType === 'qwen2' ? true : (field(file, j, 'attention_bias', 'bool', false) as boolean),
    qkNorm: modelType === 'qwen3',
    maxPositionEmbeddings: int('max_position_embeddings', 32768),
    torchDtype: typeof j.torch_dtype === 'string' ? j.torch_dtype : typeof j.dtype === 'string' ? j.dtype : undefined,
    bosTokenId: typeof j.bos_token_id === 'number' ? j.bos_token_id : undefined,
    eosTokenId,
    raw: j,
  };
}

// export/qwen-gguf.ts — Qwen2/Qwen3 in llama.cpp's terms: HF → GGUF tensor names, architecture metadata, per-tensor types.
import type { GgmlType, GgufMetaValue } from '@tslora/core-tensor';
import { TsloraError } from '@tslora/core-tensor';
import type { QwenConfig } from '../model/config.js';

/** `finetune export --type`: the ggml type of every 2-D weight (norms and biases stay F32). */
export type ExportType = 'f32' | 'f16' | 'bf16' | 'q8_0';

export const EXPORT_TYPES: readonly ExportType[] = ['f32', 'f16', 'bf16', 'q8_0'];

const MATRIX_TYPE: Record<ExportType, GgmlType> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0' };

/** `enum llama_ftype` (llama.h): LLAMA_FTYPE_ALL_F32, _MOSTLY_F16, _MOSTLY_Q8_0, _MOSTLY_BF16. */
const FILE_TYPE: Record<ExportType, number> = { f32: 0, f16: 1, q8_0: 7, bf16: 32 };

/** ggml's GGML_QNT_VERSION: the block layout revision of the quantized types. */
const QUANTIZATION_VERSION = 2;

/** Per-layer HF suffixes → llama.cpp's `blk.N.*` names (LLM_TENSOR_NAMES in llama-arch.cpp). */
const LAYER_NAMES: ReadonlyMap<string, string> = new Map([
  ['input_layernorm.weight', 'attn_norm.weight'],
  ['self_attn.q_proj.weight', 'attn_q.weight'],
  ['self_attn.q_proj.bias', 'attn_q.bias'],
  ['self_attn.k_proj.weight', 'attn_k.weight'],
  ['self_attn.k_proj.bias', 'attn_k.bias'],
  ['self_attn.v_proj.weight', 'attn_v.weight'],
  ['self_attn.v_proj.bias', 'attn_v.bias'],
  ['self_attn.o_proj.weight', 'attn_output.weight'],
  ['self_attn.q_norm.weight', 'attn_q_norm.weight'],
  ['self_attn.k_norm.weight', 'attn_k_norm.weight'],
  ['post_attention_layernorm.weight', 'ffn_norm.weight'],
  ['mlp.gate_proj.weight', 'ffn_gate.weight'],
  ['mlp.up_proj.weight', 'ffn_up.weight'],
  ['mlp.down_proj.weight', 'ffn_down.weight'],
]);

const GLOBAL_NAMES: ReadonlyMap<string, string> = new Map([
  ['model.embed_tokens.weight', 'token_embd.weight'],
  ['model.norm.weight', 'output_norm.weight'],
  ['lm_head.weight', 'output.weight'],
]);

/** The GGUF name of an HF Qwen tensor, or undefined for a name llama.cpp has no place for. */
export function ggufTensorName(hf: string): string | undefined {
  const g = GLOBAL_NAMES.get(hf);
  if (g !== undefined) return g;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  const suffix = m ? LAYER_NAMES.get(m[2]!) : undefined;
  return suffix === undefined ? undefined : `blk.${m![1]}.${suffix}`;
}

/** One tensor of the export: its HF source, GGUF name, ggml dims (HF shape reversed) and type. */
export interface ExportTensor {
  hf: string;
  name: string;
  dims: number[];
  type: GgmlType;
}

/**
 * The HF tensors of a Qwen checkpoint in the order they are written (embedding, layer by layer,
 * final norm, lm_head unless tied), each with its GGUF name, ggml dims and type. Matrices take
 * `type`; 1-D tensors (norms, biases) stay F32, as llama.cpp's converter keeps them.
 */
export function planTensors(config: QwenConfig, shapes: ReadonlyMap<string, readonly number[]>, type: ExportType) {
  const hfNames: string[] = ['model.embed_tokens.weight'];
  for (let l = 0; l < config.numHiddenLayers; l++) {
    for (const suffix of LAYER_NAMES.keys()) {
      const name = `model.layers.${l}.${suffix}`;
      if (shapes.has(name)) hfNames.push(name);
    }
  }
  hfNames.push('model.norm.weight');
  if (!config.tieWordEmbeddings) hfNames.push('lm_head.weight');
  const plan: ExportTensor[] = [];
  for (const hf of hfNames) {
    const shape = shapes.get(hf);
    if (!shape) throw new TsloraError(`the checkpoint has no ${hf}`, { hint: 'the checkpoint is incomplete' });
    const dims = [...shape].reverse();
    const ggml: GgmlType = shape.length === 1 ? 'F32' : MATRIX_TYPE[type];
    if (ggml === 'Q8_0' && dims[0]! % 32 !== 0)
      throw new TsloraError(
        `--type q8_0: ${hf} ${JSON.stringify(shape)} has rows of ${dims[0]} values, not a multiple of 32 (Q8_0 quantizes blocks of 32)`,
        { hint: 'export with --type f16 (or bf16/f32), which have no block size', exitCode: 2 },
      );
    plan.push({ hf, name: ggufTensorName(hf)!, dims, type: ggml });
  }
  const placed = new Set(hfNames);
  const unplaced = [...shapes.keys()].filter(
    (n) => !placed.has(n) && !(n === 'lm_head.weight' && config.tieWordEmbeddings),
  );
  if (unplaced.length > 0)
    throw new TsloraError(
      `the checkpoint has tensors llama.cpp's ${config.modelType} has no place for: ${unplaced.join(', ')}`,
      {
        hint: 'only plain Qwen2/Qwen3 decoder checkpoints can be exported',
      },
    );
  return plan;
}

/** Refuses what llama.cpp's qwen2/qwen3 graphs cannot run as tslora does (exit 2, before anything is written). */
export function checkExportable(config: QwenConfig, configFile: string): void {
  if (config.modelType === 'qwen3' && config.attentionBias)
    throw new TsloraError(`${configFile}: attention_bias is true, but llama.cpp's qwen3 has no q/k/v biases`, {
      hint: 'only Qwen3 checkpoints without attention biases (all published ones) can be exported',
    });
}

const u32 = (value: number): GgufMetaValue => ({ type: 'uint32', value });
const f32 = (value: number): GgufMetaValue => ({ type: 'float32', value });

/**
 * general.* and `{arch}.*` keys for llama.cpp's loader (llama-arch.cpp's LLM_KV names). head_count_kv
 * is always written (its default, head_count, would break GQA), rope.freq_base too (the default 10000
 * is not Qwen's 1e6), and key/value_length (Qwen3's head_dim differs from hidden/heads).
 */
export function modelMetadata(config: QwenConfig, type: ExportType): [string, GgufMetaValue][] {
  const arch = config.modelType;
  const name = config.raw._name_or_path;
  return [
    ['general.architecture', { type: 'string', value: arch }],
    ['general.type', { type: 'string', value: 'model' }],
    ...(typeof name === 'string' && name !== ''
      ? [['general.name', { type: 'string', value: name }] as [string, GgufMetaValue]]
      : []),
    ['general.file_type', u32(FILE_TYPE[type])],
    ...(type === 'q8_0'
      ? [['general.quantization_version', u32(QUANTIZATION_VERSION)] as [string, GgufMetaValue]]
      : []),
    ['general.alignment', u32(32)],
    [`${arch}.context_length`, u32(config.maxPositionEmbeddings)],
    [`${arch}.embedding_length`, u32(config.hiddenSize)],
    [`${arch}.block_count`, u32(config.numHiddenLayers)],
    [`${arch}.feed_forward_length`, u32(config.intermediateSize)],
    [`${arch}.attention.head_count`, u32(config.numAttentionHeads)],
    [`${arch}.attention.head_count_kv`, u32(config.numKeyValueHeads)],
    [`${arch}.attention.key_length`, u32(config.headDim)],
    [`${arch}.attention.value_length`, u32(config.headDim)],
    [`${arch}.rope.freq_base`, f32(config.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(config.rmsNormEps)],
  ];
}

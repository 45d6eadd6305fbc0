// explain/attention-mask.ts — section 4: what attention_mask does, on the seed's example and on one real head of the model.
import { applyRotary, attentionWeights, maskTeachingExample, maskTeachingSvg, plotAttention } from '@tslora/attention';
import { Tensor } from '@tslora/core-tensor';
import type { LoadedTokenizer } from '@tslora/tokenizer-inspect';
import type { QwenForCausalLM } from '../model/qwen.js';
import { fmt, type Section } from './section.js';

/** Three sequences of different lengths, so a right-padded batch has padding in two of them. */
export const HEAD_TEXTS = ['LoRA trains two thin matrices', 'Hello world', 'Fine'];

export interface HeadWeights {
  layer: number;
  head: number;
  /** (B,T) token ids, right-padded with the pad id. */
  ids: number[][];
  /** (B,T) 1 keep / 0 pad. */
  mask: number[][];
  /** (B,T,T) softmax weights of the head under causal AND attention_mask. */
  weights: number[][][];
}

/** A right-padded batch (B,T) and its attention_mask from the model's own tokenizer. */
export function paddedBatch(tok: LoadedTokenizer, texts: readonly string[]): { ids: number[][]; mask: number[][] } {
  const seqs = texts.map((t) => tok.encode(t, { addSpecialTokens: false }));
  const T = Math.max(...seqs.map((s) => s.length));
  const pad = tok.padTokenId ?? 0;
  return {
    ids: seqs.map((s) => [...s, ...Array(T - s.length).fill(pad)]),
    mask: seqs.map((s) => Array.from({ length: T }, (_, j) => (j < s.length ? 1 : 0))),
  };
}

/**
 * Attention weights of one head of layer `layer` on `ids`, exactly as the forward computes them:
 * embeddings (and earlier layers) → input_layernorm → q_proj, k_proj → q_norm/k_norm (Qwen3) → RoPE →
 * softmax(q·kᵀ/√D) under causal AND attention_mask.
 */
export function headWeights(
  model: QwenForCausalLM,
  ids: number[][],
  mask: number[][],
  layer = 0,
  head = 0,
): HeadWeights {
  const B = ids.length;
  const T = ids[0]?.length ?? 0;
  const c = model.config;
  const attentionMask = Tensor.int(mask.flat(), [B, T]);
  const rope = model.ropeTables(T);
  let x = model.model.embed_tokens.forward(Tensor.int(ids.flat(), [B, T])); // (B,T,C)
  const ctx = { rope, attentionMask, cache: undefined, offset: 0 };
  for (let l = 0; l < layer; l++) x = (model.model.layers[l] as (typeof model.model.layers)[number]).forward(x, ctx);
  const attn = (model.model.layers[layer] as (typeof model.model.layers)[number]).self_attn;
  const n = (model.model.layers[layer] as (typeof model.model.layers)[number]).input_layernorm.forward(x);
  let q = attn.q_proj.forward(n).reshape([B, T, c.numAttentionHeads, c.headDim]);
  let k = attn.k_proj.forward(n).reshape([B, T, c.numKeyValueHeads, c.headDim]);
  if (attn.q_norm && attn.k_norm) {
    q = attn.q_norm.forward(q);
    k = attn.k_norm.forward(k);
  }
  const qr = applyRotary(q.permute([0, 2, 1, 3]), rope.cos, rope.sin, { offset: 0 }); // (B,H,T,D)
  const kr = applyRotary(k.permute([0, 2, 1, 3]), rope.cos, rope.sin, { offset: 0 }); // (B,Hkv,T,D)
  const w = attentionWeights(qr, kr, { causal: true, attentionMask }).f32; // (B,H,T,T)
  const H = c.numAttentionHeads;
  const weights = Array.from({ length: B }, (_, b) =>
    Array.from({ length: T }, (_, i) =>
      Array.from(w.subarray(((b * H + head) * T + i) * T, ((b * H + head) * T + i + 1) * T)),
    ),
  );
  return { layer, head, ids, mask, weights };
}

export function attentionSection(model: QwenForCausalLM, tok: LoadedTokenizer): Section {
  const example = maskTeachingExample({ causal: true });
  const { ids, mask } = paddedBatch(tok, HEAD_TEXTS);
  const hw = headWeights(model, ids, mask);
  const T = ids[0]?.length ?? 0;
  const keep = hw.mask.flatMap((m) => Array.from({ length: T }, (_, i) => m.map((v, j) => (v && j <= i ? 1 : 0))));
  const padCells = hw.weights.flatMap((p, b) => p.flatMap((row) => row.filter((_, j) => hw.mask[b]?.[j] === 0)));
  const padMax = padCells.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const headSvg = plotAttention(hw.weights, {
    title: `layer ${hw.layer}, head ${hw.head} of this model on a right-padded batch (causal × attention_mask)`,
    panels: HEAD_TEXTS.map((t, b) => `seq ${b}: "${t}" (${hw.mask[b]?.filter(Boolean).length} tokens)`),
    queries: Array.from({ length: T }, (_, i) => `q${i}`),
    keys: Array.from({ length: T }, (_, j) => `k${j}`),
    keep: keep.flat(),
    columns: 3,
  });
  return {
    id: 'attention',
    title: '4. What attention_mask does',
    paragraphs: [
      'Sequences in a batch have different lengths, so the short ones are padded to the longest; attention_mask marks each position 1 (real token) or 0 (padding). Attention turns scores into weights with a softmax over the keys; a masked key is left out of that softmax, so its column gets weight exactly 0 and each row renormalises over the keys that remain. Causal masking does the same to every key after the query.',
      `The first figure is the seed’s example: a batch of five sequences of 3 tokens with Q = K = V = X, each row of attention_mask applied (hatched cells are masked; the all-zero mask gives zero rows, not NaN). The second is head ${hw.head} of layer ${hw.layer} of this model on the texts below, right-padded to ${T} tokens: the largest weight on any padding column is ${padMax === 0 ? 'exactly 0' : fmt(padMax)} (${padCells.length} padding cells).`,
    ],
    figures: [
      {
        file: 'attention-mask.svg',
        alt: "the seed's padded-batch example: weights without and with attention_mask",
        svg: maskTeachingSvg(example),
      },
      {
        file: 'attention-head.svg',
        alt: `attention weights of layer ${hw.layer} head ${hw.head} on a padded batch`,
        svg: headSvg,
      },
    ],
    table: {
      head: ['seq', 'text', 'token ids (padded)', 'attention_mask'],
      rows: HEAD_TEXTS.map((t, b) => [b, t, (ids[b] ?? []).join(' '), (mask[b] ?? []).join(' ')]),
    },
    numbers: {
      layer: hw.layer,
      head: hw.head,
      ids,
      attention_mask: mask,
      padding_cells: padCells.length,
      padding_max_weight: padMax,
      seed_example_notes: example.notes,
    },
  };
}

// model/qwen.ts — the Qwen2 / Qwen2.5 / Qwen3 decoder as HF transformers computes it, HF names verbatim.
//
// Pre-norm block:  h = x + o_proj(attn(input_layernorm(x)))
//                  out = h + down_proj(silu(gate_proj(n)) ⊙ up_proj(n)),  n = post_attention_layernorm(h)
// then model.norm and lm_head (the same tensor as embed_tokens.weight when tie_word_embeddings).
//
// Memory: every intermediate a forward creates and never hands out is passed to doneWith() after its
// last use, so its buffer is reused — at once under noGrad, after backward has passed it otherwise —
// instead of a fresh allocation per op per step. Never pass a tensor that is returned or cached.
import { applyRotary, type KVCache, rotaryEmbedding, scaledDotProductAttention } from '@tslora/attention';
import {
  checkpoint,
  doneWith,
  Embedding,
  Linear,
  linearCrossEntropy,
  Module,
  type Random,
  RMSNorm,
  swiglu,
  type Tensor,
} from '@tslora/core-tensor';
import type { QwenConfig } from './config.js';
import { IGNORE_INDEX, shiftLabels } from './loss.js';

/** A Linear or anything that replaced it in place (a LoraLinear): maps (...,in) → (...,out). */
export type LinearLike = Module & { forward(x: Tensor): Tensor };

/** What one forward pass needs besides the hidden states. */
export interface StepContext {
  rope: RopeTables;
  /** (B,S) i32, 1 keep / 0 pad, over every key position (cached + new). */
  attentionMask: Tensor | undefined;
  cache: KVCache | undefined;
  /** Position of the first new token (the cache length when decoding). */
  offset: number;
}

export interface RopeTables {
  cos: Tensor;
  sin: Tensor;
  maxPositions: number;
}

export class Qwen2Attention extends Module {
  q_proj: LinearLike;
  k_proj: LinearLike;
  v_proj: LinearLike;
  o_proj: LinearLike;
  q_norm?: RMSNorm;
  k_norm?: RMSNorm;
  readonly _c: QwenConfig;
  readonly _layer: number;

  constructor(c: QwenConfig, layer: number, rng?: Random) {
    super();
    this._c = c;
    this._layer = layer;
    const { hiddenSize: C, numAttentionHeads: H, numKeyValueHeads: Hkv, headDim: D } = c;
    const bias = c.attentionBias;
    this.q_proj = new Linear(C, H * D, { bias, rng });
    this.k_proj = new Linear(C, Hkv * D, { bias, rng });
    this.v_proj = new Linear(C, Hkv * D, { bias, rng });
    this.o_proj = new Linear(H * D, C, { bias: false, rng });
    if (c.qkNorm) {
      this.q_norm = new RMSNorm(D, c.rmsNormEps);
      this.k_norm = new RMSNorm(D, c.rmsNormEps);
    }
  }

  forward(x: Tensor, ctx: StepContext): Tensor {
    const [B, T] = x.shape as [number, number, number];
    const { numAttentionHeads: H, numKeyValueHeads: Hkv, headDim: D } = this._c;
    // q: (B,T,H·D) → (B,T,H,D); Qwen3 normalises each head over D before RoPE
    const q0 = this.q_proj.forward(x);
    const k0 = this.k_proj.forward(x);
    const v0 = this.v_proj.forward(x);
    let q = q0.reshape([B, T, H, D]);
    let k = k0.reshape([B, T, Hkv, D]);
    const v = v0.reshape([B, T, Hkv, D]).permute([0, 2, 1, 3]); // (B,Hkv,T,D)
    if (this.q_norm && this.k_norm) {
      q = this.q_norm.forward(q);
      k = this.k_norm.forward(k);
    }
    const qp = q.permute([0, 2, 1, 3]); // (B,H,T,D)
    const kp = k.permute([0, 2, 1, 3]); // (B,Hkv,T,D)
    doneWith(q0, k0, v0);
    if (this.q_norm && this.k_norm) doneWith(q, k); // the normalised copies (without norms q, k are views of q0, k0)
    const posOpts = { offset: ctx.offset };
    const qr = applyRotary(qp, ctx.rope.cos, ctx.rope.sin, posOpts); // (B,H,T,D)
    const kr = applyRotary(kp, ctx.rope.cos, ctx.rope.sin, posOpts); // (B,Hkv,T,D)
    doneWith(qp, kp);
    let kh = kr;
    let vh = v;
    if (ctx.cache) ({ k: kh, v: vh } = ctx.cache.append(this._layer, kr, v)); // (B,Hkv,S,D), copies
    const o = scaledDotProductAttention(qr, kh, vh, {
      attentionMask: ctx.attentionMask,
      causal: true,
      queryOffset: ctx.offset,
    });
    doneWith(qr, kr, v);
    const ot = o.permute([0, 2, 1, 3]); // (B,T,H,D)
    doneWith(o);
    const out = this.o_proj.forward(ot.reshape([B, T, H * D])); // (B,T,C)
    doneWith(ot);
    return out;
  }
}

export class Qwen2MLP extends Module {
  gate_proj: LinearLike;
  up_proj: LinearLike;
  down_proj: LinearLike;
  constructor(c: QwenConfig, rng?: Random) {
    super();
    this.gate_proj = new Linear(c.hiddenSize, c.intermediateSize, { rng });
    this.up_proj = new Linear(c.hiddenSize, c.intermediateSize, { rng });
    this.down_proj = new Linear(c.intermediateSize, c.hiddenSize, { rng });
  }
  forward(x: Tensor): Tensor {
    // act_fn(gate_proj(x)) * up_proj(x) as one fused op (SiLU and the product in one pass, SIMD exp)
    const gate = this.gate_proj.forward(x);
    const up = this.up_proj.forward(x);
    const act = swiglu(gate, up);
    doneWith(gate, up);
    const out = this.down_proj.forward(act);
    doneWith(act);
    return out;
  }
}

export class Qwen2DecoderLayer extends Module {
  input_layernorm: RMSNorm;
  self_attn: Qwen2Attention;
  post_attention_layernorm: RMSNorm;
  mlp: Qwen2MLP;
  constructor(c: QwenConfig, layer: number, rng?: Random) {
    super();
    this.input_layernorm = new RMSNorm(c.hiddenSize, c.rmsNormEps);
    this.self_attn = new Qwen2Attention(c, layer, rng);
    this.post_attention_layernorm = new RMSNorm(c.hiddenSize, c.rmsNormEps);
    this.mlp = new Qwen2MLP(c, rng);
  }
  forward(x: Tensor, ctx: StepContext): Tensor {
    const n1 = this.input_layernorm.forward(x);
    const a = this.self_attn.forward(n1, ctx);
    const h = x.add(a);
    doneWith(n1, a);
    const n2 = this.post_attention_layernorm.forward(h);
    const m = this.mlp.forward(n2);
    const out = h.add(m);
    doneWith(n2, m, h);
    return out;
  }
}

export class Qwen2Model extends Module {
  embed_tokens: Embedding;
  layers: Qwen2DecoderLayer[];
  norm: RMSNorm;
  constructor(c: QwenConfig, rng?: Random) {
    super();
    this.embed_tokens = new Embedding(c.vocabSize, c.hiddenSize, { rng });
    this.layers = Array.from({ length: c.numHiddenLayers }, (_, i) => new Qwen2DecoderLayer(c, i, rng));
    this.norm = new RMSNorm(c.hiddenSize, c.rmsNormEps);
  }
}

export interface ForwardOptions {
  /** (B,S) i32: 1 for real tokens, 0 for padding; S = cached + new positions. */
  attentionMask?: Tensor;
  cache?: KVCache;
}

/** Qwen2ForCausalLM / Qwen3ForCausalLM: parameter names equal the checkpoint keys. */
export class QwenForCausalLM extends Module {
  model: Qwen2Model;
  lm_head: Linear;
  readonly _config: QwenConfig;
  _rope: RopeTables | undefined;
  /** --grad-checkpoint: recompute each decoder layer in backward; `rng` is the one LoRA dropout draws from. */
  _gradCheckpoint: { rng?: Random } | null = null;

  constructor(config: QwenConfig, rng?: Random) {
    super();
    this._config = config;
    this.model = new Qwen2Model(config, rng);
    this.lm_head = new Linear(config.hiddenSize, config.vocabSize, { bias: false });
    // Tied: one tensor under two names; namedParameters lists it once (model.embed_tokens.weight).
    if (config.tieWordEmbeddings) this.lm_head.weight = this.model.embed_tokens.weight;
  }

  get config(): QwenConfig {
    return this._config;
  }

  /** cos/sin tables covering positions [0, n), grown (doubling) when a longer input arrives. */
  ropeTables(n: number): RopeTables {
    if (!this._rope || this._rope.maxPositions < n) {
      const maxPositions = Math.max(n, 2 * (this._rope?.maxPositions ?? 256));
      const { cos, sin } = rotaryEmbedding(this._config.headDim, { theta: this._config.ropeTheta, maxPositions });
      this._rope = { cos, sin, maxPositions };
    }
    return this._rope;
  }

  /** ids (B,T) i32 → final hidden states (B,T,C), after model.norm. */
  hidden(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    const offset = opts.cache?.length ?? 0;
    const ctx: StepContext = {
      rope: this.ropeTables(offset + (ids.shape[1] as number)),
      attentionMask: opts.attentionMask,
      cache: opts.cache,
      offset,
    };
    let x = this.model.embed_tokens.forward(ids); // (B,T,C)
    for (const layer of this.model.layers) {
      const gc = this._gradCheckpoint;
      const params = gc ? layer.trainableParameters().map(([, t]) => t) : [];
      const next = gc ? checkpoint((t) => layer.forward(t, ctx), x, params, gc.rng) : layer.forward(x, ctx);
      doneWith(x); // a layer output (or the embedding rows, not pooled: a no-op)
      x = next;
    }
    const h = this.model.norm.forward(x);
    doneWith(x);
    return h;
  }

  /**
   * Causal-LM loss without materialising the (B,T,V) logits: lm_head is fused with the cross-entropy
   * (DESIGN §4: labels shifted left by one, −100 ignored; `divisor` = target tokens of the whole
   * accumulated batch, default this batch's). ids, labels: (B,T) i32 → scalar.
   */
  loss(ids: Tensor, labels: Tensor, opts: ForwardOptions & { divisor?: number } = {}): Tensor {
    const h = this.hidden(ids, opts); // (B,T,C)
    const C = h.shape[2] as number;
    const ce =
      opts.divisor === undefined ? { ignoreIndex: IGNORE_INDEX } : { ignoreIndex: IGNORE_INDEX, divisor: opts.divisor };
    const loss = linearCrossEntropy(h.reshape([-1, C]), this.lm_head.weight, shiftLabels(labels), ce);
    doneWith(h);
    return loss;
  }

  /**
   * Logits of the last position only, (B,V): what decoding needs, without the (B,T,V) prompt logits
   * (at a 151936-wide vocabulary those cost more than the rest of a small model's prefill).
   */
  lastLogits(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    const h = this.hidden(ids, opts); // (B,T,C)
    const [B, T, C] = h.shape as [number, number, number];
    const last = h.slice(1, T - 1, T).reshape([B, C]);
    return this.lm_head.forward(last);
  }

  /** ids (B,T) i32 → logits (B,T,V), V = config.vocab_size (never the tokenizer's size). */
  forward(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    return this.lm_head.forward(this.hidden(ids, opts));
  }
}

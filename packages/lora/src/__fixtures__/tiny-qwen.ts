// tiny-qwen.ts — a small Qwen2-shaped module tree for the lora tests (paths as in HF's Qwen2ForCausalLM).
import { Embedding, Linear, Module, type Random, RMSNorm, type Tensor } from '@tslora/core-tensor';

/** Sizes: C hidden, Ckv = Hkv·D (k/v width), F ffn, V vocab. */
export interface TinyQwenSizes {
  C: number;
  Ckv: number;
  F: number;
  V: number;
  layers: number;
  tied?: boolean;
}

class Attn extends Module {
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  o_proj: Linear;
  constructor(s: TinyQwenSizes, rng: Random) {
    super();
    this.q_proj = new Linear(s.C, s.C, { bias: true, rng });
    this.k_proj = new Linear(s.C, s.Ckv, { bias: true, rng });
    this.v_proj = new Linear(s.C, s.Ckv, { bias: true, rng });
    this.o_proj = new Linear(s.C, s.C, { rng });
  }
}

class Mlp extends Module {
  gate_proj: Linear;
  up_proj: Linear;
  down_proj: Linear;
  constructor(s: TinyQwenSizes, rng: Random) {
    super();
    this.gate_proj = new Linear(s.C, s.F, { rng });
    this.up_proj = new Linear(s.C, s.F, { rng });
    this.down_proj = new Linear(s.F, s.C, { rng });
  }
}

class Layer extends Module {
  self_attn: Attn;
  mlp: Mlp;
  input_layernorm: RMSNorm;
  constructor(s: TinyQwenSizes, rng: Random) {
    super();
    this.self_attn = new Attn(s, rng);
    this.mlp = new Mlp(s, rng);
    this.input_layernorm = new RMSNorm(s.C);
  }
  /** Not attention, but every projection takes part: h + o(q(x)·Σ(k(x)⊙v(x))) + down(silu(gate(x))⊙up(x)). */
  forward(h: Tensor): Tensor {
    const x = this.input_layernorm.forward(h);
    const a = this.self_attn;
    const kv = a.k_proj.forward(x).mul(a.v_proj.forward(x)).mean(-1, true);
    const att = a.o_proj.forward(a.q_proj.forward(x).mul(kv));
    const m = this.mlp;
    const ff = m.down_proj.forward(m.gate_proj.forward(x).silu().mul(m.up_proj.forward(x)));
    return h.add(att).add(ff);
  }
}

class Inner extends Module {
  embed_tokens: Embedding;
  layers: Layer[];
  norm: RMSNorm;
  constructor(s: TinyQwenSizes, rng: Random) {
    super();
    this.embed_tokens = new Embedding(s.V, s.C, { rng });
    this.layers = Array.from({ length: s.layers }, () => new Layer(s, rng));
    this.norm = new RMSNorm(s.C);
  }
}

/** model.embed_tokens, model.layers.{i}.self_attn.{q,k,v,o}_proj, model.layers.{i}.mlp.{gate,up,down}_proj, model.norm, lm_head. */
export class TinyQwen extends Module {
  model: Inner;
  lm_head: Linear;
  constructor(s: TinyQwenSizes, rng: Random) {
    super();
    this.model = new Inner(s, rng);
    this.lm_head = new Linear(s.C, s.V, { rng });
    if (s.tied) this.lm_head.weight = this.model.embed_tokens.weight;
  }
  /** ids: (B,T) i32 → logits (B,T,V). */
  forward(ids: Tensor): Tensor {
    let h = this.model.embed_tokens.forward(ids);
    for (const l of this.model.layers) h = l.forward(h);
    return this.lm_head.forward(this.model.norm.forward(h));
  }
}

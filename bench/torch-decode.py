# torch-decode.py — KV-cached greedy decode tokens/s of the PyTorch reference model, the peer of model-worker.ts's decode.
#
# Builds the reference's Qwen2 + LoRA (shared/reference/torch_qwen2_lora.py, imported, not copied: same
# init, same unmerged LoRA branch) and decodes with a per-layer cache of the pre-repeat k, v (B,Hkv,S,D),
# concatenated per step as Hugging Face's DynamicCache does. Greedy, eos ignored. Protocol as the tslora
# side: an untimed run of 1 + warmup tokens, then 1 + new_tokens tokens after a `seq`-token prompt; the
# first token comes from the prefill, the timed span covers exactly new_tokens single-token steps.
# Prints one JSON line (tokens_per_s, median_step_s, peak_rss_mib).
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.environ.get("TSLORA_TORCH_REF_DIR", "/work/shared/reference"))
import torch_qwen2_lora as ref  # noqa: E402


def attention_cached(attn, x, cos, sin, cache):
    """attn: ref.Attention; x (B,T,C); cos/sin (T,D) at the new positions; cache: [k, v] or [None, None]."""
    B, T, _ = x.shape
    q = attn.q_proj(x).view(B, T, attn.h, attn.d).transpose(1, 2)
    k = attn.k_proj(x).view(B, T, attn.kvh, attn.d).transpose(1, 2)
    v = attn.v_proj(x).view(B, T, attn.kvh, attn.d).transpose(1, 2)
    q, k = ref.apply_rotary(q, k, cos, sin)
    if cache[0] is not None:
        k = torch.cat((cache[0], k), dim=2)
        v = torch.cat((cache[1], v), dim=2)
    cache[0], cache[1] = k, v
    S = k.shape[2]
    rep = attn.h // attn.kvh
    k = k[:, :, None].expand(B, attn.kvh, rep, S, attn.d).reshape(B, attn.h, S, attn.d)
    v = v[:, :, None].expand(B, attn.kvh, rep, S, attn.d).reshape(B, attn.h, S, attn.d)
    att = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(attn.d)
    if T > 1:  # prefill: causal over the new block (the cache was empty)
        att = att + torch.full((T, S), float("-inf")).triu(S - T + 1)
    att = F.softmax(att, dim=-1, dtype=torch.float32)
    out = torch.matmul(att, v).transpose(1, 2).reshape(B, T, attn.h * attn.d)
    return attn.o_proj(out)


def forward_cached(model, ids, caches, offset, cos_all, sin_all):
    """ids (1,T) → logits (1,T,V), appending to caches; positions start at offset."""
    x = model.embed_tokens(ids)
    T = ids.shape[1]
    cos, sin = cos_all[offset:offset + T], sin_all[offset:offset + T]
    for layer, cache in zip(model.layers, caches):
        x = x + attention_cached(layer.self_attn, layer.input_layernorm(x), cos, sin, cache)
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    return model.lm_head(model.norm(x))


def generate(model, prompt, n, on_token):
    caches = [[None, None] for _ in model.layers]
    cos_all, sin_all = ref.rotary_cos_sin(prompt.shape[1] + n, model.c["head_dim"])
    ids, offset = prompt, 0
    for _ in range(n):
        logits = forward_cached(model, ids, caches, offset, cos_all, sin_all)
        offset += ids.shape[1]
        tok = int(logits[0, -1].argmax())
        on_token(tok)
        ids = torch.tensor([[tok]])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=ref.CONFIGS, default="tiny")
    ap.add_argument("--seq", type=int, default=128, help="prompt tokens")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    c = ref.CONFIGS[a.config]
    model = ref.Qwen2(c)
    ref.add_lora(model, a.r, a.alpha)
    model.eval()
    g = torch.Generator().manual_seed(a.seed + 1)
    prompt = torch.randint(0, c["vocab"], (1, a.seq), generator=g)
    stamps = []
    with torch.inference_mode():
        generate(model, prompt, 1 + a.warmup, lambda t: None)
        generate(model, prompt, 1 + a.new_tokens, lambda t: stamps.append(time.perf_counter()))
    steps = [b - a_ for a_, b in zip(stamps, stamps[1:])]
    print(json.dumps({
        "torch": torch.__version__, "config": a.config, "mode": "decode", "prompt": a.seq,
        "new_tokens": len(steps), "threads": torch.get_num_threads(),
        "median_step_s": round(statistics.median(steps), 5),
        "tokens_per_s": round(len(steps) / sum(steps), 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    sys.exit(main())

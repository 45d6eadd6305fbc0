#!/usr/bin/python3
"""Writes the tiny Qwen2/Qwen3 checkpoints and PyTorch golden values under apps/finetune/test/fixtures/.

Self-contained reference (PyTorch 1.13, no transformers/safetensors packages): a functional Qwen2/Qwen3
decoder with HF transformers semantics and PEFT-style LoRA. Weights are random (std 0.1 so every tensor
moves the logits), rounded to bf16 and the reference is computed in f32 FROM the rounded weights, so a
reader that decodes bf16 -> f32 sees exactly the numbers used here.

    /usr/bin/python3 apps/finetune/scripts/make_model_golden.py   # from the repository root
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")
PAD, BOS, EOS = 0, 1, 2
TARGETS = (("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
           ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj"))
LORA = dict(r=4, alpha=8.0, lora_B_std=0.05)
ADAMW = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
GREEDY_PROMPT, GREEDY_NEW = [1, 2, 3, 4, 5], 12

MODELS = {
    "tiny-qwen2": dict(arch="Qwen2ForCausalLM", model_type="qwen2", hidden_size=64, intermediate_size=128,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=None,
                       attention_bias=True, qk_norm=False, tie_word_embeddings=True, seed=1234),
    "tiny-qwen3": dict(arch="Qwen3ForCausalLM", model_type="qwen3", hidden_size=64, intermediate_size=96,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                       attention_bias=False, qk_norm=True, tie_word_embeddings=False, seed=5678),
}
VOCAB, EPS, THETA = 512, 1e-6, 1000000.0


# ---------------------------------------------------------------- config + weights

def hf_config(spec):
    """config.json as HF writes it for these architectures (keys sorted, 2-space indent)."""
    c = {
        "architectures": [spec["arch"]], "model_type": spec["model_type"], "attention_dropout": 0.0,
        "bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD, "hidden_act": "silu",
        "hidden_size": spec["hidden_size"], "intermediate_size": spec["intermediate_size"],
        "initializer_range": 0.02, "max_position_embeddings": 4096, "max_window_layers": spec["num_hidden_layers"],
        "num_attention_heads": spec["num_attention_heads"], "num_hidden_layers": spec["num_hidden_layers"],
        "num_key_value_heads": spec["num_key_value_heads"], "rms_norm_eps": EPS, "rope_scaling": None,
        "rope_theta": THETA, "tie_word_embeddings": spec["tie_word_embeddings"], "torch_dtype": "bfloat16",
        "transformers_version": "4.51.0", "use_cache": True, "use_sliding_window": False, "vocab_size": VOCAB,
    }
    if spec["model_type"] == "qwen2":
        c["sliding_window"] = 4096  # as Qwen2.5 ships it: set, but not in use (use_sliding_window false)
    else:
        c["sliding_window"] = None  # as Qwen3 ships it
        c["head_dim"] = spec["head_dim"]
        c["attention_bias"] = spec["attention_bias"]
    return c


def dims(spec):
    h, kv = spec["num_attention_heads"], spec["num_key_value_heads"]
    d = spec["head_dim"] or spec["hidden_size"] // h
    return spec["hidden_size"], spec["intermediate_size"], h, kv, d


def make_weights(spec):
    """HF-named f32 tensors holding bf16-representable values (rounded once, round-to-nearest-even)."""
    g = torch.Generator().manual_seed(spec["seed"])
    C, F_, H, Hkv, D = dims(spec)
    w = {}

    def normal(name, shape, mean=0.0, std=0.1):
        w[name] = (torch.randn(shape, generator=g) * std + mean).bfloat16().float()

    normal("model.embed_tokens.weight", (VOCAB, C))
    for i in range(spec["num_hidden_layers"]):
        p = f"model.layers.{i}."
        normal(p + "input_layernorm.weight", (C,), mean=1.0)
        for name, out in (("q_proj", H * D), ("k_proj", Hkv * D), ("v_proj", Hkv * D)):
            normal(p + f"self_attn.{name}.weight", (out, C))
            if spec["attention_bias"]:
                normal(p + f"self_attn.{name}.bias", (out,))
        normal(p + "self_attn.o_proj.weight", (C, H * D))
        if spec["qk_norm"]:
            normal(p + "self_attn.q_norm.weight", (D,), mean=1.0)
            normal(p + "self_attn.k_norm.weight", (D,), mean=1.0)
        normal(p + "post_attention_layernorm.weight", (C,), mean=1.0)
        normal(p + "mlp.gate_proj.weight", (F_, C))
        normal(p + "mlp.up_proj.weight", (F_, C))
        normal(p + "mlp.down_proj.weight", (C, F_))
    normal("model.norm.weight", (C,), mean=1.0)
    if not spec["tie_word_embeddings"]:
        normal("lm_head.weight", (VOCAB, C))
    return w


# ---------------------------------------------------------------- model (HF semantics, f32)

def rms_norm(x, weight):
    # Qwen2RMSNorm / Qwen3RMSNorm: variance in f32, weight * normalised x
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def rope_cos_sin(T, D):
    inv_freq = 1.0 / (THETA ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T,D)
    return emb.cos(), emb.sin()


def rotate_half(x):
    return torch.cat((-x[..., x.shape[-1] // 2:], x[..., : x.shape[-1] // 2]), dim=-1)


def linear(x, w, lora, prefix):
    """y = x W^T + b (+ scale * (x A^T) B^T when LoRA targets this module, PEFT lora.Linear, dropout 0)."""
    y = x @ w[prefix + ".weight"].t()
    if prefix + ".bias" in w:
        y = y + w[prefix + ".bias"]
    if lora is not None:
        key = "base_model.model." + prefix
        a, b = lora.get(key + ".lora_A.weight"), lora.get(key + ".lora_B.weight")
        if a is not None:
            y = y + (x @ a.t()) @ b.t() * (LORA["alpha"] / LORA["r"])
    return y


def additive_mask(attention_mask, T):
    """HF eager 4-D mask: 0 where key kv <= q and key is not padding, finfo.min elsewhere. mask: (B,1,T,T)."""
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    keep = causal[None, None] & attention_mask.bool()[:, None, None, :]
    return torch.zeros(keep.shape).masked_fill(~keep, torch.finfo(torch.float32).min)


def attention(x, w, lora, p, spec, cos, sin, mask):
    B, T, _ = x.shape
    _, _, H, Hkv, D = dims(spec)
    q = linear(x, w, lora, p + "q_proj").view(B, T, H, D)
    k = linear(x, w, lora, p + "k_proj").view(B, T, Hkv, D)
    v = linear(x, w, lora, p + "v_proj").view(B, T, Hkv, D).transpose(1, 2)  # (B,Hkv,T,D)
    if spec["qk_norm"]:  # Qwen3: RMSNorm over D per head, after the reshape and before RoPE
        q, k = rms_norm(q, w[p + "q_norm.weight"]), rms_norm(k, w[p + "k_norm.weight"])
    q, k = q.transpose(1, 2), k.transpose(1, 2)  # q: (B,H,T,D)  k: (B,Hkv,T,D)
    q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
    rep = H // Hkv  # repeat_kv: kv head j serves query heads j*rep .. j*rep+rep-1
    k = k[:, :, None].expand(B, Hkv, rep, T, D).reshape(B, H, T, D)
    v = v[:, :, None].expand(B, Hkv, rep, T, D).reshape(B, H, T, D)
    att = torch.matmul(q, k.transpose(2, 3)) * D ** -0.5 + mask  # (B,H,T,T)
    att = F.softmax(att, dim=-1, dtype=torch.float32)
    out = torch.matmul(att, v).transpose(1, 2).reshape(B, T, H * D)
    return linear(out, w, lora, p + "o_proj")


def forward(w, spec, ids, attention_mask=None, lora=None, hidden=None):
    """logits (B,T,V) of Qwen{2,3}ForCausalLM; positions 0..T-1 for every row (right padding)."""
    B, T = ids.shape
    if attention_mask is None:
        attention_mask = torch.ones(B, T, dtype=torch.int64)
    _, _, _, _, D = dims(spec)
    cos, sin = rope_cos_sin(T, D)
    mask = additive_mask(attention_mask, T)
    x = w["model.embed_tokens.weight"][ids]  # (B,T,C)
    if hidden is not None:
        hidden["hidden.embed"] = x
    for i in range(spec["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = x + attention(rms_norm(x, w[p + "input_layernorm.weight"]), w, lora, p + "self_attn.", spec, cos, sin, mask)
        n = rms_norm(x, w[p + "post_attention_layernorm.weight"])
        mlp = p + "mlp."
        x = x + linear(F.silu(linear(n, w, lora, mlp + "gate_proj")) * linear(n, w, lora, mlp + "up_proj"),
                       w, lora, mlp + "down_proj")
        if hidden is not None:
            hidden[f"hidden.layer.{i}"] = x
    x = rms_norm(x, w["model.norm.weight"])
    if hidden is not None:
        hidden["hidden.final_norm"] = x
    head = w["model.embed_tokens.weight"] if spec["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.t()


def causal_lm_loss(logits, labels):
    """HF ForCausalLMLoss: target at t is labels[t+1]; mean cross-entropy over targets != -100."""
    shift_labels = F.pad(labels, (0, 1), value=-100)[:, 1:]
    return F.cross_entropy(logits.float().reshape(-1, VOCAB), shift_labels.reshape(-1), ignore_index=-100)


# ---------------------------------------------------------------- safetensors (by hand)

ST_DTYPES = {torch.bfloat16: ("BF16", 2), torch.float32: ("F32", 4), torch.int64: ("I64", 8)}
NP_DTYPES = {"BF16": np.dtype("<u2"), "F32": np.dtype("<f4"), "I64": np.dtype("<i8")}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # raw bf16 bits; numpy has no bf16
    return t.numpy().tobytes()  # little-endian host (asserted in main)


def write_safetensors(path, tensors):
    """Header = 8-byte LE length + JSON padded with spaces to a multiple of 8; tensors sorted as the
    safetensors library does (descending alignment, then name)."""
    names = sorted(tensors, key=lambda n: (-ST_DTYPES[tensors[n].dtype][1], n))
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for n in names:
        t = tensors[n]
        data = tensor_bytes(t)
        header[n] = {"dtype": ST_DTYPES[t.dtype][0], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)
    return offset


def read_safetensors(path):
    """Independent check: parse the header, demand contiguous offsets ending at EOF, decode to numpy."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0 and 8 + n <= len(raw), path
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    assert header.pop("__metadata__") == {"format": "pt"}
    data, out, end = raw[8 + n:], {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        a, b = info["data_offsets"]
        dt = NP_DTYPES[info["dtype"]]
        assert a == end and b - a == int(np.prod(info["shape"], dtype=np.int64)) * dt.itemsize, (path, name)
        arr = np.frombuffer(data[a:b], dtype=dt).reshape(info["shape"])
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name], end = arr, b
    assert end == len(data), path
    return out


def check_file(path, expected):
    got = read_safetensors(path)
    assert set(got) == set(expected), (path, set(got) ^ set(expected))
    for name, t in expected.items():
        ref = t.float().numpy() if t.is_floating_point() else t.numpy()
        assert got[name].shape == ref.shape and np.array_equal(got[name], ref), (path, name)


# ---------------------------------------------------------------- goldens

def make_batch(g):
    """Row 0: 9 tokens; row 1: 6 tokens right-padded with PAD. Token ids avoid 0..2 (pad/bos/eos)."""
    rows = [torch.randint(3, VOCAB, (9,), generator=g), torch.randint(3, VOCAB, (6,), generator=g)]
    input_ids = torch.full((2, 9), PAD, dtype=torch.int64)
    attention_mask = torch.zeros(2, 9, dtype=torch.int64)
    for b, r in enumerate(rows):
        input_ids[b, : len(r)] = r
        attention_mask[b, : len(r)] = 1
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    return dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels)


def inference_golden(w, spec, batch):
    hidden = {}
    with torch.no_grad():
        logits = forward(w, spec, batch["input_ids"], batch["attention_mask"], hidden=hidden)
        loss = causal_lm_loss(logits, batch["labels"])
        alone_ids = batch["input_ids"][1:, :6]
        alone = forward(w, spec, alone_ids)
        loss_alone = causal_lm_loss(alone, alone_ids)
    pad_diff = (logits[1:, :6] - alone).abs().max().item()
    assert pad_diff < 1e-4, f"padding changed the logits of row 1 by {pad_diff}"
    tensors = dict(batch, logits=logits, input_ids_seq1_alone=alone_ids, logits_seq1_alone=alone, **hidden)
    scalars = dict(loss=loss.item(), loss_seq1_alone=loss_alone.item(),
                   num_target_tokens=int((batch["labels"][:, 1:] != -100).sum()),
                   max_abs_diff_padded_vs_alone=pad_diff)
    return tensors, scalars


def peft_key(i, module, proj, which):
    return f"base_model.model.model.layers.{i}.{module}.{proj}.lora_{which}.weight"


def lora_init(w, spec, seed):
    """PEFT init for A (kaiming_uniform_ a=sqrt(5) = U(+-1/sqrt(in))); B ~ N(0, 0.05) instead of zeros so
    that dL/dA is nonzero and tested."""
    torch.manual_seed(seed)  # kaiming_uniform_ in torch 1.13 draws from the global generator
    g = torch.Generator().manual_seed(seed + 1)
    lora = {}
    for i in range(spec["num_hidden_layers"]):
        for module, proj in TARGETS:
            out_f, in_f = w[f"model.layers.{i}.{module}.{proj}.weight"].shape
            a = torch.empty(LORA["r"], in_f)
            torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            lora[peft_key(i, module, proj, "A")] = a
            lora[peft_key(i, module, proj, "B")] = torch.randn(out_f, LORA["r"], generator=g) * LORA["lora_B_std"]
    return lora


def lora_step_golden(w, spec, batch, seed):
    """One step: forward with LoRA on all seven projections, HF loss, backward (base frozen), AdamW."""
    init = lora_init(w, spec, seed)
    params = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    logits = forward(w, spec, batch["input_ids"], batch["attention_mask"], lora=params)
    loss = causal_lm_loss(logits, batch["labels"])
    loss.backward()
    grads = {k + ".grad": p.grad.detach().clone() for k, p in params.items()}
    opt = torch.optim.AdamW(list(params.values()), **ADAMW)
    opt.step()
    after = {k + ".after": p.detach().clone() for k, p in params.items()}
    mags = [g.abs() for g in grads.values()]  # min |grad| shows how far every entry is from a sign flip
    scalars = dict(loss=loss.item(), min_abs_grad=min(m.min().item() for m in mags), max_abs_grad=max(m.max().item() for m in mags))
    return {**init, **grads, **after}, scalars


def greedy_golden(w, spec):
    """Greedy tokens by repeated full forwards (no KV cache, no eos stop); margin = top1 - top2 logit."""
    ids, margins = torch.tensor([GREEDY_PROMPT], dtype=torch.int64), []
    with torch.no_grad():
        for _ in range(GREEDY_NEW):
            last = forward(w, spec, ids)[0, -1]
            top = torch.topk(last, 2).values
            margins.append((top[0] - top[1]).item())
            ids = torch.cat([ids, last.argmax().view(1, 1)], dim=1)
    new = ids[:, len(GREEDY_PROMPT):]
    tensors = dict(greedy_prompt_ids=ids[:, : len(GREEDY_PROMPT)], greedy_ids=new)
    return tensors, dict(greedy_ids=new[0].tolist(), min_top1_top2_margin=min(margins),
                         contains_eos=bool((new == EOS).any()))


def describe(name):
    fixed = {
        "input_ids": "(2,9) int64: row 0 has 9 tokens, row 1 has 6 tokens right-padded with pad id 0",
        "attention_mask": "(2,9) int64: 1 = real token, 0 = padding",
        "labels": "(2,9) int64: input_ids with padding set to -100 (the loss shifts them left by one)",
        "logits": "(2,9,V) f32: padded batch, 2-D mask AND causal, positions 0..8 per row; pad query rows attend to the real keys <= q",
        "input_ids_seq1_alone": "(1,6) int64: row 1 without padding",
        "logits_seq1_alone": "(1,6,V) f32: row 1 alone; equals logits[1,:6] up to f32 rounding",
        "hidden.embed": "(2,9,C) f32: embed_tokens output for the padded batch",
        "hidden.final_norm": "(2,9,C) f32: after model.norm (the lm_head input)",
        "greedy_prompt_ids": "(1,5) int64: greedy decode prompt",
        "greedy_ids": f"(1,{GREEDY_NEW}) int64: new tokens only, argmax of the last position of a full forward each step, no eos stop",
    }
    if name in fixed:
        return fixed[name]
    if name.startswith("hidden.layer."):
        return "(2,9,C) f32: residual stream after decoder layer " + name.rsplit(".", 1)[1] + " (before model.norm)"
    if name.endswith(".grad"):
        return "f32: dLoss/d(this LoRA matrix) at the initial values, LoRA-step loss (base frozen)"
    if name.endswith(".after"):
        return "f32: this LoRA matrix after one torch.optim.AdamW step " + json.dumps(ADAMW)
    which = "A (r,in): kaiming_uniform_(a=sqrt(5))" if ".lora_A." in name else "B (out,r): normal std 0.05"
    return "f32: initial LoRA " + which


def write_model_dir(name, spec, w, shards=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(json.dumps(hf_config(spec), indent=2, sort_keys=True) + "\n")
    bf = {k: v.bfloat16() for k, v in w.items()}
    if shards is None:
        write_safetensors(os.path.join(d, "model.safetensors"), bf)
        return check_file(os.path.join(d, "model.safetensors"), bf)
    weight_map, total = {}, 0
    for s, names in enumerate(shards):
        fname = f"model-{s + 1:05d}-of-{len(shards):05d}.safetensors"
        part = {k: bf[k] for k in names}
        total += write_safetensors(os.path.join(d, fname), part)
        check_file(os.path.join(d, fname), part)
        weight_map.update({k: fname for k in names})
    assert set(weight_map) == set(bf)
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2) + "\n")


def make_model(name, spec):
    w = make_weights(spec)
    write_model_dir(name, spec, w)
    if name == "tiny-qwen2":  # sharded twin: embeddings + layer 0 | layer 1 + final norm
        first = [k for k in w if k.startswith(("model.embed_tokens.", "model.layers.0."))]
        write_model_dir(name + "-sharded", spec, w, shards=[first, [k for k in w if k not in first]])
    g = torch.Generator().manual_seed(spec["seed"] + 100)
    batch = make_batch(g)
    inf_t, inf_s = inference_golden(w, spec, batch)
    lora_t, lora_s = lora_step_golden(w, spec, batch, spec["seed"] + 200)
    gr_t, gr_s = greedy_golden(w, spec)
    tensors = {**inf_t, **lora_t, **gr_t}
    path = os.path.join(OUT, name + ".golden.safetensors")
    write_safetensors(path, tensors)
    check_file(path, tensors)
    C, F_, H, Hkv, D = dims(spec)
    meta = {
        "model_dir": name, "generated_by": "apps/finetune/scripts/make_model_golden.py", "torch": torch.__version__,
        "dims": dict(C=C, F=F_, H=H, Hkv=Hkv, D=D, V=VOCAB, layers=spec["num_hidden_layers"]),
        "pad_token_id": PAD, "inference": inf_s,
        "lora": dict(r=LORA["r"], lora_alpha=LORA["alpha"], scaling=LORA["alpha"] / LORA["r"], lora_dropout=0.0,
                     target_modules=[p for _, p in TARGETS], lora_B_init="normal std 0.05 (not zeros)",
                     adamw=ADAMW, batch="same input_ids/attention_mask/labels as inference", **lora_s),
        "greedy": dict(prompt_ids=GREEDY_PROMPT, **gr_s),
        "tensors": {k: dict(dtype=ST_DTYPES[v.dtype][0], shape=list(v.shape), description=describe(k))
                    for k, v in sorted(tensors.items())},
    }
    with open(os.path.join(OUT, name + ".golden.json"), "w") as f:
        f.write(json.dumps(meta, indent=2) + "\n")
    return meta


def main():
    assert sys.byteorder == "little"
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for name, spec in MODELS.items():
        m = make_model(name, spec)
        print(name, json.dumps(dict(m["inference"], lora_loss=m["lora"]["loss"], lora_min_abs_grad=m["lora"]["min_abs_grad"],
                                    greedy=m["greedy"]["greedy_ids"], greedy_min_margin=m["greedy"]["min_top1_top2_margin"])))
    for root, _, files in sorted(os.walk(OUT)):
        for f in sorted(files):
            print(f"{os.path.getsize(os.path.join(root, f)):>9}  {os.path.relpath(os.path.join(root, f), OUT)}")


if __name__ == "__main__":
    main()

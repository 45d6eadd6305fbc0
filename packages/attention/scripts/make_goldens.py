"""make_goldens.py — PyTorch reference values for @tslora/attention's tests (sdpa-golden.json, rope-golden.json).

Run from anywhere:  /usr/bin/python3 packages/attention/scripts/make_goldens.py   (torch 1.13; tests never need torch)

Attention is HF transformers' eager attention with repeat_kv, plus the two rules tslora adds: the
mask is causal (kv <= q + offset) AND the 2-D attention_mask over keys, and a query row with no key
left gives zeros (HF would give a uniform row). Inputs are drawn in f32; the reference is computed in
f64 from those f32 values (so the goldens carry no f32 rounding of their own), then stored as f32.
RoPE is HF's Qwen2RotaryEmbedding + apply_rotary_pos_emb, computed in f32 exactly as HF does it.
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "__fixtures__")


def flat(t):
    # 9 significant digits round-trip an f32 exactly (Float32Array.from(json) restores the same bits)
    return [float("%.9g" % x) for x in t.detach().to(torch.float32).reshape(-1).tolist()]


def repeat_kv(h, n_rep):
    # HF transformers: (B,Hkv,S,D) -> (B,Hkv*n_rep,S,D), kv head g serving query heads g*n_rep .. g*n_rep+n_rep-1
    b, hkv, s, d = h.shape
    if n_rep == 1:
        return h
    return h[:, :, None, :, :].expand(b, hkv, n_rep, s, d).reshape(b, hkv * n_rep, s, d)


def attention(q, k, v, mask2d, causal, offset, scale):
    B, H, T, D = q.shape
    S = k.shape[2]
    rep = H // k.shape[1]
    kk, vv = repeat_kv(k, rep), repeat_kv(v, rep)
    scores = torch.matmul(q, kk.transpose(2, 3)) * scale
    keep = torch.ones(B, 1, T, S, dtype=torch.bool)
    if causal:
        keep = keep & (torch.arange(S)[None, :] <= torch.arange(T)[:, None] + offset)[None, None]
    if mask2d is not None:
        keep = keep & mask2d[:, None, None, :].bool()
    scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    probs = torch.softmax(scores, dim=-1)
    probs = probs * keep.any(dim=-1, keepdim=True)  # rows with no key: zeros, and zero gradients
    return torch.matmul(probs, vv)


def sdpa_case(name, seed, B, H, Hkv, T, S, D, causal, offset, mask):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, D, generator=g)
    k = torch.randn(B, Hkv, S, D, generator=g)
    v = torch.randn(B, Hkv, S, D, generator=g)
    dout = torch.randn(B, H, T, D, generator=g)
    m = torch.tensor(mask, dtype=torch.int32).reshape(B, S) if mask is not None else None
    q64, k64, v64 = (t.double().requires_grad_(True) for t in (q, k, v))
    out = attention(q64, k64, v64, m, causal, offset, D ** -0.5)
    out.backward(dout.double())
    return {
        "name": name, "B": B, "H": H, "Hkv": Hkv, "T": T, "S": S, "D": D,
        "causal": causal, "queryOffset": offset, "attentionMask": mask,
        "q": flat(q), "k": flat(k), "v": flat(v), "dout": flat(dout),
        "out": flat(out), "dq": flat(q64.grad), "dk": flat(k64.grad), "dv": flat(v64.grad),
    }


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(dim, theta, position_ids):
    # Qwen2RotaryEmbedding.__init__ / forward (default rope type), in f32 as HF runs it
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    inv_freq_expanded = inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
    position_ids_expanded = position_ids[:, None, :].float()
    freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rope_case(name, seed, B, H, T, D, theta, position_ids):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, H, T, D, generator=g)
    dy = torch.randn(B, H, T, D, generator=g)
    pos = torch.tensor(position_ids, dtype=torch.int64).reshape(B, T)
    cos, sin = rope_cos_sin(D, theta, pos)
    xg = x.clone().requires_grad_(True)
    y = (xg * cos.unsqueeze(1)) + (rotate_half(xg) * sin.unsqueeze(1))  # apply_rotary_pos_emb
    y.backward(dy)
    return {
        "name": name, "B": B, "H": H, "T": T, "D": D, "theta": theta, "positionIds": position_ids,
        "x": flat(x), "dy": flat(dy), "out": flat(y), "dx": flat(xg.grad),
    }


def rope_table(D, theta, positions):
    cos, sin = rope_cos_sin(D, theta, torch.tensor(positions)[None, :])
    return {"D": D, "theta": theta, "positions": positions, "cos": flat(cos[0]), "sin": flat(sin[0])}


def main():
    torch.manual_seed(0)
    right_pad = [1] * 7 + [1] * 5 + [0] * 2
    sdpa = [
        sdpa_case("gqa_causal_right_padded", 1, 2, 4, 2, 7, 7, 8, True, 0, right_pad),
        sdpa_case("mha_causal_right_padded", 2, 2, 4, 4, 7, 7, 8, True, 0, right_pad),
        sdpa_case("gqa_causal_left_padded", 3, 2, 4, 2, 7, 7, 8, True, 0, [0, 0] + [1] * 5 + [1] * 7),
        sdpa_case("gqa_decode_offset", 4, 1, 4, 2, 2, 7, 8, True, 5, None),
        sdpa_case("gqa_noncausal_padded", 5, 2, 4, 2, 5, 5, 8, False, 0, [1, 0, 1, 1, 0] + [0] * 5),
    ]
    rope = {
        "cases": [
            rope_case("theta_1e6_offset_positions", 11, 2, 3, 7, 8, 1e6, list(range(7)) + list(range(3, 10))),
            rope_case("theta_1e4_d16", 12, 1, 2, 5, 16, 10000.0, [0, 1, 2, 3, 4]),
        ],
        "tables": [
            rope_table(64, 1e6, list(range(40))),
            rope_table(128, 1e6, [0, 1, 2, 7]),
            # far positions: the angle pos*inv_freq is rounded to f32 before cos/sin, as in HF
            rope_table(64, 1e6, [511, 1000, 4095, 8191, 32767]),
            rope_table(16, 10000.0, [2047, 4095]),
        ],
    }
    os.makedirs(OUT, exist_ok=True)
    for fname, payload in (("sdpa-golden.json", {"torch": torch.__version__, "cases": sdpa}),
                           ("rope-golden.json", {"torch": torch.__version__, **rope})):
        path = os.path.join(OUT, fname)
        with open(path + ".tmp", "w") as f:
            json.dump(payload, f, separators=(",", ":"))
        os.replace(path + ".tmp", path)
        print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()

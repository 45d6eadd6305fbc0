# attention-torch.py — PyTorch's attention forward+backward for bench/attention.bench.ts (shape as JSON on stdin).
#
# The math of HF transformers' eager attention (Qwen2): repeat_kv, q·kᵀ·scale + additive causal mask
# (finfo.min above the diagonal, built once like HF builds it once per forward), softmax in f32, ·v.
# Input {"B","H","Hkv","T","D","reps","threads"}; prints {"fwd_s","bwd_s","total_s"} medians and mins.
import json
import sys
import time

import torch

cfg = json.load(sys.stdin)
torch.set_num_threads(cfg["threads"])
torch.manual_seed(0)
B, H, Hkv, T, D = cfg["B"], cfg["H"], cfg["Hkv"], cfg["T"], cfg["D"]
rep = H // Hkv
scale = D ** -0.5


def repeat_kv(h, n_rep):
    b, hkv, s, d = h.shape
    if n_rep == 1:
        return h
    return h[:, :, None, :, :].expand(b, hkv, n_rep, s, d).reshape(b, hkv * n_rep, s, d)


def eager_attention(q, k, v, mask):
    k = repeat_kv(k, rep)
    v = repeat_kv(v, rep)
    w = torch.matmul(q, k.transpose(2, 3)) * scale + mask
    w = torch.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(w, v)


q = torch.randn(B, H, T, D, requires_grad=True)
k = torch.randn(B, Hkv, T, D, requires_grad=True)
v = torch.randn(B, Hkv, T, D, requires_grad=True)
dout = torch.randn(B, H, T, D)
mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)[None, None]

fwd, bwd, tot = [], [], []
for i in range(cfg["reps"] + 2):
    q.grad = k.grad = v.grad = None
    t0 = time.perf_counter()
    o = eager_attention(q, k, v, mask)
    t1 = time.perf_counter()
    o.backward(dout)
    t2 = time.perf_counter()
    if i >= 2:  # two warm-up iterations
        fwd.append(t1 - t0)
        bwd.append(t2 - t1)
        tot.append(t2 - t0)
for xs in (fwd, bwd, tot):
    xs.sort()
med = lambda xs: xs[len(xs) // 2]
print(json.dumps({"fwd_s": med(fwd), "bwd_s": med(bwd), "total_s": med(tot), "total_min_s": tot[0]}))

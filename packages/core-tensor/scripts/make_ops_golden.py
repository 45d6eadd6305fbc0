#!/usr/bin/env python3
"""make_ops_golden.py — torch goldens for the composite ops the Qwen model leans on (ops/golden.test.ts).

Writes src/ops/fixtures/ops-golden.json: for each case the inputs, an upstream gradient dy, torch's
forward output and the gradients of every differentiable input (float32 values as JSON numbers;
-Infinity as the string "-inf"). Shapes are tiny so the file stays small.

Cases: matmul with transposes (2-D and batched), softmax / log_softmax over the last dim with a
-inf entry, cross_entropy with ignore_index=-100 (mean), Qwen2RMSNorm forward+backward, silu,
exact gelu, and embedding backward with repeated ids.

Run: /usr/bin/python3 packages/core-tensor/scripts/make_ops_golden.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "ops", "fixtures", "ops-golden.json")
torch.manual_seed(1234)


def enc(t):
    """Flattened float32 values; -inf / inf / nan as strings (JSON has no literals for them)."""
    out = []
    for v in t.detach().reshape(-1).tolist():
        if isinstance(v, float) and not math.isfinite(v):
            out.append("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
        else:
            out.append(float(f"{v:.9g}"))  # 9 significant digits round-trip any float32 exactly
    return out


def tensor(shape, scale=1.0):
    return (torch.randn(*shape) * scale).requires_grad_(True)


def case(name, inputs, fn, extra=None, int_inputs=None):
    """Runs fn(*inputs) with a random dy and records output and input grads."""
    y = fn(*inputs)
    dy = torch.randn_like(y)
    grads = torch.autograd.grad(y, inputs, grad_outputs=dy)
    rec = {
        "name": name,
        "inputs": [{"shape": list(x.shape), "data": enc(x)} for x in inputs],
        "dy": {"shape": list(dy.shape), "data": enc(dy)},
        "out": {"shape": list(y.shape), "data": enc(y)},
        "grads": [enc(g) for g in grads],
    }
    if int_inputs:
        rec["ints"] = {k: {"shape": list(v.shape), "data": v.reshape(-1).tolist()} for k, v in int_inputs.items()}
    if extra:
        rec.update(extra)
    return rec


def rms_norm(x, w, eps=1e-6):
    # transformers' Qwen2RMSNorm: variance in f32, x * rsqrt(mean(x^2) + eps), then weight
    variance = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(variance + eps))


def main():
    cases = []
    # matmul: x @ Wᵀ (Linear layout), Aᵀ @ B, and a batched Aᵀ @ Bᵀ
    cases.append(case("matmul_transB", [tensor((3, 4)), tensor((5, 4))], lambda a, b: a @ b.T, {"opts": {"transB": True}}))
    cases.append(case("matmul_transA", [tensor((4, 3)), tensor((4, 5))], lambda a, b: a.T @ b, {"opts": {"transA": True}}))
    cases.append(
        case(
            "matmul_batched_transA_transB",
            [tensor((2, 4, 3)), tensor((2, 5, 4))],
            lambda a, b: a.transpose(-1, -2) @ b.transpose(-1, -2),
            {"opts": {"transA": True, "transB": True}},
        )
    )
    # softmax / log_softmax with a masked (-inf) entry and large logits
    x = torch.randn(3, 5) * 3
    x[1, 2] = -math.inf
    x[2] += 50.0
    cases.append(case("softmax", [x.clone().requires_grad_(True)], lambda t: torch.softmax(t, -1)))
    cases.append(case("log_softmax", [x.clone().requires_grad_(True)], lambda t: torch.log_softmax(t, -1)))
    # cross_entropy, mean over non-ignored targets
    targets = torch.tensor([1, -100, 5, 0, -100, 3])
    cases.append(
        case("cross_entropy", [tensor((6, 7), 2.0)], lambda t: F.cross_entropy(t, targets, ignore_index=-100), int_inputs={"targets": targets})
    )
    # RMSNorm (eps 1e-6) over the last dim of (2,3,8)
    w = (1 + 0.1 * torch.randn(8)).requires_grad_(True)
    cases.append(case("rms_norm", [tensor((2, 3, 8)), w], lambda a, b: rms_norm(a, b, 1e-6), {"eps": 1e-6}))
    # activations
    cases.append(case("silu", [tensor((3, 6), 3.0)], F.silu))
    cases.append(case("gelu", [tensor((3, 6), 3.0)], lambda t: F.gelu(t)))
    # embedding backward: scatter-add of repeated ids
    ids = torch.tensor([[1, 3, 1], [0, 1, 4]])
    cases.append(case("embedding", [tensor((5, 3))], lambda wt: F.embedding(ids, wt), int_inputs={"ids": ids}))

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""make_adamw_golden.py — torch goldens for optim/ (adamw.test.ts, schedule.test.ts, clip.test.ts).

Writes src/optim/fixtures/optim-golden.json with three sections:
  adamw      torch.optim.AdamW over ten steps of a fixed least-squares problem, for two settings
             (defaults; and betas (0.8, 0.95), eps 1e-6, wd 0.1 with a per-step lr). Per step: the lr,
             the gradients torch computed (null for a parameter left without grad on that step, which
             AdamW skips), and the parameters after the update; plus the final exp_avg/exp_avg_sq.
  schedules  transformers' warmup schedules (get_cosine_schedule_with_warmup, get_linear_..., the
             constant one and get_cosine_with_min_lr_schedule_with_warmup), whose lambdas are written
             out below (transformers is not installed) and driven through torch's LambdaLR, recording
             the lr each optimizer step uses.
  clip       torch.nn.utils.clip_grad_norm_: returned total norm and clipped gradients.

Run: /usr/bin/python3 packages/core-tensor/scripts/make_adamw_golden.py
"""
import json
import math
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "optim", "fixtures", "optim-golden.json")


def enc(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]


# ---- AdamW ---------------------------------------------------------------------------------------
def adamw_case(name, opts, lrs):
    """loss = mean((x@W + b − y)²) + Σ c² on even steps only (so c has no grad on odd steps)."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(8, 5, generator=g)
    y = torch.randn(8, 3, generator=g)
    W = torch.randn(5, 3, generator=g).requires_grad_(True)
    b = torch.zeros(3).requires_grad_(True)
    c = torch.randn(4, generator=g).requires_grad_(True)
    params = [W, b, c]
    init = {"x": enc(x), "y": enc(y), "params": [{"shape": list(p.shape), "data": enc(p)} for p in params]}
    opt = torch.optim.AdamW(params, lr=lrs[0], **opts)
    steps = []
    for k, lr in enumerate(lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = ((x @ W + b - y) ** 2).mean()
        if k % 2 == 0:
            loss = loss + (c**2).sum()
        loss.backward()
        grads = [None if p.grad is None else enc(p.grad) for p in params]
        opt.step()
        steps.append({"lr": lr, "loss": float(loss), "grads": grads, "params": [enc(p) for p in params]})
    state = [{"exp_avg": enc(opt.state[p]["exp_avg"]), "exp_avg_sq": enc(opt.state[p]["exp_avg_sq"]), "step": float(opt.state[p]["step"])} for p in params]
    return {"name": name, "opts": opts, "init": init, "steps": steps, "state": state}


def adamw_section():
    default = adamw_case("defaults", {}, [1e-2] * 10)
    default["opts"] = {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}
    lrs = [0.05 * (1 - k / 10) + 1e-3 for k in range(10)]
    custom = adamw_case("custom", {"betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1}, lrs)
    custom["opts"] = {"betas": [0.8, 0.95], "eps": 1e-6, "weight_decay": 0.1}
    return [default, custom]


# ---- schedules (transformers' lambdas, written out) ---------------------------------------------
def cosine_lambda(warmup, total, num_cycles=0.5, min_lr_rate=0.0):
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        progress = float(step - warmup) / float(max(1, total - warmup))
        factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
        factor = factor * (1 - min_lr_rate) + min_lr_rate
        return max(0, factor)

    return f


def linear_lambda(warmup, total):
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))

    return f


def constant_lambda(warmup):
    def f(step):
        if step < warmup:
            return float(step) / float(max(1.0, warmup))
        return 1.0

    return f


def schedule_section():
    cases = []
    configs = [
        ("cosine", 3e-4, 5, 40, None),
        ("cosine", 1e-3, 0, 17, None),
        ("cosine", 2e-4, 10, 30, 2e-5),
        ("linear", 3e-4, 5, 40, None),
        ("linear", 1e-3, 0, 1, None),
        ("constant", 5e-4, 4, 12, None),
        ("constant", 5e-4, 0, 3, None),
    ]
    for schedule, lr, warmup, total, min_lr in configs:
        if schedule == "cosine":
            lam = cosine_lambda(warmup, total, min_lr_rate=(min_lr or 0.0) / lr)
        elif schedule == "linear":
            lam = linear_lambda(warmup, total)
        else:
            lam = constant_lambda(warmup)
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lam)
        used = []
        for _ in range(total):
            used.append(opt.param_groups[0]["lr"])  # the lr optimizer step k (1-based) runs with
            opt.step()
            sched.step()
        cases.append({"schedule": schedule, "lr": lr, "warmup": warmup, "total": total, "minLr": min_lr, "lrs": used})
    return cases


# ---- clip_grad_norm_ -----------------------------------------------------------------------------
def clip_section():
    g = torch.Generator().manual_seed(3)
    cases = []
    for max_norm, scale in [(1.0, 3.0), (100.0, 1.0), (0.5, 1e-3), (2.0, 0.7)]:
        grads = [torch.randn(4, 3, generator=g) * scale, torch.randn(5, generator=g) * scale]
        params = [torch.zeros_like(t, requires_grad=True) for t in grads] + [torch.zeros(2, requires_grad=True)]
        for p, gr in zip(params, grads):
            p.grad = gr.clone()
        before = [enc(gr) for gr in grads]
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)  # the third parameter has no grad
        cases.append({"maxNorm": max_norm, "grads": before, "norm": float(norm), "clipped": [enc(p.grad) for p in params[:2]]})
    return cases


def main():
    out = {"torch": torch.__version__, "adamw": adamw_section(), "schedules": schedule_section(), "clip": clip_section()}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()

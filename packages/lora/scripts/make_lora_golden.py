"""make_lora_golden.py — PyTorch reference values for @tslora/lora's LoraLinear (forward and gradients).

PEFT is not installed here, so its LoRA math is written out (peft/tuners/lora/layer.py, LoraLayer +
lora.Linear): lora_A = nn.Linear(in, r, bias=False) initialised kaiming_uniform_(a=sqrt(5)) (or
normal_(std=1/r) for init_lora_weights="gaussian"), lora_B = nn.Linear(r, out, bias=False)
zeros, scaling = lora_alpha / r (lora_alpha / sqrt(r) with use_rslora), and

    result = base_layer(x) + lora_B(lora_A(dropout(x))) * scaling

with the base layer frozen. lora_B is set to nonzero values below: with zeros the gradient of
lora_A would be identically zero and the test could not tell a right rule from a wrong one.

Run:  /usr/bin/python3 packages/lora/scripts/make_lora_golden.py
Writes packages/lora/src/__fixtures__/lora_golden.json (committed; the tests never need torch).
"""
import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

IN, OUT, R, ALPHA, BATCH, SEQ = 16, 12, 4, 8, 3, 2


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def peft_lora_shapes(in_f, out_f, r, init):
    """Builds lora_A/lora_B exactly as PEFT's update_layer does; returns their shapes."""
    lora_A = nn.Linear(in_f, r, bias=False)
    lora_B = nn.Linear(r, out_f, bias=False)
    if init == "gaussian":
        nn.init.normal_(lora_A.weight, std=1 / r)
    else:
        nn.init.kaiming_uniform_(lora_A.weight, a=math.sqrt(5))
    nn.init.zeros_(lora_B.weight)
    return list(lora_A.weight.shape), list(lora_B.weight.shape), lora_B.weight.abs().max().item()


def kaiming_bound(fan_in, a=math.sqrt(5)):
    """torch.nn.init.kaiming_uniform_'s bound, from torch's own gain function."""
    gain = nn.init.calculate_gain("leaky_relu", a)
    return math.sqrt(3.0) * gain / math.sqrt(fan_in)


def lora_case(name, x, W, b, A, B, scaling, grad_out):
    x = x.clone().requires_grad_(True)
    A = A.clone().requires_grad_(True)
    B = B.clone().requires_grad_(True)
    # base frozen: W and b carry no grad, as in PEFT after get_peft_model
    y = F.linear(x, W, b) + F.linear(F.linear(x, A), B) * scaling
    (y * grad_out).sum().backward()
    return {
        "name": name,
        "scaling": scaling,
        "x_shape": list(x.shape),
        "x": flat(x),
        "grad_out": flat(grad_out),
        "y": flat(y),
        "dx": flat(x.grad),
        "dA": flat(A.grad),
        "dB": flat(B.grad),
    }


def main():
    torch.manual_seed(20240607)
    base = nn.Linear(IN, OUT, bias=True)
    W, b = base.weight.detach(), base.bias.detach()
    A = torch.empty(R, IN)
    nn.init.kaiming_uniform_(A, a=math.sqrt(5))
    B = torch.randn(OUT, R) * 0.1  # nonzero on purpose (see module docstring)
    x2 = torch.randn(BATCH, IN)
    g2 = torch.randn(BATCH, OUT)
    x3 = torch.randn(BATCH, SEQ, IN)
    g3 = torch.randn(BATCH, SEQ, OUT)
    cases = [
        lora_case("standard", x2, W, b, A, B, ALPHA / R, g2),
        lora_case("rslora", x2, W, b, A, B, ALPHA / math.sqrt(R), g2),
        lora_case("standard_3d", x3, W, b, A, B, ALPHA / R, g3),
    ]
    init = {}
    for mode in ("kaiming", "gaussian"):
        a_shape, b_shape, b_absmax = peft_lora_shapes(IN, OUT, R, mode)
        init[mode] = {"lora_A_shape": a_shape, "lora_B_shape": b_shape, "lora_B_absmax": b_absmax}
    init["kaiming"]["bound"] = kaiming_bound(IN)
    init["gaussian"]["std"] = 1.0 / R
    out = {
        "generator": "packages/lora/scripts/make_lora_golden.py",
        "torch": torch.__version__,
        "in_features": IN,
        "out_features": OUT,
        "r": R,
        "lora_alpha": ALPHA,
        "W": flat(W),
        "bias": flat(b),
        "lora_A": flat(A),
        "lora_B": flat(B),
        "cases": cases,
        "init": init,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "src", "__fixtures__", "lora_golden.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()

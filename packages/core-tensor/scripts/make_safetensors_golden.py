#!/usr/bin/env python3
"""make_safetensors_golden.py — torch-computed goldens for dtype.test.ts and io/safetensors.test.ts.

Writes into src/io/fixtures/:
  dtype_rounding.json   f32 bit patterns (tricky: RNE ties, NaN, Inf, subnormals, f16 overflow, plus random)
                        with torch's `.to(torch.bfloat16)` and `.half()` results as uint16 bit patterns.
  golden.safetensors    tensors of every dtype written from torch tensors, laid out as the Rust
                        safetensors crate does (descending dtype alignment, then name; header padded with
                        spaces to a multiple of 8; {"format":"pt"} metadata). torch 1.13 has no safetensors
                        package, so the format is written by hand with struct + json.
  golden_expected.json  per tensor: dtype, shape and the values torch holds (non-finite as strings).

Run: /usr/bin/python3 packages/core-tensor/scripts/make_safetensors_golden.py
"""
import json
import math
import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "io", "fixtures")


def f32_from_bits(bits):
    return torch.tensor(np.array(bits, dtype=np.uint32).view(np.int32)).view(torch.float32)


def u16(t):
    return [int(v) & 0xFFFF for v in t.view(torch.int16).tolist()]


def tricky_bits():
    b = [
        0x00000000, 0x80000000,              # ±0
        0x7F800000, 0xFF800000,              # ±Inf
        0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FBFFFFF, 0xFFFFFFFF,  # quiet/signalling/negative NaN
        0x3F800000, 0xBF800000,              # ±1
        0x7F7FFFFF, 0xFF7FFFFF,              # f32 max: bf16 rounds to Inf, f16 overflows
        0x00000001, 0x80000001, 0x007FFFFF, 0x00800000,  # f32 subnormals, min normal
        0x00008000, 0x00018000, 0x00017FFF, 0x00018001,  # bf16 ties/near-ties in the subnormal range
    ]
    # bf16 ties: lower 16 bits exactly 0x8000; kept lsb 0 -> round down, 1 -> round up.
    for hi in (0x3F80, 0x3F81, 0x4049, 0x404A, 0xC2F6, 0xC2F7, 0x7F7F, 0x0080):
        b += [(hi << 16) | 0x8000, (hi << 16) | 0x7FFF, (hi << 16) | 0x8001]
    # f16 ties in the normal range: 13 dropped bits exactly 0x1000.
    for base in (0x3F800000, 0x3F802000, 0x44800000, 0x44802000, 0xC0000000):
        b += [base | 0x1000, base | 0x0FFF, base | 0x1001]
    # f16 edges: max 65504, 65519.996, 65520 (tie -> Inf), 65536; min normal 2^-14 and around it.
    b += [0x477FE000, 0x477FEFFF, 0x477FF000, 0x47800000, 0xC77FF000, 0x38800000, 0x387FFFFF, 0x387FE000, 0x387FF000]
    # f16 subnormals: 2^-24, 2^-25 (tie -> 0), 1.5*2^-25, 3*2^-25 (tie -> 2 units), just above/below 2^-25.
    b += [0x33800000, 0x33000000, 0x33400000, 0x33C00000, 0x33000001, 0x32FFFFFF, 0x33A00000, 0x34200000, 0xB3000001]
    b += [0x32000000, 0x2F800000]  # far below f16 range -> 0
    return b


def rounding_golden():
    rng = np.random.default_rng(1234)
    rand = rng.integers(0, 2**32, size=200, dtype=np.uint64).astype(np.uint32).tolist()
    # Values in f16's range with random low bits, where rounding matters most.
    mid = (rng.integers(0x33000000, 0x47800000, size=200, dtype=np.uint64) | (rng.integers(0, 2, size=200) << 31).astype(np.uint64))
    bits = tricky_bits() + [int(v) for v in rand] + [int(v) & 0xFFFFFFFF for v in mid.tolist()]
    x = f32_from_bits(bits)
    return {
        "source": f"torch {torch.__version__}: x.to(torch.bfloat16).view(torch.int16), x.half().view(torch.int16)",
        "f32_bits": bits,
        "bf16_bits": u16(x.to(torch.bfloat16)),
        "f16_bits": u16(x.half()),
    }


# Rust safetensors `Dtype` enum order; writers sort by it descending, then by name.
ST_RANK = {"BOOL": 0, "U8": 1, "I8": 2, "I16": 5, "F16": 7, "BF16": 8, "I32": 9, "F32": 11, "F64": 12, "I64": 13}
ST_NAME = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
           torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, metadata):
    items = sorted(tensors.items(), key=lambda kv: (-ST_RANK[ST_NAME[kv[1].dtype]], kv[0]))
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, t in items:
        b = raw_bytes(t)
        header[name] = {"dtype": ST_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def golden_tensors():
    g = torch.Generator().manual_seed(0)
    specials = torch.tensor([0.0, -0.0, 1.0, float("inf"), float("-inf"), float("nan"), 1e-40, 65519.0, 3.0e38, 1.00390625])
    return {
        "model.embed_tokens.weight": torch.randn(6, 4, generator=g).to(torch.bfloat16),
        "model.layers.0.mlp.up_proj.weight": torch.randn(3, 5, generator=g),
        "model.layers.0.self_attn.q_proj.bias": torch.randn(7, generator=g).half(),
        "specials.bf16": specials.to(torch.bfloat16),
        "specials.f16": specials.half(),
        "specials.f32": specials.clone(),
        "specials.f64": torch.tensor([1.0 / 3.0, 1e-300, -2.5, float("nan")], dtype=torch.float64),
        "position_ids": torch.tensor([[0, 1, 2, -5, 2**31 - 1, -(2**31)]], dtype=torch.int64),
        "i32": torch.tensor([7, -8, 2**31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-32768, 32767, 5], dtype=torch.int16),
        "i8": torch.tensor([-128, 127, 0, 3], dtype=torch.int8),
        "u8": torch.tensor([0, 255, 17], dtype=torch.uint8),
        "mask": torch.tensor([[True, False], [False, True]]),
        "empty": torch.zeros(0, 3),
        "scalar": torch.tensor(2.5),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "dtype_rounding.json"), "w") as f:
        json.dump(rounding_golden(), f, separators=(",", ":"))
        f.write("\n")
    tensors = golden_tensors()
    write_safetensors(os.path.join(OUT, "golden.safetensors"), tensors, {"format": "pt"})
    expected = {}
    for name, t in tensors.items():
        vals = t.to(torch.float64) if t.is_floating_point() else t.to(torch.int64)
        expected[name] = {"dtype": ST_NAME[t.dtype], "shape": list(t.shape),
                          "values": [jsonable(v) for v in vals.flatten().tolist()]}
    with open(os.path.join(OUT, "golden_expected.json"), "w") as f:
        json.dump({"source": f"torch {torch.__version__}", "metadata": {"format": "pt"}, "tensors": expected}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

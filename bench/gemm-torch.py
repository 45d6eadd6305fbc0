# gemm-torch.py — torch's GEMM GFLOPS for the cases bench/gemm.bench.ts passes as JSON on stdin.
#
# Each case: {"m","n","k","batch","transA","transB","beta","reps"}. Operands are stored as our backends see
# them (A (k,m) when transA, B (n,k) when transB) and handed to torch as transposed views, so BLAS
# gets the transpose flag exactly like MLAS does. Output is preallocated, as in the TS benchmark.
# Prints one JSON list of {"median_s","cores"} in case order; cores = process CPU time / wall time
# per call (median), ~2.0 when torch had both cores to itself.
import json
import sys
import time

import torch

torch.set_num_threads(2)
torch.manual_seed(0)
cases = json.load(sys.stdin)
results = []
for c in cases:
    m, n, k, bt = c["m"], c["n"], c["k"], c["batch"]
    a = torch.randn(bt, k, m).transpose(1, 2) if c["transA"] else torch.randn(bt, m, k)
    b = torch.randn(bt, n, k).transpose(1, 2) if c["transB"] else torch.randn(bt, k, n)
    out = torch.randn(bt, m, n)
    if bt == 1:
        a, b, out = a[0], b[0], out[0]

    def run():
        if bt > 1:
            torch.bmm(a, b, out=out) if c["beta"] == 0 else out.baddbmm_(a, b, beta=c["beta"])
        elif c["beta"] == 0:
            torch.mm(a, b, out=out)
        else:
            out.addmm_(a, b, beta=c["beta"])

    run()
    run()
    times = []
    cores = []
    for _ in range(c["reps"]):
        c0 = time.process_time()
        t0 = time.perf_counter()
        run()
        wall = time.perf_counter() - t0
        times.append(wall)
        cores.append((time.process_time() - c0) / wall)
    times.sort()
    cores.sort()
    results.append({"median_s": times[len(times) // 2], "cores": cores[len(cores) // 2]})
    del a, b, out
print(json.dumps(results))

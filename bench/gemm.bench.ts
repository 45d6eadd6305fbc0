// gemm.bench.ts — GEMM GFLOPS of the ts and ort backends (and torch, when installed) on Qwen2.5-0.5B layer shapes.
//
// Run: `npx tsx bench/gemm.bench.ts` (or `pnpm bench gemm`). Times are per backend.gemm() call with a
// preallocated `out`, so they include everything the autograd pays: argument checks, wrapping the
// Float32Arrays for onnxruntime (zero-copy) and the in-place write of C. Median of several runs
// after warm-up. "cores" is the median of process CPU time / wall time per call: ~2.0 means the run had
// both cores to itself; clearly below 2 means another process took a core and the row is not clean
// (other engineers share these 2 cores; rerun then). torch reports the same for its process.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type Backend, type GemmArgs, OrtBackend, ortBackend, tsBackend } from '@tslora/core-tensor';

// Qwen2.5-0.5B: T tokens per step, C hidden, F ffn, V vocab. Linear weights are HF (out,in).
const T = 512;
const C = 896;
const F = 4864;
const V = 151936;

interface Case {
  label: string;
  args: Omit<GemmArgs, 'a' | 'b' | 'out'>;
  /** Also time the TS backend (only the first shape: it needs seconds per call). */
  ts?: boolean;
}

/** For a Linear in→out: the plain product the issue names, then forward and the two backward GEMMs. */
function layerCases(name: string, inF: number, outF: number, ts = false): Case[] {
  return [
    { label: `${name}: (${T}x${inF})@(${inF}x${outF})`, args: { m: T, n: outF, k: inF }, ts },
    { label: `${name} fwd y=x·Wᵀ (transB)`, args: { m: T, n: outF, k: inF, transB: true } },
    { label: `${name} dX=dY·W`, args: { m: T, n: inF, k: outF } },
    { label: `${name} dW=dYᵀ·X (transA)`, args: { m: outF, n: inF, k: T, transA: true } },
  ];
}

const CASES: Case[] = [
  ...layerCases('up/gate 896→4864', C, F, true),
  { label: 'up/gate dW += dYᵀ·X (transA, beta=1)', args: { m: F, n: C, k: T, transA: true, beta: 1 } },
  ...layerCases('down 4864→896', F, C),
  ...layerCases('lm_head 896→151936', C, V),
  // Attention with 14 heads of D=64 (batched FusedMatMul path): scores S = Q·Kᵀ, then O = P·V.
  { label: 'attn S=Q·Kᵀ (batch 14, transB)', args: { m: T, n: T, k: 64, batch: 14, transB: true } },
  { label: 'attn O=P·V (batch 14)', args: { m: T, n: 64, k: T, batch: 14 } },
];

function fill(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  return x;
}

function operands(args: Case['args']): GemmArgs {
  const batch = args.batch ?? 1;
  const nb = args.broadcastB ? 1 : batch;
  return {
    ...args,
    a: fill(batch * args.m * args.k),
    b: fill(nb * args.k * args.n),
    out: fill(batch * args.m * args.n),
  };
}

function flops(args: Case['args']): number {
  return 2 * (args.batch ?? 1) * args.m * args.n * args.k;
}

function median(xs: number[]): number {
  return xs.slice().sort((x, y) => x - y)[xs.length >> 1] as number;
}

/** Median seconds of `reps` timed calls after `warm` untimed ones, and median cores busy during a call. */
function time(fn: () => void, warm: number, reps: number): { median: number; cores: number } {
  for (let i = 0; i < warm; i++) fn();
  const ts: number[] = [];
  const cores: number[] = [];
  for (let i = 0; i < reps; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    ts.push(wallMs / 1000);
    cores.push((cpu.user + cpu.system) / 1000 / wallMs);
  }
  return { median: median(ts), cores: median(cores) };
}

/** Enough repetitions for ~2 s per measurement at the expected speed, at least 5. */
function repsFor(f: number, gflops: number): number {
  return Math.max(5, Math.min(41, Math.round(2 / (f / (gflops * 1e9))) | 1));
}

function gf(f: number, seconds: number): string {
  return (f / seconds / 1e9).toFixed(1);
}

function measure(backend: Backend, c: Case, expected: number): { gflops: string; cores: string } {
  const ops = operands(c.args);
  const f = flops(c.args);
  const t = time(() => backend.gemm(ops), 2, repsFor(f, expected));
  return { gflops: gf(f, t.median), cores: t.cores.toFixed(2) };
}

const TORCH_ENV_PY = '/usr/bin/python3';

/** torch GFLOPS per case, run with OpenBLAS's AVX-512 kernel forced (shared/reference/README.md). */
function torchColumn(cases: Case[]): { values: string[]; note: string } {
  if (!existsSync(TORCH_ENV_PY) || spawnSync(TORCH_ENV_PY, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) {
    return { values: cases.map(() => '— | —'), note: 'torch column skipped: /usr/bin/python3 cannot import torch' };
  }
  const input = cases.map((c) => ({
    m: c.args.m,
    n: c.args.n,
    k: c.args.k,
    batch: c.args.batch ?? 1,
    transA: c.args.transA ?? false,
    transB: c.args.transB ?? false,
    beta: c.args.beta ?? 0,
    reps: repsFor(flops(c.args), 200),
  }));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OPENBLAS_CORETYPE: 'SkylakeX',
    LD_LIBRARY_PATH: '/usr/lib/x86_64-linux-gnu/openblas-openmp',
  };
  delete env.OPENBLAS_L2_SIZE;
  const script = fileURLToPath(new URL('gemm-torch.py', import.meta.url));
  const res = spawnSync(TORCH_ENV_PY, [script], { input: JSON.stringify(input), env, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`gemm-torch.py failed (exit ${res.status}): ${res.stderr}`);
  const out = JSON.parse(res.stdout) as { median_s: number; cores: number }[];
  const values = cases.map((c, i) => {
    const r = out[i] as { median_s: number; cores: number };
    return `${gf(flops(c.args), r.median_s)} | ${r.cores.toFixed(2)}`;
  });
  return { values, note: 'torch 1.13 (Debian), OpenBLAS 0.3.21 openmp with OPENBLAS_CORETYPE=SkylakeX, 2 threads' };
}

function mainTable(): void {
  const rows: string[][] = [];
  for (const c of CASES) {
    const ts = c.ts ? measure(tsBackend, c, 3) : undefined;
    const ort = measure(ortBackend, c, 180);
    rows.push([c.label, `${c.args.m}·${c.args.n}·${c.args.k}`, ts?.gflops ?? '—', ort.gflops, ort.cores]);
  }
  const torch = torchColumn(CASES);
  console.log('\n| GEMM | m·n·k | ts GFLOPS | ort GFLOPS | ort cores | torch GFLOPS | torch cores |');
  console.log('|---|---|---|---|---|---|---|');
  rows.forEach((r, i) => {
    console.log(`| ${r.join(' | ')} | ${torch.values[i]} |`);
  });
  console.log(`\n${torch.note}`);
}

/** What moving data in and out costs, and the two ways of accumulating (beta = 1). */
function dataMovementTable(): void {
  const args = { m: T, n: F, k: C };
  const f = flops(args);
  const ops = operands(args);
  const reps = repsFor(f, 180);
  const given = time(() => ortBackend.gemm(ops), 2, reps);
  const fresh = time(() => ortBackend.gemm({ ...ops, out: undefined }), 2, reps);
  const inPlace = time(() => ortBackend.gemm({ ...ops, beta: 1 }), 2, reps);
  const tmp = new Float32Array(T * F);
  const out = ops.out as Float32Array;
  const viaAdd = time(
    () => {
      ortBackend.gemm({ ...ops, out: tmp });
      for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + (tmp[i] as number);
    },
    2,
    reps,
  );
  console.log(`\n| (${T}x${C})@(${C}x${F}) on ort | ms | GFLOPS | cores |`);
  console.log('|---|---|---|---|');
  const row = (name: string, t: { median: number; cores: number }) =>
    console.log(`| ${name} | ${(t.median * 1000).toFixed(2)} | ${gf(f, t.median)} | ${t.cores.toFixed(2)} |`);
  row('out given (ORT writes C in place; inputs wrapped, not copied)', given);
  row('out allocated per call (new Float32Array)', fresh);
  row('beta=1: C fed to Gemm, accumulated in place', inPlace);
  row('beta=1: beta=0 into a temp, then TS add', viaAdd);
}

/** Per-call time of tiny square GEMMs: where the TS kernel beats a native session run. */
function crossoverTable(): void {
  const native = new OrtBackend();
  native.smallGemmMacs = 0;
  console.log('\n| small GEMM n×n×n | ts µs | ort (native) µs |');
  console.log('|---|---|---|');
  for (const s of [2, 4, 8, 12, 16, 20, 24, 32, 48, 64]) {
    const c: Case = { label: '', args: { m: s, n: s, k: s } };
    const ops = operands(c.args);
    const reps = 2001;
    const ts = time(() => tsBackend.gemm(ops), 200, reps);
    const ort = time(() => native.gemm(ops), 200, reps);
    console.log(`| ${s} (${s ** 3} MACs) | ${(ts.median * 1e6).toFixed(1)} | ${(ort.median * 1e6).toFixed(1)} |`);
  }
  native.dispose();
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `# GEMM benchmark — ${cpu}, ${availableParallelism()} threads, node ${process.version}, onnxruntime-node 1.30.0`,
);
console.log(`ort routes products below ${ortBackend.smallGemmMacs} multiply-adds to the ts kernel.`);
mainTable();
dataMovementTable();
crossoverTable();
ortBackend.dispose();

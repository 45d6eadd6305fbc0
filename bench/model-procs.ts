// model-procs.ts — the model benchmark's child processes (tslora worker, torch reference) and the foreign-load meter.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { WorkerJob, WorkerResult } from './model-worker.js';

export const PYTHON = '/usr/bin/python3';
export const TORCH_REF = '/work/shared/reference/torch_qwen2_lora.py';
const WORKER = fileURLToPath(new URL('model-worker.ts', import.meta.url));
const TORCH_DECODE = fileURLToPath(new URL('torch-decode.py', import.meta.url));
/** A child that runs longer than this is stuck (a 0.5B step takes seconds to a minute). */
const CHILD_TIMEOUT_MS = 40 * 60 * 1000;

/** The two fair torch set-ups of shared/reference/README.md; never torch's default (Prescott) BLAS. */
export type TorchVariant = 'skx-omp' | 'tuned';

/** What a child run yields, plus how much of the machine other processes used meanwhile. */
export interface Measured<T> {
  ok: true;
  value: T;
  /** Mean number of cores busy with processes other than this benchmark during the run. */
  foreignCores: number;
  wallS: number;
}
export interface Failed {
  ok: false;
  error: string;
  foreignCores: number;
  wallS: number;
}

/** The torch script's JSON line (the fields we use). */
export interface TorchResult {
  tokens_per_s: number;
  median_step_s: number;
  peak_rss_mib: number;
  first_loss?: number;
  eff_gflops?: number;
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const v = Number(r.stdout?.trim());
  return Number.isFinite(v) && v > 0 ? v : 100;
})();

/** Busy CPU ticks of the whole machine, and ticks used by this process plus its waited-for children. */
function cpuTicks(): { busy: number; ours: number } {
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - idle;
  // /proc/self/stat: fields after the ")" — utime stime cutime cstime are fields 14..17 (1-based).
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const ours = (f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0);
  return { busy, ours };
}

/**
 * Runs `fn` (which must wait for its children, as spawnSync does) and measures the CPU that other
 * processes used meanwhile: machine-wide busy time minus ours and our children's, in cores.
 */
export function withLoadMeter<T>(fn: () => T): { value: T; foreignCores: number; wallS: number } {
  const a = cpuTicks();
  const t0 = performance.now();
  const value = fn();
  const wallS = (performance.now() - t0) / 1000;
  const b = cpuTicks();
  const foreign = (b.busy - a.busy - (b.ours - a.ours)) / CLK_TCK / Math.max(wallS, 1e-3);
  return { value, foreignCores: Math.max(0, foreign), wallS };
}

/** Samples other processes' CPU use for `seconds` while this process sleeps. */
export function sampleForeignLoad(seconds: number): number {
  return withLoadMeter(() => spawnSync('sleep', [String(seconds)])).foreignCores;
}

/**
 * Waits until other processes use at most `maxCores` (sampled over 3 s), for at most `limitS` seconds.
 * Returns the last sample, so the caller can say the machine never went quiet.
 */
export function waitIdle(maxCores: number, limitS: number, onWait: (load: number) => void): number {
  const t0 = performance.now();
  let load = sampleForeignLoad(3);
  while (load > maxCores && (performance.now() - t0) / 1000 < limitS) {
    onWait(load);
    spawnSync('sleep', ['10']);
    load = sampleForeignLoad(3);
  }
  return load;
}

/** Runs a child, parses the last stdout line as JSON; stderr (progress) goes straight to ours. */
function runJson<T>(cmd: string, args: string[], env: NodeJS.ProcessEnv): Measured<T> | Failed {
  const m = withLoadMeter(() =>
    spawnSync(cmd, args, {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: CHILD_TIMEOUT_MS,
      maxBuffer: 1 << 24,
    }),
  );
  const res = m.value;
  const last = (res.stdout ?? '').trim().split('\n').pop() ?? '';
  if (res.status !== 0 || !last.startsWith('{')) {
    const why = res.error?.message ?? (res.signal ? `signal ${res.signal}` : `exit ${res.status}`);
    return {
      ok: false,
      error: `${why}${last ? `: ${last.slice(0, 200)}` : ''}`,
      foreignCores: m.foreignCores,
      wallS: m.wallS,
    };
  }
  return { ok: true, value: JSON.parse(last) as T, foreignCores: m.foreignCores, wallS: m.wallS };
}

/** One tslora measurement in its own `node --import tsx` process. */
export function runWorker(job: WorkerJob): Measured<WorkerResult> | Failed {
  return runJson<WorkerResult>(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(job)], process.env);
}

/** The environment of a fair torch run (shared/reference/README.md). */
export function torchEnv(variant: TorchVariant): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OPENBLAS_CORETYPE: 'SkylakeX',
    LD_LIBRARY_PATH: '/usr/lib/x86_64-linux-gnu/openblas-openmp',
  };
  delete env.OPENBLAS_L2_SIZE;
  if (variant === 'tuned') {
    // glibc keeps and reuses big buffers instead of mmap/munmap per tensor.
    env.MALLOC_MMAP_MAX_ = '0';
    env.MALLOC_TRIM_THRESHOLD_ = '68719476736';
  }
  return env;
}

/** Why torch cannot run here, or undefined when it can. */
export function torchUnavailable(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore', env: torchEnv('skx-omp') });
  if (r.status !== 0) return `${PYTHON} cannot import torch`;
  if (spawnSync(PYTHON, [TORCH_REF, '--help'], { stdio: 'ignore' }).status !== 0) return `${TORCH_REF} does not run`;
  return undefined;
}

/** The same measurement by the PyTorch reference: torch_qwen2_lora.py (train/infer) or torch-decode.py. */
export function runTorch(job: WorkerJob, variant: TorchVariant): Measured<TorchResult> | Failed {
  const common = ['--config', job.shape, '--seq', String(job.seq), '--threads', '2', '--warmup', String(job.warmup)];
  const rank = ['--r', String(job.r), '--alpha', String(job.alpha), '--seed', String(job.seed)];
  const args =
    job.mode === 'decode'
      ? [TORCH_DECODE, ...common, ...rank, '--new-tokens', String(job.newTokens)]
      : [TORCH_REF, ...common, ...rank, '--mode', job.mode, '--batch', '1', '--steps', String(job.steps)];
  return runJson<TorchResult>(PYTHON, args, torchEnv(variant));
}

/** torch's version string as the reference environment loads it. */
export function torchVersion(): string {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], {
    encoding: 'utf8',
    env: torchEnv('skx-omp'),
  });
  return r.stdout?.trim() || 'unknown';
}

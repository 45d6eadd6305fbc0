// harness.ts — drives the real `finetune` CLI for the reliability suite: child processes, in-process runs, checks.
//
// A child process (`node --import tsx src/cli.ts …`) is used wherever the process itself matters:
// exit codes under signals, SIGKILL, file-size limits, peak RSS. Everything else calls `main(argv)`
// in-process, which gives the same exit code and stderr without ~0.5 s of node + tsx startup.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SafetensorsFile } from '@tslora/core-tensor';
import { expect } from 'vitest';
import { main } from '../../src/cli.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';

/** The repository root (where `pnpm finetune` runs). */
export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const CLI = path.join(REPO, 'apps/finetune/src/cli.ts');

/** tsx's loader as a file URL, so children may run in any working directory (`--import tsx` resolves from cwd). */
const TSX = (() => {
  const pkg = createRequire(path.join(REPO, 'package.json')).resolve('tsx/package.json');
  const entry = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { exports: { '.': string | { import?: string } } })
    .exports['.'];
  return pathToFileURL(
    path.join(path.dirname(pkg), typeof entry === 'string' ? entry : (entry.import ?? 'dist/loader.mjs')),
  ).href;
})();

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Environment for children: no debug stack traces, no colour, whatever else the parent has. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.TSLORA_DEBUG;
  return env;
}

/** A running CLI child with its output collected. `done` resolves when it exits. */
export interface Child {
  proc: ChildProcess;
  done: Promise<RunResult>;
}

/**
 * Starts `finetune <args>` as a child process. `shellPrefix` (e.g. `ulimit -f 64;`) runs the CLI
 * through bash with that prefix, `exec`-ing node so signals and exit codes are node's own.
 */
export function startCli(
  args: readonly string[],
  opts: { cwd?: string; shellPrefix?: string; env?: Record<string, string> } = {},
): Child {
  const t0 = performance.now();
  const nodeArgs = ['--import', TSX, CLI, ...args];
  const proc = opts.shellPrefix
    ? spawn('bash', ['-c', `${opts.shellPrefix} exec "$0" "$@"`, process.execPath, ...nodeArgs], {
        cwd: opts.cwd ?? REPO,
        env: childEnv(opts.env),
      })
    : spawn(process.execPath, nodeArgs, { cwd: opts.cwd ?? REPO, env: childEnv(opts.env) });
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<RunResult>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 }));
  });
  return { proc, done };
}

/** Runs `finetune <args>` as a child process to the end. */
export function runCli(args: readonly string[], opts: Parameters<typeof startCli>[1] = {}): Promise<RunResult> {
  return startCli(args, opts).done;
}

/** Runs `finetune <args>` in a child and reports its peak RSS (process.resourceUsage, KiB → MiB). */
export async function runCliRss(args: readonly string[]): Promise<RunResult & { peakRssMiB: number }> {
  const script = `import(${JSON.stringify(CLI)}).then((m) => m.main(${JSON.stringify(args)})).then((c) => { process.stderr.write('\\npeak_rss_kib=' + process.resourceUsage().maxRSS + '\\n'); process.exitCode = c; });`;
  const t0 = performance.now();
  const proc = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', script], {
    cwd: REPO,
    env: childEnv(),
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const r = await new Promise<RunResult>((resolve) =>
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 })),
  );
  const m = /\npeak_rss_kib=(\d+)\n/.exec(r.stderr);
  if (!m) throw new Error(`no peak RSS line in the child's stderr:\n${r.stderr}`);
  return { ...r, stderr: r.stderr.replace(m[0], '\n'), peakRssMiB: Number(m[1]) / 1024 };
}

/** Runs `finetune <args>` in this process (same `main` the bin calls), capturing stdout and stderr. */
export async function runMain(args: readonly string[]): Promise<RunResult> {
  const t0 = performance.now();
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write;
  const ew = process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => {
    stdout += typeof c === 'string' ? c : Buffer.from(c).toString();
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => {
    stderr += typeof c === 'string' ? c : Buffer.from(c).toString();
    return true;
  }) as typeof process.stderr.write;
  const debug = process.env.TSLORA_DEBUG;
  delete process.env.TSLORA_DEBUG;
  try {
    const code = await main(args);
    return { code, signal: null, stdout, stderr, ms: performance.now() - t0 };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    if (debug !== undefined) process.env.TSLORA_DEBUG = debug;
  }
}

const STACK_LINE = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m;

/**
 * The contract for a failure the user can act on: the exit code, `error: …` naming what is wrong
 * (every pattern must match the error line), a `hint: …` line, and no stack trace anywhere.
 */
export function expectCleanError(r: RunResult, code: number, ...patterns: RegExp[]): string {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const errorLine = lines.find((l) => l.startsWith('error: ')) ?? '';
  const context = `exit ${r.code}, stderr:\n${r.stderr}`;
  expect(r.code, context).toBe(code);
  expect(errorLine, context).not.toBe('');
  expect(r.stderr, context).not.toMatch(STACK_LINE);
  expect(r.stderr, context).not.toMatch(/internal error/);
  expect(
    lines.some((l) => l.startsWith('hint: ')),
    `no hint line; ${context}`,
  ).toBe(true);
  for (const p of patterns) expect(errorLine, context).toMatch(p);
  return errorLine;
}

/** A fresh directory under the OS temp dir. */
export function tempRoot(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tslora-rel-${prefix}-`));
}

/** The tiny shared checkpoint of a test file: init-tiny --hidden 32 --intermediate 64 (~10 MB, bf16). */
export async function makeTinyBase(dir: string): Promise<void> {
  const r = await runMain(['init-tiny', '--out', dir, '--hidden', '32', '--intermediate', '64']);
  expect(r.code, r.stderr).toBe(0);
}

/** Writes JSONL records (objects are stringified, strings written as they are). */
export function writeJsonl(file: string, records: readonly unknown[]): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n')}\n`);
  return file;
}

/** A small learnable dataset in the three formats. */
export function sampleRecords(n = 24): unknown[] {
  const capitals = [
    ['France', 'Paris'],
    ['Japan', 'Tokyo'],
    ['Italy', 'Rome'],
    ['Spain', 'Madrid'],
    ['Egypt', 'Cairo'],
    ['Peru', 'Lima'],
  ] as const;
  return Array.from({ length: n }, (_, i) => {
    const [country, city] = capitals[i % capitals.length] as readonly [string, string];
    if (i % 3 === 0) return { prompt: `What is the capital of ${country}?`, completion: `${city}.` };
    if (i % 3 === 1)
      return {
        messages: [
          { role: 'user', content: `Capital of ${country}?` },
          { role: 'assistant', content: city },
        ],
      };
    return { text: `The capital of ${country} is ${city}.` };
  });
}

/** Every file and directory under `root` (relative paths, sorted). */
export function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const p = rel ? path.join(rel, e.name) : e.name;
      out.push(e.isDirectory() ? `${p}/` : p);
      if (e.isDirectory()) walk(p);
    }
  };
  if (fs.existsSync(root)) walk('');
  return out.sort();
}

/** Opens a safetensors file with the library reader and reads (decodes) every tensor; returns name → values. */
export function readAllTensors(file: string): Map<string, Float32Array> {
  const st = SafetensorsFile.open(file);
  try {
    return new Map(st.tensors.map((t) => [t.name, st.readF32(t.name)] as const));
  } finally {
    st.close();
  }
}

/** Raw bytes of every tensor of a safetensors file (for bit-for-bit comparisons). */
export function tensorBytes(file: string): Map<string, string> {
  const st = SafetensorsFile.open(file);
  try {
    return new Map(st.tensors.map((t) => [t.name, Buffer.from(st.readBytes(t.name)).toString('base64')] as const));
  } finally {
    st.close();
  }
}

const CHECKPOINT_FILES = [
  'adapter_config.json',
  'adapter_model.safetensors',
  'optimizer.safetensors',
  'trainable.safetensors',
  'trainer_state.json',
];

/** Step numbers of the complete-looking `step-N` directories under `root`. */
export function stepDirs(root: string): number[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((f) => /^step-(\d+)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** Hidden temp entries (`.step-N.tmp-*`, `.x.tmp`) directly under `dir`. */
export function leftovers(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.startsWith('.')) : [];
}

/**
 * Asserts `checkpoints/step-N` is whole: the five files, trainer_state.json parses and says step N,
 * every safetensors opens and every tensor reads back finite, the trainable tensors match the
 * adapter's, and the app's own loadCheckpoint accepts it.
 */
export function expectCompleteCheckpoint(dir: string, step: number): void {
  expect(fs.readdirSync(dir).sort(), dir).toEqual(CHECKPOINT_FILES);
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'trainer_state.json'), 'utf8')) as { step: number };
  expect(state.step, dir).toBe(step);
  JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
  const weights = readAllTensors(path.join(dir, 'trainable.safetensors'));
  const moments = readAllTensors(path.join(dir, 'optimizer.safetensors'));
  const adapter = readAllTensors(path.join(dir, 'adapter_model.safetensors'));
  expect(weights.size, dir).toBeGreaterThan(0);
  expect(adapter.size, dir).toBe(weights.size);
  // AdamW state per trainable tensor: both moments, of the tensor's size.
  for (const [name, w] of weights)
    for (const k of ['exp_avg', 'exp_avg_sq'])
      expect(moments.get(`${name}.${k}`)?.length, `${dir}: ${name}.${k}`).toBe(w.length);
  for (const m of [weights, moments, adapter])
    for (const [name, v] of m) expect(v.every(Number.isFinite), `${dir}: ${name}`).toBe(true);
  const loaded = loadCheckpoint(dir);
  expect(loaded.state.step).toBe(step);
}

/** metrics.jsonl rows (a last line cut by a kill is ignored, as the app does). */
export function metricRows(file: string): { step: number; loss: number }[] {
  if (!fs.existsSync(file)) return [];
  const rows: { step: number; loss: number }[] = [];
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!l.trim()) continue;
    try {
      rows.push(JSON.parse(l));
    } catch {
      // a partial last line
    }
  }
  return rows;
}

/** Uniform integer in [lo, hi] from a small seeded generator (mulberry32), so a failing run can be replayed. */
export function seededDelays(seed: number): (lo: number, hi: number) => number {
  let a = seed >>> 0;
  return (lo, hi) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return lo + Math.floor(u * (hi - lo + 1));
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when `pred()` holds (polled every `every` ms) or rejects after `timeout` ms. */
export async function waitFor(pred: () => boolean, timeout: number, every = 5): Promise<void> {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > timeout) throw new Error(`condition not met within ${timeout} ms`);
    await sleep(every);
  }
}

/** Collects one line per case for the README table; printed at the end of each file. */
export class Ledger {
  readonly rows: string[] = [];
  add(row: string): void {
    this.rows.push(row);
  }
  print(title: string): void {
    console.log(`\n[reliability] ${title}\n${this.rows.map((r) => `  ${r}`).join('\n')}`);
  }
}

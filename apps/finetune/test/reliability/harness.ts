// harness.ts — drives the real `finetune` CLI for the reliability suite: workspaces, child processes, in-process runs, checks.
//
// The test files import everything from here; the on-disk checks live in disk-checks.ts (re-exported).
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
import { afterAll, expect } from 'vitest';
import { main } from '../../src/cli.js';
import { listTree, metricRows } from './disk-checks.js';

export * from './disk-checks.js';

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

/**
 * Environment for children: no debug stack traces, whatever else the parent has, and the repo's
 * tsconfig for tsx — it looks for one in the child's cwd, and without its `paths` a child running
 * elsewhere would load the workspace packages' built dist/ (absent or stale) instead of src/.
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, TSX_TSCONFIG_PATH: path.join(REPO, 'tsconfig.json'), ...extra };
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
  return collectChild(proc, t0);
}

/** A spawned child's output so far (`seen`) and its end (`done`), timed from `t0`. */
export function collectChild(proc: ChildProcess, t0 = performance.now()): Child & { seen(): string } {
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
    // 'close' waits for every holder of the pipes: a node outliving a killed pnpm still counts
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 }));
  });
  return { proc, done, seen: () => stdout + stderr };
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

/** Runs `finetune <args>` in this process and asserts it succeeded (exit 0; stderr shown otherwise). */
export async function runMainOk(args: readonly string[]): Promise<RunResult> {
  const r = await runMain(args);
  expect(r.code, r.stderr).toBe(0);
  return r;
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

/**
 * Runs `finetune <args>` in this process and asserts a clean refusal (exit 2, every pattern on the
 * error line; see `expectCleanError`) that left every file and directory under `root` as it was.
 * `message` labels the tree comparison. Returns the run and its error line.
 */
export async function expectRefusedWritingNothing(
  root: string,
  args: readonly string[],
  patterns: readonly RegExp[],
  message?: string,
): Promise<{ r: RunResult; line: string }> {
  const before = listTree(root);
  const r = await runMain(args);
  const line = expectCleanError(r, 2, ...patterns);
  expect(listTree(root), message).toEqual(before);
  return { r, line };
}

/** Where a test file keeps everything it writes (see `tempWorkspace`). */
export interface Workspace {
  /** A fresh directory under the OS temp dir, removed after the file's tests. */
  root: string;
  /** `root/base`: the file's tiny checkpoint (`makeBaseAndData`). */
  base: string;
  /** `root/data.jsonl`: the file's training data (`makeBaseAndData`). */
  data: string;
  /** One line per case, printed after the file's tests. */
  ledger: Ledger;
}

/**
 * A test file's workspace under a fresh temp root. After all its tests this prints the ledger under
 * `title`, runs `beforeRemove` (e.g. unmounting what was mounted inside) and removes the root.
 */
export function tempWorkspace(prefix: string, title: string | (() => string), beforeRemove?: () => void): Workspace {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `tslora-rel-${prefix}-`));
  const ws = { root, base: path.join(root, 'base'), data: path.join(root, 'data.jsonl'), ledger: new Ledger() };
  afterAll(() => {
    ws.ledger.print(typeof title === 'string' ? title : title());
    beforeRemove?.();
    fs.rmSync(root, { recursive: true, force: true });
  });
  return ws;
}

/** The tiny shared checkpoint of a test file: init-tiny --hidden 32 --intermediate 64 (~10 MB, bf16). */
export async function makeTinyBase(dir: string): Promise<void> {
  await runMainOk(['init-tiny', '--out', dir, '--hidden', '32', '--intermediate', '64']);
}

/** Builds the workspace's tiny checkpoint and writes `samples` records of `sampleRecords` as its data. */
export async function makeBaseAndData(ws: Workspace, samples: number): Promise<void> {
  await makeTinyBase(ws.base);
  writeJsonl(ws.data, sampleRecords(samples));
}

/** What `trainArgv` trains: 1 iteration and --max-seq-len 32 unless given. */
export interface TrainRun {
  model: string;
  data: string;
  out: string;
  iters?: number;
  maxSeqLen?: number;
}

/** argv of a small `train` run (batch size 2), followed by `extra` flags. */
export function trainArgv(run: TrainRun, ...extra: string[]): string[] {
  return [
    'train',
    '--model',
    run.model,
    '--data',
    run.data,
    '--out',
    run.out,
    '--iters',
    String(run.iters ?? 1),
    '--batch-size',
    '2',
    '--max-seq-len',
    String(run.maxSeqLen ?? 32),
    ...extra,
  ];
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

/**
 * Starts `finetune <args>` (a `train` into `out`) and resolves once its metrics.jsonl has `steps`
 * rows; a child that does not get there within 60 s is killed.
 */
export async function startTrainUntilLogged(args: readonly string[], out: string, steps: number): Promise<Child> {
  const child = startCli(args);
  await waitFor(() => metricRows(path.join(out, 'metrics.jsonl')).length >= steps, 60_000, 10).catch((e) => {
    child.proc.kill('SIGKILL');
    throw e;
  });
  return child;
}

/**
 * Waits for `child` to exit, SIGKILLing it `delay` ms after the first event in `dir` on an entry
 * whose name passes `trigger` (or `delay` ms from now when `trigger` is null). Delays counted from
 * events mean the same on a loaded machine. A child that exits first is not killed.
 */
export async function killAfterEvent(
  child: Child,
  dir: string,
  delay: number,
  trigger: ((name: string) => boolean) | null,
): Promise<RunResult> {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer ??= setTimeout(() => child.proc.kill('SIGKILL'), delay);
  };
  // A fresh `--force` run removes and recreates `dir` (an old run's checkpoints/), and a watcher on the
  // removed directory hears nothing more: so the parent is watched too, and `dir` re-watched each time it
  // reappears. (Without this, under load, every "write"/"training" kill fell back to the run's end.)
  let watcher: fs.FSWatcher | undefined;
  const watchDir = () => {
    watcher?.close();
    try {
      watcher = fs.watch(dir, (_ev, f) => {
        if (trigger && f && trigger(f)) arm();
      });
      watcher.on('error', () => {});
    } catch {
      watcher = undefined; // removed again before we got here; the parent's next event re-arms
    }
  };
  const parent = fs.watch(path.dirname(dir), (_ev, f) => {
    if (f === path.basename(dir)) watchDir();
  });
  watchDir();
  if (!trigger) arm();
  const r = await child.done;
  watcher?.close();
  parent.close();
  clearTimeout(timer);
  return r;
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

// qlora-speed.bench.ts — issue 16's speed bar: one LoRA training step at the Qwen2.5-0.5B shape, seq 512,
// with the frozen base exact f32, bf16, int8 and int4 (`--quantize`), beside the fair PyTorch f32 reference.
//
// Every row is its own child process, one at a time (model-worker.ts for tslora, torch_qwen2_lora.py for
// torch, the model benchmark's protocol: r 16 on all seven projections, 2 warm-up + median of 5 steps), and
// the ratios are taken inside this one run, so they hold on another machine even where the figures do not.
// Targets: int4 ≥ 1.5× and int8 ≥ 1.25× tslora f32; int4 ≥ 1.5× torch "skx-omp" and ahead of "tuned";
// bf16 within −10 % of f32.
//
// Run (quiet machine, ~8 min):  pnpm bench qlora-speed        Env: QLORA_GROUP (128), BENCH_WAIT_IDLE=1
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type Failed,
  type Measured,
  runTorch,
  runWorker,
  sampleForeignLoad,
  type TorchVariant,
  torchUnavailable,
  torchVersion,
  waitIdle,
} from './model-procs.js';
import type { WorkerJob } from './model-worker.js';

const group = Number(process.env.QLORA_GROUP ?? 128);
const waitForIdle = process.env.BENCH_WAIT_IDLE === '1';
const JOB: WorkerJob = {
  mode: 'train',
  shape: '0.5b',
  seq: 512,
  warmup: 2,
  steps: 5,
  newTokens: 0,
  r: 16,
  alpha: 32,
  seed: 0,
};

interface Row {
  name: string;
  tokensPerS: number | undefined;
  peakRssMiB: number | undefined;
  foreignCores: number;
  note: string;
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function row<T>(name: string, m: Measured<T> | Failed, pick: (v: T) => [number, number]): Row {
  if (!m.ok) return { name, tokensPerS: undefined, peakRssMiB: undefined, foreignCores: m.foreignCores, note: m.error };
  const [tps, rss] = pick(m.value);
  return { name, tokensPerS: tps, peakRssMiB: rss, foreignCores: m.foreignCores, note: '' };
}

function settle(): void {
  if (!waitForIdle) return;
  waitIdle(0.15, 600, (l) => log(`  waiting: other processes use ${l.toFixed(2)} cores`));
}

function measure(): Row[] {
  const rows: Row[] = [];
  for (const mode of ['f32', 'bf16', 'int8', 'int4'] as const) {
    settle();
    const job = mode === 'f32' ? JOB : { ...JOB, quantize: { mode, groupSize: group } };
    log(`tslora ${mode} …`);
    rows.push(row(`tslora ${mode}`, runWorker(job), (v) => [v.tokensPerS, v.peakRssMiB]));
  }
  const why = torchUnavailable();
  for (const variant of ['skx-omp', 'tuned'] as TorchVariant[]) {
    if (why) {
      rows.push({ name: `torch ${variant}`, tokensPerS: undefined, peakRssMiB: undefined, foreignCores: 0, note: why });
      continue;
    }
    settle();
    log(`torch ${variant} …`);
    rows.push(row(`torch ${variant}`, runTorch(JOB, variant), (v) => [v.tokens_per_s, v.peak_rss_mib]));
  }
  return rows;
}

function table(rows: Row[]): string {
  const ref = (n: string): number | undefined => rows.find((r) => r.name === n)?.tokensPerS;
  const ratio = (a: number | undefined, b: number | undefined): string =>
    a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}×`;
  const lines = [
    `| run | tokens/s | × tslora f32 | × torch skx-omp | × torch tuned | peak RSS | other load |`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: |`,
  ];
  for (const r of rows) {
    const tps = r.tokensPerS === undefined ? `failed: ${r.note}` : r.tokensPerS.toFixed(1);
    const rss = r.peakRssMiB === undefined ? '—' : `${(r.peakRssMiB / 1024).toFixed(2)} GiB`;
    lines.push(
      `| ${r.name} | ${tps} | ${ratio(r.tokensPerS, ref('tslora f32'))} | ${ratio(r.tokensPerS, ref('torch skx-omp'))} | ${ratio(r.tokensPerS, ref('torch tuned'))} | ${rss} | ${r.foreignCores.toFixed(2)} cores |`,
    );
  }
  return lines.join('\n');
}

const preLoad = sampleForeignLoad(3);
const rows = measure();
const header = `QLoRA speed, Qwen2.5-0.5B shape, seq 512, batch 1, LoRA r 16 on all seven projections, int8/int4 group ${group}, accuracy level 4; torch ${torchVersion()} (f32); other load before the run ${preLoad.toFixed(2)} cores; ${new Date().toISOString()}`;
const out = `${header}\n\n${table(rows)}\n`;
console.log(out);
const dir = fileURLToPath(new URL('results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}qlora-speed.md`, out);
writeFileSync(`${dir}qlora-speed.json`, `${JSON.stringify({ header, rows }, null, 2)}\n`);

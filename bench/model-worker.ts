// model-worker.ts — one tslora measurement per process (train step, prefill, decode or the GEMM ceiling), one JSON line out.
//
// Spawned by model.bench.ts as `node --import tsx bench/model-worker.ts '<job json>'` so that peak RSS is
// this measurement's alone. The protocol is torch_qwen2_lora.py's: HF init (normal 0.02, zero biases, unit
// norms), LoRA r=16/alpha=32/dropout 0 on all seven projections, AdamW(lr 2e-4, weight decay 0.01),
// random ids, labels = ids, `warmup` untimed steps then the median of `steps` timed ones.
import {
  AdamW,
  FrozenWeight,
  f32ToBf16Bits,
  noGrad,
  ortBackend,
  quantizeMatrix,
  Random,
  Tensor,
  useBestBackend,
  WeightScratch,
} from '@tslora/core-tensor';
import { applyLora } from '@tslora/lora';
import { generate } from '../apps/finetune/src/generate.js';
import { parseQwenConfig } from '../apps/finetune/src/model/config.js';
import { installFrozen, isProjectionWeight } from '../apps/finetune/src/model/frozen-base.js';
import { QwenForCausalLM } from '../apps/finetune/src/model/qwen.js';
import { LORA_TARGETS, SHAPES, type ShapeName, shapeConfigJson } from './model-shapes.js';

/** What the parent asks for. */
export interface WorkerJob {
  mode: 'train' | 'infer' | 'decode' | 'gemm';
  shape: ShapeName;
  /** Tokens per step (train/infer) or prompt length (decode). */
  seq: number;
  warmup: number;
  steps: number;
  /** Decode: tokens generated in the timed run. */
  newTokens: number;
  r: number;
  alpha: number;
  seed: number;
  /** Train/infer: keep the frozen projections as bf16 / int8 / int4 (`--quantize`); absent: exact f32. */
  quantize?: { mode: 'bf16' | 'int8' | 'int4'; groupSize: number };
}

/** What the worker prints (one JSON line on stdout). */
export interface WorkerResult {
  mode: WorkerJob['mode'];
  backend: string;
  medianStepS: number;
  minStepS: number;
  tokensPerS: number;
  peakRssMiB: number;
  /** Resident set after the model was built, before the first step. */
  initRssMiB: number;
  initS: number;
  firstLoss: number;
  lastLoss: number;
  /** GEMM mode: GFLOPS of the plain (512x896)@(896x4864) product and of the Linear-layout (transB) one. */
  gemmGflops?: number;
  gemmTransBGflops?: number;
}

const MiB = 1024 * 1024;

function log(msg: string): void {
  process.stderr.write(`  [tslora ${process.pid}] ${msg}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] as number;
}

/** Peak resident set of this process so far (VmHWM; resourceUsage().maxRSS is the same number, in KiB). */
function peakRssMiB(): number {
  return (process.resourceUsage().maxRSS * 1024) / MiB;
}

/** The model with HF init, as the reference builds it: normal(0, 0.02) matrices, zero biases, unit norms. */
function buildModel(job: WorkerJob): QwenForCausalLM {
  const shape = SHAPES[job.shape];
  const model = new QwenForCausalLM(parseQwenConfig(shapeConfigJson(shape), `bench:${job.shape}`));
  const rng = new Random(job.seed);
  for (const [name, p] of model.namedParameters()) {
    if (name.endsWith('norm.weight')) p.f32.fill(1);
    else if (name.endsWith('.bias')) p.f32.fill(0);
    else rng.fillNormal(p.f32, 0, 0.02);
  }
  if (job.quantize) freezeProjections(model, job.quantize);
  applyLora(model, { r: job.r, alpha: job.alpha, dropout: 0, targetModules: LORA_TARGETS, seed: job.seed });
  return model;
}

/** What `--quantize` does at load, from the in-memory f32 weights: each projection becomes a FrozenWeight. */
function freezeProjections(model: QwenForCausalLM, q: NonNullable<WorkerJob['quantize']>): void {
  const scratch = new WeightScratch();
  for (const [name, p] of model.namedParameters()) {
    if (!isProjectionWeight(name)) continue;
    const [out, inF] = p.shape as [number, number];
    const fw =
      q.mode === 'bf16'
        ? FrozenWeight.bf16(Uint16Array.from(p.f32, f32ToBf16Bits), out, inF, scratch)
        : FrozenWeight.quantized(
            quantizeMatrix(p.f32, out, inF, { bits: q.mode === 'int8' ? 8 : 4, blockSize: q.groupSize }),
            scratch,
          );
    installFrozen(model, name, fw);
  }
}

function randomIds(n: number, vocab: number, seed: number): Tensor {
  const rng = new Random(seed);
  return Tensor.int(
    Array.from({ length: n }, () => rng.int(vocab)),
    [1, n],
  );
}

/** Runs warmup + steps calls of `step` (which returns the loss); times each one. */
function timeSteps(job: WorkerJob, step: () => number): { times: number[]; losses: number[] } {
  const times: number[] = [];
  const losses: number[] = [];
  for (let i = 0; i < job.warmup + job.steps; i++) {
    const t0 = performance.now();
    losses.push(step());
    const dt = (performance.now() - t0) / 1000;
    if (i >= job.warmup) times.push(dt);
    log(
      `${job.mode} step ${i + 1}/${job.warmup + job.steps}${i < job.warmup ? ' (warm-up)' : ''}: ${dt.toFixed(2)} s, loss ${losses[i]?.toFixed(4)}`,
    );
  }
  return { times, losses };
}

/** Training (forward, fused lm_head+loss, backward, AdamW) or no-grad prefill (forward + loss). */
function runSteps(job: WorkerJob, model: QwenForCausalLM): { times: number[]; losses: number[] } {
  const ids = randomIds(job.seq, model.config.vocabSize, job.seed + 1);
  if (job.mode === 'infer') {
    model.eval();
    return timeSteps(job, () => noGrad(() => model.loss(ids, ids).item()));
  }
  model.train();
  // The trainer's step without clipping (the reference does not clip): loss → backward → AdamW → zero.
  const opt = new AdamW(model.trainableParameters(), { lr: 2e-4 }); // weight decay 0.01 = torch's default
  return timeSteps(job, () => {
    const loss = model.loss(ids, ids);
    loss.backward();
    opt.step();
    opt.zeroGrad();
    return loss.item();
  });
}

/**
 * KV-cached greedy decoding through generate(): a short untimed run, then `newTokens + 1` tokens after a
 * `seq`-token prompt. The first token comes out of the prefill; the time from it to the last one covers
 * exactly `newTokens` single-token steps. Each "step time" is one decode step.
 */
function runDecode(job: WorkerJob, model: QwenForCausalLM): { times: number[]; losses: number[] } {
  model.eval();
  const prompt = Array.from(randomIds(job.seq, model.config.vocabSize, job.seed + 1).i32);
  const opts = { temperature: 0, topP: 1, rng: new Random(job.seed), eosTokenIds: [] as number[] };
  generate(model, prompt, { ...opts, maxTokens: 1 + job.warmup });
  const stamps: number[] = [];
  generate(model, prompt, { ...opts, maxTokens: job.newTokens + 1, onToken: () => stamps.push(performance.now()) });
  const times = stamps.slice(1).map((t, i) => (t - (stamps[i] as number)) / 1000);
  log(`decode: ${times.length} tokens in ${times.reduce((a, b) => a + b, 0).toFixed(2)} s`);
  return { times, losses: [Number.NaN] };
}

/** The ort GEMM rate on the 0.5B MLP shape (512x896)@(896x4864): the ceiling an end-to-end step is held against. */
function runGemm(job: WorkerJob): WorkerResult {
  const [m, k, n] = [512, 896, 4864];
  const rng = new Random(job.seed);
  const a = rng.fillNormal(new Float32Array(m * k));
  const b = rng.fillNormal(new Float32Array(k * n));
  const out = new Float32Array(m * n);
  const rate = (transB: boolean): number => {
    const args = { a, b, m, n, k, transB, out };
    for (let i = 0; i < 3; i++) ortBackend.gemm(args);
    const ts: number[] = [];
    for (let i = 0; i < 31; i++) {
      const t0 = performance.now();
      ortBackend.gemm(args);
      ts.push((performance.now() - t0) / 1000);
    }
    return (2 * m * n * k) / median(ts) / 1e9;
  };
  const gemmGflops = rate(false);
  const gemmTransBGflops = rate(true);
  return {
    mode: 'gemm',
    backend: 'ort',
    medianStepS: 0,
    minStepS: 0,
    tokensPerS: 0,
    peakRssMiB: peakRssMiB(),
    initRssMiB: 0,
    initS: 0,
    firstLoss: Number.NaN,
    lastLoss: Number.NaN,
    gemmGflops,
    gemmTransBGflops,
  };
}

function main(): void {
  const job = JSON.parse(process.argv[2] ?? '') as WorkerJob;
  const { backend, reason } = useBestBackend();
  if (backend.name !== 'ort')
    throw new Error(`onnxruntime backend did not load (${reason}); the benchmark measures 'ort'`);
  if (job.mode === 'gemm') {
    process.stdout.write(`${JSON.stringify(runGemm(job))}\n`);
    return;
  }
  const t0 = performance.now();
  const model = buildModel(job);
  const initS = (performance.now() - t0) / 1000;
  const initRssMiB = process.memoryUsage.rss() / MiB;
  log(`${job.shape} built in ${initS.toFixed(1)} s, rss ${initRssMiB.toFixed(0)} MiB`);
  const { times, losses } = job.mode === 'decode' ? runDecode(job, model) : runSteps(job, model);
  const med = median(times);
  const result: WorkerResult = {
    mode: job.mode,
    backend: backend.name,
    medianStepS: med,
    minStepS: Math.min(...times),
    tokensPerS: job.mode === 'decode' ? times.length / times.reduce((a, b) => a + b, 0) : job.seq / med,
    peakRssMiB: peakRssMiB(),
    initRssMiB,
    initS,
    firstLoss: losses[0] as number,
    lastLoss: losses[losses.length - 1] as number,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();

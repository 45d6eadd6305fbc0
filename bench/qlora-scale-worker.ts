// qlora-scale-worker.ts — one QLoRA training measurement per process: load a checkpoint with --quantize, train, one JSON line out.
//
// Spawned by qlora-scale.bench.ts as `node --expose-gc --import tsx bench/qlora-scale-worker.ts '<job json>'`,
// so peak RSS is this configuration's alone. LoRA r=16/alpha=32/dropout 0 on all seven projections,
// AdamW(lr 2e-4), random ids (labels = ids), batch 1; `warmup` untimed steps, then `steps` timed ones.
import { AdamW, Random, Tensor, useBestBackend } from '@tslora/core-tensor';
import { applyLora } from '@tslora/lora';
import type { QuantizeMode } from '../apps/finetune/src/model/frozen-base.js';
import { loadModel } from '../apps/finetune/src/model/load.js';
import { LORA_TARGETS } from './model-shapes.js';

export interface ScaleJob {
  dir: string;
  quantize: QuantizeMode | 'f32';
  groupSize: number;
  gradCheckpoint: boolean;
  seq: number;
  warmup: number;
  steps: number;
}

export interface ScaleResult {
  peakRssMiB: number;
  loadRssMiB: number;
  loadS: number;
  medianStepS: number;
  tokensPerS: number;
  losses: number[];
}

const MiB = 2 ** 20;
const peak = (): number => (process.resourceUsage().maxRSS * 1024) / MiB;

function main(job: ScaleJob): ScaleResult {
  useBestBackend();
  const t0 = performance.now();
  const quantize = job.quantize === 'f32' ? undefined : { mode: job.quantize, groupSize: job.groupSize };
  const { model } = loadModel(job.dir, quantize ? { quantize } : {});
  const rng = new Random(1);
  applyLora(model, { r: 16, alpha: 32, dropout: 0, targetModules: LORA_TARGETS, seed: 1 }, { rng });
  if (job.gradCheckpoint) model._gradCheckpoint = { rng };
  model.train();
  const loadS = (performance.now() - t0) / 1000;
  (globalThis as { gc?: () => void }).gc?.();
  const loadRssMiB = process.memoryUsage().rss / MiB;
  const ids = Tensor.int(
    Array.from({ length: job.seq }, () => rng.int(model.config.vocabSize)),
    [1, job.seq],
  );
  const opt = new AdamW(model.trainableParameters(), { lr: 2e-4 });
  const times: number[] = [];
  const losses: number[] = [];
  for (let i = 0; i < job.warmup + job.steps; i++) {
    const s0 = performance.now();
    const loss = model.loss(ids, ids);
    loss.backward();
    opt.step();
    opt.zeroGrad();
    losses.push(loss.item());
    const dt = (performance.now() - s0) / 1000;
    if (i >= job.warmup) times.push(dt);
    process.stderr.write(
      `  [worker] step ${i + 1}/${job.warmup + job.steps}: ${dt.toFixed(1)} s, peak ${peak().toFixed(0)} MiB\n`,
    );
  }
  const sorted = [...times].sort((a, b) => a - b);
  const medianStepS = sorted[sorted.length >> 1] ?? Number.NaN;
  return { peakRssMiB: peak(), loadRssMiB, loadS, medianStepS, tokensPerS: job.seq / medianStepS, losses };
}

process.stdout.write(`${JSON.stringify(main(JSON.parse(process.argv[2] ?? '{}') as ScaleJob))}\n`);

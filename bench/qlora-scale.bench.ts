// qlora-scale.bench.ts — the memory/scale table of issue 16: Qwen2.5 0.5B…7B shapes × f32/bf16/int8/int4 × ±--grad-checkpoint.
//
// For each shape a random bf16 checkpoint at the real shape is written into /tmp/qlora-scale-<shape>/
// tensor by tensor (never the whole model in memory), then every configuration trains in its own
// process (qlora-scale-worker.ts: seq 512, batch 1, LoRA r=16 on all seven projections) and reports
// peak RSS and tokens/s. A configuration whose memory plan (model/memory-plan.ts) exceeds
// QLORA_MAX_GIB is skipped and marked as not fitting. The checkpoint is deleted after its shape.
//
// Run (quiet machine):  pnpm bench qlora-scale                       all four shapes, ~2–3 h
//   QLORA_SHAPES=0.5b,1.5b pnpm bench qlora-scale                      ~20 min
//   QLORA_SHAPES=7b QLORA_MODES=int4,int8 QLORA_GC=1 pnpm bench qlora-scale   the 7B memory rows, ~25 min
// Env: QLORA_SHAPES (0.5b,1.5b,3b,7b), QLORA_MODES (f32,bf16,int8,int4), QLORA_GC (0, 1 or 0,1),
//      QLORA_GROUP (128), QLORA_STEPS (timed steps, default 3; 1 for 3b/7b), QLORA_WARMUP (1), QLORA_MAX_GIB (22).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeF32, Random, SafetensorsWriter } from '@tslora/core-tensor';
import { parseQwenConfig } from '../apps/finetune/src/model/config.js';
import { memoryPlan } from '../apps/finetune/src/model/memory-plan.js';
import { shapeConfigJson } from './model-shapes.js';
import type { ScaleJob, ScaleResult } from './qlora-scale-worker.js';

interface Shape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  inter: number;
  vocab: number;
  tied: boolean;
}

/** Qwen2.5 config.json values (head_dim = hidden / heads = 64 or 128). */
const SHAPES: Record<string, Shape> = {
  '0.5b': { hidden: 896, layers: 24, heads: 14, kvHeads: 2, inter: 4864, vocab: 151936, tied: true },
  '1.5b': { hidden: 1536, layers: 28, heads: 12, kvHeads: 2, inter: 8960, vocab: 151936, tied: true },
  '3b': { hidden: 2048, layers: 36, heads: 16, kvHeads: 2, inter: 11008, vocab: 151936, tied: true },
  '7b': { hidden: 3584, layers: 28, heads: 28, kvHeads: 4, inter: 18944, vocab: 152064, tied: false },
};

const env = (k: string, d: string): string => process.env[k] ?? d;
const shapes = env('QLORA_SHAPES', '0.5b,1.5b,3b,7b').split(',');
const modes = env('QLORA_MODES', 'f32,bf16,int8,int4').split(',') as ScaleJob['quantize'][];
const gcs = env('QLORA_GC', '0,1')
  .split(',')
  .map((s) => s === '1');
const group = Number(env('QLORA_GROUP', '128'));
const maxGiB = Number(env('QLORA_MAX_GIB', '22'));
const SEQ = 512;
/** Untimed steps before the timed ones (QLORA_WARMUP; 0 when only the memory row is wanted). */
const warmup = Number(env('QLORA_WARMUP', '1'));

function configJson(s: Shape): Record<string, unknown> {
  const c = shapeConfigJson({ ...s, headDim: s.hidden / s.heads }, 'bf16');
  return { ...c, tie_word_embeddings: s.tied };
}

/**
 * The checkpoint's tensor names and shapes (Qwen2: q/k/v biases; lm_head.weight when untied), listed here
 * rather than read off a QwenForCausalLM: building the f32 model would reserve 30 GB of (untouched) memory in
 * this process at 7B, and Linux then refuses to fork the workers (ENOMEM). qlora-scale-worker's load checks
 * every name and shape against the model, so a mistake here fails loudly.
 */
function tensorSpecs(s: Shape): { name: string; dtype: 'bf16'; shape: number[] }[] {
  const d = s.hidden / s.heads;
  const out: { name: string; dtype: 'bf16'; shape: number[] }[] = [];
  const add = (name: string, ...shape: number[]): void => void out.push({ name, dtype: 'bf16', shape });
  add('model.embed_tokens.weight', s.vocab, s.hidden);
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, s.hidden);
    for (const [n, rows] of [
      ['q', s.heads * d],
      ['k', s.kvHeads * d],
      ['v', s.kvHeads * d],
    ] as const) {
      add(`${p}.self_attn.${n}_proj.weight`, rows, s.hidden);
      add(`${p}.self_attn.${n}_proj.bias`, rows);
    }
    add(`${p}.self_attn.o_proj.weight`, s.hidden, s.heads * d);
    add(`${p}.post_attention_layernorm.weight`, s.hidden);
    add(`${p}.mlp.gate_proj.weight`, s.inter, s.hidden);
    add(`${p}.mlp.up_proj.weight`, s.inter, s.hidden);
    add(`${p}.mlp.down_proj.weight`, s.hidden, s.inter);
  }
  add('model.norm.weight', s.hidden);
  if (!s.tied) add('lm_head.weight', s.vocab, s.hidden);
  return out;
}

/** Writes config.json + model.safetensors (bf16, normal(0, 0.02) from one reused random block, unit norms). */
function writeCheckpoint(dir: string, s: Shape): void {
  fs.mkdirSync(dir, { recursive: true });
  const cfg = configJson(s);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  const specs = tensorSpecs(s);
  const block = encodeF32(new Random(7).fillNormal(new Float32Array(1 << 22), 0, 0.02), 'bf16');
  const writer = new SafetensorsWriter(path.join(dir, 'model.safetensors'), specs);
  const byName = new Map(specs.map((t) => [t.name, t]));
  let shift = 0;
  for (const name of writer.order) {
    const shape = byName.get(name)?.shape ?? [];
    const bytes = new Uint8Array(shape.reduce((a, b) => a * b, 1) * 2);
    if (name.endsWith('norm.weight')) bytes.set(encodeF32(new Float32Array(bytes.length / 2).fill(1), 'bf16'));
    else if (!name.endsWith('.bias')) {
      // the random block, tiled, starting at a different element per tensor
      shift = (shift + 2 * 7919) % block.length;
      for (let o = 0; o < bytes.length; o += block.length - shift) {
        bytes.set(block.subarray(shift, shift + Math.min(block.length - shift, bytes.length - o)), o);
      }
    }
    writer.write(name, bytes);
  }
  writer.commit();
}

function runJob(job: ScaleJob): ScaleResult | string {
  const worker = fileURLToPath(new URL('./qlora-scale-worker.ts', import.meta.url));
  const res = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', worker, JSON.stringify(job)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  if (res.status !== 0) return `failed (exit ${res.status ?? res.signal})`;
  return JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as ScaleResult;
}

const rows: string[] = [];
for (const name of shapes) {
  const s = SHAPES[name];
  if (!s) throw new Error(`QLORA_SHAPES: unknown shape ${name}; known: ${Object.keys(SHAPES).join(', ')}`);
  const dir = `/tmp/qlora-scale-${name}`;
  fs.rmSync(dir, { recursive: true, force: true });
  const t0 = performance.now();
  writeCheckpoint(dir, s);
  console.log(`${name}: wrote a random bf16 checkpoint in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const config = parseQwenConfig(configJson(s), 'bench');
  const steps = Number(env('QLORA_STEPS', name === '3b' || name === '7b' ? '1' : '3'));
  try {
    for (const mode of modes) {
      for (const gradCheckpoint of gcs) {
        const quantize = mode === 'f32' ? undefined : { mode, groupSize: group };
        const plan = memoryPlan(config, { quantize, rank: 16, seqLen: SEQ, batchSize: 1, gradCheckpoint });
        const label = `${name.padEnd(5)} ${mode.padEnd(5)} gc=${gradCheckpoint ? 'on ' : 'off'}`;
        const planGiB = plan.totalBytes / 2 ** 30;
        if (planGiB > maxGiB) {
          rows.push(`${label}  plan ${planGiB.toFixed(1)} GiB > ${maxGiB} GiB: does not fit (skipped)`);
          console.log(rows.at(-1));
          continue;
        }
        const r = runJob({ dir, quantize: mode, groupSize: group, gradCheckpoint, seq: SEQ, warmup, steps });
        rows.push(
          typeof r === 'string'
            ? `${label}  ${r}`
            : `${label}  peak ${(r.peakRssMiB / 1024).toFixed(2)} GiB (plan ${planGiB.toFixed(2)})  after load ${(r.loadRssMiB / 1024).toFixed(2)} GiB  ${r.tokensPerS.toFixed(1)} tok/s  load ${r.loadS.toFixed(0)} s  loss ${r.losses.map((l) => l.toFixed(3)).join(' ')}`,
        );
        console.log(rows.at(-1));
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
console.log(`\nQLoRA memory/scale (seq ${SEQ}, batch 1, r 16 all seven projections, group ${group}):`);
for (const r of rows) console.log(`  ${r}`);

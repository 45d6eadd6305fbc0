// full-finetune-steps.ts — step time and onnxruntime session count of full fine-tuning (trainable lm_head), step by step.
//
// `--fine-tune-type full` makes the fused lm_head + cross-entropy compute dW with GEMM alpha = 1/targets, and the
// number of targets changes every step (prompt masking, padding). While alpha was part of the ort session key this
// compiled a new session per step (until the LRU cap); this script shows the count stays flat from step 1 and the
// step time is stable from step 2. Usage: `node --import tsx bench/full-finetune-steps.ts [steps] [seq]`.
import { AdamW, ortBackend, Random, Tensor, useBestBackend } from '@tslora/core-tensor';
import { parseQwenConfig } from '../apps/finetune/src/model/config.js';
import { QwenForCausalLM } from '../apps/finetune/src/model/qwen.js';
import { SHAPES, shapeConfigJson } from './model-shapes.js';

const steps = Number(process.argv[2] ?? 8);
const seq = Number(process.argv[3] ?? 128);
const { backend, reason } = useBestBackend();
if (reason) console.log(`note: ${backend.name} backend (${reason})`);
const model = new QwenForCausalLM(parseQwenConfig(shapeConfigJson(SHAPES.small), 'bench:small'));
const rng = new Random(1);
for (const [name, p] of model.namedParameters()) {
  if (name.endsWith('norm.weight')) p.f32.fill(1);
  else if (name.endsWith('.bias')) p.f32.fill(0);
  else rng.fillNormal(p.f32, 0, 0.02);
}
model.unfreeze();
model.train();
const opt = new AdamW(model.trainableParameters(), { lr: 1e-4 });
const V = model.config.vocabSize;
console.log(`small shape, full fine-tune, seq ${seq}, backend ${backend.name}`);
console.log('| step | targets | step s | ort sessions | RSS MiB |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (let s = 1; s <= steps; s++) {
  const ids = Tensor.int(
    Array.from({ length: seq }, () => rng.int(V)),
    [1, seq],
  );
  // a "prompt" of 1 + s·7 mod (seq/2) tokens is masked: the target count, hence the loss divisor, changes each step
  const masked = 1 + ((s * 7) % (seq >> 1));
  const labels = Tensor.int(
    Array.from(ids.i32, (t, i) => (i < masked ? -100 : t)),
    [1, seq],
  );
  const t0 = performance.now();
  const loss = model.loss(ids, labels);
  loss.backward();
  opt.step();
  opt.zeroGrad();
  const dt = (performance.now() - t0) / 1000;
  const rss = (process.memoryUsage().rss / 2 ** 20).toFixed(0);
  console.log(`| ${s} | ${seq - masked} | ${dt.toFixed(3)} | ${ortBackend.sessionCount} | ${rss} |`);
}

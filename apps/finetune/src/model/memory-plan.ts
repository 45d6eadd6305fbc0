// model/memory-plan.ts — what a LoRA run will hold in memory, from config.json alone (inspect --quantize …).
//
// Exact for what is stored (frozen weights, LoRA parameters, their gradients and AdamW moments); an
// estimate for activations, counted from the tensors one decoder layer keeps for its backward:
//   attention: n1 (C), q/k/v (H·D + 2·Hkv·D, before and after RoPE), the output before o_proj (H·D),
//              plus the residual h (C);  MLP: n2 (C), gate/up (2F), their SwiGLU product (F), output (C).
// With --grad-checkpoint only each layer's input (C) is kept, plus one layer's worth during its recompute.

import type { QwenConfig } from './config.js';
import type { QuantizeOptions } from './frozen-base.js';

export interface PlanOptions {
  quantize?: QuantizeOptions;
  /** LoRA rank on all seven projections. */
  rank: number;
  seqLen: number;
  batchSize: number;
  gradCheckpoint: boolean;
}

export interface MemoryPlan {
  /** The seven projections of every layer in their frozen storage. */
  frozenProjectionBytes: number;
  /** Embedding, lm_head (untied), norms and biases: exact f32. */
  exactBytes: number;
  /** The shared f32 scratch a bf16/int8/int4 weight is widened into (0 for f32). */
  scratchBytes: number;
  /**
   * int8/int4: onnxruntime's own copy of every quantized weight, made when its MatMulNBits session is
   * built on the first forward (the weight is a constant initializer, which is what makes it fast).
   * Measured at 7B, seq 512, --grad-checkpoint: a step adds 4.8 GiB over the load at int4 and 7.8 GiB
   * at int8, against 3.25 / 6.31 GiB of quantized weights (bench/qlora-scale.bench.ts).
   */
  kernelBytes: number;
  loraParams: number;
  /** LoRA parameters + gradients + AdamW m and v, f32. */
  loraTrainingBytes: number;
  activationBytesPerToken: number;
  activationBytes: number;
  totalBytes: number;
}

/** Bytes per parameter of a (out,in) weight in a storage (int: codes + f32 scale + zero point per group). */
export function bytesPerParam(q: QuantizeOptions | undefined): number {
  if (!q) return 4;
  if (q.mode === 'bf16') return 2;
  const bits = q.mode === 'int8' ? 8 : 4;
  return bits / 8 + (4 + bits / 8) / q.groupSize;
}

/** The seven projections of one decoder layer by their HF module names, as [name, in, out]. */
export function namedProjections(c: QwenConfig): [string, number, number][] {
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  return [
    ['q_proj', C, q],
    ['k_proj', C, kv],
    ['v_proj', C, kv],
    ['o_proj', q, C],
    ['gate_proj', C, F],
    ['up_proj', C, F],
    ['down_proj', F, C],
  ];
}

/** The seven projections of one layer as [in, out]. */
function projections(c: QwenConfig): [number, number][] {
  return namedProjections(c).map(([, i, o]) => [i, o]);
}

export function memoryPlan(c: QwenConfig, o: PlanOptions): MemoryPlan {
  const L = c.numHiddenLayers;
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const proj = projections(c);
  const projParams = L * proj.reduce((s, [i, out]) => s + i * out, 0);
  const frozenProjectionBytes = Math.ceil(projParams * bytesPerParam(o.quantize));
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const biases = c.modelType === 'qwen2' ? L * (q + 2 * kv) : 0;
  const norms = L * 2 * C + C + (c.modelType === 'qwen3' ? L * 2 * c.headDim : 0);
  const embed = c.vocabSize * C;
  const exactBytes = 4 * (embed + (c.tieWordEmbeddings ? 0 : embed) + norms + biases);
  const widest = Math.max(...proj.map(([i, out]) => i * out));
  const scratchBytes = o.quantize ? 4 * Math.min(widest, 1 << 25) : 0;
  const loraParams = L * proj.reduce((s, [i, out]) => s + o.rank * (i + out), 0);
  const loraTrainingBytes = 4 * 4 * loraParams;
  const perLayer = 2 * C + 2 * (q + 2 * kv) + q + C + 3 * F + C + 2 * o.rank * 7; // floats per token
  const tokens = o.seqLen * o.batchSize;
  const activationBytesPerToken = 4 * (o.gradCheckpoint ? L * C + perLayer : L * perLayer);
  const activationBytes = activationBytesPerToken * tokens;
  const kernelBytes = o.quantize && o.quantize.mode !== 'bf16' ? frozenProjectionBytes : 0;
  const totalBytes =
    frozenProjectionBytes + exactBytes + scratchBytes + kernelBytes + loraTrainingBytes + activationBytes;
  return {
    frozenProjectionBytes,
    exactBytes,
    scratchBytes,
    kernelBytes,
    loraParams,
    loraTrainingBytes,
    activationBytesPerToken,
    activationBytes,
    totalBytes,
  };
}

const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;

/** The plan as the lines `inspect` prints. */
export function formatPlan(p: MemoryPlan, o: PlanOptions): string {
  const storage = o.quantize
    ? `${o.quantize.mode}${o.quantize.mode === 'bf16' ? '' : ` g${o.quantize.groupSize}`}`
    : 'f32';
  return [
    `memory plan (LoRA r=${o.rank} on all seven projections, ${o.batchSize}×${o.seqLen} tokens, frozen base ${storage}${o.gradCheckpoint ? ', --grad-checkpoint' : ''})`,
    `  frozen projections       ${gib(p.frozenProjectionBytes)}`,
    `  embedding/lm_head/norms  ${gib(p.exactBytes)}  (exact f32)`,
    `  widening scratch         ${gib(p.scratchBytes)}`,
    `  onnxruntime's copy       ${gib(p.kernelBytes)}  (MatMulNBits sessions, int8/int4)`,
    `  LoRA params+grads+AdamW  ${gib(p.loraTrainingBytes)}  (${p.loraParams.toLocaleString('en-US')} parameters)`,
    `  activations (estimate)   ${gib(p.activationBytes)}  (${(p.activationBytesPerToken / 1024).toFixed(1)} KiB per token)`,
    `  total (estimate)         ${gib(p.totalBytes)}  + the runtime (~0.3 GiB)`,
  ].join('\n');
}

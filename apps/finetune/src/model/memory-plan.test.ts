// model/memory-plan.test.ts — the memory plan's stored parts for Qwen2.5-7B, counted by hand from its config.
import { describe, expect, it } from 'vitest';
import { parseQwenConfig } from './config.js';
import { bytesPerParam, memoryPlan } from './memory-plan.js';

// Qwen2.5-7B's config.json (the fields the plan reads)
const QWEN25_7B = parseQwenConfig(
  {
    model_type: 'qwen2',
    hidden_size: 3584,
    intermediate_size: 18944,
    num_hidden_layers: 28,
    num_attention_heads: 28,
    num_key_value_heads: 4,
    vocab_size: 152064,
    tie_word_embeddings: false,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    max_position_embeddings: 32768,
  },
  'config.json',
);

describe('memoryPlan', () => {
  const base = { rank: 16, seqLen: 512, batchSize: 1, gradCheckpoint: false };

  it('counts the LoRA parameters PEFT reports for Qwen2.5-7B r=16 all-linear (40,370,176)', () => {
    const p = memoryPlan(QWEN25_7B, base);
    expect(p.loraParams).toBe(40_370_176);
    expect(p.loraTrainingBytes).toBe(40_370_176 * 16);
  });

  it('frozen projection bytes per storage: 6,525,288,448 parameters', () => {
    const n = 6_525_288_448;
    expect(memoryPlan(QWEN25_7B, base).frozenProjectionBytes).toBe(n * 4);
    expect(memoryPlan(QWEN25_7B, { ...base, quantize: { mode: 'bf16', groupSize: 128 } }).frozenProjectionBytes).toBe(
      n * 2,
    );
    const int4 = memoryPlan(QWEN25_7B, { ...base, quantize: { mode: 'int4', groupSize: 128 } });
    expect(int4.frozenProjectionBytes).toBe(Math.ceil(n * (0.5 + 4.5 / 128)));
    expect(bytesPerParam({ mode: 'int8', groupSize: 32 })).toBe(1 + 5 / 32);
    // exact: embedding + untied lm_head + norms + q/k/v biases
    expect(int4.exactBytes).toBe(4 * (2 * 152064 * 3584 + 28 * 2 * 3584 + 3584 + 28 * (3584 + 2 * 512)));
    expect(int4.scratchBytes).toBe(4 * (1 << 25));
    // onnxruntime's MatMulNBits sessions hold their own copy of each int weight; f32/bf16 have none
    expect(int4.kernelBytes).toBe(int4.frozenProjectionBytes);
    expect(memoryPlan(QWEN25_7B, { ...base, quantize: { mode: 'bf16', groupSize: 128 } }).kernelBytes).toBe(0);
    expect(int4.totalBytes).toBe(
      int4.frozenProjectionBytes +
        int4.exactBytes +
        int4.scratchBytes +
        int4.kernelBytes +
        int4.loraTrainingBytes +
        int4.activationBytes,
    );
  });

  it('grad checkpointing keeps one layer plus the layer inputs', () => {
    const plain = memoryPlan(QWEN25_7B, base);
    const gc = memoryPlan(QWEN25_7B, { ...base, gradCheckpoint: true });
    const perLayer = plain.activationBytesPerToken / 28;
    expect(gc.activationBytesPerToken).toBe(perLayer + 28 * 3584 * 4);
    expect(gc.activationBytes).toBe(gc.activationBytesPerToken * 512);
  });
});

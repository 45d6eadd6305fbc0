// export/__fixtures__/tiny-models.ts — tiny Qwen2/Qwen3 checkpoints with every weight non-trivial, and adapters with non-zero B, for the GGUF tests.
import fs from 'node:fs';
import path from 'node:path';
import { encodeF32, noGrad, Random, SafetensorsFile, Tensor, writeSafetensors } from '@tslora/core-tensor';
import { applyLora, loraModules, saveAdapter } from '@tslora/lora';
import { createTinyCheckpoint, TINY_DEFAULTS, type TinyOptions } from '../../model/init.js';
import { openSession, type Session } from '../../session.js';

/**
 * Qwen2: tied embeddings, q/k/v biases, GQA (4 heads, 2 kv heads). Qwen3: untied, q/k norms,
 * head_dim 32 ≠ hidden/heads = 16. Every row length is a multiple of 32 (q8_0 can take them).
 */
export const TINY: Record<'qwen2' | 'qwen3', TinyOptions> = {
  qwen2: { ...TINY_DEFAULTS, arch: 'qwen2', hidden: 64, intermediate: 128, layers: 2, heads: 4, kvHeads: 2, initStd: 0.25 },
  qwen3: {
    ...TINY_DEFAULTS,
    arch: 'qwen3',
    hidden: 64,
    intermediate: 96,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 32,
    seed: 1,
    initStd: 0.25,
  },
};

/**
 * init-tiny's checkpoint (HF init: unit norms, zero biases) with norms drawn from 1 + N(0, 0.2²) and
 * biases from N(0, 0.2²), so a norm or bias written to the wrong place changes the logits. Large
 * init std (0.25) spreads the logits over several units, so greedy picks are not near-ties.
 */
export function tinyCheckpoint(dir: string, o: TinyOptions): string {
  createTinyCheckpoint(dir, o);
  const file = path.join(dir, 'model.safetensors');
  const st = SafetensorsFile.open(file);
  const rng = new Random(o.seed + 100);
  const tensors = st.tensors.map((t) => {
    const data = st.readF32(t.name).slice();
    if (t.name.endsWith('norm.weight') || t.name.endsWith('.bias')) {
      rng.fillNormal(data, 0, 0.2);
      if (t.name.endsWith('norm.weight')) for (let i = 0; i < data.length; i++) data[i]! += 1;
    }
    return { name: t.name, dtype: t.dtype, shape: t.shape, data: encodeF32(data, t.dtype) };
  });
  st.close();
  writeSafetensors(file, tensors);
  return dir;
}

/** A PEFT adapter on every projection of `modelDir` with A and B drawn at random (B non-zero, unlike a fresh one). */
export function randomAdapter(
  modelDir: string,
  dir: string,
  opts: { useRslora: boolean; seed: number; std?: number },
): string {
  const s = openSession(modelDir);
  const { config } = applyLora(s.model, { r: 4, alpha: 8, useRslora: opts.useRslora, targetModules: 'all-linear' });
  const rng = new Random(opts.seed);
  for (const [, m] of loraModules(s.model)) {
    rng.fillNormal(m.lora_A.weight.f32, 0, opts.std ?? 0.3);
    rng.fillNormal(m.lora_B.weight.f32, 0, opts.std ?? 0.3);
  }
  fs.mkdirSync(dir, { recursive: true });
  saveAdapter(dir, s.model, config);
  return dir;
}

/** tslora's logits of the last position of `ids` (B=1), for a loaded session. */
export function tsloraLastLogits(s: Session, ids: readonly number[]): Float32Array {
  return noGrad(() => s.model.lastLogits(Tensor.int(ids, [1, ids.length]))).f32.slice();
}

// model/grad-checkpoint.test.ts — --grad-checkpoint gives the same loss, LoRA gradients and RNG stream as a plain backward.
import path from 'node:path';
import { ortBackend, Random, registerBackend, setBackend, Tensor, tsBackend } from '@tslora/core-tensor';
import { applyLora, loraModules } from '@tslora/lora';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../../test/golden.js';
import type { QuantizeOptions } from './frozen-base.js';
import { loadModel } from './load.js';

registerBackend(tsBackend);
registerBackend(ortBackend);
const DIR = path.join(FIXTURES, 'tiny-qwen2');
const draw = new Random(11);
const ids = Array.from({ length: 2 * 10 }, () => draw.int(200));

function run(gradCheckpoint: boolean, quantize?: QuantizeOptions) {
  const { model } = loadModel(DIR, quantize ? { quantize } : {});
  const rng = new Random(4);
  // dropout on: the recompute must replay the same masks from the same stream
  applyLora(model, { r: 4, alpha: 8, dropout: 0.1, targetModules: 'all-linear' }, { rng });
  for (const [, m] of loraModules(model)) new Random(5).fillNormal(m.lora_B.weight.f32, 0, 0.1);
  model.train();
  if (gradCheckpoint) model._gradCheckpoint = { rng };
  const x = Tensor.int(ids, [2, 10]);
  const losses: number[] = [];
  for (let step = 0; step < 2; step++) {
    const loss = model.loss(x, x);
    loss.backward();
    losses.push(loss.item());
  }
  const grads = loraModules(model).flatMap(([, m]) => [m.lora_A.weight.grad?.f32, m.lora_B.weight.grad?.f32]);
  return { losses, grads, rngAfter: rng.state };
}

for (const backend of ['ts', 'ort'] as const) {
  describe(`--grad-checkpoint on the ${backend} backend`, () => {
    it('bit-identical losses, LoRA gradients and dropout stream (two accumulated steps)', () => {
      setBackend(backend);
      const plain = run(false);
      const ckpt = run(true);
      expect(ckpt.losses).toEqual(plain.losses);
      expect(ckpt.grads.every((g) => g?.some((v) => v !== 0))).toBe(true);
      expect(ckpt.grads).toEqual(plain.grads);
      expect(ckpt.rngAfter).toEqual(plain.rngAfter);
    });

    it('with an int4 frozen base too', () => {
      setBackend(backend);
      const q: QuantizeOptions = { mode: 'int4', groupSize: 32 };
      const plain = run(false, q);
      const ckpt = run(true, q);
      expect(ckpt.losses).toEqual(plain.losses);
      expect(ckpt.grads).toEqual(plain.grads);
    });
  });
}

// train/lora-step.test.ts — one LoRA training step equals PyTorch: loss, every lora_A/lora_B gradient, AdamW update.
import { AdamW, type Tensor } from '@tslora/core-tensor';
import { applyLora, loraModules } from '@tslora/lora';
import { describe, expect, it } from 'vitest';
import { readGolden, relMaxDiff } from '../../test/golden.js';
import { loadModel } from '../model/load.js';
import { causalLmLoss } from '../model/loss.js';

const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

describe.each(['tiny-qwen2', 'tiny-qwen3'] as const)('%s: one LoRA step vs PyTorch', (name) => {
  const g = readGolden(name);
  const { model } = loadModel(g.dir);
  applyLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: TARGETS });
  const pairs: [string, Tensor][] = loraModules(model).flatMap(([p, m]) => [
    [`base_model.model.${p}.lora_A.weight`, m.lora_A.weight],
    [`base_model.model.${p}.lora_B.weight`, m.lora_B.weight],
  ]);
  for (const [key, t] of pairs) t.f32.set(g.f32(key));
  const loss = causalLmLoss(
    model.forward(g.int('input_ids'), { attentionMask: g.int('attention_mask') }),
    g.int('labels'),
  );
  loss.backward();

  it('covers all 7 projections of every layer (28 A/B pairs)', () => {
    expect(pairs.length).toBe(2 * 7 * 2);
  });

  it('loss matches to 1e-5', () => {
    expect(Math.abs(loss.item() - g.json.lora.loss)).toBeLessThan(1e-5);
  });

  it('every lora_A / lora_B gradient matches to 1e-4 relative', () => {
    for (const [key, t] of pairs) {
      expect(t.grad, key).not.toBeNull();
      expect(relMaxDiff(t.grad!.f32, g.f32(`${key}.grad`)), key).toBeLessThan(1e-4);
    }
  });

  it('no gradient reaches the frozen base weights', () => {
    const base = model.namedParameters().filter(([n]) => !n.includes('lora_'));
    expect(base.every(([, t]) => t.grad === null && !t.requiresGrad)).toBe(true);
  });

  it('the AdamW-updated values match torch.optim.AdamW', () => {
    const opt = new AdamW(pairs, { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    opt.step();
    for (const [key, t] of pairs) expect(relMaxDiff(t.f32, g.f32(`${key}.after`)), key).toBeLessThan(1e-5);
  });
});

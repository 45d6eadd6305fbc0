// train/lora-step.test.ts — one LoRA training step equals PyTorch: loss, every lora_A/lora_B gradient, AdamW update,
// on every backend and through both loss paths (the fused model.loss that train runs, and logits + causalLmLoss).
import { AdamW, type OrtKernel, ortBackend, type Tensor } from '@tslora/core-tensor';
import { describeEachBackend, type PerBackend } from '@tslora/core-tensor/testing';
import { applyLora, loraModules } from '@tslora/lora';
import { beforeAll, describe, expect, it } from 'vitest';
import { readGolden, relMaxDiff } from '../../test/golden.js';
import { loadModel } from '../model/load.js';
import { causalLmLoss } from '../model/loss.js';

const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/**
 * Loss (absolute) and gradients (max-diff relative to the tensor's max) per backend. Measured: ts ≤ 1e-6 and
 * 1.5e-6; ort ≤ 1e-6 and 2.1e-6 (MLAS GEMMs, LoRA accumulation with beta = 1, attention-block graphs,
 * linearSoftmax). ~10× headroom for other CPUs' summation orders; a wrong rule errs by ≫ 1e-3.
 */
const TOL: PerBackend<{ loss: number; grad: number }> = {
  ts: { loss: 5e-6, grad: 2e-5 },
  ort: { loss: 5e-6, grad: 3e-5 },
};

const LOSS_PATHS = ['model.loss (fused, as train)', 'causalLmLoss(forward)'] as const;

describeEachBackend('one LoRA step vs PyTorch', (be) => {
  describe.each(['tiny-qwen2', 'tiny-qwen3'] as const)('%s', (name) => {
    describe.each(LOSS_PATHS)('%s', (lossPath) => {
      const g = readGolden(name);
      const { model } = loadModel(g.dir);
      applyLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: TARGETS });
      const pairs: [string, Tensor][] = loraModules(model).flatMap(([p, m]) => [
        [`base_model.model.${p}.lora_A.weight`, m.lora_A.weight],
        [`base_model.model.${p}.lora_B.weight`, m.lora_B.weight],
      ]);
      for (const [key, t] of pairs) t.f32.set(g.f32(key));
      const tol = TOL[be];
      let loss = Number.NaN;
      const runs = {} as Record<OrtKernel, number>;
      // On the backend the suite selected (beforeAll of describeEachBackend runs first).
      beforeAll(() => {
        const before = { ...ortBackend.nativeRuns };
        const ids = g.int('input_ids');
        const attentionMask = g.int('attention_mask');
        const l =
          lossPath === 'causalLmLoss(forward)'
            ? causalLmLoss(model.forward(ids, { attentionMask }), g.int('labels'))
            : model.loss(ids, g.int('labels'), { attentionMask });
        l.backward();
        loss = l.item();
        for (const k of Object.keys(before) as OrtKernel[]) runs[k] = ortBackend.nativeRuns[k] - before[k];
      });

      it('covers all 7 projections of every layer (28 A/B pairs)', () => {
        expect(pairs.length).toBe(2 * 7 * 2);
      });

      it(`ran the ${be} kernels`, () => {
        const kernels: OrtKernel[] = ['gemm', 'attentionBlockForward', 'attentionBlockBackward'];
        if (lossPath !== 'causalLmLoss(forward)') kernels.push('linearSoftmax');
        for (const k of kernels) {
          if (be === 'ort') expect(runs[k], k).toBeGreaterThan(0);
          else expect(runs[k], k).toBe(0);
        }
      });

      it(`loss matches to ${tol.loss}`, () => {
        expect(Math.abs(loss - g.json.lora.loss)).toBeLessThan(tol.loss);
      });

      it(`every lora_A / lora_B gradient matches to ${tol.grad} relative`, () => {
        for (const [key, t] of pairs) {
          expect(t.grad, key).not.toBeNull();
          expect(relMaxDiff(t.grad!.f32, g.f32(`${key}.grad`)), key).toBeLessThan(tol.grad);
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
  });
});

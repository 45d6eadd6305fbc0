// config.test.ts — resolveLoraConfig: PEFT defaults, and every bad field refused with a message naming it.
import { TsloraError } from '@tslora/core-tensor';
import { describe, expect, it } from 'vitest';
import { LORA_DEFAULTS, type LoraConfigInput, resolveLoraConfig } from './config.js';

const avail = {
  availableTargets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  availableLayers: [0, 1],
};

describe('resolveLoraConfig', () => {
  it('fills PEFT defaults (r=8, alpha=8, dropout 0, kaiming, Qwen2 targets q_proj/v_proj)', () => {
    expect(resolveLoraConfig({}, avail)).toEqual({
      ...LORA_DEFAULTS,
      targetModules: ['q_proj', 'v_proj'],
      layers: null,
    });
  });

  it('keeps valid values; dedupes targets; sorts and dedupes layers', () => {
    const c = resolveLoraConfig(
      {
        r: 16,
        alpha: 32,
        dropout: 0.05,
        targetModules: ['q_proj', 'q_proj', 'down_proj'],
        layers: [1, 0, 1],
        useRslora: true,
        init: 'gaussian',
        seed: 7,
      },
      avail,
    );
    expect(c).toEqual({
      r: 16,
      alpha: 32,
      dropout: 0.05,
      targetModules: ['q_proj', 'down_proj'],
      layers: [0, 1],
      useRslora: true,
      init: 'gaussian',
      seed: 7,
    });
    expect(resolveLoraConfig({ targetModules: 'all-linear' }, avail).targetModules).toBe('all-linear');
  });

  const bad: [string, LoraConfigInput | Record<string, unknown>, RegExp][] = [
    ['r = 0', { r: 0 }, /r must be an integer ≥ 1, got 0/],
    ['fractional r', { r: 2.5 }, /r must be an integer ≥ 1, got 2.5/],
    ['alpha = 0', { alpha: 0 }, /alpha must be a finite number > 0, got 0/],
    ['negative alpha', { alpha: -1 }, /alpha must be/],
    ['dropout = 1', { dropout: 1 }, /dropout must be in \[0, 1\), got 1/],
    ['negative dropout', { dropout: -0.1 }, /dropout must be in/],
    ['init pissa', { init: 'pissa' as 'kaiming' }, /init must be "kaiming" or "gaussian", got "pissa"/],
    ['empty targets', { targetModules: [] }, /targetModules must be "all-linear" or a non-empty list/],
    ['lm_head as target', { targetModules: ['q_proj', 'lm_head'] }, /lm_head cannot be adapted/],
    ['embed_tokens as target', { targetModules: ['embed_tokens'] }, /embed_tokens cannot be adapted/],
    ['unknown field', { rank: 8 }, /unknown field rank/],
    ['layers out of range', { layers: [0, 5, 7] }, /layers 5, 7 not in the model \(layers: 0\.\.1\)/],
    ['negative layer', { layers: [-1] }, /layers must be null or a non-empty list/],
    ['non-boolean useRslora', { useRslora: 'yes' as unknown as boolean }, /useRslora must be true or false/],
  ];
  for (const [what, input, msg] of bad) {
    it(`rejects ${what}`, () => {
      let err: unknown;
      try {
        resolveLoraConfig(input as LoraConfigInput, avail);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TsloraError);
      expect((err as TsloraError).message).toMatch(msg);
      expect((err as TsloraError).hint).toBeTruthy();
      expect((err as TsloraError).exitCode).toBe(2);
    });
  }

  it('lists unknown target names together with the names the model has', () => {
    expect(() => resolveLoraConfig({ targetModules: ['q_proj', 'qproj', 'self_attn.k_proj'] }, avail)).toThrow(
      'LoRA config: unknown target modules "qproj", "self_attn.k_proj"; the model\'s Linear layers are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj',
    );
  });
});

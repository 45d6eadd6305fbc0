// sdpa.test.ts — the fused attention against its composite, finite differences and edge cases.
import { Random, ShapeError, Tensor } from '@tslora/core-tensor';
import { expectClose, gradcheck } from '@tslora/core-tensor/testing';
import { describe, expect, it } from 'vitest';
import { scaledDotProductAttentionComposite } from './composite.js';
import { type SdpaOptions, scaledDotProductAttention } from './sdpa.js';

function qkv(rng: Random, B: number, H: number, Hkv: number, T: number, S: number, D: number) {
  const q = Tensor.randn([B, H, T, D], rng).detach();
  const k = Tensor.randn([B, Hkv, S, D], rng).detach();
  const v = Tensor.randn([B, Hkv, S, D], rng).detach();
  for (const t of [q, k, v]) t.requiresGrad = true;
  return { q, k, v };
}

/** Forward and all three gradients (under a fixed random upstream gradient) of an attention function. */
function run(f: typeof scaledDotProductAttention, q: Tensor, k: Tensor, v: Tensor, opts: SdpaOptions, seed = 7) {
  for (const t of [q, k, v]) t.zeroGrad();
  const out = f(q, k, v, opts);
  const dO = new Random(seed).fillNormal(new Float32Array(out.size));
  out.backward(dO);
  return { out: out.f32, dq: q.grad?.f32, dk: k.grad?.f32, dv: v.grad?.f32 };
}

describe('scaledDotProductAttention vs the core-tensor composite', () => {
  const cases: [string, number, number, number, number, number, number, SdpaOptions, number[] | null][] = [
    ['GQA causal + right padding', 2, 4, 2, 7, 7, 8, { causal: true }, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]],
    ['MHA non-causal', 2, 3, 3, 5, 5, 4, {}, null],
    ['MQA causal + left padding (fully masked rows)', 2, 4, 1, 6, 6, 8, { causal: true }, [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]],
    ['cached queries (T < S) with offset', 1, 6, 2, 3, 9, 8, { causal: true, queryOffset: 4 }, null],
    ['non-causal padding, a sequence with no keys', 2, 2, 2, 4, 4, 8, { scale: 0.3 }, [1, 0, 1, 1, 0, 0, 0, 0]],
  ];
  for (const [label, B, H, Hkv, T, S, D, opts, mask] of cases) {
    it(label, () => {
      const { q, k, v } = qkv(new Random(B * 100 + H * 10 + T), B, H, Hkv, T, S, D);
      const o = mask ? { ...opts, attentionMask: Tensor.int(mask, [B, S]) } : opts;
      const fused = run(scaledDotProductAttention, q, k, v, o);
      const comp = run(scaledDotProductAttentionComposite, q, k, v, o);
      expectClose(fused.out, comp.out, { atol: 1e-5, rtol: 1e-5, label: 'out' });
      expectClose(fused.dq as Float32Array, comp.dq as Float32Array, { atol: 1e-5, rtol: 1e-5, label: 'dq' });
      expectClose(fused.dk as Float32Array, comp.dk as Float32Array, { atol: 1e-5, rtol: 1e-5, label: 'dk' });
      expectClose(fused.dv as Float32Array, comp.dv as Float32Array, { atol: 1e-5, rtol: 1e-5, label: 'dv' });
    });
  }
});

describe('scaledDotProductAttention gradients', () => {
  it('match finite differences for q, k and v (GQA, causal, padded)', () => {
    const { q, k, v } = qkv(new Random(3), 2, 4, 2, 3, 3, 4);
    const attentionMask = Tensor.int([1, 1, 1, 1, 1, 0], [2, 3]);
    gradcheck((a, b, c) => scaledDotProductAttention(a, b, c, { causal: true, attentionMask }), [q, k, v], { eps: 1e-2, atol: 2e-3, rtol: 1e-2 });
  });
});

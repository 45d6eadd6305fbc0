// kv-cache.test.ts — token-by-token decoding through the KV cache equals one full causal forward.
import { concat, matmul, noGrad, permute, Random, reshape, ShapeError, slice, Tensor } from '@tslora/core-tensor';
import { expectClose } from '@tslora/core-tensor/testing';
import { describe, expect, it } from 'vitest';
import { KVCache } from './kv-cache.js';
import { applyRotary, rotaryEmbedding } from './rope.js';
import { scaledDotProductAttention } from './sdpa.js';

/** A stack of attention-only layers (q/k/v projections, RoPE, GQA attention, residual), enough to exercise the cache. */
function makeModel(L: number, C: number, H: number, Hkv: number, D: number, seed: number) {
  const rng = new Random(seed);
  const layers = Array.from({ length: L }, () => ({
    wq: Tensor.randn([H * D, C], rng, 0.3),
    wk: Tensor.randn([Hkv * D, C], rng, 0.3),
    wv: Tensor.randn([Hkv * D, C], rng, 0.3),
    wo: Tensor.randn([C, H * D], rng, 0.3),
  }));
  const rope = rotaryEmbedding(D, { theta: 10000, maxPositions: 64 });
  // x: (B,T,C) → (B,heads,T,D)
  const heads = (y: Tensor, n: number) => permute(reshape(y, [y.dim(0), y.dim(1), n, D]), [0, 2, 1, 3]);
  /** Runs T new tokens at positions offset… through every layer, with or without a cache. */
  return (x: Tensor, offset: number, attentionMask: Tensor | undefined, cache?: KVCache): Tensor =>
    noGrad(() => {
      let h = x;
      layers.forEach((w, l) => {
        const [B, T] = h.shape as [number, number];
        const q = applyRotary(heads(matmul(h, w.wq, { transB: true }), H), rope.cos, rope.sin, { offset });
        let k = applyRotary(heads(matmul(h, w.wk, { transB: true }), Hkv), rope.cos, rope.sin, { offset });
        let v = heads(matmul(h, w.wv, { transB: true }), Hkv);
        if (cache) ({ k, v } = cache.append(l, k, v));
        const o = scaledDotProductAttention(q, k, v, {
          causal: true,
          attentionMask,
          queryOffset: cache ? k.dim(2) - T : undefined,
        });
        h = h.add(matmul(reshape(permute(o, [0, 2, 1, 3]), [B, T, H * D]), w.wo, { transB: true }));
      });
      return h;
    });
}

function decodeMatchesFull(B: number, H: number, Hkv: number, mask: number[] | null, initialCapacity: number) {
  const [L, C, D, T, prompt] = [2, 12, 8, 9, 3];
  const model = makeModel(L, C, H, Hkv, D, 11);
  const x = Tensor.randn([B, T, C], new Random(12));
  const fullMask = mask ? Tensor.int(mask, [B, T]) : undefined;
  const full = model(x, 0, fullMask);
  const cache = new KVCache(L, { initialCapacity });
  const steps: Tensor[] = [];
  for (let t0 = 0; t0 < T; ) {
    const n = t0 === 0 ? prompt : 1; // a prompt chunk, then one token at a time
    const stepMask = fullMask ? slice(fullMask, 1, 0, t0 + n) : undefined;
    expect(cache.length).toBe(t0);
    steps.push(model(slice(x, 1, t0, t0 + n), cache.length, stepMask, cache));
    t0 += n;
  }
  expect(cache.length).toBe(T);
  expectClose(concat(steps, 1), full, { atol: 1e-5, rtol: 1e-5, label: 'cached vs full' });
}

describe('KVCache decoding', () => {
  it('equals the full forward: GQA, batch 2, left padding, storage growth', () =>
    decodeMatchesFull(2, 4, 2, [0, 0, 1, 1, 1, 1, 1, 1, 1, ...Array(9).fill(1)], 2));
  it('equals the full forward: one kv head and one sequence (zero-copy views)', () =>
    decodeMatchesFull(1, 3, 1, null, 4));

  it('returns tensors that later appends, growth and reset do not change', () => {
    const cache = new KVCache(1, { initialCapacity: 1 });
    const a = Tensor.from([1, 2], [1, 1, 1, 2]);
    const first = cache.append(0, a, a);
    const snapshot = first.k.toArray();
    cache.append(0, Tensor.from([3, 4, 5, 6], [1, 1, 2, 2]), Tensor.from([3, 4, 5, 6], [1, 1, 2, 2]));
    cache.reset();
    cache.append(0, Tensor.from([9, 9], [1, 1, 1, 2]), Tensor.from([9, 9], [1, 1, 1, 2]));
    expect(first.k.toArray()).toEqual(snapshot);
    expect(cache.length).toBe(1);
  });

  it('gathers each head’s rows in order', () => {
    const cache = new KVCache(2);
    const k1 = Tensor.from([1, 2, 3, 4], [1, 2, 1, 2]); // heads 0: [1,2], 1: [3,4]
    cache.append(1, k1, k1);
    const { k } = cache.append(1, Tensor.from([5, 6, 7, 8], [1, 2, 1, 2]), Tensor.from([5, 6, 7, 8], [1, 2, 1, 2]));
    expect(k.shape).toEqual([1, 2, 2, 2]);
    expect(k.toArray()).toEqual([1, 2, 5, 6, 3, 4, 7, 8]);
    expect(cache.layerLength(1)).toBe(2);
    expect(cache.length).toBe(0);
  });

  it('rejects a k that does not continue the cache, and a bad layer', () => {
    const cache = new KVCache(1);
    cache.append(0, Tensor.zeros([1, 2, 3, 4]), Tensor.zeros([1, 2, 3, 4]));
    expect(() => cache.append(0, Tensor.zeros([1, 2, 1, 8]), Tensor.zeros([1, 2, 1, 8]))).toThrow(
      /new k \[1, 2, 1, 8\] does not continue the cached \[1, 2, 3, 4\]/,
    );
    expect(() => cache.append(0, Tensor.zeros([1, 2, 1, 4]), Tensor.zeros([1, 2, 2, 4]))).toThrow(ShapeError);
    expect(() => cache.append(1, Tensor.zeros([1, 2, 1, 4]), Tensor.zeros([1, 2, 1, 4]))).toThrow(
      /layer 1 is outside \[0, 1\)/,
    );
  });
});

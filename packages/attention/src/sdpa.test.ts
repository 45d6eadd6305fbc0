// sdpa.test.ts — the fused attention against its composite, finite differences and edge cases.
import { Random, ShapeError, Tensor } from '@tslora/core-tensor';
import { expectClose, gradcheck } from '@tslora/core-tensor/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { scaledDotProductAttentionComposite } from './composite.js';
import { attentionWeights, type SdpaOptions, scaledDotProductAttention } from './sdpa.js';
import { rowKernels, setWasmRowKernels } from './wasm-rows.js';

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
    [
      'MQA causal + left padding (fully masked rows)',
      2,
      4,
      1,
      6,
      6,
      8,
      { causal: true },
      [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ],
    ['cached queries (T < S) with offset', 1, 6, 2, 3, 9, 8, { causal: true, queryOffset: 4 }, null],
    ['non-causal padding, a sequence with no keys', 2, 2, 2, 4, 4, 8, { scale: 0.3 }, [1, 0, 1, 1, 0, 0, 0, 0]],
    // Long enough for several blocks of ⌈512/rep⌉ query positions (causal blocks see fewer keys).
    [
      'several blocks: GQA causal + padding',
      2,
      6,
      2,
      400,
      400,
      8,
      { causal: true },
      [...Array(400).fill(1), ...Array(150).fill(1), ...Array(250).fill(0)],
    ],
    ['several blocks: cached queries with offset', 1, 4, 1, 300, 340, 4, { causal: true, queryOffset: 40 }, null],
    [
      'several blocks: non-causal, trailing padding skipped',
      2,
      8,
      8,
      130,
      130,
      4,
      {},
      [...Array(100).fill(1), ...Array(30).fill(0), 0, ...Array(128).fill(1), 0],
    ],
  ];
  afterAll(() => setWasmRowKernels(true));
  it('has the WebAssembly SIMD row kernels in this Node (so the default path below is the SIMD one)', () => {
    expect(rowKernels()).not.toBeNull();
  });
  for (const [rowPath, simd] of [
    ['SIMD rows', true],
    ['scalar JS rows', false],
  ] as const)
    for (const [label, B, H, Hkv, T, S, D, opts, mask] of cases) {
      it(`${label} [${rowPath}]`, () => {
        setWasmRowKernels(simd);
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
    gradcheck((a, b, c) => scaledDotProductAttention(a, b, c, { causal: true, attentionMask }), [q, k, v], {
      eps: 1e-2,
      atol: 2e-3,
      rtol: 1e-2,
    });
  });
});

describe('masking semantics', () => {
  it('padding invariance: a right-padded sequence gives the unpadded outputs and gradients at its real positions', () => {
    const [H, Hkv, T, D, real] = [4, 2, 7, 8, 5];
    const { q, k, v } = qkv(new Random(21), 2, H, Hkv, T, T, D);
    // batch entry 1 holds 5 real tokens then 2 pads (arbitrary values: they must not matter)
    const attentionMask = Tensor.int([...Array(T).fill(1), ...Array(real).fill(1), 0, 0], [2, T]);
    /** Rows [0, real) of every head of batch entry 1 of a (2,heads,T,D) buffer. */
    const realRows = (a: Float32Array, heads: number) =>
      Array.from({ length: heads }, (_, h) =>
        Array.from(a.subarray((heads + h) * T * D, (heads + h) * T * D + real * D)),
      ).flat();
    const unpadded = (t: Tensor, heads: number) =>
      Tensor.from(realRows(t.f32, heads), [1, heads, real, D], { requiresGrad: true });
    const [q1, k1, v1] = [unpadded(q, H), unpadded(k, Hkv), unpadded(v, Hkv)];
    // Upstream gradient zero at pad query rows, as a loss with labels −100 there gives.
    const dO = new Random(3).fillNormal(new Float32Array(2 * H * T * D));
    for (let h = 0; h < H; h++) dO.fill(0, ((H + h) * T + real) * D, (H + h + 1) * T * D);
    const out = scaledDotProductAttention(q, k, v, { causal: true, attentionMask });
    out.backward(dO);
    const out1 = scaledDotProductAttention(q1, k1, v1, { causal: true });
    out1.backward(Float32Array.from(realRows(dO, H)));
    const tol = { atol: 1e-6, rtol: 1e-5 };
    expectClose(realRows(out.f32, H), out1.f32, { ...tol, label: 'out' });
    expectClose(realRows((q.grad as Tensor).f32, H), (q1.grad as Tensor).f32, { ...tol, label: 'dq' });
    expectClose(realRows((k.grad as Tensor).f32, Hkv), (k1.grad as Tensor).f32, { ...tol, label: 'dk' });
    expectClose(realRows((v.grad as Tensor).f32, Hkv), (v1.grad as Tensor).f32, { ...tol, label: 'dv' });
    // the pad keys receive no gradient at all
    for (let g = 0; g < Hkv; g++) {
      const pads = (k.grad as Tensor).f32.subarray(((Hkv + g) * T + real) * D, (Hkv + g + 1) * T * D);
      expect(pads.length).toBe((T - real) * D);
      expect(Array.from(pads).every((x) => x === 0)).toBe(true);
    }
  });

  it('a query row with every key masked gives zeros and zero gradients, never NaN', () => {
    const { q, k, v } = qkv(new Random(8), 2, 2, 1, 3, 3, 4);
    for (const t of [q, k, v]) t.f32[0] = 1e30; // huge scores must not overflow into NaN either
    const attentionMask = Tensor.int([0, 1, 1, 0, 0, 0], [2, 3]); // row 0 of seq 0 (causal) and all of seq 1
    const r = run(scaledDotProductAttention, q, k, v, { causal: true, attentionMask });
    for (const a of [r.out, r.dq, r.dk, r.dv] as Float32Array[]) expect(a.some(Number.isNaN)).toBe(false);
    const rowsZero = (a: Float32Array, b: number, H: number, rows: number[]) =>
      Array.from({ length: H }, (_, h) =>
        rows.flatMap((i) => Array.from(a.subarray(((b * H + h) * 3 + i) * 4, ((b * H + h) * 3 + i + 1) * 4))),
      )
        .flat()
        .every((x) => x === 0);
    expect(rowsZero(r.out, 0, 2, [0])).toBe(true);
    expect(rowsZero(r.dq as Float32Array, 0, 2, [0])).toBe(true);
    expect(rowsZero(r.out, 1, 2, [0, 1, 2])).toBe(true);
    expect(rowsZero(r.dq as Float32Array, 1, 2, [0, 1, 2])).toBe(true);
    expect(rowsZero(r.dk as Float32Array, 1, 1, [0, 1, 2])).toBe(true);
    expect(rowsZero(r.dv as Float32Array, 1, 1, [0, 1, 2])).toBe(true);
    expect(rowsZero(r.out, 0, 2, [1])).toBe(false); // the rows that do have keys are not zeroed
  });

  it('attentionWeights are the masked softmax of a naive loop (rows sum to 1 or are all zero)', () => {
    const [B, H, Hkv, T, D] = [2, 4, 2, 4, 3];
    const rng = new Random(9);
    const q = Tensor.randn([B, H, T, D], rng);
    const k = Tensor.randn([B, Hkv, T, D], rng);
    const mask = [1, 1, 1, 0, 0, 1, 1, 1];
    const w = attentionWeights(q, k, { causal: true, attentionMask: Tensor.int(mask, [B, T]) });
    const expected: number[] = [];
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < T; i++) {
          const g = Math.floor(h / (H / Hkv));
          const s = Array.from({ length: T }, (_, j) => {
            if (j > i || mask[b * T + j] === 0) return Number.NEGATIVE_INFINITY;
            let dot = 0;
            for (let d = 0; d < D; d++)
              dot +=
                (q.f32[((b * H + h) * T + i) * D + d] as number) * (k.f32[((b * Hkv + g) * T + j) * D + d] as number);
            return dot / Math.sqrt(D);
          });
          const mx = Math.max(...s);
          const e = s.map((x) => (mx === Number.NEGATIVE_INFINITY ? 0 : Math.exp(x - mx)));
          const z = e.reduce((a, c) => a + c, 0);
          expected.push(...e.map((x) => (z === 0 ? 0 : x / z)));
        }
      }
    }
    expectClose(w, expected, { atol: 1e-6, rtol: 1e-5 });
  });
});

describe('shape errors', () => {
  const z = (...s: number[]) => Tensor.zeros(s);
  const cases: [string, () => unknown, RegExp][] = [
    [
      'H not a multiple of Hkv',
      () => scaledDotProductAttention(z(1, 3, 2, 4), z(1, 2, 2, 4), z(1, 2, 2, 4)),
      /q has 3 heads, not a multiple of k's 2 kv heads \(q \[1, 3, 2, 4\], k \[1, 2, 2, 4\]/,
    ],
    [
      'head dims differ',
      () => scaledDotProductAttention(z(1, 2, 2, 4), z(1, 2, 2, 8), z(1, 2, 2, 8)),
      /q has head dim 4 but k has head dim 8 \(q \[1, 2, 2, 4\], k \[1, 2, 2, 8\]/,
    ],
    [
      'batches differ',
      () => scaledDotProductAttention(z(2, 2, 2, 4), z(1, 2, 2, 4), z(1, 2, 2, 4)),
      /q has batch 2 but k has batch 1/,
    ],
    [
      'k and v differ',
      () => scaledDotProductAttention(z(1, 2, 2, 4), z(1, 2, 2, 4), z(1, 2, 3, 4)),
      /k \[1, 2, 2, 4\] and v \[1, 2, 3, 4\] must have the same shape/,
    ],
    [
      '3-D q',
      () => scaledDotProductAttention(z(2, 2, 4), z(1, 2, 2, 4), z(1, 2, 2, 4)),
      /q must be a 4-D f32 tensor, got \[2, 2, 4\] f32/,
    ],
    [
      'mask not (B,S)',
      () =>
        scaledDotProductAttention(z(1, 2, 2, 4), z(1, 2, 3, 4), z(1, 2, 3, 4), {
          attentionMask: Tensor.int([1, 1], [1, 2]),
        }),
      /attentionMask has shape \[1, 2\] but the keys need \(B,S\) = \[1, 3\]/,
    ],
    [
      'offset past the keys',
      () => scaledDotProductAttention(z(1, 2, 2, 4), z(1, 2, 3, 4), z(1, 2, 3, 4), { causal: true, queryOffset: 2 }),
      /queryOffset 2 does not place 2 query rows inside 3 keys/,
    ],
  ];
  for (const [label, f, msg] of cases) {
    it(label, () => {
      expect(f).toThrow(ShapeError);
      expect(f).toThrow(msg);
    });
  }
});

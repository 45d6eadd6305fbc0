// ops/swiglu.test.ts — fused SwiGLU against the silu·mul composite (SIMD and scalar paths), gradcheck, edge values.
import { afterAll, describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { buildSwigluModule, setSwigluSimd, swigluKernels } from '../wasm/swiglu-kernels.js';
import { silu } from './activation.js';
import { mul } from './binary.js';
import { swiglu } from './swiglu.js';

const rng = new Random(3);

describe('swiglu', () => {
  afterAll(() => setSwigluSimd(true));

  it('the SIMD module is valid and loads in Node', () => {
    expect(Array.from(buildSwigluModule().subarray(0, 4))).toEqual([0x00, 0x61, 0x73, 0x6d]);
    expect(swigluKernels()).not.toBeNull();
  });

  for (const simd of [true, false]) {
    const path = simd ? 'SIMD' : 'scalar';
    // 3·4096 + 13 elements: several kernel chunks and a tail that is not a multiple of 8
    it(`[${path}] forward and backward equal silu(g)·u and its autograd (many chunks, ragged tail)`, () => {
      setSwigluSimd(simd);
      const shape = [3, 4109];
      const g = Tensor.randn(shape, rng, 3).detach();
      g.f32.set([0, -0, 30, -30, 88, -88, 100, -100, 1e-8], 0);
      g.requiresGrad = true;
      const u = Tensor.randn(shape, rng);
      u.requiresGrad = true;
      const dy = Tensor.randn(shape, rng).f32;
      const y = swiglu(g, u);
      y.backward(dy);
      const [dg, du] = [g.grad!.f32.slice(), u.grad!.f32.slice()];
      g.zeroGrad();
      u.zeroGrad();
      const ref = mul(silu(g), u);
      ref.backward(dy);
      expectClose(y.f32, ref.f32, { atol: 1e-6, rtol: 1e-6, label: 'y' });
      expectClose(dg, g.grad!.f32, { atol: 1e-6, rtol: 1e-5, label: 'dg' });
      expectClose(du, u.grad!.f32, { atol: 1e-6, rtol: 1e-6, label: 'du' });
    });

    it(`[${path}] NaN stays NaN; −∞ gives NaN like silu; +∞ gives ±∞`, () => {
      setSwigluSimd(simd);
      const g = Tensor.from([Number.NaN, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 1, 2, 3, 4, 5], [8]);
      const u = Tensor.from([1, 1, 2, 1, 1, 1, 1, 1], [8]);
      const y = swiglu(g, u).f32;
      expect(Number.isNaN(y[0])).toBe(true);
      expect(y[1]).toBe(silu(Tensor.from([Number.NEGATIVE_INFINITY], [1])).f32[0]);
      expect(y[2]).toBe(Number.POSITIVE_INFINITY);
    });

    it(`[${path}] gradcheck`, () => {
      setSwigluSimd(simd);
      const g = Tensor.randn([2, 9], rng, 2);
      g.requiresGrad = true;
      const u = Tensor.randn([2, 9], rng);
      u.requiresGrad = true;
      gradcheck((a, b) => swiglu(a, b), [g, u]);
    });
  }

  it('a frozen input gets no gradient; mismatched shapes are refused', () => {
    const g = Tensor.randn([4, 8], rng);
    g.requiresGrad = true;
    const u = Tensor.randn([4, 8], rng);
    swiglu(g, u).sum().backward();
    expect(u.grad).toBeNull();
    expect(g.grad).not.toBeNull();
    expect(() => swiglu(g, Tensor.randn([4, 7], rng))).toThrow(/swiglu: gate \[4, 8\] f32 and up \[4, 7\]/);
  });
});

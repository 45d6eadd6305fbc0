// rope.test.ts — RoPE tables and rotation against PyTorch (HF Qwen2RotaryEmbedding + rotate_half), and gradcheck.
import { readFileSync } from 'node:fs';
import { Random, ShapeError, Tensor } from '@tslora/core-tensor';
import { expectClose, gradcheck } from '@tslora/core-tensor/testing';
import { describe, expect, it } from 'vitest';
import { applyRotary, rotaryEmbedding } from './rope.js';

interface RopeCase {
  name: string;
  B: number;
  H: number;
  T: number;
  D: number;
  theta: number;
  positionIds: number[];
  x: number[];
  dy: number[];
  out: number[];
  dx: number[];
}
interface RopeTable {
  D: number;
  theta: number;
  positions: number[];
  cos: number[];
  sin: number[];
}
const golden = JSON.parse(readFileSync(new URL('./__fixtures__/rope-golden.json', import.meta.url), 'utf8')) as {
  cases: RopeCase[];
  tables: RopeTable[];
};

describe('rotaryEmbedding tables vs PyTorch', () => {
  for (const tb of golden.tables) {
    it(`D=${tb.D} theta=${tb.theta} positions ${tb.positions[0]}…${tb.positions.at(-1)}`, () => {
      const rt = rotaryEmbedding(tb.D, { theta: tb.theta, maxPositions: Math.max(...tb.positions) + 1 });
      const pick = (t: Tensor) => tb.positions.flatMap((p) => Array.from(t.f32.subarray(p * tb.D, (p + 1) * tb.D)));
      // f32 cos/sin of the same f32 angle: within an ulp or two of torch's vectorised f32 cos/sin
      expectClose(pick(rt.cos), tb.cos, { atol: 1e-6, rtol: 0, label: 'cos' });
      expectClose(pick(rt.sin), tb.sin, { atol: 1e-6, rtol: 0, label: 'sin' });
    });
  }
});

describe('applyRotary vs PyTorch apply_rotary_pos_emb', () => {
  for (const c of golden.cases) {
    it(c.name, () => {
      const rt = rotaryEmbedding(c.D, { theta: c.theta, maxPositions: 16 });
      const x = Tensor.from(c.x, [c.B, c.H, c.T, c.D], { requiresGrad: true });
      const y = applyRotary(x, rt.cos, rt.sin, { positionIds: Int32Array.from(c.positionIds) });
      y.backward(Float32Array.from(c.dy));
      expectClose(y, c.out, { atol: 1e-6, rtol: 1e-6, label: 'out' });
      expectClose(x.grad as Tensor, c.dx, { atol: 1e-6, rtol: 1e-6, label: 'dx' });
    });
  }

  it('offset gives the same result as explicit positions offset … offset+T−1', () => {
    const rt = rotaryEmbedding(8, { maxPositions: 32 });
    const x = Tensor.randn([2, 3, 5, 8], new Random(1));
    const a = applyRotary(x, rt.cos, rt.sin, { offset: 9 });
    const b = applyRotary(x, rt.cos, rt.sin, { positionIds: Int32Array.from({ length: 10 }, (_, i) => 9 + (i % 5)) });
    expectClose(a, b, { atol: 0, rtol: 0 });
  });

  it('keeps each head vector’s norm (it is a rotation) and is the identity at position 0', () => {
    const rt = rotaryEmbedding(16, { maxPositions: 8 });
    const x = Tensor.randn([1, 2, 4, 16], new Random(2));
    const y = applyRotary(x, rt.cos, rt.sin, { positionIds: Int32Array.from([0, 3, 5, 7]) });
    for (let r = 0; r < 8; r++) {
      const nx = Math.hypot(...x.f32.subarray(r * 16, r * 16 + 16));
      const ny = Math.hypot(...y.f32.subarray(r * 16, r * 16 + 16));
      expect(ny).toBeCloseTo(nx, 5);
    }
    expectClose(y.f32.subarray(0, 16), x.f32.subarray(0, 16), { atol: 0, rtol: 0 });
  });

  it('gradient matches finite differences', () => {
    const rt = rotaryEmbedding(8, { theta: 10000, maxPositions: 8 });
    const x = Tensor.randn([2, 2, 3, 8], new Random(5));
    x.requiresGrad = true;
    gradcheck((a) => applyRotary(a, rt.cos, rt.sin, { offset: 2 }), [x], { eps: 1e-2, atol: 1e-3, rtol: 1e-3 });
  });
});

describe('rope errors', () => {
  const rt = rotaryEmbedding(8, { maxPositions: 4 });
  it('rejects an odd head dim, a mismatched D and positions past the tables', () => {
    expect(() => rotaryEmbedding(7)).toThrow(ShapeError);
    const x = Tensor.zeros([1, 1, 2, 6]);
    expect(() => applyRotary(x, rt.cos, rt.sin)).toThrow(/x \[1, 1, 2, 6\] f32 with cos \[4, 8\]/);
    const y = Tensor.zeros([1, 1, 3, 8]);
    expect(() => applyRotary(y, rt.cos, rt.sin, { offset: 2 })).toThrow(
      /position 4 is outside the cos\/sin tables \[0, 4\)/,
    );
    expect(() => applyRotary(y, rt.cos, rt.sin, { positionIds: Int32Array.from([0, 1]) })).toThrow(
      /positionIds has 2 entries but x needs \(B,T\) = \[1, 3\]/,
    );
  });
});

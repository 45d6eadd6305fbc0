// lora-linear.test.ts — LoraLinear forward/backward against PyTorch goldens, the composite ops, and init statistics.
import { readFileSync } from 'node:fs';
import { dropout, Linear, matmul, ortBackend, Random, Tensor } from '@tslora/core-tensor';
import { describeEachBackend, expectClose, gradcheck, type PerBackend } from '@tslora/core-tensor/testing';
import { describe, expect, it } from 'vitest';
import { loraScaling } from './config.js';
import { LoraLinear, loraLinear } from './lora-linear.js';

interface GoldenCase {
  name: string;
  scaling: number;
  x_shape: number[];
  x: number[];
  grad_out: number[];
  y: number[];
  dx: number[];
  dA: number[];
  dB: number[];
}
interface Golden {
  in_features: number;
  out_features: number;
  r: number;
  lora_alpha: number;
  W: number[];
  bias: number[];
  lora_A: number[];
  lora_B: number[];
  cases: GoldenCase[];
  init: {
    kaiming: { lora_A_shape: number[]; lora_B_shape: number[]; lora_B_absmax: number; bound: number };
    gaussian: { lora_A_shape: number[]; lora_B_shape: number[]; lora_B_absmax: number; std: number };
  };
}
const golden = JSON.parse(readFileSync(new URL('./__fixtures__/lora_golden.json', import.meta.url), 'utf8')) as Golden;
const { in_features: IN, out_features: OUT, r: R, lora_alpha: ALPHA } = golden;

/** A LoraLinear holding the golden's W, b, A and B. */
function goldenModule(useRslora: boolean): LoraLinear {
  const base = new Linear(IN, OUT, { bias: true });
  base.weight.f32.set(golden.W);
  base.bias?.f32.set(golden.bias);
  const m = new LoraLinear(base, {
    r: R,
    alpha: ALPHA,
    scaling: loraScaling(R, ALPHA, useRslora),
    dropout: 0,
    init: 'kaiming',
    rng: new Random(1),
  });
  m.lora_A.weight.f32.set(golden.lora_A);
  m.lora_B.weight.f32.set(golden.lora_B);
  return m;
}

/**
 * atol = rtol per backend. Measured max |diff| over y, dA, dB, dx of the three cases: ts and ort both ≤ 1e-6
 * (values O(1)). The 'ort' suite sends even these tiny GEMMs to onnxruntime (MLAS, including the beta = 1
 * accumulation of the LoRA branch into y and dx); train's own shapes are covered by train/lora-step.test.ts.
 */
const TOL: PerBackend<number> = { ts: 1e-5, ort: 1e-5 };

describeEachBackend(
  'LoraLinear vs PyTorch (PEFT math) goldens: r=4, alpha=8, in=16, out=12, batch 3',
  (be) => {
    const tol = { atol: TOL[be], rtol: TOL[be] };
    for (const c of golden.cases) {
      it(`${c.name}: forward y, dA, dB and dx`, () => {
        const m = goldenModule(c.name === 'rslora');
        expect(m.scaling).toBeCloseTo(c.scaling, 12);
        const x = new Tensor(Float32Array.from(c.x), c.x_shape, { requiresGrad: true });
        const before = ortBackend.nativeRuns.gemm;
        const y = m.forward(x);
        expect(y.shape).toEqual([...c.x_shape.slice(0, -1), OUT]);
        expectClose(y, c.y, { ...tol, label: 'y' });
        y.backward(Float32Array.from(c.grad_out));
        // forward 3 GEMMs (base, A, B), backward 5 (dh, dB, dA, dx base, dx LoRA): all native on ort
        expect(ortBackend.nativeRuns.gemm - before).toBe(be === 'ort' ? 8 : 0);
        expectClose(m.lora_A.weight.grad!, c.dA, { ...tol, label: 'dA' });
        expectClose(m.lora_B.weight.grad!, c.dB, { ...tol, label: 'dB' });
        expectClose(x.grad!, c.dx, { ...tol, label: 'dx' });
        // the base is frozen: no dW, no db
        expect(m.base_layer.weight.grad).toBeNull();
        expect(m.base_layer.bias?.grad).toBeNull();
      });
    }
  },
  { ort: 'native' },
);

describe('LoRA scaling', () => {
  it('rsLoRA scale is alpha/√r, standard alpha/r', () => {
    expect(loraScaling(4, 8, false)).toBe(2);
    expect(loraScaling(4, 8, true)).toBe(4);
    expect(loraScaling(16, 8, true)).toBe(2);
  });
});

describe('init modes (PEFT init_lora_weights true / "gaussian")', () => {
  for (const mode of ['kaiming', 'gaussian'] as const) {
    it(`${mode}: A (r,in), B (out,r) zeros, trainable; base frozen`, () => {
      const g = golden.init[mode];
      const m = new LoraLinear(new Linear(IN, OUT, { rng: new Random(3) }), {
        r: R,
        alpha: ALPHA,
        scaling: 2,
        dropout: 0,
        init: mode,
        rng: new Random(4),
      });
      expect(m.lora_A.weight.shape).toEqual(g.lora_A_shape);
      expect(m.lora_B.weight.shape).toEqual(g.lora_B_shape);
      expect(Math.max(...m.lora_B.weight.f32.map(Math.abs))).toBe(g.lora_B_absmax);
      expect(m.namedParameters().map(([n, t]) => [n, t.requiresGrad])).toEqual([
        ['base_layer.weight', false],
        ['lora_A.weight', true],
        ['lora_B.weight', true],
      ]);
    });
  }

  it("kaiming: A ~ U(-bound, bound) with torch's bound 1/√in; gaussian: A ~ N(0, (1/r)²)", () => {
    // large enough for the sample moments to be tight (n = 16384: std error of the std ≈ 0.6 %)
    const r = 64;
    const inF = 256;
    const k = new LoraLinear(new Linear(inF, 8), {
      r,
      alpha: 8,
      scaling: 1,
      dropout: 0,
      init: 'kaiming',
      rng: new Random(5),
    }).lora_A.weight.f32;
    const bound = golden.init.kaiming.bound * Math.sqrt(IN / inF); // torch's bound scales as 1/√fan_in
    const std = (a: Float32Array): number => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(Math.max(...k.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...k.map(Math.abs))).toBeGreaterThan(0.99 * bound);
    expect(std(k) / (bound / Math.sqrt(3))).toBeCloseTo(1, 1);
    const gauss = new LoraLinear(new Linear(inF, 8), {
      r,
      alpha: 8,
      scaling: 1,
      dropout: 0,
      init: 'gaussian',
      rng: new Random(6),
    }).lora_A.weight.f32;
    expect(golden.init.gaussian.std).toBe(1 / R);
    expect(std(gauss) / (1 / r)).toBeCloseTo(1, 1);
  });
});

describe('fused loraLinear vs composite ops', () => {
  const rng = new Random(11);
  const make = (shape: number[], grad = true): Tensor =>
    new Tensor(rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1))), shape, { requiresGrad: grad });

  it('equals matmul composition, forward and every gradient (W and b unfrozen too)', () => {
    const x = make([2, 3, 5]);
    const W = make([4, 5]);
    const b = make([4]);
    const A = make([3, 5]);
    const B = make([4, 3]);
    const s = 1.5;
    const fused = loraLinear(x, x, W, b, A, B, s);
    const comp = matmul(x, W, { transB: true })
      .add(b)
      .add(matmul(matmul(x, A, { transB: true }), B, { transB: true }).mul(s));
    expectClose(fused, comp, { atol: 1e-5, label: 'forward' });
    const R = rng.fillNormal(new Float32Array(fused.size));
    fused.backward(R);
    const g1 = [x, W, b, A, B].map((t) => t.grad!.f32.slice());
    for (const t of [x, W, b, A, B]) t.zeroGrad();
    comp.backward(R);
    for (const [i, t] of [x, W, b, A, B].entries()) expectClose(g1[i]!, t.grad!, { atol: 1e-4, label: `grad ${i}` });
  });

  it('passes gradcheck with separate x and dropped-out xd inputs', () => {
    const x = make([3, 4]);
    const xd = make([3, 4]);
    const W = make([2, 4], false);
    const A = make([2, 4]);
    const B = make([2, 2]);
    gradcheck((xx, xxd, AA, BB) => loraLinear(xx!, xxd!, W, null, AA!, BB!, 0.7), [x, xd, A, B], {
      eps: 1e-2,
      atol: 2e-2,
      rtol: 2e-2,
    });
  });

  it('dropout: same masks as core dropout on the LoRA branch only; identity in eval mode', () => {
    const base = new Linear(6, 5, { rng: new Random(2) });
    const m = new LoraLinear(base, { r: 2, alpha: 4, scaling: 2, dropout: 0.5, init: 'kaiming', rng: new Random(9) });
    m.lora_B.weight.f32.set(new Random(8).fillNormal(new Float32Array(10)));
    const x = make([4, 6]);
    const replay = Random.fromState(m._rng.state);
    const y = m.forward(x);
    const xd = dropout(x, 0.5, replay, true);
    const ref = matmul(x, base.weight, { transB: true }).add(
      matmul(matmul(xd, m.lora_A.weight, { transB: true }), m.lora_B.weight, { transB: true }).mul(2),
    );
    expectClose(y, ref, { atol: 1e-5, label: 'train-mode dropout' });
    m.eval();
    const yEval = m.forward(x);
    const refEval = matmul(x, base.weight, { transB: true }).add(
      matmul(matmul(x, m.lora_A.weight, { transB: true }), m.lora_B.weight, { transB: true }).mul(2),
    );
    expectClose(yEval, refEval, { atol: 1e-5, label: 'eval mode' });
  });

  it('rejects mismatched shapes with a ShapeError naming all of them', () => {
    const x = make([2, 5]);
    expect(() => loraLinear(x, x, make([4, 5]), null, make([3, 6]), make([4, 3]), 1)).toThrow(/A \[3, 6\]/);
  });
});

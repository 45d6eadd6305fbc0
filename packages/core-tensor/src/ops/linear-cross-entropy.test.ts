// ops/linear-cross-entropy.test.ts — the fused lm_head+CE against the composite matmul → crossEntropy.
import { describe, expect, it } from 'vitest';
import { getBackend, setBackend } from '../backend/backend.js';
import { ortBackend, useBestBackend } from '../backend/index.js';
import { linearSoftmaxVia } from '../backend/ts/linear-softmax.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { describeEachBackend } from '../testing-backends.js';
import { linearCrossEntropy } from './linear-cross-entropy.js';
import { matmul } from './matmul.js';
import { crossEntropy } from './softmax.js';

const rng = new Random(7);
const param = (shape: number[], std = 1) =>
  new Tensor(rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), 0, std), shape, { requiresGrad: true });

describeEachBackend(
  'linearCrossEntropy',
  () => {
    const targets = Tensor.int([3, -100, 0, 7, 7, -100, 1]);

    it.each([undefined, 16, 3])('equals crossEntropy(h·Wᵀ) in loss, dh and dW (chunk %s)', (chunk) => {
      const h = param([7, 5]);
      const W = param([11, 5]);
      const fused = linearCrossEntropy(h, W, targets, chunk === undefined ? {} : { chunk });
      fused.backward();
      const [dh, dW] = [h.grad!.f32.slice(), W.grad!.f32.slice()];
      h.zeroGrad();
      W.zeroGrad();
      const ref = crossEntropy(matmul(h, W, { transB: true }), targets);
      ref.backward();
      expectClose([fused.item()], [ref.item()], { atol: 1e-6 });
      expectClose(dh, h.grad!.f32, { atol: 1e-6 });
      expectClose(dW, W.grad!.f32, { atol: 1e-6 });
    });

    it('honours divisor (gradient accumulation) and an upstream gradient', () => {
      const h = param([7, 5]);
      const W = param([11, 5]);
      gradcheck((a, b) => linearCrossEntropy(a, b, targets, { divisor: 9 }).mul(2.5), [h, W]);
    });

    it('frozen W: only dh is computed', () => {
      const h = param([7, 5]);
      const W = new Tensor(rng.fillNormal(new Float32Array(55)), [11, 5]);
      linearCrossEntropy(h, W, targets).backward();
      expect(W.grad).toBeNull();
      expect(h.grad!.f32.some((v) => v !== 0)).toBe(true);
      // ignored rows get exactly zero gradient
      expect(Array.from(h.grad!.f32.subarray(5, 10))).toEqual([0, 0, 0, 0, 0]);
    });

    it('all targets ignored: loss 0, no NaN', () => {
      const h = param([2, 3]);
      const l = linearCrossEntropy(h, param([4, 3]), Tensor.int([-100, -100]));
      expect(l.item()).toBe(0);
    });

    it('a row with P[target] below 1e-30 (loss > 69) gets its exact loss, not Inf', () => {
      const h = param([3, 4]);
      const W = param([9, 4]);
      h.f32.set([40, -40, 40, -40], 4); // row 1: logits ±160·W — target 2 is hopeless
      W.f32.set([-1, 1, -1, 1], 8); // W[2]·h[1] = −160 while some other logit is large
      const t = Tensor.int([0, 2, 5]);
      const fused = linearCrossEntropy(h, W, t);
      fused.backward();
      const dh = h.grad!.f32.slice();
      h.zeroGrad();
      W.zeroGrad();
      const ref = crossEntropy(matmul(h, W, { transB: true }), t);
      ref.backward();
      expect(ref.item()).toBeGreaterThan(69 / 3);
      expectClose([fused.item()], [ref.item()], { rtol: 1e-6 });
      expectClose(dh, h.grad!.f32, { atol: 1e-6 });
    });

    it('the backend kernel matches the gemm+softmax composition (picked, P·W, P)', () => {
      const [m, n, k] = [6, 37, 8];
      const h = rng.fillNormal(new Float32Array(m * k));
      const w = rng.fillNormal(new Float32Array(n * k));
      const targets = Int32Array.from({ length: m }, (_, i) => (i * 7) % n);
      const run = (viaGemm: boolean) => {
        const args = {
          h,
          w,
          m,
          n,
          k,
          targets,
          picked: new Float32Array(m),
          pw: new Float32Array(m * k),
          p: new Float32Array(m * n),
        };
        const be = getBackend();
        if (viaGemm) linearSoftmaxVia((a) => be.gemm(a), args);
        else be.linearSoftmax!(args);
        return args;
      };
      const [fused, ref] = [run(false), run(true)];
      expectClose(fused.picked, ref.picked, { atol: 1e-7, rtol: 1e-5 });
      expectClose(fused.pw, ref.pw, { atol: 1e-6 });
      expectClose(fused.p, ref.p, { atol: 1e-7, rtol: 1e-5 });
      expect(() => getBackend().linearSoftmax!({ ...run(true), targets: Int32Array.of(0, 1, 2, 3, 4, n) })).toThrow(
        /target 37 of row 5 is outside \[0, 37\)/,
      );
    });

    it('refuses mismatched shapes and out-of-range targets', () => {
      expect(() => linearCrossEntropy(param([2, 3]), param([4, 5]), Tensor.int([0, 1]))).toThrow(
        /linearCrossEntropy: h \[2, 3\], W \[4, 5\]/,
      );
      expect(() => linearCrossEntropy(param([2, 3]), param([4, 3]), Tensor.int([0, 4]))).toThrow(/target 4 at row 1/);
    });
  },
  { ort: 'native' },
);

describe('linearCrossEntropy with a trainable W (full fine-tune) on ort', () => {
  it('a different target count (loss divisor = GEMM alpha) each step compiles no new session; equals ts', () => {
    const prev = getBackend().name;
    useBestBackend(); // registers 'ts' and 'ort'
    ortBackend.dispose(); // count this test's sessions only
    const [N, C, V] = [24, 32, 96];
    const h0 = new Random(3).fillNormal(new Float32Array(N * C));
    const W0 = new Random(4).fillNormal(new Float32Array(V * C), 0, 0.5);
    const run = (be: string, targets: Tensor) => {
      setBackend(be);
      const h = new Tensor(h0.slice(), [N, C], { requiresGrad: true });
      const W = new Tensor(W0.slice(), [V, C], { requiresGrad: true });
      const loss = linearCrossEntropy(h, W, targets);
      loss.backward();
      return { loss: loss.item(), dh: h.grad!.f32, dW: W.grad!.f32 };
    };
    try {
      let afterStep1 = -1;
      for (let step = 1; step <= 8; step++) {
        // the first 2·step rows are "prompt" (ignored): the mean's divisor, hence dW's alpha, changes every step
        const pick = new Random(100 + step);
        const targets = Tensor.int(Array.from({ length: N }, (_, r) => (r < 2 * step ? -100 : pick.int(V))));
        const ref = run('ts', targets);
        const before = { ...ortBackend.nativeRuns };
        const got = run('ort', targets);
        expect(ortBackend.nativeRuns.linearSoftmax - before.linearSoftmax).toBe(1);
        expect(ortBackend.nativeRuns.gemm - before.gemm).toBe(1); // dW += (1/targets)·(P − 1ₜ)ᵀ·h
        if (step === 1) afterStep1 = ortBackend.sessionCount;
        expect(ortBackend.sessionCount, `sessions after step ${step}`).toBe(afterStep1);
        expectClose([got.loss], [ref.loss], { atol: 1e-6, rtol: 1e-6 });
        expectClose(got.dh, ref.dh, { atol: 1e-6, rtol: 1e-5, label: `dh step ${step}` });
        expectClose(got.dW, ref.dW, { atol: 1e-6, rtol: 1e-5, label: `dW step ${step}` });
      }
      expect(afterStep1).toBe(2); // the linear-softmax graph and one Gemm (alpha on B, C accumulated)
    } finally {
      setBackend(prev);
    }
  });
});

// ops/matmul.test.ts — matmul with every transpose flag, batched and shared-weight layouts, on every backend.
import { expect, it } from 'vitest';
import { ortBackend } from '../backend/index.js';
import { ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { describeEachBackend } from '../testing-backends.js';
import { matmul } from './matmul.js';

/** C[b] = op(A[b])·op(B[b]) by the triple loop, f64 accumulation; a 2-D B is shared by every batch. */
function naiveMatmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean): { data: Float64Array; shape: number[] } {
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const n = transB ? br : bc;
  const lead = a.shape.slice(0, -2);
  const batch = lead.reduce((p, c) => p * c, 1);
  const shared = b.ndim === 2;
  const out = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const ao = t * m * k;
    const bo = shared ? 0 : t * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = a.data[ao + (transA ? p * m + i : i * k + p)] as number;
          const bv = b.data[bo + (transB ? j * k + p : p * n + j)] as number;
          s += av * bv;
        }
        out[t * m * n + i * n + j] = s;
      }
    }
  }
  return { data: out, shape: [...lead, m, n] };
}

const flagSets = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

/** Shapes of A and B for op(A): (…,m,k), op(B): (…,k,n). */
function shapes(lead: number[], m: number, k: number, n: number, transA: boolean, transB: boolean, sharedB: boolean) {
  return {
    a: [...lead, ...(transA ? [k, m] : [m, k])],
    b: [...(sharedB ? [] : lead), ...(transB ? [n, k] : [k, n])],
  };
}

describeEachBackend(
  'matmul',
  (backend) => {
    const rng = new Random(21);
    const layouts = [
      { name: '2-D', lead: [] as number[], shared: true },
      { name: 'batched (2,3)', lead: [2, 3], shared: false },
      { name: 'batched, shared 2-D B (a weight)', lead: [2, 3], shared: true },
      { name: 'size-1 batch', lead: [1], shared: false },
    ];

    for (const layout of layouts) {
      for (const [transA, transB] of flagSets) {
        const tag = `${layout.name}, transA=${transA}, transB=${transB}`;
        it(`forward ${tag} matches the triple loop`, () => {
          const s = shapes(layout.lead, 17, 24, 19, transA, transB, layout.shared);
          const a = Tensor.uniform(s.a, rng, -1, 1);
          const b = Tensor.uniform(s.b, rng, -1, 1);
          const y = matmul(a, b, { transA, transB });
          const ref = naiveMatmul(a, b, transA, transB);
          expect(y.shape).toEqual(ref.shape);
          expectClose(y.data, ref.data, { atol: 1e-5, rtol: 1e-5, label: tag });
        });
        it(`backward ${tag} matches finite differences`, () => {
          const s = shapes(layout.lead, 3, 5, 4, transA, transB, layout.shared);
          const a = Tensor.uniform(s.a, rng, -1, 1);
          const b = Tensor.uniform(s.b, rng, -1, 1);
          a.requiresGrad = true;
          b.requiresGrad = true;
          gradcheck((x, w) => matmul(x, w, { transA, transB }), [a, b]);
        });
      }
    }

    it('a frozen weight gets no gradient while the input still does (LoRA base layer)', () => {
      const x = Tensor.uniform([2, 3, 4], rng, -1, 1);
      const w = Tensor.uniform([5, 4], rng, -1, 1);
      x.requiresGrad = true;
      matmul(x, w, { transB: true }).sum().backward();
      expect(w.grad).toBeNull();
      // d Σ x·Wᵀ / dx[b,t,i] = Σ_o W[o,i]
      const colSums = [0, 1, 2, 3].map((i) => [0, 1, 2, 3, 4].reduce((p, o) => p + (w.data[o * 4 + i] as number), 0));
      expectClose(x.grad?.data ?? [], Array.from({ length: 6 }, () => colSums).flat(), { atol: 1e-6, rtol: 1e-6 });
    });

    it('the Tensor method matmulT(w) equals matmul(x, w, {transB: true})', () => {
      const x = Tensor.uniform([4, 6], rng);
      const w = Tensor.uniform([3, 6], rng);
      expect(x.matmulT(w).toArray()).toEqual(matmul(x, w, { transB: true }).toArray());
      expect(x.matmul(w.transpose(0, 1)).shape).toEqual([4, 3]);
    });

    it('really runs on the selected backend (ort: one native GEMM; ts: none)', () => {
      const before = ortBackend.nativeRuns.gemm;
      matmul(Tensor.ones([8, 8]), Tensor.ones([8, 8]));
      expect(ortBackend.nativeRuns.gemm - before).toBe(backend === 'ort' ? 1 : 0);
    });

    it('empty dims give an empty or zero result', () => {
      expect(matmul(Tensor.zeros([0, 3]), Tensor.zeros([3, 2])).shape).toEqual([0, 2]);
      expect(matmul(Tensor.ones([2, 0]), Tensor.ones([0, 3])).toArray()).toEqual([0, 0, 0, 0, 0, 0]);
    });

    it('refuses mismatched inner or batch dims and wrong dtypes, naming both shapes', () => {
      expect(() => matmul(Tensor.zeros([2, 3]), Tensor.zeros([4, 5]))).toThrow(
        /matmul: \[2, 3\] @ \[4, 5\] — inner dims 3 and 4/,
      );
      expect(() => matmul(Tensor.zeros([2, 2, 3]), Tensor.zeros([3, 3, 4]))).toThrow(ShapeError);
      expect(() => matmul(Tensor.zeros([3]), Tensor.zeros([3, 1]))).toThrow(/≥ 2 dims/);
      expect(() => matmul(Tensor.int([1, 2, 3, 4], [2, 2]), Tensor.zeros([2, 2]))).toThrow(/i32/);
    });
  },
  { ort: 'native' },
);

// ops/golden.test.ts — the model's composite ops against PyTorch goldens (scripts/make_ops_golden.py), on every backend.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { Tensor } from '../tensor.js';
import { expectClose } from '../testing.js';
import { describeEachBackend } from '../testing-backends.js';
import { gelu, silu } from './activation.js';
import { embedding } from './index-ops.js';
import { matmul } from './matmul.js';
import { rmsNorm } from './norm.js';
import { crossEntropy, logSoftmax, softmax } from './softmax.js';

type Num = number | 'inf' | '-inf' | 'nan';
interface Arr {
  shape: number[];
  data: Num[];
}
interface Case {
  name: string;
  inputs: Arr[];
  dy: Arr;
  out: Arr;
  grads: Num[][];
  ints?: Record<string, { shape: number[]; data: number[] }>;
  opts?: { transA?: boolean; transB?: boolean };
  eps?: number;
}

const golden = JSON.parse(readFileSync(new URL('./fixtures/ops-golden.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};
const num = (v: Num): number =>
  v === 'inf' ? Number.POSITIVE_INFINITY : v === '-inf' ? Number.NEGATIVE_INFINITY : v === 'nan' ? Number.NaN : v;
const f32 = (a: Num[]): Float32Array => Float32Array.from(a, num);

/** The tslora op for each golden case (same math as the torch lambda in the script). */
function build(c: Case): (...xs: Tensor[]) => Tensor {
  const ints = (k: string): Tensor => {
    const v = c.ints?.[k];
    if (!v) throw new Error(`golden case ${c.name} has no ${k}`);
    return Tensor.int(v.data, v.shape);
  };
  switch (c.name.startsWith('matmul') ? 'matmul' : c.name) {
    case 'matmul':
      return (a, b) => matmul(a as Tensor, b as Tensor, c.opts ?? {});
    case 'softmax':
      return (x) => softmax(x as Tensor, -1);
    case 'log_softmax':
      return (x) => logSoftmax(x as Tensor, -1);
    case 'cross_entropy':
      return (x) => crossEntropy(x as Tensor, ints('targets'));
    case 'rms_norm':
      return (x, w) => rmsNorm(x as Tensor, w as Tensor, c.eps ?? 1e-6);
    case 'silu':
      return (x) => silu(x as Tensor);
    case 'gelu':
      return (x) => gelu(x as Tensor);
    case 'embedding':
      return (w) => embedding(w as Tensor, ints('ids'));
    default:
      throw new Error(`golden case ${c.name} has no tslora counterpart`);
  }
}

it('the golden file covers the model’s composite ops', () => {
  expect(golden.cases.map((c) => c.name).sort()).toEqual(
    [
      'cross_entropy',
      'embedding',
      'gelu',
      'log_softmax',
      'matmul_batched_transA_transB',
      'matmul_transA',
      'matmul_transB',
      'rms_norm',
      'silu',
      'softmax',
    ].sort(),
  );
});

describeEachBackend(
  'torch goldens',
  () => {
    for (const c of golden.cases) {
      it(`${c.name}: forward and input gradients match torch`, () => {
        const inputs = c.inputs.map((x) => new Tensor(f32(x.data), x.shape, { requiresGrad: true }));
        const y = build(c)(...inputs);
        expect(y.shape).toEqual(c.out.shape);
        expectClose(y.data, f32(c.out.data), { atol: 1e-6, rtol: 1e-5, label: `${c.name} forward` });
        y.backward(f32(c.dy.data));
        inputs.forEach((x, i) => {
          expectClose(x.grad?.data ?? [], f32(c.grads[i] ?? []), {
            atol: 1e-6,
            rtol: 1e-5,
            label: `${c.name} grad ${i}`,
          });
        });
      });
    }
  },
  { ort: 'native' },
);

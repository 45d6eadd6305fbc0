// sdpa-golden.test.ts — the fused attention's forward and backward against PyTorch (scripts/make_goldens.py).
import { readFileSync } from 'node:fs';
import {
  type Backend,
  getBackend,
  OrtBackend,
  registerBackend,
  setBackend,
  Tensor,
  tsBackend,
} from '@tslora/core-tensor';
import { expectClose } from '@tslora/core-tensor/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scaledDotProductAttention } from './sdpa.js';

interface SdpaGolden {
  name: string;
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  causal: boolean;
  queryOffset: number;
  attentionMask: number[] | null;
  q: number[];
  k: number[];
  v: number[];
  dout: number[];
  out: number[];
  dq: number[];
  dk: number[];
  dv: number[];
}

const golden = JSON.parse(readFileSync(new URL('./__fixtures__/sdpa-golden.json', import.meta.url), 'utf8')) as {
  cases: SdpaGolden[];
};

// Every GEMM through onnxruntime too, even the tiny ones the ort backend would route to TypeScript.
const ortNative = new OrtBackend();
ortNative.smallGemmMacs = 0;
const BACKENDS: Backend[] = [tsBackend, ortNative];

for (const backend of BACKENDS) {
  describe(`scaledDotProductAttention vs PyTorch (HF eager attention + repeat_kv) [${backend.name}]`, () => {
    let previous: Backend;
    beforeAll(() => {
      previous = getBackend();
      registerBackend(backend);
      setBackend(backend.name);
    });
    afterAll(() => {
      registerBackend(previous);
      setBackend(previous.name);
    });
    it('covers the shapes the issue asks for', () => {
      const names = golden.cases.map((c) => `${c.name}:${c.B},${c.H},${c.Hkv},${c.T},${c.D}`);
      expect(names).toContain('gqa_causal_right_padded:2,4,2,7,8');
      expect(names).toContain('mha_causal_right_padded:2,4,4,7,8');
    });
    for (const c of golden.cases) {
      it(c.name, () => {
        const q = Tensor.from(c.q, [c.B, c.H, c.T, c.D], { requiresGrad: true });
        const k = Tensor.from(c.k, [c.B, c.Hkv, c.S, c.D], { requiresGrad: true });
        const v = Tensor.from(c.v, [c.B, c.Hkv, c.S, c.D], { requiresGrad: true });
        const attentionMask = c.attentionMask ? Tensor.int(c.attentionMask, [c.B, c.S]) : undefined;
        const out = scaledDotProductAttention(q, k, v, { causal: c.causal, queryOffset: c.queryOffset, attentionMask });
        out.backward(Float32Array.from(c.dout));
        const tol = { atol: 1e-5, rtol: 1e-5 };
        expectClose(out, c.out, { ...tol, label: `${c.name} out` });
        expectClose(q.grad as Tensor, c.dq, { ...tol, label: `${c.name} dq` });
        expectClose(k.grad as Tensor, c.dk, { ...tol, label: `${c.name} dk` });
        expectClose(v.grad as Tensor, c.dv, { ...tol, label: `${c.name} dv` });
      });
    }
    if (backend === ortNative) {
      it('really ran its GEMMs on onnxruntime', () => expect(ortNative.sessionCount).toBeGreaterThan(0));
    }
  });
}

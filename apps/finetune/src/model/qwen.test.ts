// model/qwen.test.ts — the decoder against PyTorch goldens (HF semantics), for Qwen2 and Qwen3, on every backend.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KVCache } from '@tslora/attention';
import { CheckpointReader, noGrad, type OrtKernel, ortBackend, Tensor, writeSafetensors } from '@tslora/core-tensor';
import { type BackendName, describeEachBackend, type PerBackend } from '@tslora/core-tensor/testing';
import { describe, expect, it } from 'vitest';
import { FIXTURES, readGolden, relMaxDiff } from '../../test/golden.js';
import { loadModel } from './load.js';
import { causalLmLoss } from './loss.js';

/**
 * Relative max-diff of whole logit tensors and absolute loss error, per backend. Measured: ts ≤ 6e-7
 * relative and ≤ 1e-6 on the loss; ort (MLAS GEMMs, graph attention, fused lm_head) ≤ 7e-7 and ≤ 5e-7.
 * The bounds leave ~10× for other CPUs' kernels (summation order); a real bug errs by ≫ 1e-3.
 */
const TOL: PerBackend<{ logits: number; loss: number }> = {
  ts: { logits: 1e-5, loss: 5e-6 },
  ort: { logits: 2e-5, loss: 5e-6 },
};

/** Runs `f` and returns how many times each ort kernel ran natively meanwhile. */
function nativeRunsOf(f: () => void): Record<OrtKernel, number> {
  const before = { ...ortBackend.nativeRuns };
  f();
  const r = { ...ortBackend.nativeRuns };
  for (const k of Object.keys(r) as OrtKernel[]) r[k] -= before[k];
  return r;
}

/** On 'ort' the production kernels must be the ones that ran; on 'ts' no native kernel may run. */
function expectPath(be: BackendName, runs: Record<OrtKernel, number>, kernels: OrtKernel[]): void {
  for (const k of kernels) {
    if (be === 'ort') expect(runs[k], `${k} ran on onnxruntime`).toBeGreaterThan(0);
    else expect(runs[k], `${k} ran on onnxruntime under ts`).toBe(0);
  }
}

describeEachBackend('model goldens', (be) => {
  describe.each(['tiny-qwen2', 'tiny-qwen3'] as const)('%s vs PyTorch', (name) => {
    const g = readGolden(name);
    const { model } = loadModel(g.dir);
    const ids = g.int('input_ids');
    const mask = g.int('attention_mask');
    const tol = TOL[be];

    it(`logits of a padded batch of two match to ${tol.logits} relative`, () => {
      let logits: Tensor | undefined;
      const runs = nativeRunsOf(() => {
        logits = noGrad(() => model.forward(ids, { attentionMask: mask }));
      });
      expectPath(be, runs, ['gemm', 'attentionBlockForward']);
      expect(logits?.shape).toEqual([2, 9, g.json.dims.V]);
      expect(relMaxDiff((logits as Tensor).f32, g.f32('logits'))).toBeLessThan(tol.logits);
    });

    it(`causal-LM loss matches to ${tol.loss}`, () => {
      const logits = noGrad(() => model.forward(ids, { attentionMask: mask }));
      const loss = causalLmLoss(logits, g.int('labels')).item();
      expect(Math.abs(loss - g.json.inference.loss)).toBeLessThan(tol.loss);
    });

    it(`model.loss (fused lm_head + CE, what train runs) matches to ${tol.loss}`, () => {
      let loss = Number.NaN;
      const runs = nativeRunsOf(() => {
        loss = noGrad(() => model.loss(ids, g.int('labels'), { attentionMask: mask })).item();
      });
      expectPath(be, runs, ['linearSoftmax', 'attentionBlockForward']);
      expect(Math.abs(loss - g.json.inference.loss)).toBeLessThan(tol.loss);
    });

    it('padding does not change a sequence: row 1 alone equals row 1 padded', () => {
      const alone = noGrad(() => model.forward(g.int('input_ids_seq1_alone')));
      expect(relMaxDiff(alone.f32, g.f32('logits_seq1_alone'))).toBeLessThan(tol.logits);
    });

    it('greedy decoding with the KV cache equals the PyTorch greedy ids', () => {
      const prompt: number[] = g.json.greedy.prompt_ids;
      const cache = new KVCache(model.config.numHiddenLayers);
      const out: number[] = [];
      noGrad(() => {
        let input = Tensor.int(prompt, [1, prompt.length]);
        for (let i = 0; i < g.json.greedy.greedy_ids.length; i++) {
          const l = model.forward(input, { cache });
          const V = l.shape[2] as number;
          const last = l.f32.subarray(l.f32.length - V);
          let best = 0;
          for (let v = 1; v < V; v++) if ((last[v] as number) > (last[best] as number)) best = v;
          out.push(best);
          input = Tensor.int([best], [1, 1]);
        }
      });
      expect(out).toEqual(g.json.greedy.greedy_ids);
    });
  });
});

describe('checkpoint layouts', () => {
  const g = readGolden('tiny-qwen2');
  const ids = g.int('input_ids');
  const mask = g.int('attention_mask');
  const logitsOf = (dir: string) => noGrad(() => loadModel(dir).model.forward(ids, { attentionMask: mask })).f32;
  const single = logitsOf(path.join(FIXTURES, 'tiny-qwen2'));

  it('a sharded checkpoint equals its single-file twin', () => {
    expect(Array.from(logitsOf(path.join(FIXTURES, 'tiny-qwen2-sharded')))).toEqual(Array.from(single));
  });

  it('a tied checkpoint that also stores lm_head.weight loads the same', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tied-'));
    fs.copyFileSync(path.join(g.dir, 'config.json'), path.join(dir, 'config.json'));
    const r = CheckpointReader.open(g.dir);
    const tensors = [...r.tensors.values()].map((t) => ({
      name: t.info.name,
      dtype: t.info.dtype,
      shape: t.info.shape,
      data: r.readBytes(t.info.name),
    }));
    const emb = tensors.find((t) => t.name === 'model.embed_tokens.weight')!;
    tensors.push({ ...emb, name: 'lm_head.weight' });
    r.close();
    writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
    expect(Array.from(logitsOf(dir))).toEqual(Array.from(single));
  });

  it('weights whose shapes disagree with config.json are refused, naming the tensor', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bad-'));
    const cfg = JSON.parse(fs.readFileSync(path.join(g.dir, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 130 }));
    fs.copyFileSync(path.join(g.dir, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    expect(() => loadModel(dir)).toThrow(
      /model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[128, 64\] but config\.json says \[130, 64\]/,
    );
  });

  it('a missing config field is named', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const cfg = JSON.parse(fs.readFileSync(path.join(g.dir, 'config.json'), 'utf8'));
    delete cfg.hidden_size;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    expect(() => loadModel(dir)).toThrow(/config\.json: missing field "hidden_size"/);
  });
});

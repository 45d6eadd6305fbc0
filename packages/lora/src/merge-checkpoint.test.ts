// merge-checkpoint.test.ts — streaming merge on tiny single-file and sharded checkpoints, checked tensor by tensor against an independent computation.
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import {
  bf16BitsToF32,
  type DType,
  decodeF32,
  encodeF32,
  f32ToBf16Bits,
  Random,
  SafetensorsFile,
  TsloraError,
  writeSafetensors,
  writeShardedIndex,
} from '@tslora/core-tensor';
import { expectClose } from '@tslora/core-tensor/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { TinyQwen, type TinyQwenSizes } from './__fixtures__/tiny-qwen.js';
import { saveAdapter } from './adapter-io.js';
import { applyLora, loraModules } from './inject.js';
import { mergeCheckpoint } from './merge-checkpoint.js';

const S: TinyQwenSizes = { C: 8, Ckv: 4, F: 12, V: 10, layers: 2 };
const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'tslora-merge-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const tmp = (): string => nodePath.join(root, `d${n++}`);

interface Base {
  dir: string;
  names: string[];
}

/** Writes TinyQwen's weights as a bf16 checkpoint (norms f32, as some exports keep them), single-file or in 2 shards. */
function writeBase(sharded: boolean): Base {
  const dir = tmp();
  fs.mkdirSync(dir);
  const model = new TinyQwen(S, new Random(1));
  const tensors = model.namedParameters().map(([name, t]) => {
    const dtype: DType = name.endsWith('norm.weight') ? 'f32' : 'bf16';
    return { name, dtype, shape: [...t.shape], data: encodeF32(t.f32, dtype) };
  });
  if (!sharded) writeSafetensors(nodePath.join(dir, 'model.safetensors'), tensors);
  else {
    const shard = (t: { name: string }): string =>
      t.name.includes('layers.1') || t.name.startsWith('lm_head')
        ? 'model-00002-of-00002.safetensors'
        : 'model-00001-of-00002.safetensors';
    for (const f of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'])
      writeSafetensors(
        nodePath.join(dir, f),
        tensors.filter((t) => shard(t) === f),
      );
    writeShardedIndex(
      dir,
      new Map(tensors.map((t) => [t.name, shard(t)])),
      tensors.reduce((s, t) => s + t.data.length, 0),
    );
  }
  fs.writeFileSync(nodePath.join(dir, 'config.json'), '{\n  "model_type": "qwen2",\n  "torch_dtype": "bfloat16"\n}\n');
  fs.writeFileSync(nodePath.join(dir, 'tokenizer.json'), '{"model": {"type": "BPE"}}');
  fs.writeFileSync(nodePath.join(dir, 'generation_config.json'), '{"eos_token_id": 2}');
  return { dir, names: tensors.map((t) => t.name) };
}

/** An all-linear r=2 adapter (rsLoRA, so scaling = alpha/√r) with nonzero B, for the same base. */
function writeAdapter(poison = false): {
  dir: string;
  scaling: number;
  pairs: Map<string, { A: Float32Array; B: Float32Array; r: number }>;
} {
  const dir = tmp();
  const model = new TinyQwen(S, new Random(1));
  const { config } = applyLora(model, { r: 2, alpha: 3, useRslora: true, targetModules: 'all-linear', seed: 4 });
  const rng = new Random(8);
  const pairs = new Map<string, { A: Float32Array; B: Float32Array; r: number }>();
  for (const [path, l] of loraModules(model)) {
    rng.fillNormal(l.lora_B.weight.f32, 0, 0.2);
    pairs.set(`${path}.weight`, { A: l.lora_A.weight.f32, B: l.lora_B.weight.f32, r: 2 });
  }
  if (poison) loraModules(model)[9]![1].lora_B.weight.f32[0] = Number.NaN;
  saveAdapter(dir, model, config);
  return { dir, scaling: 3 / Math.sqrt(2), pairs };
}

/** name → {dtype, shape, bytes} over every safetensors file in a checkpoint dir. */
function readAll(dir: string): Map<string, { dtype: DType; shape: number[]; bytes: Uint8Array; file: string }> {
  const out = new Map<string, { dtype: DType; shape: number[]; bytes: Uint8Array; file: string }>();
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.safetensors'))) {
    const st = SafetensorsFile.open(nodePath.join(dir, f));
    for (const t of st.tensors)
      out.set(t.name, { dtype: t.dtype, shape: t.shape, bytes: st.readBytes(t.name), file: f });
    st.close();
  }
  return out;
}

/** W + scaling·B·A with an f64 loop, rounded to f32 and then to the output dtype. */
function expectedMerged(
  W: Float32Array,
  p: { A: Float32Array; B: Float32Array; r: number },
  scaling: number,
  dtype: DType,
): { values: Float32Array; maxDelta: number } {
  const inF = p.A.length / p.r;
  const out = new Float32Array(W.length);
  let maxDelta = 0;
  for (let o = 0; o < W.length / inF; o++)
    for (let i = 0; i < inF; i++) {
      let acc = 0;
      for (let k = 0; k < p.r; k++) acc += p.B[o * p.r + k]! * p.A[k * inF + i]!;
      const v = Math.fround(W[o * inF + i]! + scaling * acc);
      maxDelta = Math.max(maxDelta, Math.abs(scaling * acc));
      out[o * inF + i] = dtype === 'bf16' ? bf16BitsToF32(f32ToBf16Bits(v)) : v;
    }
  return { values: out, maxDelta };
}

describe('mergeCheckpoint', () => {
  for (const sharded of [false, true]) {
    it(`${sharded ? 'sharded' : 'single-file'} bf16 checkpoint, dtype auto: same layout; untouched bytes identical; targets = RNE_bf16(W + s·B·A)`, () => {
      const base = writeBase(sharded);
      const ad = writeAdapter();
      const outDir = tmp();
      const sum = mergeCheckpoint({ modelDir: base.dir, adapterDir: ad.dir, outDir, dtype: 'auto' });
      const inT = readAll(base.dir);
      const outT = readAll(outDir);
      expect([...outT.keys()].sort()).toEqual([...inT.keys()].sort());
      let maxDelta = 0;
      let changed = 0;
      for (const [name, t] of inT) {
        const o = outT.get(name)!;
        expect([name, o.dtype, o.shape, o.file]).toEqual([name, t.dtype, t.shape, t.file]);
        const p = ad.pairs.get(name);
        if (!p) {
          expect(Buffer.from(o.bytes).equals(Buffer.from(t.bytes))).toBe(true);
          continue;
        }
        const exp = expectedMerged(decodeF32(t.bytes, t.dtype), p, ad.scaling, t.dtype);
        maxDelta = Math.max(maxDelta, exp.maxDelta);
        expect(decodeF32(o.bytes, o.dtype)).toEqual(exp.values);
        if (!Buffer.from(o.bytes).equals(Buffer.from(t.bytes))) changed += 1;
      }
      expect(changed).toBe(14);
      expect(sum.tensorsMerged).toBe(14);
      expect(sum.maxAbsDelta).toBeCloseTo(maxDelta, 6);
      const shardFiles = sharded
        ? ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']
        : ['model.safetensors'];
      expect(sum.files).toEqual(['config.json', 'generation_config.json', ...shardFiles, 'tokenizer.json'].sort());
      expect(fs.readdirSync(outDir).sort()).toEqual(sum.files);
      expect(sum.bytesWritten).toBe(sum.files.reduce((s, f) => s + fs.statSync(nodePath.join(outDir, f)).size, 0));
      for (const f of [
        'config.json',
        'tokenizer.json',
        'generation_config.json',
        ...(sharded ? ['model.safetensors.index.json'] : []),
      ]) {
        expect([f, fs.readFileSync(nodePath.join(outDir, f), 'utf8')]).toEqual([
          f,
          fs.readFileSync(nodePath.join(base.dir, f), 'utf8'),
        ]);
      }
      expect(fs.readdirSync(root).filter((f) => f.startsWith('.'))).toEqual([]); // no temp dirs left
    });
  }

  it('dtype f32: every float tensor converted, config torch_dtype updated, index total_size recomputed', () => {
    const base = writeBase(true);
    const ad = writeAdapter();
    const outDir = tmp();
    mergeCheckpoint({ modelDir: base.dir, adapterDir: ad.dir, outDir, dtype: 'f32' });
    const inT = readAll(base.dir);
    const outT = readAll(outDir);
    let total = 0;
    for (const [name, t] of inT) {
      const o = outT.get(name)!;
      expect(o.dtype).toBe('f32');
      total += o.bytes.length;
      const W = decodeF32(t.bytes, t.dtype);
      const p = ad.pairs.get(name);
      // untouched: exact (bf16 → f32 is exact); merged: the GEMM folds alpha into its packed panel, so allow ~1 f32 ulp of the operands
      if (!p) expect(decodeF32(o.bytes, 'f32')).toEqual(W);
      else
        expectClose(decodeF32(o.bytes, 'f32'), expectedMerged(W, p, ad.scaling, 'f32').values, {
          atol: 1e-7,
          rtol: 2 ** -23,
          label: name,
        });
    }
    expect(JSON.parse(fs.readFileSync(nodePath.join(outDir, 'config.json'), 'utf8'))).toEqual({
      model_type: 'qwen2',
      torch_dtype: 'float32',
    });
    const index = JSON.parse(fs.readFileSync(nodePath.join(outDir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(total);
    expect(index.weight_map).toEqual(
      JSON.parse(fs.readFileSync(nodePath.join(base.dir, 'model.safetensors.index.json'), 'utf8')).weight_map,
    );
  });

  it('refuses a non-empty outDir unless force, and the input as output; force replaces the old contents', () => {
    const base = writeBase(false);
    const ad = writeAdapter();
    const outDir = tmp();
    fs.mkdirSync(outDir);
    fs.writeFileSync(nodePath.join(outDir, 'old.txt'), 'x');
    expect(() => mergeCheckpoint({ modelDir: base.dir, adapterDir: ad.dir, outDir })).toThrow(/is not empty/);
    expect(() => mergeCheckpoint({ modelDir: base.dir, adapterDir: ad.dir, outDir: base.dir, force: true })).toThrow(
      /would replace the input/,
    );
    mergeCheckpoint({ modelDir: base.dir, adapterDir: ad.dir, outDir, force: true });
    expect(fs.existsSync(nodePath.join(outDir, 'old.txt'))).toBe(false);
    expect(fs.existsSync(nodePath.join(outDir, 'model.safetensors'))).toBe(true);
  });

  it('a merge killed between its two renames loses nothing: the next merge puts the previous output back first', () => {
    const base = writeBase(false);
    const ad = writeAdapter();
    const outDir = tmp();
    fs.mkdirSync(outDir);
    fs.writeFileSync(nodePath.join(outDir, 'previous.txt'), 'the output of an earlier merge');
    // the state publish() leaves when killed after `outDir → <tmp>.old` and before `<tmp> → outDir`
    const stem = nodePath.join(nodePath.dirname(outDir), `.${nodePath.basename(outDir)}.tmp-4242-abcd1234`);
    fs.renameSync(outDir, `${stem}.old`);
    fs.mkdirSync(stem);
    fs.writeFileSync(nodePath.join(stem, 'model.safetensors'), 'finished, never published');
    // without force: the previous output is restored, then (non-empty again) refused as before
    expect(() => mergeCheckpoint({ modelDir: base.dir, adapterDir: ad.dir, outDir })).toThrow(/is not empty/);
    expect(fs.readFileSync(nodePath.join(outDir, 'previous.txt'), 'utf8')).toBe('the output of an earlier merge');
    expect(fs.existsSync(`${stem}.old`)).toBe(false);
    // with force: replaced by the new merge, and every leftover of the killed one is gone
    fs.renameSync(outDir, `${stem}.old`);
    mergeCheckpoint({ modelDir: base.dir, adapterDir: ad.dir, outDir, force: true });
    expect(fs.existsSync(nodePath.join(outDir, 'previous.txt'))).toBe(false);
    expect(fs.existsSync(nodePath.join(outDir, 'model.safetensors'))).toBe(true);
    expect(fs.existsSync(stem) || fs.existsSync(`${stem}.old`)).toBe(false);
  });

  it('a NaN adapter fails naming the tensor and leaves no output and no temp dir', () => {
    const base = writeBase(true);
    const ad = writeAdapter(true);
    const outDir = tmp();
    const before = fs.readdirSync(root).length;
    let err: unknown;
    try {
      mergeCheckpoint({ modelDir: base.dir, adapterDir: ad.dir, outDir, dtype: 'bf16' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TsloraError);
    expect((err as Error).message).toMatch(
      /merge: model\.layers\.1\.self_attn\.v_proj\.weight \[4, 8\] would hold 8 non-finite values/,
    );
    expect(fs.existsSync(outDir)).toBe(false);
    expect(fs.readdirSync(root).length).toBe(before);
  });

  it('an adapter for another model is refused before anything is written, naming each mismatch', () => {
    const base = writeBase(false);
    const other = new TinyQwen({ ...S, F: 16 }, new Random(1));
    const { config } = applyLora(other, { r: 2, targetModules: ['up_proj', 'q_proj'], layers: [0] });
    const adDir = tmp();
    saveAdapter(adDir, other, config);
    const outDir = tmp();
    expect(() => mergeCheckpoint({ modelDir: base.dir, adapterDir: adDir, outDir })).toThrow(
      /model\.layers\.0\.mlp\.up_proj\.weight is \[12, 8\] but the adapter needs \[16, 8\]/,
    );
    expect(fs.existsSync(outDir)).toBe(false);
  });
});

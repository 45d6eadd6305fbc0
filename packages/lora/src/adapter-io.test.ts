// adapter-io.test.ts — PEFT adapter directories: exact keys, shapes and config text; save → load; every refusal names its cause.
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { encodeF32, FileFormatError, Random, SafetensorsFile, Tensor, writeSafetensors } from '@tslora/core-tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { TinyQwen, type TinyQwenSizes } from './__fixtures__/tiny-qwen.js';
import { loadAdapter, readAdapter, saveAdapter, summarizeProblems } from './adapter-io.js';
import { applyLora, loraModules } from './inject.js';

const S: TinyQwenSizes = { C: 8, Ckv: 4, F: 12, V: 10, layers: 2 };
const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'tslora-adapter-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const tmp = (): string => nodePath.join(root, `d${n++}`);

/** A trained-looking adapter: all-linear, r = 2, B nonzero. */
function trained(
  seed = 1,
  sizes = S,
  config: Parameters<typeof applyLora>[1] = { r: 2, alpha: 4, targetModules: 'all-linear', seed: 5 },
) {
  const model = new TinyQwen(sizes, new Random(seed));
  const res = applyLora(model, config);
  const rng = new Random(9);
  for (const [, l] of loraModules(model)) rng.fillNormal(l.lora_B.weight.f32, 0, 0.1);
  return { model, config: res.config };
}

describe('saveAdapter: the files PEFT writes', () => {
  const dir = tmp();
  const { model, config } = trained();
  saveAdapter(dir, model, config, { baseModelNameOrPath: 'Qwen/Qwen2.5-0.5B' });

  it('adapter_model.safetensors holds exactly the PEFT keys, f32, (r,in)/(out,r), metadata {"format":"pt"}', () => {
    const st = SafetensorsFile.open(nodePath.join(dir, 'adapter_model.safetensors'));
    const keys = st.tensors.map((t) => t.name).sort();
    const proj = {
      q_proj: 'self_attn',
      k_proj: 'self_attn',
      v_proj: 'self_attn',
      o_proj: 'self_attn',
      gate_proj: 'mlp',
      up_proj: 'mlp',
      down_proj: 'mlp',
    };
    expect(keys).toEqual([
      'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight',
      'base_model.model.model.layers.0.mlp.down_proj.lora_B.weight',
      'base_model.model.model.layers.0.mlp.gate_proj.lora_A.weight',
      'base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight',
      'base_model.model.model.layers.0.mlp.up_proj.lora_A.weight',
      'base_model.model.model.layers.0.mlp.up_proj.lora_B.weight',
      'base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight',
      'base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight',
      'base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight',
      'base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
      'base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight',
      'base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight',
      'base_model.model.model.layers.1.mlp.down_proj.lora_A.weight',
      'base_model.model.model.layers.1.mlp.down_proj.lora_B.weight',
      'base_model.model.model.layers.1.mlp.gate_proj.lora_A.weight',
      'base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight',
      'base_model.model.model.layers.1.mlp.up_proj.lora_A.weight',
      'base_model.model.model.layers.1.mlp.up_proj.lora_B.weight',
      'base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight',
      'base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight',
      'base_model.model.model.layers.1.self_attn.o_proj.lora_A.weight',
      'base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight',
      'base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight',
      'base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight',
      'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight',
    ]);
    const io: Record<string, [number, number]> = {
      q_proj: [8, 8],
      k_proj: [8, 4],
      v_proj: [8, 4],
      o_proj: [8, 8],
      gate_proj: [8, 12],
      up_proj: [8, 12],
      down_proj: [12, 8],
    };
    for (const t of st.tensors) {
      const [, , , , layer, block, mod, ab] = t.name.split('.');
      expect(block).toBe(proj[mod as keyof typeof proj]);
      expect(Number(layer)).toBeLessThan(2);
      const [i, o] = io[mod!]!;
      expect([t.name, t.dtype, t.shape]).toEqual([t.name, 'f32', ab === 'lora_A' ? [2, i] : [o, 2]]);
    }
    expect(st.metadata).toEqual({ format: 'pt' });
    st.close();
  });

  it("adapter_config.json is PEFT's text: sorted keys, 2-space indent, all-linear expanded to the sorted names", () => {
    expect(fs.readFileSync(nodePath.join(dir, 'adapter_config.json'), 'utf8')).toBe(`{
  "alpha_pattern": {},
  "auto_mapping": null,
  "base_model_name_or_path": "Qwen/Qwen2.5-0.5B",
  "bias": "none",
  "fan_in_fan_out": false,
  "inference_mode": true,
  "init_lora_weights": true,
  "layer_replication": null,
  "layers_pattern": null,
  "layers_to_transform": null,
  "loftq_config": {},
  "lora_alpha": 4,
  "lora_dropout": 0,
  "megatron_config": null,
  "megatron_core": "megatron.core",
  "modules_to_save": null,
  "peft_type": "LORA",
  "r": 2,
  "rank_pattern": {},
  "revision": null,
  "target_modules": [
    "down_proj",
    "gate_proj",
    "k_proj",
    "o_proj",
    "q_proj",
    "up_proj",
    "v_proj"
  ],
  "task_type": "CAUSAL_LM",
  "use_dora": false,
  "use_rslora": false
}`);
    expect(fs.readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']); // no temp files left
  });

  it('writes gaussian init, rsLoRA, dropout and a layers subset as PEFT fields', () => {
    const d = tmp();
    const t = trained(1, S, {
      r: 4,
      alpha: 8,
      dropout: 0.05,
      targetModules: ['v_proj', 'q_proj'],
      layers: [1],
      useRslora: true,
      init: 'gaussian',
    });
    saveAdapter(d, t.model, t.config);
    const j = JSON.parse(fs.readFileSync(nodePath.join(d, 'adapter_config.json'), 'utf8'));
    expect([
      j.init_lora_weights,
      j.use_rslora,
      j.lora_dropout,
      j.layers_to_transform,
      j.target_modules,
      j.base_model_name_or_path,
    ]).toEqual(['gaussian', true, 0.05, [1], ['q_proj', 'v_proj'], null]);
  });
});

describe('loadAdapter', () => {
  it('save → load gives identical tensors and identical outputs on the same base', () => {
    const dir = tmp();
    const { model, config } = trained(1, S, {
      r: 2,
      alpha: 4,
      targetModules: ['q_proj', 'down_proj'],
      layers: [0],
      useRslora: true,
    });
    saveAdapter(dir, model, config);
    const fresh = new TinyQwen(S, new Random(1));
    const res = loadAdapter(dir, fresh);
    expect(res.wrapped).toEqual(['model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.down_proj']);
    expect(res.config).toMatchObject({
      r: 2,
      alpha: 4,
      useRslora: true,
      layers: [0],
      targetModules: ['down_proj', 'q_proj'],
    });
    const a = new Map(model.namedParameters().map(([k, v]) => [k, v.f32]));
    for (const [k, v] of fresh.namedParameters()) expect([k, v.f32]).toEqual([k, a.get(k)]);
    const ids = Tensor.int([3, 1, 4, 1, 5, 9], [2, 3]);
    expect(fresh.forward(ids).f32).toEqual(model.forward(ids).f32);
    expect(fresh.trainableParameters().map(([k]) => k)).toEqual(model.trainableParameters().map(([k]) => k));
  });

  it('reads an adapter_config.json from a newer PEFT (extra neutral keys) and readAdapter pairs modules without a model', () => {
    const dir = tmp();
    const { model, config } = trained();
    saveAdapter(dir, model, config);
    const file = nodePath.join(dir, 'adapter_config.json');
    const j = JSON.parse(fs.readFileSync(file, 'utf8'));
    Object.assign(j, {
      lora_bias: false,
      eva_config: null,
      exclude_modules: null,
      corda_config: null,
      trainable_token_indices: null,
      layers_pattern: null,
    });
    fs.writeFileSync(file, JSON.stringify(j));
    const ad = readAdapter(dir);
    expect(ad.modules.size).toBe(14);
    expect(ad.modules.get('model.layers.1.mlp.up_proj')?.B.shape).toEqual([12, 2]);
    expect(ad.tensors.size).toBe(28);
    expect(() => loadAdapter(dir, new TinyQwen(S, new Random(1)))).not.toThrow();
  });

  const expectFileError = (fn: () => unknown, msg: RegExp): void => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as Error).message).toMatch(msg);
  };

  it('clear errors: missing dir, bad JSON, wrong peft_type, unsupported features, missing weights', () => {
    const fresh = (): TinyQwen => new TinyQwen(S, new Random(1));
    expect(() => loadAdapter(nodePath.join(root, 'nope'), fresh())).toThrow(/adapter directory .*nope does not exist/);
    const dir = tmp();
    fs.mkdirSync(dir);
    expectFileError(() => loadAdapter(dir, fresh()), /adapter_config\.json: not found/);
    const cfg = nodePath.join(dir, 'adapter_config.json');
    fs.writeFileSync(cfg, '{"peft_type": "LORA",');
    expectFileError(() => readAdapter(dir), /adapter_config\.json: not valid JSON/);
    fs.writeFileSync(cfg, JSON.stringify({ peft_type: 'IA3', r: 8 }));
    expectFileError(() => readAdapter(dir), /peft_type is "IA3", not "LORA"/);
    fs.writeFileSync(
      cfg,
      JSON.stringify({
        peft_type: 'LORA',
        r: 8,
        lora_alpha: 16,
        target_modules: ['q_proj'],
        use_dora: true,
        modules_to_save: ['lm_head'],
      }),
    );
    expectFileError(() => readAdapter(dir), /use_dora true \(DoRA\); modules_to_save \["lm_head"\]/);
    fs.writeFileSync(cfg, JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: '.*proj' }));
    expectFileError(() => readAdapter(dir), /target_modules is the regular expression/);
    fs.writeFileSync(cfg, JSON.stringify({ peft_type: 'LORA', r: 0, lora_alpha: 16, target_modules: ['q_proj'] }));
    expectFileError(() => readAdapter(dir), /adapter_config\.json: LoRA config: r must be an integer ≥ 1/);
    fs.writeFileSync(cfg, JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj'] }));
    expectFileError(() => readAdapter(dir), /adapter_model\.safetensors: not found/);
  });

  it('names every mismatch against the model and leaves the model untouched', () => {
    const dir = tmp();
    const { model, config } = trained(1, S, { r: 2, targetModules: ['q_proj', 'k_proj'] });
    saveAdapter(dir, model, config);
    const other = new TinyQwen({ ...S, Ckv: 6 }, new Random(1)); // k_proj out features 6, not 4
    expectFileError(
      () => loadAdapter(dir, other),
      /base_model\.model\.model\.layers\.0\.self_attn\.k_proj\.lora_B\.weight: expected \[6, 2\], got \[4, 2\]; base_model\.model\.model\.layers\.1\.self_attn\.k_proj\.lora_B\.weight: expected \[6, 2\], got \[4, 2\]/,
    );
    expect(loraModules(other)).toHaveLength(0);
    const oneLayer = new TinyQwen({ ...S, layers: 1 }, new Random(1));
    expectFileError(
      () => loadAdapter(dir, oneLayer),
      /unexpected base_model\.model\.model\.layers\.1\.self_attn\.q_proj\.lora_A\.weight/,
    );
    // a file missing one half of a pair, and a stray key
    const st = nodePath.join(dir, 'adapter_model.safetensors');
    const z = (shape: number[]) => ({
      dtype: 'f32' as const,
      shape,
      data: encodeF32(new Float32Array(shape[0]! * shape[1]!), 'f32'),
    });
    writeSafetensors(st, [
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', ...z([2, 8]) },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', ...z([8, 3]) },
      { name: 'base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight', ...z([2, 8]) },
      { name: 'model.layers.0.mlp.up_proj.weight', ...z([12, 8]) },
    ]);
    for (const part of [
      /"model\.layers\.0\.mlp\.up_proj\.weight" is not a LoRA key/,
      /model\.layers\.0\.self_attn\.q_proj: lora_A \[2, 8\] and lora_B \[8, 3\] do not fit r = 2/,
      /model\.layers\.0\.self_attn\.k_proj has lora_A but no lora_B/,
    ]) {
      expectFileError(() => readAdapter(dir), part);
    }
  });
});

describe('a misfit adapter is summarised, not listed in full', () => {
  it('summarizeProblems keeps the first five and counts the rest', () => {
    const p = Array.from({ length: 12 }, (_, i) => `p${i}`);
    expect(summarizeProblems(p)).toBe('12 problems: p0; p1; p2; p3; p4; … and 7 more');
    expect(summarizeProblems(p.slice(0, 5))).toBe('p0; p1; p2; p3; p4');
    expect(summarizeProblems(p.slice(0, 1))).toBe('p0');
  });

  it('an adapter for another base: every module misfits; the error names five and the total', () => {
    const sizes: TinyQwenSizes = { C: 8, Ckv: 4, F: 12, V: 10, layers: 6 };
    const { model, config } = trained(1, sizes);
    const dir = tmp();
    saveAdapter(dir, model, config);
    const other = new TinyQwen({ ...sizes, C: 16, Ckv: 8, F: 24 }, new Random(1));
    let msg = '';
    try {
      loadAdapter(dir, other);
    } catch (e) {
      msg = (e as Error).message;
    }
    // 6 layers × 7 modules, A and B both wrong in each: 84 mismatches, as a direct count gives
    const expected = 6 * 7 * 2;
    expect(msg).toMatch(new RegExp(`does not fit the model — ${expected} problems: `));
    expect(msg).toMatch(new RegExp(`; … and ${expected - 5} more$`));
    expect(msg.split('; ')).toHaveLength(6);
    expect(msg.length).toBeLessThan(800);
    expect(loraModules(other)).toHaveLength(0);
  });

  it('readAdapterConfig: a file passed as the adapter says to pass its directory', () => {
    const dir = tmp();
    const { model, config } = trained();
    saveAdapter(dir, model, config);
    const file = nodePath.join(dir, 'adapter_model.safetensors');
    expect(() => readAdapter(file)).toThrow(`adapter path ${file} is a file; pass its directory`);
  });
});

// adapter-io.ts — PEFT-format adapter directories: adapter_config.json + adapter_model.safetensors, save and load.
import fs from 'node:fs';
import nodePath from 'node:path';
import {
  encodeF32,
  FileFormatError,
  isFloatDType,
  type Linear,
  type Module,
  type Random,
  readJsonObject,
  SafetensorsFile,
  shapeStr,
  Tensor,
  TsloraError,
  writeFileAtomic,
  writeSafetensors,
} from '@tslora/core-tensor';
import { type LoraConfig, resolveLoraConfig } from './config.js';
import {
  type ApplyLoraResult,
  applyLora,
  availableLoraTargets,
  lastSegment,
  loraModules,
  selectTargets,
} from './inject.js';
import { fromPeftConfig, peftJson, toPeftConfig } from './peft-config.js';

/** The adapter's config file name, as PEFT names it. */
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
/** The adapter's weights file name, as PEFT names it. */
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** PEFT saves LoRA tensors under the PeftModel's path to the base model: `base_model.model.` + module path. */
export const PEFT_KEY_PREFIX = 'base_model.model.';

/**
 * The problems of a misfit adapter as one readable line: the first `shown` and a count of the rest.
 * An adapter for another base model misfits on every module (196 for a 28-layer model), and a
 * 4,000-character error line hides the one fact that matters: it is the wrong base.
 */
export function summarizeProblems(problems: readonly string[], shown = 5): string {
  const head = problems.slice(0, shown).join('; ');
  const rest = problems.length - shown;
  return rest > 0 ? `${problems.length} problems: ${head}; … and ${rest} more` : head;
}

const KEY_RE = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/;

/** The adapter file keys of a module path: `base_model.model.<path>.lora_A.weight` and `….lora_B.weight`. */
export function adapterKeys(modulePath: string): { A: string; B: string } {
  return { A: `${PEFT_KEY_PREFIX}${modulePath}.lora_A.weight`, B: `${PEFT_KEY_PREFIX}${modulePath}.lora_B.weight` };
}

/** Options of {@link saveAdapter}. */
export interface SaveAdapterOptions {
  /** Written as `base_model_name_or_path` (hub id or local path of the base model). */
  baseModelNameOrPath?: string | null;
  /** Written as `revision`. */
  revision?: string | null;
}

/**
 * Writes `dir/adapter_config.json` and `dir/adapter_model.safetensors` (f32, metadata
 * {"format":"pt"}), each atomically (temp + rename); creates `dir` if needed. `config` is the one
 * applyLora returned. Returns the paths written.
 */
export function saveAdapter(dir: string, model: Module, config: LoraConfig, opts: SaveAdapterOptions = {}): string[] {
  const mods = loraModules(model);
  if (mods.length === 0)
    throw new TsloraError('saveAdapter: the model has no LoRA modules', {
      hint: 'call applyLora(model, config) first',
    });
  fs.mkdirSync(dir, { recursive: true });
  const tensors = mods.flatMap(([path, m]) => {
    const k = adapterKeys(path);
    return [
      {
        name: k.A,
        dtype: 'f32' as const,
        shape: [...m.lora_A.weight.shape],
        data: encodeF32(m.lora_A.weight.f32, 'f32'),
      },
      {
        name: k.B,
        dtype: 'f32' as const,
        shape: [...m.lora_B.weight.shape],
        data: encodeF32(m.lora_B.weight.f32, 'f32'),
      },
    ];
  });
  const weights = nodePath.join(dir, ADAPTER_WEIGHTS_FILE);
  const cfg = nodePath.join(dir, ADAPTER_CONFIG_FILE);
  writeSafetensors(weights, tensors, { format: 'pt' });
  const names = mods.map(([p]) => lastSegment(p));
  writeFileAtomic(
    cfg,
    peftJson(
      toPeftConfig(config, names, {
        baseModelNameOrPath: opts.baseModelNameOrPath ?? null,
        revision: opts.revision ?? null,
      }),
    ),
  );
  return [cfg, weights];
}

/** An adapter read from disk without a model (what the streaming merge consumes). */
export interface AdapterContents {
  config: LoraConfig;
  baseModelNameOrPath: string | null;
  /** Every tensor by its file key, decoded to f32. */
  tensors: Map<string, Tensor>;
  /** module path → its lora_A (r,in) and lora_B (out,r). */
  modules: Map<string, { A: Tensor; B: Tensor }>;
}

/** Reads and validates `dir/adapter_config.json`. */
export function readAdapterConfig(dir: string): LoraConfig & { baseModelNameOrPath: string | null } {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  const layout = `a PEFT adapter directory holds ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE}`;
  if (!st) throw new TsloraError(`adapter directory ${dir} does not exist`, { hint: `${layout}; check the path` });
  if (!st.isDirectory())
    throw new TsloraError(`adapter path ${dir} is a file; pass its directory`, {
      hint: `use ${nodePath.dirname(dir)} if it is the adapter directory (${layout})`,
    });
  const file = nodePath.join(dir, ADAPTER_CONFIG_FILE);
  const json = readJsonObject(file, {
    missingHint: 'pass a PEFT adapter directory (it holds adapter_config.json and adapter_model.safetensors)',
    hint: 'the file is corrupt; re-save the adapter',
  });
  return fromPeftConfig(json, file);
}

function readTensors(file: string): Map<string, Tensor> {
  const st = SafetensorsFile.open(file);
  try {
    const out = new Map<string, Tensor>();
    for (const info of st.tensors) {
      if (!isFloatDType(info.dtype))
        throw new FileFormatError(
          file,
          `tensor ${JSON.stringify(info.name)} has dtype ${info.dtype}; LoRA weights are float`,
          { hint: 're-save the adapter' },
        );
      out.set(info.name, new Tensor(Float32Array.from(st.readF32(info.name)), info.shape));
    }
    return out;
  } finally {
    st.close();
  }
}

/** Groups keys into module pairs, checking each pair's shapes against each other and r; names every problem. */
function pairModules(tensors: Map<string, Tensor>, r: number, file: string): Map<string, { A: Tensor; B: Tensor }> {
  const problems: string[] = [];
  const halves = new Map<string, { A?: Tensor; B?: Tensor }>();
  for (const [key, t] of tensors) {
    const m = KEY_RE.exec(key);
    if (!m) {
      problems.push(
        `${JSON.stringify(key)} is not a LoRA key (base_model.model.<module>.lora_A.weight / .lora_B.weight)`,
      );
      continue;
    }
    const h = halves.get(m[1]!) ?? {};
    h[m[2] as 'A' | 'B'] = t;
    halves.set(m[1]!, h);
  }
  const modules = new Map<string, { A: Tensor; B: Tensor }>();
  for (const [path, { A, B }] of halves) {
    if (!A || !B) {
      problems.push(`${path} has lora_${A ? 'A' : 'B'} but no lora_${A ? 'B' : 'A'}`);
      continue;
    }
    if (A.ndim !== 2 || B.ndim !== 2 || A.dim(0) !== r || B.dim(1) !== r) {
      problems.push(
        `${path}: lora_A ${shapeStr(A.shape)} and lora_B ${shapeStr(B.shape)} do not fit r = ${r} (expected (r,in) and (out,r))`,
      );
      continue;
    }
    modules.set(path, { A, B });
  }
  if (problems.length)
    throw new FileFormatError(file, summarizeProblems(problems), {
      hint: 'the weights do not match adapter_config.json; re-save the adapter',
    });
  return modules;
}

/** Reads an adapter directory (config + tensors) without a model. */
export function readAdapter(dir: string): AdapterContents {
  const { baseModelNameOrPath, ...config } = readAdapterConfig(dir);
  const file = nodePath.join(dir, ADAPTER_WEIGHTS_FILE);
  if (!fs.existsSync(file)) {
    throw new FileFormatError(file, 'not found', {
      hint: 'the adapter directory must hold adapter_model.safetensors (adapter_model.bin is not supported)',
    });
  }
  const tensors = readTensors(file);
  return { config, baseModelNameOrPath, tensors, modules: pairModules(tensors, config.r, file) };
}

/** Expected shapes for the modules the config selects, checked against the file before the model is touched. */
function checkAgainstModel(
  model: Module,
  config: LoraConfig,
  modules: AdapterContents['modules'],
  file: string,
): string[] {
  const targets = selectTargets(model, resolveLoraConfig(config, availableLoraTargets(model)));
  const problems: string[] = [];
  for (const path of targets) {
    const lin = model.getSubmodule(path) as Linear;
    const pair = modules.get(path);
    const k = adapterKeys(path);
    if (!pair) {
      problems.push(`missing ${k.A} and ${k.B}`);
      continue;
    }
    if (pair.A.dim(1) !== lin.inFeatures)
      problems.push(`${k.A}: expected [${config.r}, ${lin.inFeatures}], got ${shapeStr(pair.A.shape)}`);
    if (pair.B.dim(0) !== lin.outFeatures)
      problems.push(`${k.B}: expected [${lin.outFeatures}, ${config.r}], got ${shapeStr(pair.B.shape)}`);
  }
  const selected = new Set(targets);
  for (const path of modules.keys())
    if (!selected.has(path)) problems.push(`unexpected ${adapterKeys(path).A} (no such target module in the model)`);
  if (problems.length) {
    throw new FileFormatError(file, `does not fit the model — ${summarizeProblems(problems)}`, {
      hint: 'the adapter was trained on a different base model (or different target modules)',
    });
  }
  return targets;
}

/**
 * Reads an adapter directory, applies LoRA to `model` with its config and loads lora_A/lora_B.
 * Names, pairs and shapes are checked against the model first (every mismatch is named), so a
 * refused adapter leaves the model untouched.
 */
export function loadAdapter(
  dir: string,
  model: Module,
  opts: { rng?: Random } = {},
): ApplyLoraResult & { baseModelNameOrPath: string | null } {
  if (loraModules(model).length > 0)
    throw new TsloraError(`loadAdapter: the model already has LoRA adapters; cannot load ${dir}`, {
      hint: 'load an adapter into a fresh base model',
    });
  const ad = readAdapter(dir);
  const file = nodePath.join(dir, ADAPTER_WEIGHTS_FILE);
  checkAgainstModel(model, ad.config, ad.modules, file);
  const res = applyLora(model, ad.config, opts);
  for (const [path, m] of loraModules(model)) {
    const pair = ad.modules.get(path)!;
    m.lora_A.weight.f32.set(pair.A.f32);
    m.lora_B.weight.f32.set(pair.B.f32);
  }
  return { ...res, baseModelNameOrPath: ad.baseModelNameOrPath };
}

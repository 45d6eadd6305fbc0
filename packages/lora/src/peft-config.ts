// peft-config.ts — LoraConfig <-> PEFT's adapter_config.json (keys, value forms and formatting as PEFT writes them).
import { FileFormatError } from '@tslora/core-tensor';
import { type LoraConfig, resolveLoraConfig } from './config.js';

/** What a LoRA config says in PEFT terms, plus what tslora needs back from it. */
export interface PeftConfigExtras {
  /** `base_model_name_or_path` (a hub id or a local path); null when unknown. */
  baseModelNameOrPath: string | null;
  /** `revision` of the base model; null when unknown. */
  revision?: string | null;
}

/**
 * The adapter_config.json object PEFT (0.13) writes for a LoRA adapter. 'all-linear' is written
 * as the sorted list of module names it selected, as PEFT does (it expands the shorthand before
 * saving); `targetNames` supplies that list.
 */
export function toPeftConfig(
  config: LoraConfig,
  targetNames: readonly string[],
  extras: PeftConfigExtras,
): Record<string, unknown> {
  const target = config.targetModules === 'all-linear' ? [...new Set(targetNames)] : [...config.targetModules];
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: extras.baseModelNameOrPath,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: config.init === 'gaussian' ? 'gaussian' : true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: config.layers ? [...config.layers] : null,
    loftq_config: {},
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: config.r,
    rank_pattern: {},
    revision: extras.revision ?? null,
    target_modules: target.sort(),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: config.useRslora,
  };
}

function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeysDeep((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/**
 * Serialises as Python's `json.dumps(obj, indent=2, sort_keys=True)` (PEFT's save_pretrained):
 * sorted keys at every level, 2-space indent, non-ASCII escaped as \uXXXX, no trailing newline.
 */
export function peftJson(obj: Record<string, unknown>): string {
  return JSON.stringify(sortKeysDeep(obj), null, 2).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const isEmpty = (v: unknown): boolean =>
  v === null ||
  v === undefined ||
  v === false ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === 'object' && Object.keys(v as object).length === 0);

/** PEFT features an adapter may use that tslora cannot reproduce; each must be absent or at its neutral value. */
function refuseUnsupported(j: Record<string, unknown>, file: string): void {
  const unsupported: string[] = [];
  if (j.bias !== undefined && j.bias !== 'none') unsupported.push(`bias ${JSON.stringify(j.bias)} (only "none")`);
  if (j.fan_in_fan_out === true) unsupported.push('fan_in_fan_out true (GPT-2 Conv1D layout)');
  if (j.use_dora === true) unsupported.push('use_dora true (DoRA)');
  for (const k of ['rank_pattern', 'alpha_pattern', 'modules_to_save', 'layer_replication', 'exclude_modules']) {
    if (!isEmpty(j[k])) unsupported.push(`${k} ${JSON.stringify(j[k])}`);
  }
  if (j.lora_bias === true) unsupported.push('lora_bias true');
  if (
    j.layers_pattern !== undefined &&
    j.layers_pattern !== null &&
    j.layers_pattern !== 'layers' &&
    !(Array.isArray(j.layers_pattern) && j.layers_pattern.every((p) => p === 'layers'))
  ) {
    unsupported.push(`layers_pattern ${JSON.stringify(j.layers_pattern)} (only "layers")`);
  }
  const init = j.init_lora_weights;
  if (init !== undefined && init !== true && init !== false && init !== 'gaussian') {
    unsupported.push(
      `init_lora_weights ${JSON.stringify(init)} (PiSSA/OLoRA/LoftQ-style inits change the base weights)`,
    );
  }
  if (unsupported.length) {
    throw new FileFormatError(file, `uses PEFT features tslora does not support: ${unsupported.join('; ')}`, {
      hint: 'tslora reads plain LoRA adapters (one rank and alpha for every module, no DoRA, no extra saved modules)',
    });
  }
}

function targetsFromPeft(t: unknown, file: string): string[] | 'all-linear' {
  if (t === 'all-linear') return 'all-linear';
  if (Array.isArray(t) && t.length > 0 && t.every((s) => typeof s === 'string')) return t as string[];
  if (typeof t === 'string') {
    throw new FileFormatError(
      file,
      `target_modules is the regular expression ${JSON.stringify(t)}; tslora needs a list of module names`,
      {
        hint: 'write target_modules as a list such as ["q_proj", "v_proj"]',
      },
    );
  }
  throw new FileFormatError(file, `target_modules ${JSON.stringify(t)} is not a list of module names`, {
    hint: 'e.g. ["q_proj", "v_proj"]',
  });
}

/**
 * Validates a parsed adapter_config.json and returns the LoraConfig it describes (seed 0: the seed
 * only matters for initialisation, and a loaded adapter's weights come from the file).
 */
export function fromPeftConfig(j: unknown, file: string): LoraConfig & { baseModelNameOrPath: string | null } {
  if (j === null || typeof j !== 'object' || Array.isArray(j))
    throw new FileFormatError(file, 'is not a JSON object', {
      hint: 'adapter_config.json must hold a PEFT LoraConfig',
    });
  const o = j as Record<string, unknown>;
  if (o.peft_type !== 'LORA') {
    throw new FileFormatError(file, `peft_type is ${JSON.stringify(o.peft_type)}, not "LORA"`, {
      hint: 'tslora reads LoRA adapters only (PEFT peft_type "LORA")',
    });
  }
  refuseUnsupported(o, file);
  try {
    const config = resolveLoraConfig({
      r: o.r as number,
      alpha: o.lora_alpha as number,
      dropout: (o.lora_dropout ?? 0) as number,
      targetModules: targetsFromPeft(o.target_modules, file),
      layers:
        typeof o.layers_to_transform === 'number'
          ? [o.layers_to_transform]
          : ((o.layers_to_transform as number[] | null) ?? null),
      useRslora: (o.use_rslora ?? false) as boolean,
      init: o.init_lora_weights === 'gaussian' ? 'gaussian' : 'kaiming',
    });
    const base = typeof o.base_model_name_or_path === 'string' ? o.base_model_name_or_path : null;
    return { ...config, baseModelNameOrPath: base };
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    const err = e as { message: string; hint?: string };
    throw new FileFormatError(file, err.message, { hint: err.hint, cause: e });
  }
}

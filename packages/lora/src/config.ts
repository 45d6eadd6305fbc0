// config.ts — LoraConfig: the LoRA hyper-parameters, their PEFT defaults and validation with errors a user can act on.
import { TsloraError } from '@tslora/core-tensor';

/** How lora_A starts (lora_B always starts at zero, so the adapted model equals the base at step 0). */
export type LoraInit = 'kaiming' | 'gaussian';

/** A validated LoRA configuration (what {@link resolveLoraConfig} returns). */
export interface LoraConfig {
  /** Rank r of the update ΔW = scaling·B·A (A: (r,in), B: (out,r)). Integer ≥ 1. */
  r: number;
  /** lora_alpha: scaling = alpha/r (alpha/√r with rsLoRA). > 0. */
  alpha: number;
  /** lora_dropout: dropout on the LoRA branch's input while training. 0 ≤ p < 1. */
  dropout: number;
  /** Last path segment of the Linears to adapt (`q_proj`, …) or every Linear except `lm_head`. */
  targetModules: string[] | 'all-linear';
  /** Decoder layer indices to adapt (PEFT's layers_to_transform); null = all layers. Sorted, unique. */
  layers: number[] | null;
  /** rsLoRA (Kalajdzievski 2023): scaling = alpha/√r, which keeps the update's scale stable as r grows. */
  useRslora: boolean;
  /** 'kaiming': A ~ U(-1/√in, 1/√in) (kaiming_uniform a=√5, PEFT's default); 'gaussian': A ~ N(0, (1/r)²) as PEFT's init_lora_weights="gaussian". */
  init: LoraInit;
  /** Seed of the Random used for A's init and LoRA dropout when no rng is passed to applyLora. */
  seed: number;
}

/** What a caller may pass: any subset of {@link LoraConfig}; the rest takes PEFT's defaults. */
export type LoraConfigInput = Partial<LoraConfig>;

/**
 * PEFT's LoraConfig defaults (r=8, lora_alpha=8, lora_dropout=0) with PEFT's default targets for
 * Qwen2 (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING["qwen2"] = ["q_proj", "v_proj"]).
 */
export const LORA_DEFAULTS: Readonly<LoraConfig> = Object.freeze({
  r: 8,
  alpha: 8,
  dropout: 0,
  targetModules: ['q_proj', 'v_proj'],
  layers: null,
  useRslora: false,
  init: 'kaiming' as const,
  seed: 0,
});

/** Module names never adapted: embeddings are lookups, and lm_head is often tied to embed_tokens. */
export const NEVER_ADAPTED: readonly string[] = ['lm_head', 'embed_tokens'];

/** What the model offers, so a config can be checked against it. */
export interface LoraTargetsAvailable {
  /** Last path segments of the Linears that may be adapted (lm_head excluded). */
  availableTargets?: readonly string[];
  /** Decoder layer indices present in the model (from `layers.{i}.` path segments). */
  availableLayers?: readonly number[];
}

/** scaling = alpha/r, or alpha/√r with rsLoRA (PEFT's LoraLayer.update_layer). */
export function loraScaling(r: number, alpha: number, useRslora: boolean): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

const KEYS = Object.keys(LORA_DEFAULTS) as (keyof LoraConfig)[];
const HINT_KEYS = `LoRA config fields are ${KEYS.join(', ')}`;

function fail(message: string, hint: string): never {
  throw new TsloraError(`LoRA config: ${message}`, { hint, exitCode: 2 });
}

function checkNumbers(c: LoraConfig): void {
  if (!Number.isInteger(c.r) || c.r < 1)
    fail(`r must be an integer ≥ 1, got ${JSON.stringify(c.r)}`, 'typical ranks are 8, 16, 32 or 64');
  if (typeof c.alpha !== 'number' || !Number.isFinite(c.alpha) || c.alpha <= 0) {
    fail(
      `alpha must be a finite number > 0, got ${JSON.stringify(c.alpha)}`,
      'a common choice is alpha = 2·r (scaling 2)',
    );
  }
  if (typeof c.dropout !== 'number' || !(c.dropout >= 0 && c.dropout < 1)) {
    fail(
      `dropout must be in [0, 1), got ${JSON.stringify(c.dropout)}`,
      'use 0 to switch LoRA dropout off, or e.g. 0.05',
    );
  }
  if (typeof c.useRslora !== 'boolean')
    fail(
      `useRslora must be true or false, got ${JSON.stringify(c.useRslora)}`,
      'rsLoRA scales by alpha/√r instead of alpha/r',
    );
  if (c.init !== 'kaiming' && c.init !== 'gaussian')
    fail(
      `init must be "kaiming" or "gaussian", got ${JSON.stringify(c.init)}`,
      "kaiming is PEFT's default (init_lora_weights=true)",
    );
  if (!Number.isSafeInteger(c.seed))
    fail(`seed must be an integer, got ${JSON.stringify(c.seed)}`, 'pass an integer seed so the run is reproducible');
}

function checkTargets(c: LoraConfig, avail: LoraTargetsAvailable): void {
  const t = c.targetModules;
  if (t === 'all-linear') return;
  if (!Array.isArray(t) || t.length === 0 || !t.every((s) => typeof s === 'string' && s !== '')) {
    fail(
      `targetModules must be "all-linear" or a non-empty list of module names, got ${JSON.stringify(t)}`,
      'e.g. ["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"] or "all-linear"',
    );
  }
  const never = t.filter((s) => NEVER_ADAPTED.includes(s));
  if (never.length)
    fail(
      `${never.join(', ')} cannot be adapted (embeddings and lm_head are never LoRA targets)`,
      'remove them from targetModules',
    );
  if (avail.availableTargets) {
    const unknown = t.filter((s) => !avail.availableTargets?.includes(s));
    if (unknown.length) {
      fail(
        `unknown target module${unknown.length > 1 ? 's' : ''} ${unknown.map((s) => JSON.stringify(s)).join(', ')}; the model's Linear layers are ${avail.availableTargets.join(', ') || '(none)'}`,
        'targets are matched on the last path segment (q_proj, not self_attn.q_proj); or use "all-linear"',
      );
    }
  }
}

function checkLayers(layers: unknown, avail: LoraTargetsAvailable): number[] | null {
  if (layers === null || layers === undefined) return null;
  if (!Array.isArray(layers) || layers.length === 0 || !layers.every((i) => Number.isInteger(i) && i >= 0)) {
    fail(
      `layers must be null or a non-empty list of layer indices ≥ 0, got ${JSON.stringify(layers)}`,
      'e.g. [0, 1, 2] adapts the first three decoder layers',
    );
  }
  const sorted = [...new Set(layers as number[])].sort((a, b) => a - b);
  if (avail.availableLayers) {
    const missing = sorted.filter((i) => !avail.availableLayers?.includes(i));
    if (missing.length) {
      const have = avail.availableLayers.length ? `0..${Math.max(...avail.availableLayers)}` : 'none';
      fail(
        `layer${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not in the model (layers: ${have})`,
        'pick indices of existing decoder layers',
      );
    }
  }
  return sorted;
}

/**
 * Fills PEFT defaults into `partial` and validates it (against the model's Linear names and layer
 * indices when given). Throws a TsloraError (exit code 2) naming the field, the bad value and, for
 * unknown targets, the names that do exist.
 */
export function resolveLoraConfig(partial: LoraConfigInput = {}, avail: LoraTargetsAvailable = {}): LoraConfig {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial))
    fail(`expected an object, got ${JSON.stringify(partial)}`, HINT_KEYS);
  const unknownKeys = Object.keys(partial).filter((k) => !(KEYS as string[]).includes(k));
  if (unknownKeys.length)
    fail(`unknown field${unknownKeys.length > 1 ? 's' : ''} ${unknownKeys.join(', ')}`, HINT_KEYS);
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const c: LoraConfig = { ...LORA_DEFAULTS, ...defined } as LoraConfig;
  checkNumbers(c);
  checkTargets(c, avail);
  const layers = checkLayers(c.layers, avail);
  const targetModules = c.targetModules === 'all-linear' ? 'all-linear' : [...new Set(c.targetModules)];
  return { ...c, targetModules, layers };
}

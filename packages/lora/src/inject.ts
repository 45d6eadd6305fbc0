// inject.ts — applyLora: freeze a model and wrap its target Linears in LoraLinear, PEFT's get_peft_model for LoRA.
import { Linear, type Module, Random, TsloraError } from '@tslora/core-tensor';
import { type LoraConfig, type LoraConfigInput, loraScaling, NEVER_ADAPTED, resolveLoraConfig } from './config.js';
import { LoraLinear } from './lora-linear.js';

/** The layer index in a module path (`model.layers.3.mlp.up_proj` → 3), as PEFT's layers_to_transform matches it. */
export function layerIndexOf(path: string): number | undefined {
  const m = /(?:^|\.)layers\.(\d+)(?:\.|$)/.exec(path);
  return m ? Number(m[1]) : undefined;
}

/** The last segment of a dotted module path (`model.layers.0.self_attn.q_proj` → `q_proj`). */
export function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}

/** Every LoraLinear in the model with its path, in module order. */
export function loraModules(model: Module): [string, LoraLinear][] {
  return model.namedModules().filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear);
}

/** A plain Linear that LoRA may wrap: not lm_head, not already a LoRA part. */
function candidateLinears(model: Module): [string, Linear][] {
  const insideLora = new Set(loraModules(model).map(([p]) => `${p}.`));
  return model
    .namedModules()
    .filter((e): e is [string, Linear] => e[1] instanceof Linear)
    .filter(([p]) => !NEVER_ADAPTED.includes(lastSegment(p)) && ![...insideLora].some((pre) => p.startsWith(pre)));
}

/** What a model offers as LoRA targets: distinct Linear names (lm_head excluded) and decoder layer indices. */
export function availableLoraTargets(model: Module): { availableTargets: string[]; availableLayers: number[] } {
  const linears = candidateLinears(model);
  const names = [...new Set(linears.map(([p]) => lastSegment(p)))];
  const layers = new Set<number>();
  for (const [p] of model.namedModules()) {
    const i = layerIndexOf(p);
    if (i !== undefined) layers.add(i);
  }
  return { availableTargets: names, availableLayers: [...layers].sort((a, b) => a - b) };
}

/** The module paths a config selects in this model (in module order). */
export function selectTargets(model: Module, config: LoraConfig): string[] {
  const want = config.targetModules === 'all-linear' ? null : new Set(config.targetModules);
  const layers = config.layers ? new Set(config.layers) : null;
  return candidateLinears(model)
    .map(([p]) => p)
    .filter(
      (p) => (want === null || want.has(lastSegment(p))) && (layers === null || layers.has(layerIndexOf(p) ?? -1)),
    );
}

/** What applyLora did. */
export interface ApplyLoraResult {
  /** Paths of the wrapped modules, in module order (`model.layers.0.self_attn.q_proj`, …). */
  wrapped: string[];
  /** The validated config that was applied. */
  config: LoraConfig;
  /** The generator that initialised A and now draws the dropout masks (save its `.state` with a checkpoint). */
  rng: Random;
}

/**
 * Freezes every parameter of `model` and replaces each target Linear by a LoraLinear (in place,
 * through setSubmodule). Targets match on the last path segment, or every Linear but lm_head for
 * 'all-linear'; embeddings are never Linears, so never targets. A's init is drawn in module order
 * from `opts.rng` (default `new Random(config.seed)`), so the same seed gives the same adapter.
 * Load the base weights before calling this: afterwards they live at `….q_proj.base_layer.weight`.
 */
export function applyLora(
  model: Module,
  config: LoraConfigInput | LoraConfig,
  opts: { rng?: Random } = {},
): ApplyLoraResult {
  if (loraModules(model).length > 0) {
    throw new TsloraError('applyLora: the model already has LoRA adapters', {
      hint: 'apply LoRA once, to a fresh base model',
    });
  }
  const resolved = resolveLoraConfig(config, availableLoraTargets(model));
  const wrapped = selectTargets(model, resolved);
  if (wrapped.length === 0) {
    throw new TsloraError(
      `applyLora: the config selects no Linear layer (targets ${JSON.stringify(resolved.targetModules)}, layers ${JSON.stringify(resolved.layers)})`,
      {
        hint: 'check targetModules and layers against the model',
      },
    );
  }
  model.freeze();
  const rng = opts.rng ?? new Random(resolved.seed);
  const scaling = loraScaling(resolved.r, resolved.alpha, resolved.useRslora);
  for (const path of wrapped) {
    const base = model.getSubmodule(path) as Linear;
    const lora = new LoraLinear(base, {
      r: resolved.r,
      alpha: resolved.alpha,
      scaling,
      dropout: resolved.dropout,
      init: resolved.init,
      rng,
    });
    lora.train(base._training);
    model.setSubmodule(path, lora);
  }
  return { wrapped, config: resolved, rng };
}

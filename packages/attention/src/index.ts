// index.ts — the public entry of @tslora/attention: masks, RoPE, scaled dot-product attention (GQA), the KV cache and attention plots.

/** This package's npm name (lets tools and the packaging test check which build they loaded). */
export const name = '@tslora/attention';

// ---- attention ----

export { repeatKv, scaledDotProductAttentionComposite } from './composite.js';
export { attentionWeights, type SdpaOptions, scaledDotProductAttention } from './sdpa.js';

// ---- masks ----

export {
  buildKeepMask,
  causalLimit,
  describeMask,
  fullyMaskedRows,
  keyBias,
  type MaskSpec,
  resolveQueryOffset,
} from './masks.js';

// ---- rotary position embeddings ----

export {
  type ApplyRotaryOptions,
  applyRotary,
  type RotaryOptions,
  type RotaryTables,
  rotaryEmbedding,
} from './rope.js';

// ---- generation ----

export { KVCache, type KVCacheOptions } from './kv-cache.js';

// ---- plots and the teaching example ----

export { type ColorScale, type PlotLabels, plotAttention, viridis } from './plot.js';

export {
  type MaskTeachingExample,
  maskTeachingExample,
  maskTeachingSvg,
  TEACHING_MASKS,
  TEACHING_X,
} from './teaching.js';

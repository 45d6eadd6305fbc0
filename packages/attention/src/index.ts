// index.ts — the public entry of @tslora/attention: masks, RoPE, scaled dot-product attention (GQA), the KV cache and attention plots.

/** This package's npm name (lets tools and the packaging test check which build they loaded). */
export const name = '@tslora/attention';

// ---- masks ----
export { buildKeepMask, causalLimit, describeMask, fullyMaskedRows, keyBias, type MaskSpec, resolveQueryOffset } from './masks.js';

// ---- attention ----
export { attentionWeights, type SdpaOptions, scaledDotProductAttention } from './sdpa.js';
export { repeatKv, scaledDotProductAttentionComposite } from './composite.js';

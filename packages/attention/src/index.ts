// index.ts — the public entry of @tslora/attention; masks, RoPE, scaled dot-product attention and the KV cache are exported from here as they land.

/** This package's npm name (lets tools and the packaging test check which build they loaded). */
export const name = '@tslora/attention';

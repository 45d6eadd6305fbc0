// index.ts — the public entry of @tslora/tokenizer-inspect; tokenizer loading, chat templates and the vocab-vs-embedding report are exported from here as they land.

/** This package's npm name (lets tools and the packaging test check which build they loaded). */
export const name = '@tslora/tokenizer-inspect';

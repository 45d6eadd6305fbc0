// index.ts — the public entry of @tslora/lora; LoRA layers, injection, merge and PEFT adapter I/O are exported from here as they land.

/** This package's npm name (lets tools and the packaging test check which build they loaded). */
export const name = '@tslora/lora';

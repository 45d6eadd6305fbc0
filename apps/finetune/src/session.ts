// session.ts — what most commands start with: backend, model (+ adapter) and tokenizer, loaded and checked.
import { TsloraError, useBestBackend } from '@tslora/core-tensor';
import { loadAdapter } from '@tslora/lora';
import { type LoadedTokenizer, loadTokenizer } from '@tslora/tokenizer-inspect';
import type { QuantizeOptions } from './model/frozen-base.js';
import { type LoadedModel, loadModel } from './model/load.js';

/** Selects the fast backend once per process (onnxruntime-node), falling back to TypeScript. */
export function initBackend(note?: (s: string) => void): void {
  const { backend, reason } = useBestBackend();
  if (reason && note) note(`note: using the ${backend.name} backend (${reason})`);
}

export interface Session extends LoadedModel {
  tokenizer: LoadedTokenizer;
}

/**
 * Loads the model, its tokenizer and optionally a PEFT adapter. The tokenizer must fit the
 * embedding: an id ≥ config.vocab_size would index past the embedding rows.
 */
export function openSession(modelDir: string, adapterDir?: string, quantize?: QuantizeOptions): Session {
  const loaded = loadModel(modelDir, quantize ? { quantize } : {});
  const tokenizer = loadTokenizer(modelDir);
  if (tokenizer.highestTokenId >= loaded.config.vocabSize) {
    throw new TsloraError(
      `${modelDir}: the tokenizer's highest id ${tokenizer.highestTokenId} does not fit config.vocab_size ${loaded.config.vocabSize}`,
      { hint: 'the tokenizer files and the weights come from different models', exitCode: 2 },
    );
  }
  if (adapterDir) loadAdapter(adapterDir, loaded.model);
  loaded.model.eval();
  return { ...loaded, tokenizer };
}

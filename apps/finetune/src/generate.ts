// generate.ts — KV-cached decoding: greedy at temperature 0, else temperature + top-p (nucleus) sampling.
import { KVCache } from '@tslora/attention';
import { noGrad, type Random, Tensor } from '@tslora/core-tensor';
import type { QwenForCausalLM } from './model/qwen.js';

export interface GenerateOptions {
  maxTokens: number;
  /** 0 → greedy (argmax). */
  temperature: number;
  /** Nucleus sampling mass in (0, 1]. */
  topP: number;
  rng: Random;
  /** Generation stops after emitting one of these. */
  eosTokenIds: readonly number[];
  /** Called with each new token id as soon as it is chosen (streaming). */
  onToken?: (id: number) => void;
  /**
   * Ids the tokenizer can decode (see `decodableIds`). Logits of every other id are −∞ before
   * greedy or sampling: the embedding's padding rows (Qwen: 151669..151935) have no text, and a
   * random or briefly trained model gives them as much mass as any real token. Omitted: every row.
   */
  vocab?: DecodableIds;
}

/** The ids a tokenizer has: all of 0..limit−1 except `holes` (HF's vocab limit plus `suppress_tokens`). */
export interface DecodableIds {
  limit: number;
  holes: readonly number[];
}

/** The decodable ids of a tokenizer (its vocabulary and added tokens), for `GenerateOptions.vocab`. */
export function decodableIds(tok: { highestTokenId: number; hasId(id: number): boolean }): DecodableIds {
  const holes: number[] = [];
  for (let id = 0; id <= tok.highestTokenId; id++) if (!tok.hasId(id)) holes.push(id);
  return { limit: tok.highestTokenId + 1, holes };
}

/** One row of logits restricted to the decodable ids: a view cut at `limit`, holes set to −∞ (in place). */
export function maskLogits(logits: Float32Array, vocab: DecodableIds | undefined): Float32Array {
  if (!vocab) return logits;
  const row = logits.subarray(0, Math.min(vocab.limit, logits.length));
  for (const id of vocab.holes) if (id < row.length) row[id] = Number.NEGATIVE_INFINITY;
  return row;
}

/** Picks the next token from one row of logits. */
export function sampleToken(logits: Float32Array, temperature: number, topP: number, rng: Random): number {
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
    return best;
  }
  let mx = Number.NEGATIVE_INFINITY;
  for (const v of logits) if (v > mx) mx = v;
  const p = new Float64Array(logits.length);
  let s = 0;
  for (let i = 0; i < logits.length; i++) {
    p[i] = Math.exp(((logits[i] as number) - mx) / temperature);
    s += p[i] as number;
  }
  if (topP >= 1) {
    // Plain sampling: no nucleus to cut, so no sort of the whole vocabulary (151k ids) per token.
    let u = rng.uniform() * s;
    for (let i = 0; i < p.length; i++) {
      u -= p[i] as number;
      if (u <= 0 && (p[i] as number) > 0) return i;
    }
    for (let i = p.length - 1; i >= 0; i--) if ((p[i] as number) > 0) return i;
  }
  // Nucleus: keep the most probable tokens until their mass reaches topP, renormalise, draw.
  const order = Array.from(p.keys()).sort((a, b) => (p[b] as number) - (p[a] as number));
  let kept = 0;
  let n = 0;
  while (n < order.length && kept < topP * s) kept += p[order[n++] as number] as number;
  let u = rng.uniform() * kept;
  for (let i = 0; i < n; i++) {
    u -= p[order[i] as number] as number;
    if (u <= 0) return order[i] as number;
  }
  return order[n - 1] as number;
}

/** Generates up to maxTokens after `promptIds`; returns the new ids (eos included if hit). */
export function generate(model: QwenForCausalLM, promptIds: readonly number[], opts: GenerateOptions): number[] {
  return noGrad(() => {
    const cache = new KVCache(model.config.numHiddenLayers);
    const out: number[] = [];
    let input = Tensor.int(promptIds, [1, promptIds.length]);
    for (let step = 0; step < opts.maxTokens; step++) {
      const last = maskLogits(model.lastLogits(input, { cache }).f32, opts.vocab); // (1,V) → (1,limit)
      const id = sampleToken(last, opts.temperature, opts.topP, opts.rng);
      out.push(id);
      opts.onToken?.(id);
      if (opts.eosTokenIds.includes(id)) break;
      input = Tensor.int([id], [1, 1]);
    }
    return out;
  });
}

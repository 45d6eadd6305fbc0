// norm-stats.ts — group embedding row norms into regular / added-token / undefined / padding rows, so untrained rows stand out.
import type { AddedTokenInfo, LoadedTokenizer } from './load.js';

/** Count, mean, min and max of a group of row norms (null statistics for an empty group). */
export interface NormStats {
  count: number;
  mean: number | null;
  min: number | null;
  max: number | null;
}

/** One added token's row norm, and that norm over the mean regular-row norm (≪ 1: the row was barely trained). */
export interface AddedTokenNorm extends AddedTokenInfo {
  norm: number;
  ratioToRegularMean: number | null;
}

/** Row-norm statistics of the embedding. */
export interface EmbeddingNorms {
  tensor: string;
  /** Rows of `model.vocab` tokens (BPE). */
  regular: NormStats;
  /** Rows of tokenizer.json added tokens (special or not: `<|im_start|>`, `<think>`, ...). */
  added: NormStats;
  /** Rows at or below the highest id that no token uses. */
  undefinedIds: NormStats;
  /** Rows above the highest token id. */
  padding: NormStats;
  /** Every added token's norm, by id. */
  addedTokens: AddedTokenNorm[];
  /** Rows whose norm is NaN or Inf (their values are not finite). */
  nonFiniteRows: number;
}

class Acc {
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  add(v: number): void {
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }
  stats(): NormStats {
    return this.count === 0
      ? { count: 0, mean: null, min: null, max: null }
      : { count: this.count, mean: this.sum / this.count, min: this.min, max: this.max };
  }
}

/** Groups `norms` (one per embedding row, (V,)) by what the tokenizer does with each row. Non-finite norms are counted apart. */
export function normReport(norms: Float64Array, tok: LoadedTokenizer, tensor: string): EmbeddingNorms {
  const added = new Set(tok.addedTokens.map((t) => t.id));
  const groups = { regular: new Acc(), added: new Acc(), undefinedIds: new Acc(), padding: new Acc() };
  let nonFiniteRows = 0;
  for (let id = 0; id < norms.length; id++) {
    const n = norms[id] as number;
    if (!Number.isFinite(n)) {
      nonFiniteRows++;
      continue;
    }
    if (id > tok.highestTokenId) groups.padding.add(n);
    else if (added.has(id)) groups.added.add(n);
    else if (tok.hasId(id)) groups.regular.add(n);
    else groups.undefinedIds.add(n);
  }
  const regular = groups.regular.stats();
  return {
    tensor,
    regular,
    added: groups.added.stats(),
    undefinedIds: groups.undefinedIds.stats(),
    padding: groups.padding.stats(),
    addedTokens: tok.addedTokens.map((t) => {
      const norm = norms[t.id] as number;
      return { ...t, norm, ratioToRegularMean: regular.mean ? norm / regular.mean : null };
    }),
    nonFiniteRows,
  };
}

// inspect.test.ts — tokenizer vs embedding reports on checkpoints built around the real Qwen tokenizer files.
import { describe, expect, it } from 'vitest';
import { embedValue, writeCheckpoint } from './__fixtures__/checkpoint.js';
import { inspectCheckpoint } from './inspect.js';
import type { NormStats } from './norm-stats.js';

/** Naive reference: L2 norm of each row of a (V,C) matrix, then count/mean/min/max over rows [lo, hi). */
function naiveStats(embed: Float32Array, hidden: number, lo: number, hi: number): NormStats {
  const norms: number[] = [];
  for (let r = lo; r < hi; r++) {
    let ss = 0;
    for (let c = 0; c < hidden; c++) ss += (embed[r * hidden + c] as number) ** 2;
    norms.push(Math.sqrt(ss));
  }
  if (norms.length === 0) return { count: 0, mean: null, min: null, max: null };
  return {
    count: norms.length,
    mean: norms.reduce((a, b) => a + b, 0) / norms.length,
    min: norms.reduce((a, b) => Math.min(a, b)),
    max: norms.reduce((a, b) => Math.max(a, b)),
  };
}

describe('inspectCheckpoint', () => {
  it('Qwen3 tokenizer, vocab_size 151936: 151669 used ids and 267 padding rows', () => {
    const { dir } = writeCheckpoint({ hidden: 8 });
    const r = inspectCheckpoint(dir, { withNorms: false });
    expect(r.tokenizer.bpeVocabSize).toBe(151643);
    expect(r.tokenizer.addedTokens).toHaveLength(26);
    expect(r.tokenizer.highestTokenId).toBe(151668);
    expect(r.tokenizer.usedIds).toBe(151669);
    expect(r.tokenizer.distinctIds).toBe(151669);
    expect(r.embedding).toEqual({
      tensor: 'model.embed_tokens.weight',
      file: 'model.safetensors',
      dtype: 'bf16',
      shape: [151936, 8],
    });
    expect(r.rows).toBe(151936);
    expect(r.padding.rows).toBe(267);
    expect(r.padding.multipleOf).toBe(128);
    expect(r.padding.reason).toMatch(
      /^151936 = 128 × 1187: .*multiple of 128 \(as Megatron-LM's --make-vocab-size-divisible-by\)/,
    );
    expect(r.summary).toBe(
      'Embedding(151936, 8) has 151936 rows; the tokenizer uses 151669 ids (151643 BPE tokens + 26 added tokens, highest id 151668); ' +
        'the remaining 267 rows are padding so the vocabulary is a multiple of 128.',
    );
    expect(r.lmHead).toMatchObject({ tied: true, weightPresent: false });
    expect(r.norms).toBeNull();
    expect(r.warnings).toEqual([]);
  });

  it('Qwen2.5-style tokenizer (no Qwen3-only tokens): 151665 used ids and 271 padding rows, in plain words', () => {
    const { dir } = writeCheckpoint({ qwen25: true, hidden: 8 });
    const r = inspectCheckpoint(dir, { withNorms: false });
    expect(r.tokenizer.addedTokens).toHaveLength(22);
    expect(r.tokenizer.usedIds).toBe(151665);
    expect(r.padding.rows).toBe(271);
    expect(r.summary).toBe(
      'Embedding(151936, 8) has 151936 rows; the tokenizer uses 151665 ids (151643 BPE tokens + 22 added tokens, highest id 151664); ' +
        'the remaining 271 rows are padding so the vocabulary is a multiple of 128.',
    );
  });

  it('reports eos/pad/bos from tokenizer_config.json and generation_config.json, and the template kind', () => {
    const { dir } = writeCheckpoint({
      generationConfig: { bos_token_id: 151643, eos_token_id: [151645, 151643], pad_token_id: 151643 },
    });
    const r = inspectCheckpoint(dir, { withNorms: false });
    expect(r.specialTokens.eos).toEqual({
      tokenizerConfig: { content: '<|im_end|>', id: 151645 },
      generationConfig: [151645, 151643],
      ids: [151645, 151643],
    });
    expect(r.specialTokens.pad).toEqual({
      tokenizerConfig: { content: '<|endoftext|>', id: 151643 },
      generationConfig: 151643,
      id: 151643,
    });
    expect(r.specialTokens.bos).toEqual({ tokenizerConfig: null, generationConfig: 151643, id: 151643 });
    expect(r.chatTemplate).toMatchObject({
      format: 'chatml',
      defaultSystemPrompt: null,
      thinkingTags: true,
      enableThinkingSwitch: true,
    });
  });

  it('row-norm statistics match a naive per-row loop, per group and per added token', () => {
    const hidden = 8;
    const { dir, embed } = writeCheckpoint({ hidden, qwen25: true });
    const r = inspectCheckpoint(dir);
    const n = r.norms;
    if (n === null) throw new Error('expected norms');
    const close = (got: NormStats, want: NormStats): void => {
      expect(got.count).toBe(want.count);
      for (const k of ['mean', 'min', 'max'] as const) expect(got[k]).toBeCloseTo(want[k] as number, 9);
    };
    close(n.regular, naiveStats(embed, hidden, 0, 151643));
    close(n.added, naiveStats(embed, hidden, 151643, 151665));
    close(n.padding, naiveStats(embed, hidden, 151665, 151936));
    expect(n.undefinedIds.count).toBe(0);
    expect(n.nonFiniteRows).toBe(0);
    const imStart = n.addedTokens.find((t) => t.content === '<|im_start|>');
    const want = Math.sqrt(
      Array.from({ length: hidden }, (_, c) => embedValue(151644, c, 151664, 151643) ** 2).reduce((a, b) => a + b, 0),
    );
    expect(imStart?.norm).toBeCloseTo(want, 12);
    expect(imStart?.ratioToRegularMean).toBeCloseTo(want / (n.regular.mean as number), 12);
    expect(imStart?.ratioToRegularMean).toBeLessThan(0.5); // the fixture's added rows are "barely trained"
  });

  it('reads sharded weights and a separate lm_head', () => {
    const { dir } = writeCheckpoint({ sharded: true, tie: false });
    const r = inspectCheckpoint(dir, { withNorms: true });
    expect(r.embedding?.file).toBe('model-00001-of-00002.safetensors');
    expect(r.lmHead).toMatchObject({ tied: false, weightPresent: true });
    expect(r.lmHead.note).toMatch(/^separate lm_head.weight/);
    expect(r.norms?.padding.count).toBe(267);
  });

  it('flags a stored-but-tied lm_head and an untied model without one', () => {
    const tiedStored = inspectCheckpoint(writeCheckpoint({ tie: true, lmHead: true }).dir, { withNorms: false });
    expect(tiedStored.lmHead.note).toMatch(/stored but ignored/);
    const untiedMissing = inspectCheckpoint(writeCheckpoint({ tie: false, lmHead: false }).dir, { withNorms: false });
    expect(untiedMissing.lmHead).toMatchObject({ tied: false, weightPresent: false });
    expect(untiedMissing.warnings.join('\n')).toMatch(/no lm_head.weight: the model cannot compute logits/);
  });

  it('works without weights, taking the rows from config.vocab_size', () => {
    const { dir } = writeCheckpoint({ noWeights: true });
    const r = inspectCheckpoint(dir);
    expect(r.embedding).toBeNull();
    expect(r.norms).toBeNull();
    expect(r.padding.rows).toBe(267);
    expect(r.summary).toMatch(/^config.vocab_size is 151936 \(no weights found\); the tokenizer uses 151669 ids/);
    expect(r.warnings).toEqual([
      'no model.safetensors or model.safetensors.index.json: embedding rows taken from config.vocab_size',
    ]);
  });

  it('returns a plain object that survives JSON', () => {
    const r = inspectCheckpoint(writeCheckpoint({ qwen25: true }).dir);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});

// generate-vocab.test.ts — decoding never picks an embedding padding row (ids the tokenizer lacks).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Random, Tensor } from '@tslora/core-tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodableIds, generate, maskLogits, sampleToken } from './generate.js';
import { createTinyCheckpoint, TINY_DEFAULTS } from './model/init.js';
import { openSession, type Session } from './session.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tslora-genvocab-'));
let s: Session;

beforeAll(() => {
  const base = path.join(root, 'base');
  createTinyCheckpoint(base, { ...TINY_DEFAULTS, hidden: 32, intermediate: 64, layers: 1 });
  s = openSession(base);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('the tokenizer bounds what generate may emit', () => {
  it('Qwen tokenizer: 151669 decodable ids, no holes, below 151936 embedding rows', () => {
    const v = decodableIds(s.tokenizer);
    expect(v).toEqual({ limit: 151669, holes: [] });
    expect(s.config.vocabSize).toBe(151936);
  });

  it('500 tokens sampled at temperature 1.5 from a random base are all tokenizer ids (and decode)', () => {
    const vocab = decodableIds(s.tokenizer);
    const ids = generate(s.model, s.tokenizer.encode('Hello'), {
      maxTokens: 500,
      temperature: 1.5,
      topP: 1,
      rng: new Random(3),
      eosTokenIds: [],
      vocab,
    });
    expect(ids).toHaveLength(500);
    expect(Math.max(...ids)).toBeLessThan(151669);
    expect(() => s.tokenizer.decode(ids)).not.toThrow();
  });

  it('greedy skips a padding row even when its logit is the largest (and would pick it unmasked)', () => {
    // Make padding row 151700 of the tied embedding point along every hidden state: its logit wins.
    const emb = s.model.model.embed_tokens.weight.f32;
    const C = s.config.hiddenSize;
    const saved = emb.slice(151700 * C, 151701 * C);
    try {
      const big = new Float32Array(C);
      // The final hidden state of a few prompts, scaled: the row's dot with any of them dominates.
      const h = s.model.hidden(Tensor.int([9707, 11, 1879], [1, 3]), {}).f32.slice(-C);
      for (let i = 0; i < C; i++) big[i] = (h[i] as number) * 1e3;
      emb.set(big, 151700 * C);
      const opts = { maxTokens: 1, temperature: 0, topP: 1, rng: new Random(0), eosTokenIds: [] };
      expect(generate(s.model, [9707, 11, 1879], opts)).toEqual([151700]);
      const masked = generate(s.model, [9707, 11, 1879], { ...opts, vocab: decodableIds(s.tokenizer) });
      expect(masked[0]).toBeLessThan(151669);
    } finally {
      emb.set(saved, 151700 * C);
    }
  });
});

describe('maskLogits', () => {
  it('cuts at the limit and sets holes to −∞, so neither greedy nor sampling can pick them', () => {
    const logits = Float32Array.from([0, 1, 9, 2, 50, 60]);
    const row = maskLogits(logits, { limit: 4, holes: [2] });
    expect([...row]).toEqual([0, 1, Number.NEGATIVE_INFINITY, 2]);
    expect(sampleToken(row, 0, 1, new Random(0))).toBe(3);
    const rng = new Random(5);
    for (let i = 0; i < 300; i++) expect([0, 1, 3]).toContain(sampleToken(row, 2, 1, rng));
    for (let i = 0; i < 300; i++) expect([0, 1, 3]).toContain(sampleToken(row, 2, 0.95, rng));
  });

  it('plain sampling (top-p 1) draws each id in proportion to its probability', () => {
    const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);
    const rng = new Random(11);
    const counts: number[] = [0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const id = sampleToken(logits, 1, 1, rng);
      counts[id] = (counts[id] ?? 0) + 1;
    }
    // binomial sd ≤ sqrt(0.25/n) ≈ 0.0035: 0.015 is more than 4 sd
    expect(Math.abs((counts[0] as number) / n - 0.5)).toBeLessThan(0.015);
    expect(Math.abs((counts[1] as number) / n - 0.3)).toBeLessThan(0.015);
    expect(Math.abs((counts[2] as number) / n - 0.2)).toBeLessThan(0.015);
  });
});

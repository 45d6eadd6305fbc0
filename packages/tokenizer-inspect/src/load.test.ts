// load.test.ts — the real Qwen3 tokenizer through loadTokenizer: ids, round trips, configured special tokens.
import { describe, expect, it } from 'vitest';
import { QWEN3_TOKENIZER_DIR } from './__fixtures__/checkpoint.js';
import { loadTokenizer } from './load.js';

const tok = loadTokenizer(QWEN3_TOKENIZER_DIR);

describe('loadTokenizer (Qwen3 tokenizer files)', () => {
  it('encodes to the ids of the reference tokenizer', () => {
    expect(tok.encode('你好，世界')).toEqual([108386, 3837, 99489]);
    expect(tok.encode('Hello world')).toEqual([9707, 1879]);
    expect(tok.encode('<|im_start|>user\nhi<|im_end|>\n')).toEqual([151644, 872, 198, 6023, 151645, 198]);
  });

  it('adds no BOS either way (Qwen has none)', () => {
    expect(tok.encode('Hello world', { addSpecialTokens: true })).toEqual(
      tok.encode('Hello world', { addSpecialTokens: false }),
    );
    expect(tok.bosTokenId).toBeNull();
  });

  it('decode round-trips text, including special tokens and multi-byte characters', () => {
    for (const s of [
      '你好，世界',
      'Hello world',
      '<|im_start|>user\nhi<|im_end|>\n',
      ' leading space, émoji 🤗 and\ttab\n\n',
      '',
    ]) {
      expect(tok.decode(tok.encode(s))).toBe(s);
    }
  });

  it('skipSpecialTokens drops special tokens only', () => {
    const ids = tok.encode('<|im_start|>user\nhi<|im_end|>\n<think>x</think>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('user\nhi\n<think>x</think>');
  });

  it('reads the vocabulary, added tokens and configured special tokens', () => {
    expect(tok.modelType).toBe('BPE');
    expect(tok.modelVocabSize).toBe(151643);
    expect(tok.addedTokens).toHaveLength(26);
    expect(tok.addedTokens[0]).toEqual({ id: 151643, content: '<|endoftext|>', special: true });
    expect(tok.addedTokens.at(-1)).toEqual({ id: 151668, content: '</think>', special: false });
    expect(tok.specialTokens.map((t) => t.content)).toContain('<|im_end|>');
    expect(tok.highestTokenId).toBe(151668);
    expect(tok.idCount).toBe(151669);
    expect(tok.eosToken).toEqual({ content: '<|im_end|>', id: 151645 });
    expect(tok.eosTokenIds).toEqual([151645]);
    expect(tok.padTokenId).toBe(151643);
    expect(tok.chatTemplate).toContain('<|im_start|>');
    expect(tok.warnings).toEqual([]);
  });

  it('refuses ids the tokenizer does not have instead of dropping them', () => {
    expect(() => tok.decode([9707, 151669])).toThrow(/token id 151669 is not in the tokenizer \(ids 0\.\.151668\)/);
    expect(() => tok.decode([-1])).toThrow(/token id -1/);
  });
});

// data/data.test.ts — JSONL formats → ids/labels, prompt masking, batching; bad data named by line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTokenizer } from '@tslora/tokenizer-inspect';
import { describe, expect, it } from 'vitest';
import { qwenTokenizerDir } from '../model/init.js';
import { collate, planBatches } from './batch.js';
import { encodeRecords } from './format.js';
import { readJsonl } from './jsonl.js';

const tok = loadTokenizer(qwenTokenizerDir());
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'data-'));
const write = (name: string, text: string | Uint8Array) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
};
const enc = (lines: unknown[], maskPrompt = false, maxSeqLen = 512, strict = false) => {
  const f = write('d.jsonl', lines.map((l) => JSON.stringify(l)).join('\n'));
  return encodeRecords(f, readJsonl(f), tok, { maxSeqLen, maskPrompt, strict });
};

describe('formats', () => {
  it('{"text"} is the text plus eos, every token a target', () => {
    const { examples } = enc([{ text: 'Hello world' }]);
    expect(examples[0]?.ids).toEqual([9707, 1879, 151645]);
    expect(examples[0]?.labels).toEqual(examples[0]?.ids);
  });

  it('--mask-prompt sets every label before the completion to -100 (checked on a known example)', () => {
    const { examples } = enc([{ prompt: 'hi', completion: 'Hello world' }], true);
    const e = examples[0]!;
    // ChatML by the checkpoint's template: the completion starts after "<|im_start|>assistant\n"
    const prompt = tok.applyChatTemplateIds([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true });
    expect(tok.decode(prompt)).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    expect(e.ids.slice(0, prompt.length)).toEqual(prompt);
    expect(e.labels.slice(0, prompt.length).every((l) => l === -100)).toBe(true);
    const answer = e.labels.slice(prompt.length);
    expect(answer.every((l) => l !== -100)).toBe(true);
    expect(tok.decode(answer)).toContain('Hello world');
    expect(tok.decode(answer).endsWith('<|im_end|>\n')).toBe(true);
  });

  it('without --mask-prompt every token is a target', () => {
    const { examples } = enc([
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'yo' },
        ],
      },
    ]);
    expect(examples[0]?.labels).toEqual(examples[0]?.ids);
  });

  it('long samples are truncated and counted, or refused with --strict', () => {
    const { examples, truncated } = enc([{ text: 'a b c d e f g h i j k l' }, { text: 'ok' }], false, 5);
    expect(truncated).toBe(1);
    expect(examples[0]?.ids.length).toBe(5);
    expect(() => enc([{ text: 'a b c d e f g h i j k l' }], false, 5, true)).toThrow(
      /line 1 has \d+ tokens, more than --max-seq-len 5/,
    );
  });
});

describe('bad data', () => {
  it('an empty file', () => {
    const f = write('empty.jsonl', '\n\n');
    expect(() => readJsonl(f)).toThrow(/empty\.jsonl: is empty/);
  });
  it('a line that is not JSON names the line', () => {
    const f = write('bad.jsonl', '{"text":"a"}\n{"text": oops}\n');
    expect(() => readJsonl(f)).toThrow(/bad\.jsonl: line 2 is not valid JSON/);
  });
  it('a record of no known format lists the formats', () => {
    expect(() => enc([{ text: 'a' }, { foo: 1 }])).toThrow(/line 2 has none of the known formats \(keys: foo\)/);
  });
  it('an unknown role is named', () => {
    expect(() => enc([{ messages: [{ role: 'wizard', content: 'x' }] }])).toThrow(
      /messages\[0\] has unknown role "wizard"/,
    );
  });
  it('non-UTF-8 bytes are refused with the line', () => {
    const f = write(
      'latin1.jsonl',
      Buffer.concat([Buffer.from('{"text":"ok"}\n{"text":"caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]),
    );
    expect(() => readJsonl(f)).toThrow(/latin1\.jsonl: is not valid UTF-8 \(first bad byte at line 2/);
  });
});

describe('batches', () => {
  const ex = (n: number) => ({
    ids: Array.from({ length: n }, (_, i) => 10 + i),
    labels: Array.from({ length: n }, (_, i) => 10 + i),
    truncated: false,
  });
  it('right-pads with the pad id, masks padding in attention_mask and labels', () => {
    const b = collate([ex(3), ex(1)], 151643);
    expect(b.inputIds.shape).toEqual([2, 3]);
    expect(b.inputIds.toArray()).toEqual([10, 11, 12, 10, 151643, 151643]);
    expect(b.attentionMask.toArray()).toEqual([1, 1, 1, 1, 0, 0]);
    expect(b.labels.toArray()).toEqual([10, 11, 12, 10, -100, -100]);
    expect(b.tokens).toBe(4);
  });
  it('groups by length so batches hold similar lengths', () => {
    const examples = [ex(9), ex(1), ex(8), ex(2)];
    expect(planBatches(examples, 2)).toEqual([
      [1, 3],
      [2, 0],
    ]);
  });
});

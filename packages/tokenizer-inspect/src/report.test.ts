// report.test.ts — the human-readable report: aligned tables, every section, and the plain-words summary first.
import { describe, expect, it } from 'vitest';
import { writeCheckpoint } from './__fixtures__/checkpoint.js';
import { inspectCheckpoint } from './inspect.js';
import { alignTable, formatReport } from './report.js';

describe('alignTable', () => {
  it('pads each column to its widest cell (CJK counted double) and trims line ends', () => {
    expect(
      alignTable([
        ['a', 'bb', 'c'],
        ['dddd', 'e', ''],
        ['你好', 'x', 'y'],
      ]),
    ).toBe('  a     bb  c\n  dddd  e\n  你好  x   y');
  });
});

describe('formatReport', () => {
  const report = inspectCheckpoint(
    writeCheckpoint({ qwen25: true, generationConfig: { eos_token_id: [151645, 151643] } }).dir,
  );
  const text = formatReport(report);
  const lines = text.split('\n');

  it('starts with the plain-words summary', () => {
    expect(lines[2]).toBe(report.summary);
    expect(report.summary).toMatch(
      /has 151936 rows; the tokenizer uses 151665 ids .* 271 rows are padding so the vocabulary is a multiple of 128\.$/,
    );
  });

  it('shows every section with the derived numbers', () => {
    for (const title of [
      'Tokenizer',
      'Model',
      'Special tokens',
      'Chat template',
      'Added tokens',
      'Embedding row L2 norms (model.embed_tokens.weight)',
    ]) {
      expect(lines).toContain(title);
    }
    expect(text).toMatch(/^ {2}BPE vocabulary \(model\.vocab\) +151643$/m);
    expect(text).toMatch(/^ {2}added tokens +22 \(ids 151643\.\.151664, 14 special\)$/m);
    expect(text).toMatch(/^ {2}padding rows +271: 151936 = 128 × 1187: /m);
    expect(text).toMatch(/^ {2}eos +"<\|im_end\|>" \(id 151645\) +\[151645, 151643\] +\[151645, 151643\]$/m);
    expect(text).toMatch(/^ {2}format +ChatML/m);
    expect(text).toMatch(/^ {2}151644 +"<\|im_start\|>" +yes +0\.\d+ \(0\.\d\d× regular mean\)$/m);
    expect(text).toMatch(/^ {2}padding +271 +0 +0 +0$/m);
    expect(text).not.toContain('Warnings');
  });

  it('aligns the columns of a section', () => {
    const i = lines.indexOf('Special tokens');
    const header = lines[i + 1] as string;
    const col = header.indexOf('generation_config.json');
    for (const row of lines.slice(i + 2, i + 5)) expect(row[col - 1] === ' ' && row[col] !== ' ').toBe(true);
  });

  it('lists warnings and leaves out norms when there are no weights', () => {
    const t = formatReport(inspectCheckpoint(writeCheckpoint({ noWeights: true }).dir));
    expect(t).toMatch(/^Warnings\n {2}- {2}no model\.safetensors or model\.safetensors\.index\.json/m);
    expect(t).not.toContain('Embedding row L2 norms');
    expect(t).toMatch(/^ {2}embedding +no weights found$/m);
  });
});

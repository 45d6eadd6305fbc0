// errors.test.ts — bad input: each is a TsloraError (exit code 2) whose message names the file, field or position.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsloraError } from '@tslora/core-tensor';
import { describe, expect, it } from 'vitest';
import { tempDir, writeCheckpoint, writeQwenTokenizer } from './__fixtures__/checkpoint.js';
import { inspectCheckpoint } from './inspect.js';
import { loadTokenizer } from './load.js';

/** Runs `fn`, expects a TsloraError with exit code 2, returns "message\nhint". */
function userError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TsloraError);
    const e = err as TsloraError;
    expect(e.exitCode).toBe(2);
    return `${e.message}\n${e.hint ?? ''}`;
  }
  throw new Error('expected a TsloraError, nothing was thrown');
}

function tokenizerDir(editConfig?: (cfg: Record<string, unknown>) => void): string {
  const dir = tempDir();
  writeQwenTokenizer(dir);
  if (editConfig) {
    const path = join(dir, 'tokenizer_config.json');
    const cfg = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    editConfig(cfg);
    writeFileSync(path, JSON.stringify(cfg, null, 2));
  }
  return dir;
}

describe('missing files', () => {
  it('names the missing tokenizer file and says what to do', () => {
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      const dir = tokenizerDir();
      rmSync(join(dir, f));
      const msg = userError(() => loadTokenizer(dir));
      expect(msg).toContain(`${join(dir, f)}: not found`);
      expect(msg).toMatch(/copy tokenizer.json and tokenizer_config.json from the original checkpoint/);
    }
  });

  it('names a missing directory and a missing config.json', () => {
    expect(userError(() => loadTokenizer('/nonexistent/ckpt'))).toMatch(/^\/nonexistent\/ckpt: directory not found/);
    const dir = tokenizerDir();
    expect(userError(() => inspectCheckpoint(dir))).toContain(`${join(dir, 'config.json')}: not found`);
  });
});

describe('invalid JSON', () => {
  it('reports a broken tokenizer_config.json of a checkpoint by file and position', () => {
    const dir = tokenizerDir();
    const path = join(dir, 'tokenizer_config.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"eos_token": "<|im_end|>",', '"eos_token": "<|im_end|>"'));
    const msg = userError(() => loadTokenizer(dir));
    expect(msg).toMatch(
      new RegExp(`^${path}: not valid JSON at line \\d+, column \\d+ \\(character \\d+\\): Expected ',' or '}'`),
    );
    expect(msg).toContain('fix or re-download tokenizer_config.json');
  });
});

describe('tokenizer vs embedding', () => {
  it('refuses a tokenizer whose highest id has no embedding row', () => {
    const { dir } = writeCheckpoint({ vocabSize: 151600 });
    const msg = userError(() => inspectCheckpoint(dir));
    expect(msg).toMatch(
      /tokenizer.json has token id 151668 but the embedding has only 151600 rows \(ids 0..151599\): such ids would index past the embedding/,
    );
    expect(msg).toMatch(/the tokenizer and the weights come from different models/);
    // Without weights the rows come from config.vocab_size, and the check still holds.
    expect(userError(() => inspectCheckpoint(writeCheckpoint({ vocabSize: 151668, noWeights: true }).dir))).toMatch(
      /token id 151668 but the embedding has only 151668 rows/,
    );
  });

  it('refuses an embedding that disagrees with config.vocab_size', () => {
    const { dir } = writeCheckpoint({ vocabSize: 151936, embedRows: 152064 });
    expect(userError(() => inspectCheckpoint(dir))).toMatch(
      /model.safetensors: model.embed_tokens.weight has 152064 rows \(shape \[152064, 8\]\) but config.json says vocab_size 151936/,
    );
  });
});

describe('chat templates', () => {
  it('shows the template error when rendering fails', () => {
    const dir = tokenizerDir((cfg) => {
      cfg.chat_template = '{% for m in messages %}{{ m.content.nope() }}{% endfor %}';
    });
    const tok = loadTokenizer(dir);
    expect(userError(() => tok.applyChatTemplate([{ role: 'user', content: 'hi' }]))).toMatch(
      /^chat template \(tokenizer_config.json\) failed to render: Cannot call something that is not a function/,
    );
  });

  it("shows the template's own raise_exception message", () => {
    const tok = loadTokenizer(
      tokenizerDir((cfg) => {
        cfg.chat_template =
          "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation roles must start with user') }}{% endif %}";
      }),
    );
    expect(userError(() => tok.applyChatTemplate([{ role: 'assistant', content: 'x' }]))).toMatch(
      /failed to render: Conversation roles must start with user/,
    );
  });

  it('fails inspect on a template that does not render', () => {
    const { dir } = writeCheckpoint({ noWeights: true });
    const path = join(dir, 'tokenizer_config.json');
    const cfg = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    cfg.chat_template = '{{ messages.nope() }}';
    writeFileSync(path, JSON.stringify(cfg));
    expect(userError(() => inspectCheckpoint(dir))).toMatch(/chat template \(tokenizer_config.json\) failed to render/);
  });

  it('names the file of a template that does not parse', () => {
    const dir = tokenizerDir((cfg) => {
      cfg.chat_template = '{% if messages %}unclosed';
    });
    expect(userError(() => loadTokenizer(dir))).toMatch(/tokenizer_config.json: chat_template does not parse as Jinja/);
  });

  it('says so when there is no template, and inspect reports none', () => {
    const tok = loadTokenizer(
      tokenizerDir((cfg) => {
        delete cfg.chat_template;
      }),
    );
    expect(tok.chatTemplate).toBeNull();
    expect(userError(() => tok.applyChatTemplate([{ role: 'user', content: 'hi' }]))).toMatch(/no chat_template/);
  });

  it('refuses malformed messages before rendering', () => {
    const tok = loadTokenizer(tokenizerDir());
    expect(userError(() => tok.applyChatTemplate([]))).toMatch(/non-empty array/);
    expect(userError(() => tok.applyChatTemplate([{ role: 'user' } as never]))).toMatch(
      /messages\[0\] must be \{role: string, content: string\}/,
    );
  });
});

describe('tokenizer_config fields', () => {
  it('accepts eos_token/pad_token as {content} objects and chat_template as a named list', () => {
    const tok = loadTokenizer(
      tokenizerDir((cfg) => {
        cfg.eos_token = { content: '<|endoftext|>', lstrip: false, rstrip: false, special: true };
        cfg.pad_token = { content: '<|endoftext|>' };
        cfg.chat_template = [
          { name: 'tool_use', template: 'TOOLS' },
          { name: 'default', template: '{{ messages[0].content }}!' },
        ];
      }),
    );
    expect(tok.eosTokenIds).toEqual([151643]);
    expect(tok.padTokenId).toBe(151643);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('hi!');
  });

  it('refuses an eos_token of the wrong type, naming the field', () => {
    const dir = tokenizerDir((cfg) => {
      cfg.eos_token = 42;
    });
    expect(userError(() => loadTokenizer(dir))).toMatch(
      /tokenizer_config.json: eos_token must be a string or \{"content": string\}, got 42/,
    );
  });

  it('warns about a configured token that is not in the vocabulary', () => {
    const tok = loadTokenizer(
      tokenizerDir((cfg) => {
        cfg.pad_token = '<pad>';
      }),
    );
    expect(tok.padToken).toEqual({ content: '<pad>', id: null });
    expect(tok.warnings).toEqual(['pad_token "<pad>" (tokenizer_config.json) is not a token of tokenizer.json']);
  });
});

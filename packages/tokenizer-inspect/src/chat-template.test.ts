// chat-template.test.ts — the Qwen3 template against the ChatML rule and ids from the Rust reference tokenizer.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { QWEN3_TOKENIZER_DIR } from './__fixtures__/checkpoint.js';
import { ChatTemplate, describeChatTemplate, selectChatTemplate } from './chat-template.js';
import { loadTokenizer } from './load.js';

const tok = loadTokenizer(QWEN3_TOKENIZER_DIR);
// Ids written by __fixtures__/make-chat-golden.mjs with Hugging Face's Rust tokenizer (not the library under test).
const golden = JSON.parse(readFileSync(new URL('./__fixtures__/qwen3-chat-golden.json', import.meta.url), 'utf8')) as {
  messages: { role: string; content: string }[];
  ids: number[];
};

describe('Qwen3 chat template', () => {
  it('renders system + user + generation prompt as ChatML, to the reference ids', () => {
    const [sys, user] = golden.messages;
    // DESIGN §5, written out by hand: <|im_start|>{role}\n{content}<|im_end|>\n per turn, then <|im_start|>assistant\n.
    const expected =
      '<|im_start|>system\n' +
      sys?.content +
      '<|im_end|>\n' +
      '<|im_start|>user\n' +
      user?.content +
      '<|im_end|>\n' +
      '<|im_start|>assistant\n';
    expect(tok.applyChatTemplate(golden.messages, { addGenerationPrompt: true })).toBe(expected);
    expect(tok.encode(expected)).toEqual(golden.ids);
    expect(tok.applyChatTemplateIds(golden.messages, { addGenerationPrompt: true })).toEqual(golden.ids);
  });

  it('renders an empty think block when enableThinking is false, and none by default', () => {
    const msgs = [{ role: 'user', content: 'hi' }];
    expect(tok.applyChatTemplate(msgs, { addGenerationPrompt: true })).toBe(
      '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(tok.applyChatTemplate(msgs, { addGenerationPrompt: true, enableThinking: false })).toBe(
      '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
    expect(tok.applyChatTemplate(msgs)).toBe('<|im_start|>user\nhi<|im_end|>\n');
  });

  it('closes a finished assistant turn with <|im_end|> (the chat eos)', () => {
    const msgs = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: 'bye' },
    ];
    expect(tok.applyChatTemplate(msgs)).toBe(
      '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>user\nbye<|im_end|>\n',
    );
  });

  it('is described as ChatML with thinking tags, the enable_thinking switch and tools, no default system prompt', () => {
    const tpl = tok.compiledTemplate();
    expect(tpl).not.toBeNull();
    expect(describeChatTemplate(tpl as ChatTemplate)).toEqual({
      origin: 'tokenizer_config.json',
      format: 'chatml',
      defaultSystemPrompt: null,
      thinkingTags: true,
      enableThinkingSwitch: true,
      toolsSupported: true,
    });
  });
});

// Qwen2.5-Instruct's template, reduced to its no-tools branch: it inserts a default system prompt.
const QWEN25_LIKE = `{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}
{%- for message in messages %}{%- if not (message.role == 'system' and loop.first) %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}`;

describe('describeChatTemplate', () => {
  it('finds a default system prompt and no thinking in a Qwen2.5-style template', () => {
    const info = describeChatTemplate(new ChatTemplate(QWEN25_LIKE, 't.jinja', {}));
    expect(info).toEqual({
      origin: 't.jinja',
      format: 'chatml',
      defaultSystemPrompt: 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.',
      thinkingTags: false,
      enableThinkingSwitch: false,
      toolsSupported: false,
    });
  });

  it('describes a template that refuses system messages instead of failing', () => {
    const noSystem = `{%- for m in messages %}{%- if m.role == 'system' %}{{ raise_exception('System role not supported') }}{%- endif %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}`;
    const tpl = new ChatTemplate(noSystem, 'x', {});
    expect(() => tpl.render([{ role: 'system', content: 's' }])).toThrow(/System role not supported/);
    expect(describeChatTemplate(tpl)).toMatchObject({
      format: 'chatml',
      defaultSystemPrompt: null,
      thinkingTags: false,
      toolsSupported: false,
    });
  });

  it('calls a non-ChatML template "other"', () => {
    const llama = `{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}`;
    const tpl = new ChatTemplate(llama, 'x', { bos_token: '<s>' });
    expect(tpl.render([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true })).toBe(
      '<s>[user] hi\n[assistant] ',
    );
    expect(describeChatTemplate(tpl).format).toBe('other');
  });
});

describe('selectChatTemplate', () => {
  it('takes a string as is and the "default" entry of a list', () => {
    expect(selectChatTemplate('abc', 'f')).toBe('abc');
    expect(selectChatTemplate(undefined, 'f')).toBeNull();
    expect(
      selectChatTemplate(
        [
          { name: 'tool_use', template: 'T' },
          { name: 'default', template: 'D' },
        ],
        'f',
      ),
    ).toBe('D');
    expect(selectChatTemplate([{ name: 'only', template: 'O' }], 'f')).toBe('O');
  });

  it('refuses a list without a default and malformed entries', () => {
    expect(() =>
      selectChatTemplate(
        [
          { name: 'a', template: 'A' },
          { name: 'b', template: 'B' },
        ],
        'tokenizer_config.json',
      ),
    ).toThrow(/tokenizer_config.json: chat_template lists 2 templates \(a, b\) and none is named "default"/);
    expect(() => selectChatTemplate([{ name: 'a' }], 'f')).toThrow(/not every entry/);
    expect(() => selectChatTemplate(42, 'f')).toThrow(/must be a string or a list/);
  });
});

// chat-template.ts — pick, compile and render a checkpoint's own Jinja chat_template (@huggingface/jinja), and tell its kind.
import { Template } from '@huggingface/jinja';
import { FileFormatError, TsloraError } from '@tslora/core-tensor';

/** One chat turn as Hugging Face templates expect it (`tool_calls`, `reasoning_content`... pass through). */
export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

/** Options of `applyChatTemplate`, named as in `transformers` (`add_generation_prompt`, `enable_thinking`, `tools`). */
export interface ChatTemplateOptions {
  /** Append the assistant turn header (`<|im_start|>assistant\n` in ChatML). Default false. */
  addGenerationPrompt?: boolean;
  /** Qwen3 switch: `false` renders an empty `<think>\n\n</think>\n\n` block. Left undefined unless given. */
  enableThinking?: boolean;
  /** Tool (function) schemas, rendered by templates that support them. */
  tools?: unknown[];
}

/**
 * Chooses the template text from `tokenizer_config.json`'s `chat_template`, which is a string or a
 * list of `{name, template}` (then the one named "default", as transformers does).
 */
export function selectChatTemplate(field: unknown, file: string): string | null {
  if (field === undefined || field === null) return null;
  if (typeof field === 'string') return field;
  if (Array.isArray(field)) {
    const named = field.filter(
      (t): t is { name: string; template: string } =>
        t !== null &&
        typeof t === 'object' &&
        typeof (t as { name?: unknown }).name === 'string' &&
        typeof (t as { template?: unknown }).template === 'string',
    );
    if (named.length !== field.length) {
      throw new FileFormatError(
        file,
        'chat_template is a list but not every entry is {"name": string, "template": string}',
      );
    }
    const chosen = named.find((t) => t.name === 'default') ?? (named.length === 1 ? named[0] : undefined);
    if (chosen === undefined) {
      throw new FileFormatError(
        file,
        `chat_template lists ${named.length} templates (${named.map((t) => t.name).join(', ')}) and none is named "default"`,
        {
          hint: 'name one of them "default", as transformers requires',
        },
      );
    }
    return chosen.template;
  }
  throw new FileFormatError(file, `chat_template must be a string or a list of {name, template}, got ${typeof field}`);
}

/** A compiled chat template plus the special-token strings transformers passes to it. */
export class ChatTemplate {
  /** The Jinja source. */
  readonly source: string;
  /** Where the source came from (file name), for error messages. */
  readonly origin: string;
  private readonly compiled: Template;
  private readonly specialTokens: Record<string, string>;

  /** Parses `source`; a syntax error is a FileFormatError naming `origin`. */
  constructor(source: string, origin: string, specialTokens: Record<string, string>) {
    this.source = source;
    this.origin = origin;
    this.specialTokens = specialTokens;
    try {
      this.compiled = new Template(source);
    } catch (err) {
      throw new FileFormatError(origin, `chat_template does not parse as Jinja: ${errorMessage(err)}`, {
        hint: 'fix the template or copy tokenizer_config.json from the original checkpoint',
        cause: err,
      });
    }
  }

  /** Renders `messages` to the prompt string, as `tokenizer.apply_chat_template(..., tokenize=False)`. */
  render(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    checkMessages(messages);
    const vars: Record<string, unknown> = {
      ...this.specialTokens,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
    };
    // Templates test `enable_thinking is defined` and `if tools`: only set what the caller gave.
    if (opts.enableThinking !== undefined) vars.enable_thinking = opts.enableThinking;
    if (opts.tools !== undefined) vars.tools = opts.tools;
    let out: unknown;
    try {
      out = this.compiled.render(vars);
    } catch (err) {
      throw new TsloraError(`chat template (${this.origin}) failed to render: ${errorMessage(err)}`, {
        hint: 'check the messages (roles, content strings) against what this template expects, or fix the template',
        cause: err,
      });
    }
    if (typeof out !== 'string')
      throw new TsloraError(`chat template (${this.origin}) rendered ${typeof out}, not a string`);
    return out;
  }
}

function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new TsloraError('applyChatTemplate: messages must be a non-empty array of {role, content}');
  }
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object' || typeof m.role !== 'string' || typeof m.content !== 'string') {
      throw new TsloraError(
        `applyChatTemplate: messages[${i}] must be {role: string, content: string}, got ${JSON.stringify(m)}`,
      );
    }
  });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What the template does, found by rendering probe conversations (not by pattern-matching its source). */
export interface ChatTemplateInfo {
  /** File the template came from. */
  origin: string;
  /** "chatml": `<|im_start|>{role}\n{content}<|im_end|>\n` turns exactly; "chatml-like": uses `<|im_start|>` but differs; else "other". */
  format: 'chatml' | 'chatml-like' | 'other';
  /** The system prompt the template inserts when the conversation has none (Qwen2.5-Instruct: "You are Qwen, ..."). */
  defaultSystemPrompt: string | null;
  /** The template writes `<think>` / `</think>` tags (Qwen3 reasoning). */
  thinkingTags: boolean;
  /** `enable_thinking=false` changes the generation prompt (Qwen3's empty think block). */
  enableThinkingSwitch: boolean;
  /** Passing `tools` changes the output. */
  toolsSupported: boolean;
}

const PROBE_SYSTEM = 'You are a probe.';
const PROBE_USER = 'Probe question?';

/** The ChatML rendering of turns (DESIGN §5): `<|im_start|>{role}\n{content}<|im_end|>\n` each. */
export function chatml(messages: readonly { role: string; content: string }[], addGenerationPrompt: boolean): string {
  const turns = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('');
  return addGenerationPrompt ? `${turns}<|im_start|>assistant\n` : turns;
}

/**
 * Renders probe conversations through `tpl` and reports its format and features. The user-only probe
 * must render (its error propagates: the template is unusable); the others may be refused by a
 * template (e.g. one that raises on a system role) and then count as "feature absent".
 */
export function describeChatTemplate(tpl: ChatTemplate): ChatTemplateInfo {
  const user = [{ role: 'user', content: PROBE_USER }];
  const sysUser = [{ role: 'system', content: PROBE_SYSTEM }, ...user];
  const gen = { addGenerationPrompt: true };
  const userOnly = tpl.render(user, gen);
  const tryRender = (messages: ChatMessage[], opts: ChatTemplateOptions): string | null => {
    try {
      return tpl.render(messages, opts);
    } catch {
      return null;
    }
  };
  const withSystem = tryRender(sysUser, gen);
  const sys = /^<\|im_start\|>system\n([\s\S]*?)<\|im_end\|>\n/.exec(userOnly);
  const isChatml =
    userOnly === (sys?.[0] ?? '') + chatml(user, true) && (withSystem === null || withSystem === chatml(sysUser, true));
  const noThinking = tryRender(user, { ...gen, enableThinking: false });
  const tool = {
    type: 'function',
    function: { name: 'probe_tool', description: 'probe', parameters: { type: 'object', properties: {} } },
  };
  const withTools = tryRender(user, { ...gen, tools: [tool] });
  // Reasoning given as a field (not inside content), so only a template that writes think tags shows them.
  const reply = tryRender(
    [...user, { role: 'assistant', content: 'probe answer', reasoning_content: 'probe reasoning' }],
    {},
  );
  return {
    origin: tpl.origin,
    format: isChatml ? 'chatml' : userOnly.includes('<|im_start|>') ? 'chatml-like' : 'other',
    defaultSystemPrompt: sys?.[1] ?? null,
    thinkingTags: Boolean(noThinking?.includes('<think>') || reply?.includes('<think>')),
    enableThinkingSwitch: noThinking !== null && noThinking !== userOnly,
    toolsSupported: withTools !== null && withTools !== userOnly,
  };
}

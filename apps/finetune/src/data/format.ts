// data/format.ts — JSONL records → token ids and labels (−100 where the loss must not look).
//
// {"text"}: the text plus eos, every token a target. {"prompt","completion"} and {"messages"}: the
// checkpoint's own chat template; with maskPrompt every label before the completion / final
// assistant turn is −100 (the prompt is read, not learned).
import { FileFormatError } from '@tslora/core-tensor';
import type { ChatMessage, LoadedTokenizer } from '@tslora/tokenizer-inspect';
import { IGNORE_INDEX } from '../model/loss.js';
import type { JsonlRecord } from './jsonl.js';
import { type ChatThink, renderForTraining } from './think.js';

export interface Example {
  ids: number[];
  labels: number[];
  /** True when the sample was cut to maxSeqLen. */
  truncated: boolean;
}

export interface EncodeOptions {
  maxSeqLen: number;
  maskPrompt: boolean;
  /** Refuse (instead of truncate) samples longer than maxSeqLen. */
  strict?: boolean;
  /** --chat-think: the final assistant turn's empty think block (data/think.ts). Default 'auto'. */
  chatThink?: ChatThink;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);
const FORMATS = '{"text": ...}, {"prompt": ..., "completion": ...} or {"messages": [{"role", "content"}, ...]}';

type Message = ChatMessage;

function parseMessages(file: string, line: number, v: unknown): Message[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new FileFormatError(file, `line ${line}: "messages" must be a non-empty array`);
  return v.map((m, i) => {
    const r = m as Record<string, unknown>;
    if (typeof m !== 'object' || m === null || typeof r.role !== 'string' || typeof r.content !== 'string') {
      throw new FileFormatError(file, `line ${line}: messages[${i}] must be {"role": string, "content": string}`);
    }
    if (!ROLES.has(r.role)) {
      throw new FileFormatError(file, `line ${line}: messages[${i}] has unknown role "${r.role}"`, {
        hint: `roles are ${[...ROLES].join(', ')}`,
      });
    }
    return { role: r.role, content: r.content };
  });
}

/** Prompt and full token ids for one record, per its format. */
function tokenize(
  file: string,
  rec: JsonlRecord,
  tok: LoadedTokenizer,
  think: ChatThink,
): { prompt: number[]; full: number[] } {
  const v = rec.value as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new FileFormatError(file, `line ${rec.line} is not a JSON object`, { hint: `known formats: ${FORMATS}` });
  if (typeof v.text === 'string') {
    const ids = tok.encode(v.text);
    const eos = tok.eosTokenIds[0];
    return { prompt: [], full: eos === undefined ? ids : [...ids, eos] };
  }
  let messages: Message[];
  if (typeof v.prompt === 'string' && typeof v.completion === 'string') {
    messages = [
      { role: 'user', content: v.prompt },
      { role: 'assistant', content: v.completion },
    ];
  } else if (v.messages !== undefined) {
    messages = parseMessages(file, rec.line, v.messages);
  } else {
    throw new FileFormatError(
      file,
      `line ${rec.line} has none of the known formats (keys: ${Object.keys(v).join(', ') || 'none'})`,
      { hint: `known formats: ${FORMATS}` },
    );
  }
  const last = messages[messages.length - 1] as Message;
  if (last.role !== 'assistant') return { prompt: [], full: tok.applyChatTemplateIds(messages) };
  const text = renderForTraining(tok, messages, think);
  const ids = (s: string) => tok.encode(s, { addSpecialTokens: false });
  const prompt = ids(text.prompt);
  const full = ids(text.full);
  // The template must render the prompt as a prefix of the conversation, else masking is ill-defined.
  const isPrefix = prompt.length <= full.length && prompt.every((id, i) => id === full[i]);
  return { prompt: isPrefix ? prompt : [], full };
}

/** Encodes every record; `stats.truncated` counts the samples cut to maxSeqLen. */
export function encodeRecords(
  file: string,
  records: JsonlRecord[],
  tok: LoadedTokenizer,
  opts: EncodeOptions,
): { examples: Example[]; truncated: number } {
  const examples: Example[] = [];
  let truncated = 0;
  for (const rec of records) {
    const { prompt, full } = tokenize(file, rec, tok, opts.chatThink ?? 'auto');
    if (full.length < 2)
      throw new FileFormatError(
        file,
        `line ${rec.line} encodes to ${full.length} token(s); at least 2 are needed to predict one`,
      );
    let ids = full;
    let cut = false;
    if (ids.length > opts.maxSeqLen) {
      if (opts.strict)
        throw new FileFormatError(
          file,
          `line ${rec.line} has ${ids.length} tokens, more than --max-seq-len ${opts.maxSeqLen}`,
          { hint: 'raise --max-seq-len or drop --strict to truncate' },
        );
      ids = ids.slice(0, opts.maxSeqLen);
      cut = true;
      truncated++;
    }
    const masked = opts.maskPrompt ? Math.min(prompt.length, ids.length) : 0;
    const labels = ids.map((id, i) => (i < masked ? IGNORE_INDEX : id));
    examples.push({ ids, labels, truncated: cut });
  }
  return { examples, truncated };
}

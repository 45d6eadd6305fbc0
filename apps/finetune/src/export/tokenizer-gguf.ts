// export/tokenizer-gguf.ts — tokenizer.json + tokenizer_config.json → llama.cpp's tokenizer.ggml.* metadata (BPE "gpt2", pre "qwen2").
import fs from 'node:fs';
import path from 'node:path';
import { FileFormatError, type GgufMetaValue } from '@tslora/core-tensor';
import type { QwenConfig } from '../model/config.js';

/** `enum llama_token_type` values as GGUF stores them in tokenizer.ggml.token_type. */
export const TOKEN_TYPE = { normal: 1, control: 3, userDefined: 4, unused: 5 } as const;

type Json = Record<string, unknown>;

function readJson(file: string, hint: string): Json {
  if (!fs.existsSync(file)) throw new FileFormatError(file, 'is missing', { hint });
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Json;
  } catch (e) {
    throw new FileFormatError(file, `is not valid JSON (${(e as Error).message})`, { hint });
  }
}

/**
 * What llama.cpp's converter calls a special-looking added token: `<|…|>` (and the full-width
 * `<｜…｜>`) are CONTROL even when tokenizer.json marks them special=false (Qwen's `<|fim_prefix|>`).
 */
function looksSpecial(s: string): boolean {
  return (s.startsWith('<|') && s.endsWith('|>')) || (s.startsWith('<｜') && s.endsWith('｜>'));
}

interface Vocab {
  tokens: string[];
  types: number[];
  byText: Map<string, number>;
}

/** Every id 0..vocabSize−1 with its text and type; ids the tokenizer lacks become `[PAD<id>]` UNUSED, as the converter writes them. */
function buildVocab(tok: Json, file: string, vocabSize: number): Vocab {
  const model = (tok.model ?? {}) as Json;
  if (model.type !== 'BPE' || typeof model.vocab !== 'object' || model.vocab === null)
    throw new FileFormatError(file, `model.type is ${JSON.stringify(model.type)}, not a byte-level BPE with a vocab`, {
      hint: 'Qwen checkpoints ship a BPE tokenizer.json; re-download it',
    });
  const tokens: (string | undefined)[] = new Array(vocabSize);
  const types: number[] = new Array(vocabSize).fill(TOKEN_TYPE.normal);
  const put = (text: string, id: unknown, type: number): void => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize)
      throw new FileFormatError(file, `token ${JSON.stringify(text)} has id ${id}, outside 0..${vocabSize - 1}`, {
        hint: 'the tokenizer does not fit config.json vocab_size; they come from different models',
      });
    tokens[id] = text;
    types[id] = type;
  };
  for (const [text, id] of Object.entries(model.vocab as Json)) put(text, id, TOKEN_TYPE.normal);
  for (const a of (tok.added_tokens ?? []) as Json[]) {
    const text = String(a.content);
    put(text, a.id, a.special === true || looksSpecial(text) ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined);
  }
  const byText = new Map<string, number>();
  for (let id = 0; id < vocabSize; id++) {
    if (tokens[id] === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TOKEN_TYPE.unused;
    } else byText.set(tokens[id]!, id);
  }
  return { tokens: tokens as string[], types, byText };
}

/** merges as "left right" strings; tokenizer.json holds them either so or as [left, right] pairs. */
function mergesOf(tok: Json, file: string): string[] {
  const merges = ((tok.model as Json).merges ?? []) as unknown[];
  return merges.map((m, i) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string')
      return `${m[0]} ${m[1]}`;
    throw new FileFormatError(file, `model.merges[${i}] is neither "a b" nor ["a", "b"]`);
  });
}

/** A special token of tokenizer_config.json (a string or {content}) → its id, else the config.json id. */
function specialId(cfg: Json, key: string, vocab: Vocab, fallback: number | undefined): number | undefined {
  const v = cfg[key];
  const text = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as Json).content : undefined;
  if (typeof text === 'string' && vocab.byText.has(text)) return vocab.byText.get(text);
  return fallback;
}

/** The chat template string (tokenizer_config.json may hold one, or a list of named ones with a "default"). */
function chatTemplate(cfg: Json): string | undefined {
  const t = cfg.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const d = (t as Json[]).find((x) => x.name === 'default');
    return typeof d?.template === 'string' ? d.template : undefined;
  }
  return undefined;
}

/**
 * tokenizer.ggml.* and tokenizer.chat_template for a Qwen checkpoint directory: model "gpt2"
 * (byte-level BPE) with pre-tokenizer "qwen2", config.vocab_size tokens with their types, the
 * merges, bos/eos/pad ids and add_bos_token — what llama.cpp and Ollama need to tokenize and chat.
 */
export function tokenizerMetadata(dir: string, config: QwenConfig): [string, GgufMetaValue][] {
  const tokFile = path.join(dir, 'tokenizer.json');
  const hint = 'the checkpoint directory needs the tokenizer files Qwen ships (tokenizer.json, tokenizer_config.json)';
  const tok = readJson(tokFile, hint);
  const cfg = readJson(path.join(dir, 'tokenizer_config.json'), hint);
  const vocab = buildVocab(tok, tokFile, config.vocabSize);
  const out: [string, GgufMetaValue][] = [
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: 'qwen2' }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: vocab.tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: vocab.types }],
    ['tokenizer.ggml.merges', { type: 'array', itemType: 'string', value: mergesOf(tok, tokFile) }],
  ];
  const ids: [string, number | undefined][] = [
    ['bos_token_id', specialId(cfg, 'bos_token', vocab, config.bosTokenId)],
    ['eos_token_id', specialId(cfg, 'eos_token', vocab, config.eosTokenId[0])],
    ['padding_token_id', specialId(cfg, 'pad_token', vocab, undefined)],
  ];
  for (const [k, id] of ids) if (id !== undefined) out.push([`tokenizer.ggml.${k}`, { type: 'uint32', value: id }]);
  out.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: cfg.add_bos_token === true }]);
  const template = chatTemplate(cfg);
  if (template !== undefined) out.push(['tokenizer.chat_template', { type: 'string', value: template }]);
  return out;
}

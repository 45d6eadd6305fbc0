// load.ts — load a checkpoint's tokenizer (tokenizer.json via @huggingface/tokenizers, tokenizer_config.json, generation_config.json).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import {
  FileFormatError,
  type JsonObject,
  readJsonObject,
  readOptionalJsonObject,
  TsloraError,
} from '@tslora/core-tensor';
import { type ChatMessage, ChatTemplate, type ChatTemplateOptions, selectChatTemplate } from './chat-template.js';

/** One entry of tokenizer.json's `added_tokens`. */
export interface AddedTokenInfo {
  id: number;
  content: string;
  /** Special tokens are skipped by `decode(..., {skipSpecialTokens: true})`. */
  special: boolean;
}

/** A token named in tokenizer_config.json (`eos_token` etc.) and the id it maps to (null: not in the vocabulary). */
export interface TokenRef {
  content: string;
  id: number | null;
}

/** `eos_token_id` / `pad_token_id` / `bos_token_id` as generation_config.json states them (absent: null). */
export interface GenerationTokenIds {
  eos: number[] | null;
  pad: number | null;
  bos: number | null;
}

/** Options of `encode`, as transformers' `add_special_tokens` (Qwen's post-processor adds nothing either way). */
export interface EncodeOptions {
  addSpecialTokens?: boolean;
}

/** Options of `decode`, as transformers' `skip_special_tokens`. */
export interface DecodeOptions {
  skipSpecialTokens?: boolean;
}

const TOKENIZER_JSON = 'tokenizer.json';
const TOKENIZER_CONFIG = 'tokenizer_config.json';
const GENERATION_CONFIG = 'generation_config.json';
const CHAT_TEMPLATE_JINJA = 'chat_template.jinja';

/** A loaded tokenizer with the facts the inspect report needs. Build it with `loadTokenizer(dir)`. */
export class LoadedTokenizer {
  /** The checkpoint directory. */
  readonly dir: string;
  /** tokenizer.json `model.type` ("BPE" for Qwen). */
  readonly modelType: string;
  /** Entries of tokenizer.json `model.vocab` (Qwen: 151643 byte-level BPE tokens). */
  readonly modelVocabSize: number;
  /** tokenizer.json `added_tokens`, sorted by id. */
  readonly addedTokens: readonly AddedTokenInfo[];
  /** The added tokens flagged special. */
  readonly specialTokens: readonly AddedTokenInfo[];
  /** Largest id of any token (vocab or added); the embedding needs more rows than this. */
  readonly highestTokenId: number;
  /** Number of distinct ids the tokenizer can produce. */
  readonly idCount: number;
  /** tokenizer_config.json `eos_token`, `pad_token`, `bos_token`. */
  readonly eosToken: TokenRef | null;
  readonly padToken: TokenRef | null;
  readonly bosToken: TokenRef | null;
  /** generation_config.json's ids, or null when the file is absent. */
  readonly generation: GenerationTokenIds | null;
  /** Ids that end generation: tokenizer_config's eos first, then generation_config's `eos_token_id` (deduplicated). */
  readonly eosTokenIds: readonly number[];
  /** Padding id: tokenizer_config's `pad_token`, else generation_config's `pad_token_id`, else null. */
  readonly padTokenId: number | null;
  /** Qwen has no BOS: null unless configured. */
  readonly bosTokenId: number | null;
  /** The Jinja source of the chat template, or null when the checkpoint has none. */
  readonly chatTemplate: string | null;
  /** Things that are odd but usable (a generation_config id unknown to the tokenizer...). */
  readonly warnings: readonly string[];
  private readonly hf: Tokenizer;
  private readonly template: ChatTemplate | null;
  private readonly ids: ReadonlySet<number>;

  /** Use `loadTokenizer(dir)`. */
  constructor(dir: string) {
    this.dir = dir;
    const tokPath = join(dir, TOKENIZER_JSON);
    const cfgPath = join(dir, TOKENIZER_CONFIG);
    const missingHint =
      'copy tokenizer.json and tokenizer_config.json from the original checkpoint into this directory';
    const tokJson = readJsonObject(tokPath, { missingHint });
    const tokCfg = readJsonObject(cfgPath, { missingHint });
    const warnings: string[] = [];
    const model = tokJson.model;
    if (model === null || typeof model !== 'object') throw new FileFormatError(tokPath, 'has no "model" object');
    this.modelType = String((model as JsonObject).type ?? 'unknown');
    const vocabIds = readVocabIds(tokPath, (model as JsonObject).vocab);
    this.modelVocabSize = vocabIds.length;
    this.addedTokens = readAddedTokens(tokPath, tokJson.added_tokens);
    this.specialTokens = this.addedTokens.filter((t) => t.special);
    const ids = new Set<number>(vocabIds);
    for (const t of this.addedTokens) ids.add(t.id);
    this.ids = ids;
    this.idCount = ids.size;
    this.highestTokenId = maxOf(ids);
    try {
      this.hf = new Tokenizer(tokJson, tokCfg);
    } catch (err) {
      throw new FileFormatError(
        tokPath,
        `@huggingface/tokenizers cannot build it: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    this.eosToken = this.tokenRef(cfgPath, tokCfg, 'eos_token', warnings);
    this.padToken = this.tokenRef(cfgPath, tokCfg, 'pad_token', warnings);
    this.bosToken = this.tokenRef(cfgPath, tokCfg, 'bos_token', warnings);
    this.generation = readGenerationIds(join(dir, GENERATION_CONFIG));
    const eos = [this.eosToken?.id ?? null, ...(this.generation?.eos ?? [])].filter((x): x is number => x !== null);
    this.eosTokenIds = [...new Set(eos)];
    this.padTokenId = this.padToken?.id ?? this.generation?.pad ?? null;
    this.bosTokenId = this.bosToken?.id ?? this.generation?.bos ?? null;
    for (const [what, id] of [
      ...this.eosTokenIds.map((i) => ['eos', i] as const),
      ['pad', this.padTokenId] as const,
      ['bos', this.bosTokenId] as const,
    ]) {
      if (id !== null && !ids.has(id))
        warnings.push(`${what} token id ${id} (generation_config.json) is not a token of tokenizer.json`);
    }
    const jinjaPath = join(dir, CHAT_TEMPLATE_JINJA);
    // transformers lets a chat_template.jinja file override tokenizer_config.json's chat_template.
    const [source, origin] = existsSync(jinjaPath)
      ? [readFileSync(jinjaPath, 'utf8'), CHAT_TEMPLATE_JINJA]
      : [selectChatTemplate(tokCfg.chat_template, cfgPath), TOKENIZER_CONFIG];
    this.chatTemplate = source;
    this.template = source === null ? null : new ChatTemplate(source, origin, templateTokens(this));
    this.warnings = warnings;
  }

  /** Text → token ids (transformers `encode`). */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TsloraError(`encode: expected a string, got ${typeof text}`);
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /**
   * Token ids → text. Refuses ids the tokenizer does not have (e.g. padding rows of the embedding),
   * which @huggingface/tokenizers would otherwise drop silently.
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    for (const id of ids) {
      if (!this.ids.has(id)) {
        throw new TsloraError(`decode: token id ${id} is not in the tokenizer (ids 0..${this.highestTokenId})`, {
          hint: 'ids above the tokenizer but below config.vocab_size are padding rows of the embedding and have no text',
        });
      }
    }
    if (ids.length === 0) return ''; // the library rejects an empty list; transformers returns ''
    return this.hf.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  /** Renders the checkpoint's chat template (transformers `apply_chat_template(..., tokenize=False)`). */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    return this.requireTemplate().render(messages, opts);
  }

  /** Renders and tokenises without adding special tokens again, as `apply_chat_template(..., tokenize=True)`. */
  applyChatTemplateIds(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, opts), { addSpecialTokens: false });
  }

  /** The compiled template, or null when the checkpoint has none. */
  compiledTemplate(): ChatTemplate | null {
    return this.template;
  }

  /** True when `id` is a token of this tokenizer (vocab or added). */
  hasId(id: number): boolean {
    return this.ids.has(id);
  }

  /** Token string → id, or undefined. */
  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  private requireTemplate(): ChatTemplate {
    if (this.template === null) {
      throw new TsloraError(`${join(this.dir, TOKENIZER_CONFIG)}: no chat_template`, {
        hint: 'use a chat/instruct checkpoint, or add a chat_template (e.g. ChatML) to tokenizer_config.json',
      });
    }
    return this.template;
  }

  private tokenRef(file: string, cfg: JsonObject, field: string, warnings: string[]): TokenRef | null {
    const v = cfg[field];
    if (v === undefined || v === null) return null;
    const content =
      typeof v === 'string'
        ? v
        : typeof v === 'object' && typeof (v as JsonObject).content === 'string'
          ? ((v as JsonObject).content as string)
          : null;
    if (content === null)
      throw new FileFormatError(file, `${field} must be a string or {"content": string}, got ${JSON.stringify(v)}`);
    const id = this.hf.token_to_id(content) ?? null;
    if (id === null) warnings.push(`${field} "${content}" (tokenizer_config.json) is not a token of tokenizer.json`);
    return { content, id };
  }
}

/**
 * Loads `dir/tokenizer.json` and `dir/tokenizer_config.json` (both required), plus
 * `generation_config.json` and `chat_template.jinja` when present.
 * @throws TsloraError for missing files; FileFormatError (file, line, column) for bad JSON or fields.
 */
export function loadTokenizer(dir: string): LoadedTokenizer {
  if (!existsSync(dir))
    throw new TsloraError(`${dir}: directory not found`, {
      hint: 'pass the checkpoint directory (with config.json and tokenizer.json)',
    });
  return new LoadedTokenizer(dir);
}

/** Special-token strings transformers hands to every template (`bos_token`, `eos_token`, ...), when set. */
function templateTokens(t: LoadedTokenizer): Record<string, string> {
  const out: Record<string, string> = {};
  if (t.bosToken) out.bos_token = t.bosToken.content;
  if (t.eosToken) out.eos_token = t.eosToken.content;
  if (t.padToken) out.pad_token = t.padToken.content;
  return out;
}

/** Ids of `model.vocab`: an object {token: id} (BPE, WordPiece) or a list (Unigram: id = index). */
function readVocabIds(file: string, vocab: unknown): number[] {
  if (Array.isArray(vocab)) return vocab.map((_, i) => i);
  if (vocab === null || typeof vocab !== 'object')
    throw new FileFormatError(file, 'model.vocab is missing or not an object');
  const ids = Object.values(vocab as JsonObject);
  for (const id of ids) checkId(file, 'model.vocab', id);
  return ids as number[];
}

function readAddedTokens(file: string, added: unknown): AddedTokenInfo[] {
  if (added === undefined || added === null) return [];
  if (!Array.isArray(added)) throw new FileFormatError(file, 'added_tokens must be a list');
  const out = added.map((t: unknown, i): AddedTokenInfo => {
    const o = (t ?? {}) as JsonObject;
    checkId(file, `added_tokens[${i}].id`, o.id);
    if (typeof o.content !== 'string') throw new FileFormatError(file, `added_tokens[${i}].content must be a string`);
    return { id: o.id as number, content: o.content, special: o.special === true };
  });
  return out.sort((a, b) => a.id - b.id);
}

function checkId(file: string, where: string, id: unknown): void {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
    throw new FileFormatError(file, `${where}: token id ${JSON.stringify(id)} is not a non-negative integer`);
  }
}

function readGenerationIds(path: string): GenerationTokenIds | null {
  const g = readOptionalJsonObject(path);
  if (g === null) return null;
  const one = (field: string): number | null => {
    const v = g[field];
    if (v === undefined || v === null) return null;
    checkId(path, field, v);
    return v as number;
  };
  const eosField = g.eos_token_id;
  let eos: number[] | null = null;
  if (Array.isArray(eosField)) {
    eosField.forEach((v, i) => {
      checkId(path, `eos_token_id[${i}]`, v);
    });
    eos = eosField as number[];
  } else if (eosField !== undefined && eosField !== null) {
    eos = [one('eos_token_id') as number];
  }
  return { eos, pad: one('pad_token_id'), bos: one('bos_token_id') };
}

function maxOf(ids: Iterable<number>): number {
  let m = -1;
  for (const id of ids) if (id > m) m = id;
  return m;
}

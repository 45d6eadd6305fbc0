// inspect.ts — compare a checkpoint's tokenizer with its embedding matrix (vocab vs rows, padding, tying, special tokens, template).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CheckpointReader,
  FileFormatError,
  INDEX_FILE,
  readJsonObject,
  SINGLE_FILE,
  type TensorInfo,
  TsloraError,
} from '@tslora/core-tensor';
import { type ChatTemplateInfo, describeChatTemplate } from './chat-template.js';
import { type AddedTokenInfo, type LoadedTokenizer, loadTokenizer, type TokenRef } from './load.js';
import { type EmbeddingNorms, normReport } from './norm-stats.js';
import { embeddingRowNorms } from './norms.js';

export type { AddedTokenNorm, EmbeddingNorms, NormStats } from './norm-stats.js';

/** HF name of the input embedding in Qwen2/Qwen3 checkpoints. */
export const EMBED_TENSOR = 'model.embed_tokens.weight';
/** HF name of the output projection (absent when tied). */
export const LM_HEAD_TENSOR = 'lm_head.weight';

/** Options of `inspectCheckpoint`. */
export interface InspectOptions {
  /** Read the embedding rows for L2-norm statistics (default true; ignored when the checkpoint has no weights). */
  withNorms?: boolean;
}

/** eos/pad/bos as each file configures them, and the ids tslora uses. */
export interface ConfiguredTokens {
  eos: { tokenizerConfig: TokenRef | null; generationConfig: number[] | null; ids: number[] };
  pad: { tokenizerConfig: TokenRef | null; generationConfig: number | null; id: number | null };
  bos: { tokenizerConfig: TokenRef | null; generationConfig: number | null; id: number | null };
}

/** The inspect report: a plain JSON-serialisable object (print it with `formatReport`). */
export interface InspectReport {
  dir: string;
  /** The answer in plain words: rows vs tokenizer ids vs padding. */
  summary: string;
  tokenizer: {
    modelType: string;
    /** Entries of tokenizer.json `model.vocab` (the byte-level BPE tokens). */
    bpeVocabSize: number;
    addedTokens: AddedTokenInfo[];
    highestTokenId: number;
    /** highestTokenId + 1: rows the tokenizer can address. */
    usedIds: number;
    /** Distinct ids actually defined (less than usedIds when ids are skipped). */
    distinctIds: number;
  };
  config: { modelType: string | null; vocabSize: number; hiddenSize: number | null; tieWordEmbeddings: boolean | null };
  /** The embedding's safetensors header entry; null when the checkpoint has no weights. */
  embedding: { tensor: string; file: string; dtype: string; shape: number[] } | null;
  /** Embedding rows: the header's shape[0], else config.vocab_size. */
  rows: number;
  padding: { rows: number; multipleOf: number; reason: string };
  lmHead: { tied: boolean; weightPresent: boolean | null; note: string };
  specialTokens: ConfiguredTokens;
  chatTemplate: ChatTemplateInfo | null;
  norms: EmbeddingNorms | null;
  warnings: string[];
}

interface ModelConfig {
  modelType: string | null;
  vocabSize: number;
  hiddenSize: number | null;
  tieWordEmbeddings: boolean | null;
}

/**
 * Inspects checkpoint `dir` (config.json, tokenizer files, safetensors weights when present):
 * reads only the safetensors headers, plus the embedding rows row-chunk by row-chunk when `withNorms`.
 * @throws TsloraError / FileFormatError for missing or malformed files, an embedding that disagrees with
 *   config.vocab_size, or a tokenizer id the embedding has no row for.
 */
export function inspectCheckpoint(dir: string, opts: InspectOptions = {}): InspectReport {
  if (!existsSync(dir))
    throw new TsloraError(`${dir}: directory not found`, { hint: 'pass a Hugging Face checkpoint directory' });
  const config = readModelConfig(join(dir, 'config.json'));
  const tok = loadTokenizer(dir);
  const warnings = [...tok.warnings];
  const weights =
    existsSync(join(dir, SINGLE_FILE)) || existsSync(join(dir, INDEX_FILE)) ? CheckpointReader.open(dir) : null;
  try {
    const embed = weights === null ? null : weights.get(EMBED_TENSOR);
    if (embed === null)
      warnings.push(`no ${SINGLE_FILE} or ${INDEX_FILE}: embedding rows taken from config.vocab_size`);
    const embedFile = embed === null ? null : join(dir, embed.file);
    const rows = embed === null ? config.vocabSize : checkEmbedding(embedFile as string, embed.info, config);
    if (tok.highestTokenId >= rows) {
      throw new TsloraError(
        `tokenizer.json has token id ${tok.highestTokenId} but the embedding has only ${rows} rows (ids 0..${rows - 1}): such ids would index past the embedding`,
        {
          hint: 'the tokenizer and the weights come from different models; use the tokenizer files of this checkpoint (or resize the embedding)',
        },
      );
    }
    const report: InspectReport = {
      dir,
      summary: '',
      tokenizer: tokenizerFacts(tok),
      config,
      embedding:
        embed === null
          ? null
          : { tensor: EMBED_TENSOR, file: embed.file, dtype: embed.info.dtype, shape: [...embed.info.shape] },
      rows,
      padding: paddingFacts(rows, tok.highestTokenId + 1),
      lmHead: lmHeadFacts(config, weights, embed?.info ?? null, warnings),
      specialTokens: configuredTokens(tok),
      chatTemplate: templateFacts(tok),
      norms:
        opts.withNorms === false || embed === null
          ? null
          : normReport(embeddingRowNorms(embedFile as string, embed.info), tok, EMBED_TENSOR),
      warnings,
    };
    if (report.norms !== null && report.norms.nonFiniteRows > 0)
      warnings.push(`${report.norms.nonFiniteRows} embedding rows hold NaN or Inf`);
    report.summary = summarise(report);
    return report;
  } finally {
    weights?.close();
  }
}

function readModelConfig(path: string): ModelConfig {
  const c = readJsonObject(path, {
    missingHint: 'pass a Hugging Face checkpoint directory (it must hold config.json)',
  });
  const vocab = c.vocab_size;
  if (typeof vocab !== 'number' || !Number.isInteger(vocab) || vocab <= 0) {
    throw new FileFormatError(path, `vocab_size must be a positive integer, got ${JSON.stringify(vocab)}`);
  }
  const hidden = c.hidden_size;
  const tie = c.tie_word_embeddings;
  if (tie !== undefined && typeof tie !== 'boolean')
    throw new FileFormatError(path, `tie_word_embeddings must be true or false, got ${JSON.stringify(tie)}`);
  return {
    modelType: typeof c.model_type === 'string' ? c.model_type : null,
    vocabSize: vocab,
    hiddenSize: typeof hidden === 'number' ? hidden : null,
    tieWordEmbeddings: tie === undefined ? null : tie,
  };
}

/** The embedding must be (config.vocab_size, config.hidden_size); returns its row count. */
function checkEmbedding(file: string, info: TensorInfo, config: ModelConfig): number {
  const [rows, cols] = info.shape;
  if (info.shape.length !== 2 || rows === undefined || cols === undefined) {
    throw new FileFormatError(
      file,
      `${EMBED_TENSOR} has shape [${info.shape.join(', ')}], expected 2-D (vocab_size, hidden_size)`,
    );
  }
  const hint = 'config.json and the weights come from different models; re-download both from the same revision';
  if (rows !== config.vocabSize) {
    throw new FileFormatError(
      file,
      `${EMBED_TENSOR} has ${rows} rows (shape [${rows}, ${cols}]) but config.json says vocab_size ${config.vocabSize}`,
      { hint },
    );
  }
  if (config.hiddenSize !== null && cols !== config.hiddenSize) {
    throw new FileFormatError(
      file,
      `${EMBED_TENSOR} has shape [${rows}, ${cols}] but config.json says hidden_size ${config.hiddenSize}`,
      { hint },
    );
  }
  return rows;
}

function tokenizerFacts(tok: LoadedTokenizer): InspectReport['tokenizer'] {
  return {
    modelType: tok.modelType,
    bpeVocabSize: tok.modelVocabSize,
    addedTokens: tok.addedTokens.map((t) => ({ ...t })),
    highestTokenId: tok.highestTokenId,
    usedIds: tok.highestTokenId + 1,
    distinctIds: tok.idCount,
  };
}

/** Largest power of two dividing n (n > 0). */
function powerOfTwoFactor(n: number): number {
  let p = 1;
  while (n % (p * 2) === 0 && p < 2 ** 30) p *= 2;
  return p;
}

function paddingFacts(rows: number, usedIds: number): InspectReport['padding'] {
  const padding = rows - usedIds;
  const multipleOf = powerOfTwoFactor(rows);
  let reason: string;
  if (padding === 0) reason = 'none: every row is a token id';
  else if (multipleOf >= 8) {
    reason =
      `${rows} = ${multipleOf} × ${rows / multipleOf}: the vocabulary is padded to a multiple of ${multipleOf} ` +
      "(as Megatron-LM's --make-vocab-size-divisible-by) for efficient matrix shapes; the tokenizer never produces these ids, so their rows are never trained";
  } else
    reason = `${rows} rows is not a multiple of 8, so these rows are not the usual shape padding; they are unused by the tokenizer`;
  return { rows: padding, multipleOf, reason };
}

function lmHeadFacts(
  config: ModelConfig,
  weights: CheckpointReader | null,
  embed: TensorInfo | null,
  warnings: string[],
): InspectReport['lmHead'] {
  // Qwen2Config and Qwen3Config default tie_word_embeddings to false.
  const tied = config.tieWordEmbeddings ?? false;
  const setting =
    config.tieWordEmbeddings === null
      ? 'tie_word_embeddings not set, Qwen default false'
      : `tie_word_embeddings ${tied}`;
  if (weights === null || embed === null)
    return { tied, weightPresent: null, note: `${tied ? 'tied' : 'untied'} (${setting}); no weights to check` };
  const lmHead = weights.tensors.get(LM_HEAD_TENSOR)?.info ?? null;
  if (lmHead !== null && (lmHead.shape[0] !== embed.shape[0] || lmHead.shape[1] !== embed.shape[1])) {
    warnings.push(
      `${LM_HEAD_TENSOR} has shape [${lmHead.shape.join(', ')}] but ${EMBED_TENSOR} has [${embed.shape.join(', ')}]`,
    );
  }
  if (tied) {
    const stored = lmHead !== null ? `; ${LM_HEAD_TENSOR} is stored but ignored` : `; no ${LM_HEAD_TENSOR} stored`;
    return { tied, weightPresent: lmHead !== null, note: `tied: logits use ${EMBED_TENSOR} (${setting})${stored}` };
  }
  if (lmHead === null) {
    warnings.push(`${setting} but the weights have no ${LM_HEAD_TENSOR}: the model cannot compute logits`);
    return { tied, weightPresent: false, note: `untied but ${LM_HEAD_TENSOR} is missing (${setting})` };
  }
  return { tied, weightPresent: true, note: `separate ${LM_HEAD_TENSOR} (${setting})` };
}

function configuredTokens(tok: LoadedTokenizer): ConfiguredTokens {
  const g = tok.generation;
  return {
    eos: { tokenizerConfig: tok.eosToken, generationConfig: g?.eos ?? null, ids: [...tok.eosTokenIds] },
    pad: { tokenizerConfig: tok.padToken, generationConfig: g?.pad ?? null, id: tok.padTokenId },
    bos: { tokenizerConfig: tok.bosToken, generationConfig: g?.bos ?? null, id: tok.bosTokenId },
  };
}

function templateFacts(tok: LoadedTokenizer): ChatTemplateInfo | null {
  const tpl = tok.compiledTemplate();
  return tpl === null ? null : describeChatTemplate(tpl);
}

/** The plain-words answer: derived from the report's numbers, never written in. */
export function summarise(r: Pick<InspectReport, 'embedding' | 'rows' | 'tokenizer' | 'padding'>): string {
  const t = r.tokenizer;
  const head =
    r.embedding === null
      ? `config.vocab_size is ${r.rows} (no weights found)`
      : `Embedding(${r.embedding.shape.join(', ')}) has ${r.rows} rows`;
  const ids =
    `the tokenizer uses ${t.usedIds} ids (${t.bpeVocabSize} BPE tokens + ${t.addedTokens.length} added tokens, highest id ${t.highestTokenId})` +
    (t.distinctIds < t.usedIds ? `, of which ${t.usedIds - t.distinctIds} below the highest are undefined` : '');
  let tail: string;
  if (r.padding.rows === 0) tail = 'every row is a token';
  else if (r.padding.multipleOf >= 8)
    tail = `the remaining ${r.padding.rows} rows are padding so the vocabulary is a multiple of ${r.padding.multipleOf}`;
  else tail = `the remaining ${r.padding.rows} rows are unused by the tokenizer`;
  return `${head}; ${ids}; ${tail}.`;
}

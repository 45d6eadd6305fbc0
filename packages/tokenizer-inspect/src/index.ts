// index.ts — the public entry of @tslora/tokenizer-inspect: load a checkpoint's tokenizer, render its chat template, report vocab vs embedding.

/** This package's npm name (lets tools and the packaging test check which build they loaded). */
export const name = '@tslora/tokenizer-inspect';

// ---- chat template ----
export {
  type ChatMessage,
  ChatTemplate,
  type ChatTemplateInfo,
  type ChatTemplateOptions,
  chatml,
  describeChatTemplate,
  selectChatTemplate,
} from './chat-template.js';
// ---- inspect report ----
export {
  type ConfiguredTokens,
  EMBED_TENSOR,
  type InspectOptions,
  type InspectReport,
  inspectCheckpoint,
  LM_HEAD_TENSOR,
  summarise,
} from './inspect.js';
// ---- tokenizer ----
export {
  type AddedTokenInfo,
  type DecodeOptions,
  type EncodeOptions,
  type GenerationTokenIds,
  LoadedTokenizer,
  loadTokenizer,
  type TokenRef,
} from './load.js';
export type { AddedTokenNorm, EmbeddingNorms, NormStats } from './norm-stats.js';
export { embeddingRowNorms } from './norms.js';
export { alignTable, formatReport } from './report.js';

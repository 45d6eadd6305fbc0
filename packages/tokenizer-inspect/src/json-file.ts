// json-file.ts — read a checkpoint's JSON files with errors that name the file, line and column.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { FileFormatError, TsloraError } from '@tslora/core-tensor';

/** A parsed JSON object (the checkpoint files this package reads are all objects at the top). */
export type JsonObject = Record<string, unknown>;

/**
 * Reads and parses `path` as a JSON object.
 * Missing file → TsloraError naming it; bad JSON → FileFormatError with line:column (and byte offset).
 */
export function readJsonObject(path: string, hint?: string): JsonObject {
  if (!existsSync(path)) {
    throw new TsloraError(`${path}: file not found`, {
      hint: hint ?? `check that ${basename(path)} exists in the checkpoint directory`,
    });
  }
  const text = readFileSync(path, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const pos = jsonErrorPosition(text, err);
    const { line, column } = lineColumn(text, pos);
    // Drop V8's position (given as line:column instead) and its quoted snippet of the text (multi-line, noisy).
    const reason =
      err instanceof Error
        ? err.message
            .replace(/ in JSON at position \d+.*$/s, '')
            .replace(
              /^Unexpected token '([\s\S]{1,2})', [\s\S]* is not valid JSON$/,
              (_, t: string) => `Unexpected token ${JSON.stringify(t)}`,
            )
        : String(err);
    throw new FileFormatError(
      path,
      `invalid JSON at line ${line}, column ${column} (character ${pos}): ${shorten(reason)}`,
      {
        hint: `fix or re-download ${basename(path)}`,
        cause: err,
      },
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FileFormatError(
      path,
      `expected a JSON object at the top level, got ${Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  return value as JsonObject;
}

/** Reads `path` if it exists (else null). Same errors as `readJsonObject` for a file that is there. */
export function readOptionalJsonObject(path: string): JsonObject | null {
  return existsSync(path) ? readJsonObject(path) : null;
}

/** V8's message for long input embeds a snippet of the whole text; keep the user's terminal readable. */
function shorten(s: string): string {
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

/**
 * Character offset of a JSON.parse failure. V8 names it ("at position N") for most errors; for
 * "Unexpected end" it is the end; for "Unexpected token 'x'" it does not, so binary-search the
 * shortest failing prefix: a prefix that stops before the bad character only fails with
 * "unexpected end" (or at its own end), one that contains it fails earlier.
 */
function jsonErrorPosition(text: string, err: unknown): number {
  const at = errorOffset(err);
  if (at !== null) return at;
  if (err instanceof Error && /Unexpected end of JSON input/.test(err.message)) return text.length;
  let lo = 1;
  let hi = text.length; // the whole text fails before its end
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (failsInside(text.slice(0, mid))) hi = mid;
    else lo = mid + 1;
  }
  return hi - 1;
}

function errorOffset(err: unknown): number | null {
  const m = err instanceof Error ? / at position (\d+)/.exec(err.message) : null;
  return m?.[1] === undefined ? null : Number(m[1]);
}

function failsInside(prefix: string): boolean {
  try {
    JSON.parse(prefix);
    return false;
  } catch (err) {
    if (err instanceof Error && /Unexpected end of JSON input/.test(err.message)) return false;
    const at = errorOffset(err);
    return at === null || at < prefix.length;
  }
}

/** 1-based line and column of character offset `pos`. */
function lineColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

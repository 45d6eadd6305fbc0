// io/json-file.ts — the one reader of JSON files (configs, indexes, adapter configs): errors name the file, line and column.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { FileFormatError } from '../errors.js';

/** A parsed JSON object (every JSON file tslora reads is an object at the top). */
export type JsonObject = Record<string, unknown>;

export interface ReadJsonOptions {
  /** Hint for a file that is missing or cannot be read (default: check that it exists). */
  missingHint?: string;
  /** Hint for a file that is not a JSON object (default: fix or re-download it). */
  hint?: string;
}

/**
 * Reads and parses `path` as a JSON object; returns it with the text (for checks JSON.parse cannot make,
 * e.g. duplicate keys). Every failure is a FileFormatError (exit 2) naming the file: "not found",
 * "cannot read (EACCES)", "not valid JSON at line L, column C (character P): reason", or a top level that
 * is not an object.
 */
export function readJsonFile(path: string, opts: ReadJsonOptions = {}): { json: JsonObject; text: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FileFormatError(path, code === 'ENOENT' ? 'not found' : `cannot read (${code ?? String(err)})`, {
      hint: opts.missingHint ?? `check that ${basename(path)} exists and is readable`,
      cause: err,
    });
  }
  const hint = opts.hint ?? `fix or re-download ${basename(path)}`;
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
      `not valid JSON at line ${line}, column ${column} (character ${pos}): ${shorten(reason)}`,
      { hint, cause: err },
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FileFormatError(
      path,
      `expected a JSON object at the top level, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
      { hint },
    );
  }
  return { json: value as JsonObject, text };
}

/** `readJsonFile(path, opts).json`. */
export function readJsonObject(path: string, opts: ReadJsonOptions = {}): JsonObject {
  return readJsonFile(path, opts).json;
}

/** Reads `path` if it exists (else null). Same errors as `readJsonObject` for a file that is there. */
export function readOptionalJsonObject(path: string, opts: ReadJsonOptions = {}): JsonObject | null {
  return existsSync(path) ? readJsonObject(path, opts) : null;
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

// io/json-file.test.ts — the JSON-file reader: errors name the file and the line:column of the bad character.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileFormatError } from '../errors.js';
import { readJsonFile, readJsonObject, readOptionalJsonObject } from './json-file.js';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'json-file-'));

/** Runs `fn`, expects a FileFormatError (exit code 2), returns "message\nhint". */
function userError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FileFormatError);
    const e = err as FileFormatError;
    expect(e.exitCode).toBe(2);
    return `${e.message}\n${e.hint ?? ''}`;
  }
  throw new Error('expected a FileFormatError, nothing was thrown');
}

describe('invalid JSON', () => {
  const write = (text: string): string => {
    const path = join(tempDir(), 'x.json');
    writeFileSync(path, text);
    return path;
  };

  it('names file, line and column when V8 gives a position', () => {
    const path = write('{\n  "a": 1,\n  "b": 2,\n}\n'); // trailing comma: the error is the "}" on line 4, column 1
    expect(userError(() => readJsonObject(path))).toMatch(
      new RegExp(
        `^${path}: not valid JSON at line 4, column 1 \\(character 22\\): Expected double-quoted property name`,
      ),
    );
  });

  it('finds the position when V8 does not name it ("Unexpected token")', () => {
    const path = write('{\n  "ok": true,\n  "bad": tru,\n  "c": 1\n}'); // "tru," fails at the ","
    expect(userError(() => readJsonObject(path))).toMatch(
      /not valid JSON at line 3, column 13 \(character 28\): Unexpected token ","$/m,
    );
    const path2 = write('{"a": [1, x]}');
    const path3 = write('{\n  "a": tru\n}'); // the bad character is the newline
    expect(userError(() => readJsonObject(path3))).toMatch(
      /line 2, column 11 \(character 12\): Unexpected token "\\n"$/m,
    );
    expect(userError(() => readJsonObject(path2))).toMatch(
      /line 1, column 11 \(character 10\): Unexpected token "x"$/m,
    );
  });

  it('handles truncated files and non-object tops', () => {
    expect(userError(() => readJsonObject(write('{"a": [1, 2')))).toMatch(/line 1, column 12 \(character 11\)/);
    expect(userError(() => readJsonObject(write('')))).toMatch(
      /line 1, column 1 \(character 0\): Unexpected end of JSON input/,
    );
    expect(userError(() => readJsonObject(write('[1, 2]')))).toMatch(
      /expected a JSON object at the top level, got an array/,
    );
  });
});

describe('reading', () => {
  it('returns the object and its text; a missing or unreadable file is named, with the hint given', () => {
    const dir = tempDir();
    const path = join(dir, 'config.json');
    writeFileSync(path, '{"a": {"b": [1, 2]}}');
    expect(readJsonFile(path)).toEqual({ json: { a: { b: [1, 2] } }, text: '{"a": {"b": [1, 2]}}' });
    expect(readOptionalJsonObject(join(dir, 'absent.json'))).toBeNull();
    expect(readOptionalJsonObject(path)).toEqual({ a: { b: [1, 2] } });
    const missing = userError(() => readJsonObject(join(dir, 'absent.json'), { missingHint: 'copy it over' }));
    expect(missing).toBe(`${join(dir, 'absent.json')}: not found\ncopy it over`);
    const sub = join(dir, 'sub.json');
    mkdirSync(sub);
    expect(userError(() => readJsonObject(sub))).toMatch(
      /sub\.json: cannot read \(EISDIR\)\ncheck that sub\.json exists/,
    );
  });

  it('a bad file gets the hint given, or "fix or re-download"', () => {
    const path = join(tempDir(), 'x.json');
    writeFileSync(path, 'null');
    expect(userError(() => readJsonObject(path))).toMatch(/got null\nfix or re-download x\.json$/);
    expect(userError(() => readJsonObject(path, { hint: 're-save the adapter' }))).toMatch(/\nre-save the adapter$/);
  });
});

// data/jsonl.test.ts — where --data / --valid point: files, data directories, and refusals whose hint names the right flag.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectRefusal } from '../../test/refusal.js';
import { EVAL_DATA, readJsonl, resolveDataPaths, resolveEvalPath, VALID_DATA } from './jsonl.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jsonl-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const dir = (name: string, files: string[]) => {
  const d = path.join(tmp, name);
  fs.mkdirSync(d);
  for (const f of files) fs.writeFileSync(path.join(d, f), `{"text": "${f}"}\n`);
  return d;
};

const refusal = expectRefusal;

describe('readJsonl: a path that is not a JSONL file', () => {
  it('a missing --valid file: the hint is about --valid, not --data', () => {
    const f = path.join(tmp, 'nope.jsonl');
    const e = refusal(() => readJsonl(f, VALID_DATA));
    expect(e.message).toBe(`--valid ${f} does not exist`);
    expect(e.hint).toBe('pass --valid a .jsonl file, or drop --valid to use valid.jsonl beside train.jsonl');
    expect(refusal(() => readJsonl(f)).hint).toMatch(/^pass --data a \.jsonl file or a directory with train\.jsonl/);
  });

  it('a directory is refused by name (it was EISDIR, an internal error)', () => {
    const d = dir('a-dir', []);
    expect(refusal(() => readJsonl(d, VALID_DATA)).message).toBe(`--valid ${d} is a directory, not a JSONL file`);
    expect(refusal(() => readJsonl(d, EVAL_DATA)).hint).toBe(
      'pass --data a .jsonl file or a directory with test.jsonl',
    );
  });
});

describe('data directories', () => {
  it('train: train.jsonl and valid.jsonl beside it; an explicit --valid wins', () => {
    const d = dir('train-valid', ['train.jsonl', 'valid.jsonl', 'test.jsonl']);
    expect(resolveDataPaths(d)).toEqual({ train: path.join(d, 'train.jsonl'), valid: path.join(d, 'valid.jsonl') });
    expect(resolveDataPaths(d, '/x/v.jsonl').valid).toBe('/x/v.jsonl');
  });

  it("eval: a directory's test.jsonl (mlx-lm --test), a file as given", () => {
    const d = dir('with-test', ['train.jsonl', 'valid.jsonl', 'test.jsonl']);
    expect(resolveEvalPath(d)).toBe(path.join(d, 'test.jsonl'));
    expect(readJsonl(resolveEvalPath(d), EVAL_DATA)[0]?.value).toEqual({ text: 'test.jsonl' });
    expect(resolveEvalPath(path.join(d, 'valid.jsonl'))).toBe(path.join(d, 'valid.jsonl'));
  });

  it('eval: a directory without test.jsonl is refused, pointing at valid.jsonl when there is one', () => {
    const d = dir('no-test', ['train.jsonl', 'valid.jsonl']);
    const e = refusal(() => resolveEvalPath(d));
    expect(e.message).toBe(`data directory ${d} has no test.jsonl`);
    expect(e.hint).toContain(`pass --data ${path.join(d, 'valid.jsonl')}`);
    expect(refusal(() => resolveEvalPath(dir('empty', []))).hint).toBe(
      'put test.jsonl in the directory, or pass --data a .jsonl file',
    );
  });
});

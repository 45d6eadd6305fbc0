// io/replace-dir.test.ts — replaceDir moves a new directory in and the old one out, leaving no leftovers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { replaceDir } from './replace-dir.js';

function dirWith(p: string, file: string, text: string): void {
  fs.mkdirSync(p, { recursive: true });
  fs.writeFileSync(path.join(p, file), text);
}

describe('replaceDir', () => {
  it('renames into a new place, and replaces an existing directory whole, leaving nothing beside it', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tslora-replace-'));
    const out = path.join(root, 'out');
    dirWith(path.join(root, '.out.tmp-1'), 'a.txt', 'first');
    replaceDir(path.join(root, '.out.tmp-1'), out);
    expect(fs.readdirSync(out)).toEqual(['a.txt']);
    dirWith(path.join(root, '.out.tmp-2'), 'b.txt', 'second');
    replaceDir(path.join(root, '.out.tmp-2'), out);
    expect(fs.readdirSync(out)).toEqual(['b.txt']);
    expect(fs.readFileSync(path.join(out, 'b.txt'), 'utf8')).toBe('second');
    expect(fs.readdirSync(root)).toEqual(['out']);
    fs.rmSync(root, { recursive: true, force: true });
  });
});

// model/load.test.ts — what --model must be: refusals that say what was passed and what to pass instead.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectRefusal } from '../../test/refusal.js';
import { readConfig } from './load.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'load-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const refusal = expectRefusal;

describe('readConfig: the --model directory', () => {
  it('a weights file instead of its directory: "is a file; pass its directory", naming the directory', () => {
    const d = path.join(tmp, 'ckpt');
    fs.mkdirSync(d);
    const f = path.join(d, 'model.safetensors');
    fs.writeFileSync(f, 'x');
    const e = refusal(() => readConfig(f));
    expect(e.message).toBe(`--model ${f} is a file; pass its directory`);
    expect(e.hint).toMatch(new RegExp(`^use --model ${d} \\(`));
  });

  it('a directory without config.json names the directory and says what belongs in it', () => {
    const d = path.join(tmp, 'empty');
    fs.mkdirSync(d);
    const e = refusal(() => readConfig(d));
    expect(e.message).toBe(`model directory ${d} has no config.json`);
    expect(e.hint).toMatch(/config\.json, the \*\.safetensors and tokenizer\.json/);
    expect(refusal(() => readConfig(path.join(tmp, 'nope'))).message).toMatch(/does not exist$/);
  });
});

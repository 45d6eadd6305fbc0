// fs-util.test.ts — output paths: an --out under a file is a usage error naming that file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TsloraError } from '@tslora/core-tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { checkOutDir } from './fs-util.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fs-util-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('checkOutDir', () => {
  it('--out below a file (data.jsonl/run/x) names the file instead of leaking ENOTDIR', () => {
    const file = path.join(tmp, 'data.jsonl');
    fs.writeFileSync(file, '{}\n');
    let err: unknown;
    try {
      checkOutDir(path.join(file, 'run', 'x'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TsloraError);
    expect((err as TsloraError).exitCode).toBe(2);
    expect((err as TsloraError).message).toBe(
      `output path ${path.join(file, 'run', 'x')} is inside ${file}, which is a file`,
    );
    expect(() => checkOutDir(path.join(tmp, 'new', 'dir'))).not.toThrow();
  });
});

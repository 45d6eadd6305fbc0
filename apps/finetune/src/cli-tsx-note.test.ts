// cli-tsx-note.test.ts — the warning for the `tsx` CLI wrapper, whose Ctrl-C relay SIGKILLs a busy child.
import { describe, expect, it } from 'vitest';
import { tsxWrapperNote } from './cli.js';

// The execArgv of a child started by `tsx src/cli.ts …` (tsx 4) and by `node --import tsx src/cli.ts …`.
const underTsxCli = [
  '--require',
  '/repo/node_modules/.pnpm/tsx@4.23.15/node_modules/tsx/dist/preflight.cjs',
  '--import',
  'file:///repo/node_modules/.pnpm/tsx@4.23.15/node_modules/tsx/dist/loader.mjs',
];
const underNodeImport = ['--import', 'tsx'];

describe('tsxWrapperNote', () => {
  it('warns for the long-running commands under the tsx CLI only', () => {
    expect(tsxWrapperNote(underTsxCli, 'train')).toMatch(/^note: running under the tsx CLI, which SIGKILLs/);
    expect(tsxWrapperNote(underTsxCli, 'demo')).toBeDefined();
    expect(tsxWrapperNote(underTsxCli, 'inspect')).toBeUndefined();
    expect(tsxWrapperNote(underNodeImport, 'train')).toBeUndefined();
    expect(tsxWrapperNote([], 'train')).toBeUndefined();
  });
});

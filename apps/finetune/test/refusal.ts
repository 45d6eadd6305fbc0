// test/refusal.ts — a user's mistake refused the CLI's way: a TsloraError with exit code 2.
import { TsloraError } from '@tslora/core-tensor';
import { expect } from 'vitest';

/** Runs `fn`, expects it to throw a TsloraError with exit code 2 (and a hint when asked), returns it. */
export function expectRefusal(fn: () => unknown, opts: { hint?: boolean } = {}): TsloraError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TsloraError);
    expect((e as TsloraError).exitCode).toBe(2);
    if (opts.hint) expect((e as TsloraError).hint).toBeTruthy();
    return e as TsloraError;
  }
  throw new Error('not refused');
}

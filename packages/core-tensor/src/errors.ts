// errors.ts — typed errors that carry what went wrong and what the user can do about it.

/**
 * Base class of every error tslora raises on purpose. `hint` says what to do;
 * `exitCode` lets the CLI map user mistakes (2) apart from runtime failures (1).
 */
export class TsloraError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: 1 | 2;
  constructor(message: string, opts: { hint?: string; exitCode?: 1 | 2; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 2;
  }
}

/** Shape, dtype or argument mismatch at a public op; names the op and the shapes involved. */
export class ShapeError extends TsloraError {}

/** A file (checkpoint, config, data) that cannot be read as what it claims to be; names the file. */
export class FileFormatError extends TsloraError {
  readonly file: string;
  constructor(file: string, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(`${file}: ${message}`, { ...opts, exitCode: 2 });
    this.file = file;
  }
}

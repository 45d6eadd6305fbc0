#!/usr/bin/env node
// cli.ts — the `finetune` command: dispatch, --help, and the one place errors become exit codes.
//
// Exit codes: 0 ok, 1 runtime failure, 2 bad input or usage. A user's mistake prints
// `error: …` and `hint: …`, never a stack trace (set TSLORA_DEBUG=1 to see one).
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FileFormatError, TsloraError } from '@tslora/core-tensor';
import { closest } from 'fastest-levenshtein';
import type { Command, Io } from './cli/command.js';
import { helpText, parseFlags, withDefaults } from './cli/flags.js';
import { COMMANDS } from './commands/index.js';

/** Usage text for `finetune --help`. */
export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: finetune <command> [flags]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `finetune <command> --help` for the flags of one command.',
    'Exit codes: 0 ok, 1 runtime failure, 2 bad input or usage.',
  ].join('\n');
}

function makeIo(json: boolean): Io {
  return {
    json,
    out: (s) => process.stdout.write(`${s}\n`),
    note: (s) => {
      if (!json) process.stderr.write(`${s}\n`);
    },
  };
}

/** Plain words for the errno codes of a write that ran out of room. */
function writeFailure(code: string | undefined): { what: string; hint: string } | undefined {
  const kept = 'the previous files were kept and nothing partial was left';
  if (code === 'ENOSPC')
    return {
      what: 'no space left on device',
      hint: `free disk space (or choose --out on a larger disk) and run again; ${kept}`,
    };
  if (code === 'EDQUOT')
    return { what: 'disk quota exceeded', hint: `free space within your quota and run again; ${kept}` };
  if (code === 'EFBIG')
    return {
      what: 'file too large for the file-size limit (ulimit -f)',
      hint: `raise the limit (ulimit -f unlimited) and run again; ${kept}`,
    };
  return undefined;
}

/** What an error says to the user: the `error:` and `hint:` text, the exit code, and a stack worth showing. */
interface Described {
  error: string;
  hint: string;
  code: number;
  stack?: string | undefined;
}

const PATH_PROBLEMS: Record<string, string> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'is not a directory, or a file sits where a parent directory should be',
  EISDIR: 'is a directory where a file was expected',
};

function describeError(e: unknown, command?: string): Described {
  if (e instanceof TsloraError) {
    // Every error gets a hint line; a file error without its own hint at least points at the file.
    const hint =
      e.hint ??
      (e instanceof FileFormatError
        ? `fix or replace ${e.file}`
        : `see finetune ${command ? `${command} ` : ''}--help`);
    // A failed write wrapped by the library: say in words what the errno means.
    const why = writeFailure((e.cause as NodeJS.ErrnoException | undefined)?.code);
    return {
      error: `${why ? `${why.what}: ` : ''}${e.message}`,
      hint: why ? why.hint : hint,
      code: e.exitCode,
      stack: e.stack,
    };
  }
  const err = e as NodeJS.ErrnoException;
  const why = writeFailure(err?.code);
  if (why) return { error: `${why.what} (${err.path ?? err.message})`, hint: why.hint, code: 1 };
  // A path the user gave that the command did not check itself: still their mistake, not a bug.
  const pathProblem = err?.path && err.code ? PATH_PROBLEMS[err.code] : undefined;
  if (pathProblem)
    return {
      error: `${err.path} ${pathProblem} (${err.code})`,
      hint: `check the paths given to ${command ? `finetune ${command}` : 'the command'} (see its --help)`,
      code: 2,
      stack: err.stack,
    };
  if (err?.code === 'EACCES' || err?.code === 'EPERM' || err?.code === 'EROFS')
    return {
      error: `cannot write ${err.path ?? ''}: ${err.code}`,
      hint: 'choose a writable output directory',
      code: 1,
    };
  return {
    error: `internal error: ${err?.message ?? String(e)}`,
    hint: 'this is a bug in tslora; rerun with TSLORA_DEBUG=1 and report the stack trace',
    code: 1,
    stack: err?.stack,
  };
}

/**
 * Turns any error into an `error:` and a `hint:` line on stderr and an exit code. With `json`
 * (the command's --json) stdout also gets one `{"error", "hint", "exit_code"}` object, so a
 * script reading stdout always gets the one JSON object the contract promises.
 */
export function reportError(e: unknown, command?: string, json = false): number {
  const d = describeError(e, command);
  process.stderr.write(`error: ${d.error}\nhint: ${d.hint}\n`);
  if (process.env.TSLORA_DEBUG && d.stack) process.stderr.write(`${d.stack}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ error: d.error, hint: d.hint, exit_code: d.code })}\n`);
  return d.code;
}

/** Runs the CLI on `argv` (without node and script path); resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`${usage()}\n`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const command: Command | undefined = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const best = closest(
      name,
      COMMANDS.map((c) => c.name),
    );
    process.stderr.write(`error: unknown command "${name}"\nhint: did you mean "${best}"? see finetune --help\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${helpText(command.name, command.summary, command.flags, command.details)}\n`);
    return 0;
  }
  try {
    const typed = parseFlags(command.name, rest, command.flags);
    const values = command.ownDefaults ? typed : withDefaults(command.name, typed, command.flags);
    const code = await command.run(values, makeIo(values.json === true));
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    return reportError(e, command.name, rest.includes('--json') && command.flags.json !== undefined);
  }
}

/**
 * A closed terminal or reader (EIO on a pty whose window closed, EPIPE on a pipe whose reader —
 * pnpm, `| head` — went away) must not kill a run that is finishing its step and saving: without
 * a listener the stream's 'error' is an uncaught exception. Output is dropped instead.
 */
export function dropOutputOnClosedStreams(): void {
  const gone = new Set(['EPIPE', 'EIO', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (!gone.has(e.code ?? '')) throw e;
    });
}

/**
 * The `tsx` CLI (`npx tsx src/cli.ts …`) runs this file in a child whose Ctrl-C it relays, then
 * SIGKILLs the child if it has not answered within ~60 ms, as a process busy in a training step
 * cannot: the run would be lost. Say so before a long-running command starts.
 */
export function tsxWrapperNote(execArgv: readonly string[], command: string | undefined): string | undefined {
  if (command !== 'train' && command !== 'demo') return undefined;
  if (!execArgv.some((a) => /[\\/]tsx[\\/]dist[\\/]preflight\.cjs$/.test(a))) return undefined;
  return 'note: running under the tsx CLI, which SIGKILLs this process when Ctrl-C comes during a step longer than ~60 ms (no checkpoint); use `pnpm finetune …` or `node --import tsx apps/finetune/src/cli.ts …` instead';
}

// Run when executed directly (bin, `node --import tsx`), not when imported by tests.
const invoked = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invoked === realpathSync(fileURLToPath(import.meta.url))) {
  dropOutputOnClosedStreams();
  const note = tsxWrapperNote(process.execArgv, process.argv[2]);
  const quiet = ['--json', '--help', '-h'].some((f) => process.argv.includes(f));
  if (note && !quiet) process.stderr.write(`${note}\n`);
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

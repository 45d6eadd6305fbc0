#!/usr/bin/env node
// cli.ts — the `finetune` command: parses the command name, prints usage, maps mistakes to exit 2.
//
// This first version only knows the command table of DESIGN §7; the commands themselves land as the
// model, data and training code does. Exit codes: 0 ok, 1 runtime failure, 2 bad input or usage.
import { closest } from 'fastest-levenshtein';

/** One `finetune` sub-command and the one-line summary shown by `--help`. */
interface CommandInfo {
  readonly name: string;
  readonly summary: string;
}

/** The commands of the CLI contract (DESIGN §7), in the order a user meets them. */
export const COMMANDS: readonly CommandInfo[] = [
  { name: 'init-tiny', summary: 'write a small random Qwen-style checkpoint with the real Qwen tokenizer' },
  { name: 'train', summary: 'LoRA (or full) fine-tuning on JSONL data; writes a PEFT adapter' },
  { name: 'merge', summary: 'merge an adapter into the base weights' },
  { name: 'eval', summary: 'mean loss per target token and perplexity on a JSONL file' },
  { name: 'generate', summary: 'sample text from a model (optionally with an adapter), with a KV cache' },
  { name: 'inspect', summary: 'config, parameter counts and the tokenizer vs embedding report' },
  { name: 'demo', summary: 'init-tiny, train, merge, check and generate on a bundled dataset' },
];

/** Usage text for `finetune --help`. */
export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'usage: finetune <command> [flags]',
    '',
    'commands:',
    ...lines,
    '',
    'Run `finetune <command> --help` for the flags of one command.',
    'Exit codes: 0 ok, 1 runtime failure, 2 bad input or usage.',
  ].join('\n');
}

/** Runs the CLI on `argv` (without node and script path); returns the process exit code. */
export function main(argv: readonly string[]): number {
  const [command] = argv;
  if (command === undefined) {
    process.stderr.write(`${usage()}\n`);
    return 2;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const known = COMMANDS.find((c) => c.name === command);
  if (!known) {
    const suggestion = closest(
      command,
      COMMANDS.map((c) => c.name),
    );
    process.stderr.write(
      `error: unknown command "${command}"\nhint: did you mean "${suggestion}"? See finetune --help\n`,
    );
    return 2;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`usage: finetune ${known.name} [flags]\n\n${known.summary}\n`);
    return 0;
  }
  process.stderr.write(
    `error: "${known.name}" is not available in this build of @tslora/finetune yet\n` +
      'hint: the command table is in place; its implementation lands with the model and training code\n',
  );
  return 1;
}

process.exitCode = main(process.argv.slice(2));

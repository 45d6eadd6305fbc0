// cli/command.ts — the shape of one `finetune` command and the output channels it writes to.
import type { FlagSpecs, FlagValues } from './flags.js';

export interface Io {
  /** Results (text, or one JSON object with --json). */
  out(s: string): void;
  /** Progress and notes (stderr), silent with --json unless they are errors. */
  note(s: string): void;
  json: boolean;
}

export interface Command {
  name: string;
  summary: string;
  flags: FlagSpecs;
  /** `run` gets only the flags typed and fills defaults itself (train: --config and --resume come between). */
  ownDefaults?: boolean;
  /** More text for `--help`, after the flags (what the command can and cannot do). */
  details?: string;
  /** Resolves to an exit code other than 0 when the command ended early on purpose (130: interrupted). */
  run(values: FlagValues, io: Io): unknown;
}

/** Typed accessors for parsed flag values (they were validated against the spec already). */
export const str = (v: FlagValues, k: string): string => v[k] as string;
export const optStr = (v: FlagValues, k: string): string | undefined => v[k] as string | undefined;
export const num = (v: FlagValues, k: string): number => v[k] as number;
export const bool = (v: FlagValues, k: string): boolean => v[k] === true;

/** The flags of every command that runs a (possibly adapted) model: --model, --adapter. */
export const MODEL_FLAGS: FlagSpecs = {
  model: { kind: 'string', required: true, help: 'checkpoint directory' },
  adapter: { kind: 'string', help: 'PEFT adapter directory to apply' },
};

// cli/flags.ts — typed flag specs for each command: parsing, defaults, ranges, help text, suggestions.
import { parseArgs } from 'node:util';
import { TsloraError } from '@tslora/core-tensor';
import { closest, distance } from 'fastest-levenshtein';
import { foreignFlagHint } from './flag-aliases.js';

export type FlagKind = 'string' | 'int' | 'number' | 'boolean';

export interface FlagSpec {
  kind: FlagKind;
  help: string;
  default?: string | number | boolean;
  /** Inclusive bounds for numbers; `exclusiveMin` for "> 0" style checks. */
  min?: number;
  max?: number;
  exclusiveMin?: boolean;
  exclusiveMax?: boolean;
  choices?: readonly string[];
  required?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValues = Record<string, string | number | boolean | undefined>;

/** A usage error: exit code 2 with a hint. */
export function usageError(message: string, hint?: string): TsloraError {
  return new TsloraError(message, { hint, exitCode: 2 });
}

function describeRange(s: FlagSpec): string {
  const lo = s.min === undefined ? '' : `${s.exclusiveMin ? '>' : '≥'} ${s.min}`;
  const hi = s.max === undefined ? '' : `${s.exclusiveMax ? '<' : '≤'} ${s.max}`;
  return [lo, hi].filter(Boolean).join(' and ');
}

function convert(name: string, s: FlagSpec, raw: string | boolean): string | number | boolean {
  if (s.kind === 'boolean') return raw === true || raw === 'true';
  if (typeof raw !== 'string') throw usageError(`--${name} needs a value`);
  if (s.kind === 'string') {
    if (s.choices && !s.choices.includes(raw))
      throw usageError(`--${name} must be one of ${s.choices.join(', ')}, got "${raw}"`);
    return raw;
  }
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (s.kind === 'int' && !Number.isInteger(v))) {
    throw usageError(`--${name} must be ${s.kind === 'int' ? 'an integer' : 'a number'}, got "${raw}"`);
  }
  return v;
}

/** Range and choice checks for a value from any source (flag, config file or default). */
export function checkValue(name: string, s: FlagSpec, v: unknown, source = `--${name}`): void {
  if (v === undefined) return;
  if (
    s.kind === 'boolean' ? typeof v !== 'boolean' : s.kind === 'string' ? typeof v !== 'string' : typeof v !== 'number'
  ) {
    throw usageError(
      `${source} must be ${s.kind === 'boolean' ? 'true or false' : s.kind === 'string' ? 'a string' : 'a number'}, got ${JSON.stringify(v)}`,
    );
  }
  if (typeof v === 'number') {
    const bad =
      (s.kind === 'int' && !Number.isInteger(v)) ||
      (s.min !== undefined && (s.exclusiveMin ? v <= s.min : v < s.min)) ||
      (s.max !== undefined && (s.exclusiveMax ? v >= s.max : v > s.max));
    if (bad)
      throw usageError(`${source} must be ${s.kind === 'int' ? 'an integer ' : ''}${describeRange(s)}, got ${v}`);
  }
  if (typeof v === 'string' && s.choices && !s.choices.includes(v)) {
    throw usageError(`${source} must be one of ${s.choices.join(', ')}, got "${v}"`);
  }
}

/**
 * Parses argv against the specs. Unknown flags get the closest known one suggested; values are
 * converted and range-checked; missing required flags are named. Defaults are NOT applied here
 * (a --config file sits between flags and defaults); see withDefaults.
 */
export function parseFlags(command: string, argv: readonly string[], specs: FlagSpecs): FlagValues {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, s] of Object.entries(specs)) options[name] = { type: s.kind === 'boolean' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: false,
      allowNegative: true,
    } as Parameters<typeof parseArgs>[0]);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /Unknown option '(-{1,2}[^']+)'/.exec(msg);
    if (m) {
      const given = (m[1] as string).replace(/^-+/, '');
      const names = Object.keys(specs);
      const best = closest(given, names);
      const near = distance(given, best) <= Math.max(2, Math.floor(given.length / 3)) ? `did you mean --${best}? ` : '';
      const foreign = foreignFlagHint(given, names);
      const hint = foreign ? `${foreign}; ` : near;
      throw usageError(`finetune ${command}: unknown flag ${m[1]}`, `${hint}see finetune ${command} --help`);
    }
    // `--lr -1e-3`: parseArgs will not take a value that looks like a flag; say how to write it.
    const ambiguous = /Option '(--[^']+)' argument is ambiguous/.exec(msg);
    if (ambiguous) {
      const flag = ambiguous[1] as string;
      throw usageError(
        `finetune ${command}: the value after ${flag} starts with "-", so it reads as a flag`,
        `write ${flag}=VALUE (for example ${flag}=-1) to pass a value that starts with "-"`,
      );
    }
    throw usageError(`finetune ${command}: ${msg.split('\n')[0]}`, `see finetune ${command} --help`);
  }
  const out: FlagValues = {};
  for (const [name, raw] of Object.entries(parsed.values)) {
    const s = specs[name] as FlagSpec;
    const v = convert(name, s, raw as string | boolean);
    checkValue(name, s, v);
    out[name] = v;
  }
  return out;
}

/** Fills defaults and checks required flags. */
export function withDefaults(command: string, values: FlagValues, specs: FlagSpecs): FlagValues {
  const out: FlagValues = { ...values };
  for (const [name, s] of Object.entries(specs)) {
    if (out[name] === undefined && s.default !== undefined) out[name] = s.default;
    if (out[name] === undefined && s.required)
      throw usageError(`finetune ${command}: --${name} is required`, `see finetune ${command} --help`);
  }
  return out;
}

/** The `--help` text of one command: one line per flag with its default. */
export function helpText(command: string, summary: string, specs: FlagSpecs, details?: string): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const arg =
      s.kind === 'boolean'
        ? `--${name}`
        : `--${name} ${s.choices ? s.choices.join('|') : s.kind === 'string' ? 'VALUE' : 'N'}`;
    const def = s.required
      ? ' (required)'
      : s.default !== undefined && s.default !== false
        ? ` (default: ${s.default})`
        : '';
    return [arg, `${s.help}${def}`] as const;
  });
  const w = Math.max(...rows.map(([a]) => a.length));
  return [
    `usage: finetune ${command} [flags]`,
    '',
    summary,
    '',
    'flags:',
    ...rows.map(([a, h]) => `  ${a.padEnd(w)}  ${h}`),
    ...(details ? ['', details] : []),
  ].join('\n');
}

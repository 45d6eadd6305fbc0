// cli/flag-aliases.test.ts — mlx-lm / PEFT / HF Trainer flag names get our flag suggested; the table cannot go stale.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TsloraError } from '@tslora/core-tensor';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../commands/index.js';
import { resolveTrainOptions } from '../commands/train-options.js';
import { FOREIGN_FLAGS, foreignFlagHint } from './flag-aliases.js';
import { parseFlags } from './flags.js';

const flagsOf = (name: string) => {
  const c = COMMANDS.find((x) => x.name === name);
  if (!c) throw new Error(`no command ${name}`);
  return c.flags;
};

/** The hint of the usage error parseFlags throws for `argv` on `command`. */
function hintFor(command: string, argv: string[]): string {
  try {
    parseFlags(command, argv, flagsOf(command));
  } catch (e) {
    expect(e).toBeInstanceOf(TsloraError);
    expect((e as TsloraError).exitCode).toBe(2);
    return (e as TsloraError).hint ?? '';
  }
  throw new Error(`parseFlags accepted ${argv.join(' ')}`);
}

describe('foreign flag names', () => {
  it.each([
    // mlx_lm.lora's argparse names (mlx_lm/lora.py build_parser)
    ['train', '--learning-rate', '--lr'],
    ['train', '--num-layers', '--layers'],
    ['train', '--steps-per-eval', '--eval-every'],
    ['train', '--adapter-path', '--out'],
    ['train', '--max-seq-length', '--max-seq-len'],
    ['train', '--resume-adapter-file', '--resume'],
    // PEFT's LoraConfig fields, written as flags, with - or _
    ['train', '--lora-rank', '--rank'],
    ['train', '--lora_alpha', '--alpha'],
    ['train', '--lora-dropout', '--dropout'],
    ['train', '--target_modules', '--targets'],
    // HF TrainingArguments
    ['train', '--num_train_epochs', '--epochs'],
    ['train', '--gradient_accumulation_steps', '--grad-accum'],
    ['train', '--output_dir', '--out'],
    // mlx_lm.generate
    ['generate', '--temp', '--temperature'],
    ['eval', '--max-seq-length', '--max-seq-len'],
  ])('%s %s → did you mean %s?', (command, given, ours) => {
    const hint = hintFor(command, [given, '1']);
    expect(hint).toContain(`did you mean ${ours}? (${given} is `);
    expect(hint).toContain(`see finetune ${command} --help`);
  });

  it('flags with no one-to-one equivalent say what to do instead', () => {
    expect(hintFor('train', ['--test'])).toMatch(/--test is mlx-lm's; here run `finetune eval --data DIR`/);
    expect(hintFor('train', ['--optimizer', 'adam'])).toMatch(/always AdamW/);
    expect(hintFor('train', ['--train'])).toMatch(/`finetune train` is the command/);
  });

  it('an alias is offered only where the command has the flag; typos still get the nearest flag', () => {
    expect(foreignFlagHint('learning-rate', Object.keys(flagsOf('inspect')))).toBeUndefined();
    expect(hintFor('inspect', ['--learning-rate', '1'])).not.toMatch(/--lr/);
    expect(hintFor('train', ['--rnak', '4'])).toBe('did you mean --rank? see finetune train --help');
    expect(foreignFlagHint('no-such-flag', Object.keys(flagsOf('train')))).toBeUndefined();
  });

  it("every alias points at a flag some command has, and is not itself one of that command's flags", () => {
    const all = new Map(COMMANDS.map((c) => [c.name, Object.keys(c.flags)]));
    for (const [name, a] of Object.entries(FOREIGN_FLAGS)) {
      if (!('flag' in a)) continue;
      const owners = [...all].filter(([, flags]) => flags.includes(a.flag)).map(([c]) => c);
      expect(owners, `--${name} → --${a.flag}`).not.toEqual([]);
      for (const c of owners) expect(all.get(c), `--${name} is a real flag of ${c}`).not.toContain(name);
    }
  });

  it('--config keys spelled as mlx-lm writes them in its YAML get the same answer', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliases-'));
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, '{"learning_rate": 1e-5}');
    expect(() => resolveTrainOptions({ config: file })).toThrow(
      expect.objectContaining({
        hint: "did you mean --lr? (--learning_rate is mlx-lm's name for it); see finetune train --help",
      }),
    );
    fs.writeFileSync(file, '{"rnak": 4}');
    expect(() => resolveTrainOptions({ config: file })).toThrow(
      expect.objectContaining({ hint: 'did you mean "rank"? see finetune train --help' }),
    );
    fs.rmSync(dir, { recursive: true });
  });
});

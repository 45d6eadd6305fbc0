// rough-edges.reliability.test.ts — what a new user trips over in the first hour (issue 20, points 3, 4, 9):
// paths that are files, directories or missing where the command wanted the other; LoRA shapes the
// model cannot hold; flag names from mlx-lm / PEFT / the HF Trainer; misfit adapters. Each is exit 2,
// one error line naming what was passed, a hint saying what to pass, nothing written.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectRefusedWritingNothing,
  makeBaseAndData,
  runMain,
  runMainOk,
  sampleRecords,
  tempWorkspace,
  trainArgv,
  writeJsonl,
} from './harness.js';

const ws = tempWorkspace('edges', "a new user's rough edges: user paths, run limits, flag names, misfits");
const { root, base, data, ledger } = ws;
const adapter = path.join(root, 'adapter');
const oldRun = path.join(root, 'old-run');
const other = path.join(root, 'other-base');
const splits = path.join(root, 'splits'); // train/valid/test.jsonl, as mlx-examples ships them
const noTest = path.join(root, 'no-test'); // train/valid.jsonl only
const weights = path.join(base, 'model.safetensors');
const out = path.join(root, 'out');

beforeAll(async () => {
  await makeBaseAndData(ws, 8);
  await runMainOk(trainArgv({ model: base, data, out: adapter }));
  await runMainOk(trainArgv({ model: base, data, out: oldRun }));
  await runMainOk(['init-tiny', '--out', other, '--hidden', '64', '--intermediate', '128']);
  for (const [dir, names] of [
    [splits, ['train', 'valid', 'test']],
    [noTest, ['train', 'valid']],
  ] as const)
    for (const [i, n] of names.entries()) writeJsonl(path.join(dir, `${n}.jsonl`), sampleRecords(6 + 2 * i));
});

interface Case {
  name: string;
  argv: string[];
  error: RegExp;
  hint: RegExp;
}

const hintOf = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('hint: ')) ?? '';

async function refuse(c: Case, group: string): Promise<void> {
  const { r, line } = await expectRefusedWritingNothing(root, c.argv, [c.error]);
  const hint = hintOf(r.stderr);
  expect(hint, r.stderr).toMatch(c.hint);
  expect(r.stderr.split('\n').filter((l) => l.startsWith('error: '))).toHaveLength(1);
  ledger.add(`${group}: ${c.name} | exit ${r.code} | ${line.replaceAll(root, '…')} | ${hint.replaceAll(root, '…')}`);
}

/** train argv on the shared base and data into `out`, plus `extra`. */
const train = (...extra: string[]) => trainArgv({ model: base, data, out }, ...extra);

const PATH_CASES = (): Case[] => [
  {
    name: 'eval --data DIR without test.jsonl (was: internal error EISDIR)',
    argv: ['eval', '--model', base, '--data', noTest],
    error: /data directory .*no-test has no test\.jsonl$/,
    hint: /pass --data .*no-test\/valid\.jsonl/,
  },
  {
    name: 'train --valid DIR (was: internal error EISDIR)',
    argv: train('--valid', splits),
    error: /--valid .*splits is a directory, not a JSONL file/,
    hint: /^hint: pass --valid a \.jsonl file/,
  },
  {
    name: 'train --valid nope.jsonl: the hint is about --valid',
    argv: train('--valid', path.join(root, 'nope.jsonl')),
    error: /--valid .*nope\.jsonl does not exist/,
    hint: /^hint: pass --valid .*drop --valid/,
  },
  {
    name: 'train --force into a finished run with a missing --data (was: the run deleted, then refused)',
    argv: trainArgv({ model: base, data: path.join(root, 'typo.jsonl'), out: oldRun }, '--force'),
    error: /--data .*typo\.jsonl does not exist/,
    hint: /^hint: pass --data a \.jsonl file or a directory/,
  },
  {
    name: 'train --config DIR',
    argv: train('--config', splits),
    error: /--config .*splits is a directory$/,
    hint: /a JSON file of options/,
  },
  ...['eval', 'generate', 'inspect', 'train', 'merge'].map((cmd) => ({
    name: `${cmd} --model …/model.safetensors`,
    argv: {
      eval: ['eval', '--model', weights, '--data', data],
      generate: ['generate', '--model', weights, '--prompt', 'hi'],
      inspect: ['inspect', '--model', weights],
      train: trainArgv({ model: weights, data, out }),
      merge: ['merge', '--model', weights, '--adapter', adapter, '--out', out],
    }[cmd] as string[],
    error: /--model .*base\/model\.safetensors is a file; pass its directory$/,
    hint: new RegExp(`^hint: use --model ${base} \\(`),
  })),
  ...['eval', 'generate', 'merge'].map((cmd) => ({
    name: `${cmd} --adapter …/adapter_model.safetensors`,
    argv: {
      eval: ['eval', '--model', base, '--adapter', path.join(adapter, 'adapter_model.safetensors'), '--data', data],
      generate: [
        'generate',
        '--model',
        base,
        '--adapter',
        path.join(adapter, 'adapter_model.safetensors'),
        '--prompt',
        'hi',
      ],
      merge: ['merge', '--model', base, '--adapter', path.join(adapter, 'adapter_model.safetensors'), '--out', out],
    }[cmd] as string[],
    error: /adapter path .*adapter_model\.safetensors is a file; pass its directory$/,
    hint: new RegExp(`use ${adapter} if it is the adapter directory`),
  })),
  {
    name: 'train --resume FILE (was: internal error ENOTDIR, after --out was created)',
    argv: train('--resume', data),
    error: /--resume .*data\.jsonl is a file$/,
    hint: /checkpoints\/step-N/,
  },
  {
    name: 'train --resume a missing directory (was: --out created, then refused)',
    argv: train('--resume', path.join(root, 'no-such-run')),
    error: /--resume .*no-such-run does not exist$/,
    hint: /pass a run directory/,
  },
  ...[
    ['train', train()],
    ['init-tiny', ['init-tiny', '--out', path.join(data, 'x')]],
    ['merge', ['merge', '--model', base, '--adapter', adapter, '--out', path.join(data, 'x')]],
    ['explain', ['explain', '--out', path.join(data, 'x')]],
    ['demo', ['demo', '--out', path.join(data, 'x')]],
  ].map(([cmd, argv]) => ({
    name: `${cmd} --out data.jsonl/x (was: internal error ENOTDIR)`,
    argv: (cmd === 'train' ? trainArgv({ model: base, data, out: path.join(data, 'x') }) : argv) as string[],
    error: /data\.jsonl/,
    hint: /--out|check the paths/,
  })),
];

describe('user paths of the wrong kind: exit 2, the path named, what to pass instead, nothing written', () => {
  it('each command refuses files, directories and missing paths given where the other was wanted', async () => {
    for (const c of PATH_CASES()) await refuse(c, 'path');
  });

  it('eval --data DIR scores DIR/test.jsonl (as mlx-lm --test), the same numbers as --data DIR/test.jsonl', async () => {
    const d = await runMainOk(['eval', '--model', base, '--data', splits, '--json']);
    const f = await runMainOk(['eval', '--model', base, '--data', path.join(splits, 'test.jsonl'), '--json']);
    expect(JSON.parse(d.stdout)).toEqual(JSON.parse(f.stdout));
    expect(JSON.parse(d.stdout).samples).toBe(10); // test.jsonl's 10 records, not valid's 8 or train's 6
    const text = await runMainOk(['eval', '--model', base, '--data', splits]);
    expect(text.stderr).toContain(`note: scoring ${path.join(splits, 'test.jsonl')}`);
    ledger.add(`path: eval --data DIR with test.jsonl | exit 0 | scores DIR/test.jsonl: ${d.stdout.trim()}`);
  });

  it('generate --prompt "": refused raw (nothing to continue), accepted with --chat (the template is a prompt)', async () => {
    const raw = await runMain(['generate', '--model', base, '--prompt', '']);
    expect(raw.code).toBe(2);
    expect(raw.stderr).toMatch(/^error: --prompt is empty/m);
    const chat = await runMainOk([
      'generate',
      '--model',
      base,
      '--prompt',
      '',
      '--chat',
      '--max-tokens',
      '3',
      '--json',
    ]);
    expect(JSON.parse(chat.stdout).ids).toHaveLength(3);
    ledger.add(`path: generate --prompt "" | exit 2 raw, exit 0 with --chat (3 tokens) | ${raw.stderr.split('\n')[0]}`);
  });
});

describe('LoRA shapes the model cannot hold: refused before the model loads and before --out is touched', () => {
  const cases = (): Case[] => [
    {
      name: '--rank 16 on hidden 32 (k_proj is 32 → 16)',
      argv: train('--rank', '16'),
      error: /--rank 16 is not below min\(in, out\) = 16 of k_proj \(32 → 16\)/,
      hint: /--fine-tune-type full/,
    },
    {
      name: '--rank 100000 (was: 3 min for 3 steps and 8.7 GB)',
      argv: train('--rank', '100000'),
      error: /--rank 100000 is not below/,
      hint: /use --rank below 16/,
    },
    {
      name: '--layers 10 on a 2-layer model',
      argv: train('--layers', '10'),
      error: /--layers 10 is more than the model's 2 decoder layers/,
      hint: /use --layers 2 or fewer/,
    },
    {
      name: '--targets q_proj,vproj (was: an empty --out left behind)',
      argv: train('--targets', 'q_proj,vproj'),
      error: /--targets "vproj": not a Linear layer of the model/,
      hint: /did you mean "v_proj"\?/,
    },
    {
      name: '--targets lm_head',
      argv: train('--targets', 'lm_head'),
      error: /embeddings and lm_head are never LoRA targets/,
      hint: /--fine-tune-type full/,
    },
    {
      name: '--rank 512 --force into a finished run (its files untouched)',
      argv: trainArgv({ model: base, data, out: oldRun }, '--rank', '512', '--force'),
      error: /--rank 512 is not below/,
      hint: /--rank below 16/,
    },
  ];
  it('rank ≥ min(in, out), layers beyond the model, unknown targets', async () => {
    for (const c of cases()) await refuse(c, 'limit');
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('messages', () => {
  const flags: [string, string, RegExp][] = [
    ['--learning-rate', '1e-4', /did you mean --lr\? \(--learning-rate is mlx-lm's name for it\)/],
    ['--num-layers', '2', /did you mean --layers\?/],
    ['--steps-per-eval', '10', /did you mean --eval-every\?/],
    ['--adapter-path', 'x', /did you mean --out\?/],
    ['--max-seq-length', '64', /did you mean --max-seq-len\?/],
    ['--lora-rank', '4', /did you mean --rank\? \(--lora-rank is PEFT's name for it\)/],
    ['--lora_alpha', '8', /did you mean --alpha\?/],
    ['--lora-dropout', '0.1', /did you mean --dropout\?/],
    ['--test', '', /here run `finetune eval --data DIR`/],
  ];
  it("mlx-lm's and PEFT's flag names are answered with ours", async () => {
    for (const [flag, value, hint] of flags) {
      const argv = [...train(), flag, ...(value ? [value] : [])];
      await refuse({ name: flag, argv, error: new RegExp(`unknown flag ${flag}$`), hint }, 'flag');
    }
  });

  it('merge into a non-empty --out: the hint names --force', async () => {
    await refuse(
      {
        name: 'merge --out non-empty',
        argv: ['merge', '--model', base, '--adapter', adapter, '--out', oldRun],
        error: /old-run exists and is not empty/,
        hint: /pass --force to replace it/,
      },
      'message',
    );
  });

  it('an adapter of another base: five mismatches and a count, not a 4,000-character list', async () => {
    // 2 layers × 7 modules: eval checks lora_A and lora_B of each (28), merge each base weight (14)
    for (const [total, argv] of [
      [2 * 7 * 2, ['eval', '--model', other, '--adapter', adapter, '--data', data]],
      [2 * 7, ['merge', '--model', other, '--adapter', adapter, '--out', out]],
    ] as const) {
      const { r, line } = await expectRefusedWritingNothing(root, argv, [/does not fit/]);
      expect(line).toMatch(new RegExp(`${total} problems: `));
      expect(line).toMatch(new RegExp(`; … and ${total - 5} more$`));
      expect(line.length).toBeLessThan(1000);
      ledger.add(
        `message: misfit adapter (${argv[0]}) | exit ${r.code} | ${line.length} chars | ${line.replaceAll(root, '…').slice(0, 160)}…`,
      );
    }
  });
});

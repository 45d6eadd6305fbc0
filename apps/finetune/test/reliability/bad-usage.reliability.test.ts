// bad-usage.reliability.test.ts — bad flags and bad data through the CLI: exit 2, a line that says what and where, nothing written.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectCleanError,
  expectRefusedWritingNothing,
  makeBaseAndData,
  runMain,
  runMainOk,
  tempWorkspace,
  trainArgv,
  writeJsonl,
} from './harness.js';

const ws = tempWorkspace('usage', 'bad flags and bad data');
const { root, base, data, ledger } = ws;

beforeAll(async () => {
  await makeBaseAndData(ws, 8);
});

/** `train` with the shared model and data and a fresh --out, plus `extra` flags. */
const train = (out: string, ...extra: string[]) => trainArgv({ model: base, data, out }, ...extra);

interface FlagCase {
  name: string;
  argv: (out: string) => string[];
  error: RegExp;
  hint?: RegExp;
}

const FLAG_CASES: FlagCase[] = [
  { name: 'unknown command', argv: () => ['trian'], error: /unknown command "trian"/, hint: /did you mean "train"/ },
  {
    name: 'unknown flag (typo)',
    argv: (o) => train(o, '--rnak', '4'),
    error: /unknown flag --rnak/,
    hint: /did you mean --rank\?/,
  },
  {
    name: 'unknown flag (typo, merge)',
    argv: (o) => ['merge', '--model', base, '--adapter', base, '--out', o, '--dtyp', 'f32'],
    error: /unknown flag --dtyp/,
    hint: /did you mean --dtype\?/,
  },
  {
    name: 'flag of another command',
    argv: () => ['inspect', '--model', base, '--lr', '1'],
    error: /finetune inspect: unknown flag --lr/,
  },
  {
    name: 'rank 0',
    argv: (o) => train(o, '--rank', '0'),
    error: /--rank must be an integer ≥ 1, got 0/,
    hint: /see finetune train --help/,
  },
  { name: 'negative lr (--lr=-1e-3)', argv: (o) => train(o, '--lr=-1e-3'), error: /--lr must be > 0, got -0\.001/ },
  {
    name: 'negative lr (--lr -1e-3)',
    argv: (o) => train(o, '--lr', '-1e-3'),
    error: /the value after --lr starts with "-"/,
    hint: /write --lr=VALUE/,
  },
  { name: 'lr 0', argv: (o) => train(o, '--lr', '0'), error: /--lr must be > 0, got 0/ },
  { name: 'dropout 1', argv: (o) => train(o, '--dropout', '1'), error: /--dropout must be ≥ 0 and < 1, got 1/ },
  { name: 'dropout 1.5', argv: (o) => train(o, '--dropout', '1.5'), error: /--dropout must be ≥ 0 and < 1, got 1\.5/ },
  {
    name: 'batch size 2.5',
    argv: (o) => train(o, '--batch-size', '2.5'),
    error: /--batch-size must be an integer, got "2\.5"/,
  },
  { name: 'lr not a number', argv: (o) => train(o, '--lr', 'fast'), error: /--lr must be a number, got "fast"/ },
  { name: 'lr Infinity', argv: (o) => train(o, '--lr', 'Infinity'), error: /--lr must be a number, got "Infinity"/ },
  {
    name: 'max-seq-len 1',
    argv: (o) => train(o, '--max-seq-len', '1'),
    error: /--max-seq-len must be an integer ≥ 2, got 1/,
  },
  {
    name: 'schedule not a choice',
    argv: (o) => train(o, '--schedule', 'exp'),
    error: /--schedule must be one of cosine, linear, constant, got "exp"/,
  },
  { name: '--iters with --epochs', argv: (o) => train(o, '--epochs', '1'), error: /--iters and --epochs conflict/ },
  {
    name: '--fine-tune-type full with --rank',
    argv: (o) => train(o, '--fine-tune-type', 'full', '--rank', '4'),
    error: /--rank\/--alpha\/--rslora apply to LoRA/,
  },
  {
    name: '--warmup ≥ --iters',
    argv: (o) => train(o, '--warmup', '5'),
    error: /--warmup 5 must be smaller than --iters 1/,
  },
  { name: 'required flag missing', argv: (o) => ['train', '--model', base, '--out', o], error: /--data is required/ },
  { name: 'flag without its value', argv: (o) => [...train(o), '--rank'], error: /--rank/ },
  { name: 'positional argument', argv: (o) => [...train(o), 'extra'], error: /extra/ },
  {
    name: 'generate --top-p 0',
    argv: () => ['generate', '--model', base, '--prompt', 'hi', '--top-p', '0'],
    error: /--top-p must be > 0 and ≤ 1, got 0/,
  },
  {
    name: 'generate --temperature=-1',
    argv: () => ['generate', '--model', base, '--prompt', 'hi', '--temperature=-1'],
    error: /--temperature must be ≥ 0, got -1/,
  },
  {
    name: 'merge --dtype f8',
    argv: (o) => ['merge', '--model', base, '--adapter', base, '--out', o, '--dtype', 'f8'],
    error: /--dtype must be one of auto, bf16, f16, f32, got "f8"/,
  },
  {
    name: 'init-tiny --vocab-size too small',
    argv: (o) => ['init-tiny', '--out', o, '--vocab-size', '1000'],
    error: /--vocab-size 1000 is smaller than the Qwen tokenizer/,
  },
  {
    name: 'init-tiny --hidden not a multiple of --heads',
    argv: (o) => ['init-tiny', '--out', o, '--hidden', '30', '--heads', '4'],
    error: /--hidden 30 must be a multiple of --heads 4/,
  },
];

describe('bad flags: exit 2, the flag named, a hint, nothing written', () => {
  it.each(FLAG_CASES)('$name', async (c) => {
    const { r, line } = await expectRefusedWritingNothing(root, c.argv(path.join(root, 'flag-out')), [c.error]);
    if (c.hint) expect(r.stderr).toMatch(c.hint);
    ledger.add(
      `flag: ${c.name} | exit ${r.code} | ${line} | ${r.stderr.split('\n').find((l) => l.startsWith('hint:'))}`,
    );
  });

  it('--config: unknown key, bad JSON, out-of-range value', async () => {
    const cfg = (name: string, text: string) => {
      const f = path.join(root, 'configs', name);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, text);
      return f;
    };
    const cases: [string, RegExp][] = [
      [cfg('unknown.json', '{"rnak": 4}'), /unknown.json: unknown option "rnak"/],
      [cfg('broken.json', '{"rank": 4,'), /broken.json: not valid JSON at line 1, column 12 \(character 11\)/],
      [cfg('range.json', '{"dropout": 2}'), /range.json: "dropout" must be ≥ 0 and < 1, got 2/],
      [cfg('type.json', '{"lr": "fast"}'), /type.json: "lr" must be a number, got "fast"/],
    ];
    for (const [file, error] of cases) {
      const out = path.join(root, 'cfg-out');
      const r = await runMain([...train(out), '--config', file]);
      const line = expectCleanError(r, 2, error);
      expect(fs.existsSync(out)).toBe(false);
      ledger.add(`flag: --config ${path.basename(file)} | exit ${r.code} | ${line}`);
    }
  });
});

interface DataCase {
  name: string;
  /** File content: records (JSON-encoded per line) or raw bytes. */
  content: unknown[] | Buffer | null;
  error: RegExp;
  /** --max-seq-len of the run (32 unless given). */
  maxSeqLen?: number;
  extra?: string[];
}

const DATA_CASES: DataCase[] = [
  { name: 'empty file', content: Buffer.alloc(0), error: /is empty \(no JSON lines\)/ },
  { name: 'blank lines only', content: Buffer.from('\n  \n\n'), error: /is empty \(no JSON lines\)/ },
  {
    name: 'a non-JSON line',
    content: [{ text: 'a b' }, { text: 'c d' }, '{"text": "unterminated'],
    error: /line 3 is not valid JSON/,
  },
  {
    name: 'a line of no known format',
    content: [{ text: 'a b' }, { question: 'q', answer: 'a' }],
    error: /line 2 has none of the known formats \(keys: question, answer\)/,
  },
  {
    name: 'a JSON line that is not an object',
    content: [{ text: 'a b' }, [1, 2]],
    error: /line 2 is not a JSON object/,
  },
  {
    name: 'messages with an unknown role',
    content: [
      {
        messages: [
          { role: 'wizard', content: 'x' },
          { role: 'assistant', content: 'y' },
        ],
      },
    ],
    error: /line 1: messages\[0\] has unknown role "wizard"/,
  },
  { name: 'messages not a list', content: [{ messages: 'hi' }], error: /line 1: "messages" must be a non-empty array/ },
  {
    name: 'a message without content',
    content: [{ messages: [{ role: 'user' }] }],
    error: /line 1: messages\[0\] must be \{"role": string, "content": string\}/,
  },
  {
    name: 'a sample too short to predict anything',
    content: [{ text: 'a b' }, { text: '' }],
    error: /line 2 encodes to 1 token/,
  },
  {
    name: 'a sample longer than --max-seq-len with --strict',
    content: [{ text: 'one two three four five six seven eight nine ten eleven twelve' }],
    maxSeqLen: 6,
    extra: ['--strict'],
    error: /line 1 has 1\d tokens, more than --max-seq-len 6/,
  },
  {
    name: 'non-UTF-8 bytes (latin-1 é)',
    content: Buffer.concat([Buffer.from('{"text":"ok then"}\n{"text":"caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]),
    error: /is not valid UTF-8 \(first bad byte at line 2, byte offset 31\)/,
  },
  {
    name: 'a binary file',
    content: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256)),
    error: /is not valid UTF-8|is not valid JSON/,
  },
  { name: 'a missing file', content: null, error: /does not exist/ },
];

describe('bad data: exit 2 naming the file and line, no --out created', () => {
  it.each(DATA_CASES)('train: $name', async (c) => {
    const file = path.join(root, 'bad-data', `${c.name.replace(/\W+/g, '-')}.jsonl`);
    if (Array.isArray(c.content)) writeJsonl(file, c.content);
    else if (c.content) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, c.content);
    }
    const out = path.join(root, 'data-out');
    const r = await runMain(trainArgv({ model: base, data: file, out, maxSeqLen: c.maxSeqLen }, ...(c.extra ?? [])));
    const line = expectCleanError(r, 2, c.error);
    expect(line).toContain(file);
    expect(fs.existsSync(out)).toBe(false);
    ledger.add(`data: ${c.name} | train exit ${r.code} | ${line}`);
  });

  it('eval and a bad --valid file name their file too', async () => {
    const bad = writeJsonl(path.join(root, 'bad-data', 'valid-bad.jsonl'), [{ text: 'a b' }, '{oops']);
    const e = await runMain(['eval', '--model', base, '--data', bad]);
    expectCleanError(e, 2, /valid-bad\.jsonl: line 2 is not valid JSON/);
    const out = path.join(root, 'valid-out');
    const t = await runMain([...train(out), '--valid', bad]);
    expectCleanError(t, 2, /valid-bad\.jsonl: line 2 is not valid JSON/);
    expect(fs.existsSync(out)).toBe(false);
    const dir = path.join(root, 'bad-data', 'no-train-dir');
    fs.mkdirSync(dir, { recursive: true });
    const d = await runMain(['train', '--model', base, '--data', dir, '--out', out]);
    expectCleanError(d, 2, /has no train\.jsonl/);
    ledger.add(
      `data: eval on a bad file, train --valid bad file, --data dir without train.jsonl | exit 2, 2, 2 | file and line named`,
    );
  });

  it('samples longer than --max-seq-len are truncated and counted (exit 0), exactly as many as are too long', async () => {
    const long = 'one two three four five six seven eight nine ten eleven twelve';
    const file = writeJsonl(path.join(root, 'long.jsonl'), [
      { text: long },
      { text: 'ok' },
      { text: `${long} ${long}` },
      { text: 'a b' },
    ]);
    const out = path.join(root, 'long-out');
    const r = await runMainOk(trainArgv({ model: base, data: file, out, maxSeqLen: 6 }));
    expect(r.stderr).toMatch(/long\.jsonl: 2 of 4 samples truncated to --max-seq-len 6/);
    const e = await runMainOk(['eval', '--model', base, '--data', file, '--max-seq-len', '6', '--json']);
    expect(JSON.parse(e.stdout)).toMatchObject({ samples: 4, truncated: 2 });
    ledger.add(
      'data: samples longer than --max-seq-len | exit 0 | "2 of 4 samples truncated to --max-seq-len 6" (train), truncated: 2 (eval --json)',
    );
  });
});

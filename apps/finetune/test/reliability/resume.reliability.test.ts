// resume.reliability.test.ts — `train --resume DIR` alone, extending --iters, and what a resume refuses.
//
// A checkpoint's trainer_state.json holds every option of its run: `--resume DIR` needs nothing else.
// A longer --iters extends the run (the schedule's total is recomputed and a note says so); options
// that decide the steps already done are refused, exit 2, naming the option and both values.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectIntactRun,
  expectRefusedWritingNothing,
  makeBaseAndData,
  makeTinyBase,
  metricRows,
  runMainOk,
  stepDirs,
  tempWorkspace,
  tensorBytes,
  trainArgv,
} from './harness.js';

const ws = tempWorkspace('resume', 'train --resume');
const { root, base, data, ledger } = ws;

/** One token per step and a constant schedule: 200 + 100 steps stay cheap. */
const constantRun = (out: string, iters: number) =>
  trainArgv(
    { model: base, data, out, iters, maxSeqLen: 8 },
    '--batch-size',
    '1',
    '--schedule',
    'constant',
    '--lr',
    '1e-3',
    '--seed',
    '2',
    '--dropout',
    '0.1',
  );

const rows = (out: string) =>
  metricRows(path.join(out, 'metrics.jsonl')).map((r) => ({
    step: r.step,
    loss: r.loss,
    lr: (r as { lr?: number }).lr,
    grad_norm: (r as { grad_norm?: number }).grad_norm,
  }));
const adapter = (out: string) => tensorBytes(path.join(out, 'adapter_model.safetensors'));

const valid = path.join(root, 'valid.jsonl');
/** An uninterrupted run with non-default options, checkpointing every 2 steps: the reference and the run to resume. */
const ref = path.join(root, 'alone-ref');
const refArgs = (o: string) =>
  trainArgv(
    { model: base, data, out: o, iters: 8 },
    '--save-every',
    '2',
    '--seed',
    '4',
    '--dropout',
    '0.1',
    '--rank',
    '4',
  );
beforeAll(async () => {
  await makeBaseAndData(ws, 24);
  fs.copyFileSync(data, valid);
  await runMainOk(refArgs(ref));
});

describe('extending a finished run with --iters', () => {
  it('constant schedule: a 200-step run resumed to --iters 300 equals an uninterrupted 300-step run bit for bit', async () => {
    const straight = path.join(root, 'const-300');
    const extended = path.join(root, 'const-200-300');
    await runMainOk(constantRun(straight, 300));
    await runMainOk(constantRun(extended, 200));
    const r = await runMainOk(['train', '--resume', extended, '--iters', '300']);
    expect(r.stderr).toContain(`resumed from ${path.join(extended, 'checkpoints', 'step-200')} at step 200`);
    expect(r.stderr).toContain(
      "note: the run now ends at step 300 (the checkpoint's run: 200); the constant schedule's learning rate does not depend on the total",
    );
    expect(adapter(extended)).toEqual(adapter(straight));
    expect(rows(extended)).toEqual(rows(straight));
    expect(rows(extended).map((x) => x.step)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expectIntactRun(extended);
    // the next plain --resume takes the new length from the checkpoint: nothing left to do
    const again = await runMainOk(['train', '--resume', extended]);
    expect(again.stdout).toMatch(/^trained 300 steps; final loss \d/);
    expect(adapter(extended)).toEqual(adapter(straight));
    ledger.add(
      `--resume RUN --iters 300 after a finished 200-step run (constant lr) | exit 0 | adapter bytes and 300 metrics rows equal an uninterrupted 300-step run; the note says the total changed`,
    );
  });

  it('cosine schedule: steps 1–6 stay as they were, steps 7–9 follow the cosine recomputed over 9 steps', async () => {
    const out = path.join(root, 'cosine-6-9');
    const lr = 1e-3;
    await runMainOk(trainArgv({ model: base, data, out, iters: 6, maxSeqLen: 8 }, '--lr', String(lr)));
    const before = rows(out);
    const r = await runMainOk(['train', '--resume', out, '--iters', '9']);
    expect(r.stderr).toContain(
      "note: the run now ends at step 9 (the checkpoint's run: 6); the cosine schedule is recomputed over 9 steps: steps 1–6 stay as they were, the learning rates after step 6 follow the new schedule",
    );
    const after = rows(out);
    expect(after.slice(0, 6)).toEqual(before);
    // transformers' cosine without warmup: the update of step k uses lr·½(1 + cos(π(k−1)/total))
    const cosine = (k: number, total: number) => lr * 0.5 * (1 + Math.cos((Math.PI * (k - 1)) / total));
    for (const x of after.slice(6)) expect(x.lr).toBeCloseTo(cosine(x.step, 9), 15);
    for (const x of before) expect(x.lr).toBeCloseTo(cosine(x.step, 6), 15);
    expect(after.map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    ledger.add(
      `--resume RUN --iters 9 after a 6-step cosine run | exit 0 | rows 1–6 unchanged; lr of steps 7–9 = cosine over 9 steps (to 1e-15); note printed`,
    );
  });
});

describe('--resume DIR alone', () => {
  it('from a step dir mid-run: --out, --save-every and every other option come from trainer_state.json', async () => {
    const out = path.join(root, 'alone');
    await runMainOk(refArgs(out));
    // as if killed after step 4: later checkpoints, the adapter and later metrics rows are gone
    for (const n of [6, 8]) fs.rmSync(path.join(out, 'checkpoints', `step-${n}`), { recursive: true });
    fs.rmSync(path.join(out, 'adapter_model.safetensors'));
    // nothing but --resume: --model, --data, --out and the rest come from the checkpoint
    const r = await runMainOk(['train', '--resume', path.join(out, 'checkpoints', 'step-4')]);
    expect(r.stderr).toContain('at step 4');
    expect(adapter(out)).toEqual(adapter(ref));
    expect(rows(out)).toEqual(rows(ref));
    expect(stepDirs(path.join(out, 'checkpoints'))).toEqual([2, 4, 6, 8]); // --save-every 2 came back
    ledger.add(
      '`train --resume RUN/checkpoints/step-4` alone (run had --rank 4 --save-every 2 --seed 4 --dropout 0.1) | exit 0 | bit-identical to the uninterrupted run; checkpoints 6 and 8 written again',
    );
  });

  it('may change what does not touch the steps done: --grad-checkpoint, --save-every, --eval-every, --valid', async () => {
    const out = path.join(root, 'changed');
    fs.cpSync(ref, out, { recursive: true });
    for (const n of [4, 6, 8]) fs.rmSync(path.join(out, 'checkpoints', `step-${n}`), { recursive: true });
    const r = await runMainOk([
      'train',
      '--resume',
      out,
      '--grad-checkpoint',
      '--save-every',
      '1',
      '--eval-every',
      '3',
      '--valid',
      valid,
    ]);
    expect(r.stderr).toContain('at step 2');
    expect(adapter(out)).toEqual(adapter(ref)); // recomputing layers in backward gives the same bits
    expect(stepDirs(path.join(out, 'checkpoints'))).toEqual([2, 3, 4, 5, 6, 7, 8]);
    ledger.add(
      '`--resume RUN --grad-checkpoint --save-every 1 --eval-every 3 --valid V` | exit 0 | adapter bit-identical to the run without them',
    );
  });
});

describe('refusals: exit 2, the option with the checkpoint value and the given value, nothing written', () => {
  const run = () => ref;
  const cases: [string, string[], RegExp][] = [
    ['--rank', ['--rank', '8'], /--rank 8 \(checkpoint: 4\) differs from the checkpoint's run$/],
    ['--lr', ['--lr', '0.01'], /--lr 0\.01 \(checkpoint: 0\.0001\) differs/],
    ['--batch-size', ['--batch-size', '4'], /--batch-size 4 \(checkpoint: 2\) differs/],
    ['--seed', ['--seed', '5'], /--seed 5 \(checkpoint: 4\) differs/],
    ['--targets', ['--targets', 'q_proj,v_proj'], /--targets q_proj,v_proj \(checkpoint: all-linear\) differs/],
    ['--max-seq-len', ['--max-seq-len', '64'], /--max-seq-len 64 \(checkpoint: 32\) differs/],
    ['--quantize', ['--quantize', 'int8'], /--quantize int8 \(checkpoint: \(not set\)\) differs/],
    [
      'two at once',
      ['--alpha', '8', '--dropout', '0'],
      /--alpha 8 \(checkpoint: 16\), --dropout 0 \(checkpoint: 0\.1\) differ/,
    ],
  ];
  it.each(cases)('%s', async (_name, extra, error) => {
    const { r, line } = await expectRefusedWritingNothing(
      root,
      ['train', '--resume', run(), ...extra],
      [/^error: --resume \S+step-8: /, error],
    );
    expect(r.stderr).toMatch(
      /^hint: (this option decides|these options decide) the steps already done: drop (it|them)/m,
    );
    ledger.add(`refused: --resume RUN ${extra.join(' ')} | exit ${r.code} | ${line}`);
  });

  it('--model and --data naming other files; --iters before the steps done; a dir without a checkpoint', async () => {
    const other = path.join(root, 'other-base');
    await makeTinyBase(other);
    for (const [extra, error] of [
      [['--model', other], /--model \S+other-base \(checkpoint: \S+base\) differs/],
      [['--data', valid], /--data \S+valid\.jsonl \(checkpoint: \S+data\.jsonl\) differs/],
    ] as const) {
      const { line } = await expectRefusedWritingNothing(root, ['train', '--resume', run(), ...extra], [error]);
      ledger.add(`refused: --resume RUN ${extra[0]} OTHER | exit 2 | ${line}`);
    }
    const { line } = await expectRefusedWritingNothing(
      root,
      ['train', '--resume', run(), '--iters', '5'],
      [/--iters 5 ends before the 8 steps the checkpoint has done/],
    );
    ledger.add(`refused: --resume RUN --iters 5 after 8 steps | exit 2 | ${line}`);
    const empty = path.join(root, 'no-checkpoint');
    fs.mkdirSync(empty);
    const { line: none } = await expectRefusedWritingNothing(
      root,
      ['train', '--resume', empty],
      [/no complete checkpoint found/],
    );
    ledger.add(`refused: --resume DIR without a checkpoint | exit 2 | ${none}`);
  });
});

// train/progress.test.ts — the progress line's text, the ETA formatter's edges, the ETA across
// evaluations, and the lines a run prints before step 1 (baseline val loss checked against eval).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Io } from '../cli/command.js';
import { withDefaults } from '../cli/flags.js';
import { loadTrainData, runTrain } from '../commands/train.js';
import { resolveTrainOptions } from '../commands/train-options.js';
import { demoTrainRecords, demoValidRecords, toJsonl } from '../demo/dataset.js';
import { evaluate } from '../evaluate.js';
import { createTinyCheckpoint, TINY_DEFAULTS } from '../model/init.js';
import { loadModel } from '../model/load.js';
import { openSession } from '../session.js';
import type { StepMetrics } from './metrics.js';
import { TRAIN_FLAGS } from './options.js';
import {
  baselineLine,
  dataLine,
  EtaClock,
  formatDuration,
  renderProgress,
  TrainProgress,
  trainableLine,
} from './progress.js';

describe('formatDuration', () => {
  it('rounds to whole seconds before splitting (no `2m60s`)', () => {
    expect(formatDuration(59.6)).toBe('1m00s');
    expect(formatDuration(59.4)).toBe('59s');
    expect(formatDuration(119.5)).toBe('2m00s');
    expect(formatDuration(179.6)).toBe('3m00s'); // the reported `2m60s`
    expect(formatDuration(3599.9)).toBe('1h00m00s');
    expect(formatDuration(3599.4)).toBe('59m59s');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(90061)).toBe('25h01m01s');
    expect(formatDuration(Number.NaN)).toBe('—');
    expect(formatDuration(-1)).toBe('—');
  });
});

describe('renderProgress', () => {
  it('the first frame has values or dashes, never a template field', () => {
    expect(renderProgress({ step: 0, total: 500, lr: 1e-4 })).toBe(
      'step 0/500 | loss — | lr 1.00e-4 | — tok/s | ETA —',
    );
    expect(renderProgress({ step: 0, total: 500, lr: 0, val: { loss: 11.94, step: 0 } })).toBe(
      'step 0/500 | loss — | val 11.9400 @0 | lr 0.00e+0 | — tok/s | ETA —',
    );
  });

  it('shows the latest validation loss and the step it was measured at', () => {
    expect(
      renderProgress({
        step: 137,
        total: 500,
        loss: 2.345678,
        lr: 9.87e-5,
        tokensPerS: 1234.4,
        val: { loss: 2.1, step: 100 },
        etaS: 179.6,
      }),
    ).toBe('step 137/500 | loss 2.3457 | val 2.1000 @100 | lr 9.87e-5 | 1234 tok/s | ETA 3m00s');
  });
});

describe('EtaClock', () => {
  // 20 steps of 0.5 s compute each; an evaluation after steps 10 and 20 costs 5 s.
  const row = (step: number, val?: number): StepMetrics => ({
    step,
    loss: 1,
    lr: 1e-4,
    grad_norm: 1,
    tokens: 100,
    tokens_per_s: 200,
    elapsed_s: 0,
    ...(val === undefined ? {} : { val_loss: val }),
  });
  const evalAt = (s: number) => s % 10 === 0;
  const wall = (k: number) => 0.5 * k + 5 * Math.floor(k / 10); // when onStep(k) runs

  it('once an evaluation was timed, equals the true time left at every step and never jumps', () => {
    const clock = new EtaClock(evalAt);
    const etas: number[] = [];
    for (let k = 1; k <= 20; k++) {
      clock.observe(row(k, evalAt(k) ? 1 : undefined), wall(k));
      etas.push(clock.secondsLeft(k, 20) as number);
    }
    for (let k = 10; k <= 20; k++) expect(etas[k - 1], `step ${k}`).toBeCloseTo(wall(20) - wall(k), 9);
    // before step 10 it knows only the step time: 0.5 s × steps left (evaluations not yet priced)
    expect(etas[8]).toBeCloseTo(5.5, 9);
    // a wall-clock rate would say (10.5 s / 11 steps) × 9 = 8.59 s after step 11; this says 9.5 s, then 9.0 s
    expect(etas[10]).toBeCloseTo(9.5, 9);
    expect(etas[11]).toBeCloseTo(9.0, 9);
  });

  it('has no estimate before the first step', () => {
    expect(new EtaClock(evalAt).secondsLeft(0, 20)).toBeUndefined();
  });
});

describe('lines before step 1', () => {
  it('formats the trainable share as mlx-lm does, and the data and baseline lines', () => {
    expect(trainableLine(1_474_560, 496_403_456)).toBe('Trainable parameters: 0.297% (1.475M/496.403M)');
    expect(
      dataLine({ trainSamples: 1000, trainTokens: 52311, validSamples: 100, validTokens: 5120, truncated: 3 }),
    ).toBe('Train: 1,000 samples, 52,311 tokens; valid: 100 samples, 5,120 tokens; 3 truncated to --max-seq-len');
    expect(dataLine({ trainSamples: 4, trainTokens: 80, validSamples: 0, validTokens: 0, truncated: 0 })).toBe(
      'Train: 4 samples, 80 tokens',
    );
    expect(baselineLine(11.94049, 1.2)).toBe('Step 0: val loss 11.9405 (before training; took 1s)');
  });

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'progress-'));
  const base = path.join(root, 'base');
  const data = path.join(root, 'data');
  beforeAll(() => {
    createTinyCheckpoint(base, { ...TINY_DEFAULTS, hidden: 32, intermediate: 64 });
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, 'train.jsonl'), toJsonl(demoTrainRecords(1, 8)));
    fs.writeFileSync(path.join(data, 'valid.jsonl'), toJsonl(demoValidRecords(8)));
  });

  it('a run prints trainable parameters, data counts and the base model val loss, then its steps', async () => {
    const notes: string[] = [];
    const io: Io = { json: false, out: () => {}, note: (s) => notes.push(s) };
    const o = resolveTrainOptions(
      withDefaults(
        'train',
        { model: base, data, out: path.join(root, 'run'), iters: 10, rank: 4, 'batch-size': 4, 'max-seq-len': 48 },
        TRAIN_FLAGS,
      ),
    );
    await runTrain(o, io);
    // the reference: the base model (no adapter) evaluated on the validation set by `finetune eval`'s path
    const s = openSession(base);
    const loaded = loadTrainData(o, s.tokenizer, () => {});
    const ref = evaluate(s.model, loaded.valid ?? [], {
      batchSize: 4,
      padId: s.tokenizer.padTokenId ?? s.tokenizer.eosTokenIds[0] ?? 0,
    }).loss;
    const tokens = loaded.train.reduce((n, e) => n + e.ids.length, 0);
    const vtokens = (loaded.valid ?? []).reduce((n, e) => n + e.ids.length, 0);
    expect(notes[0]).toMatch(/^Trainable parameters: \d+\.\d{3}% \(\d+\.\d{3}M\/\d+\.\d{3}M\)$/);
    expect(notes[1]).toBe(`Train: 8 samples, ${tokens} tokens; valid: 8 samples, ${vtokens} tokens`);
    const m = /^Step 0: val loss (\d+\.\d{4}) \(before training; took \d+s\)$/.exec(notes[2] ?? '');
    expect(m).not.toBeNull();
    expect(Number(m?.[1])).toBeCloseTo(ref, 4);
    expect(notes[3]).toMatch(/^step 10\/10 {2}loss \d+\.\d{4} {2}val \d+\.\d{4} {2}lr /);
  });

  it('the baseline evaluation leaves the run unchanged (no RNG drawn): same losses as a run without it', async () => {
    const notes: string[] = [];
    const quiet: Io = { json: false, out: () => {}, note: (n) => notes.push(`${out}: ${n}`) };
    let out = '';
    const run = async (dir: string, valid: boolean) => {
      out = dir;
      const flags = {
        model: base,
        data,
        out: path.join(root, out),
        iters: 4,
        rank: 4,
        dropout: 0.2,
        'max-seq-len': 48,
      };
      const o = resolveTrainOptions(withDefaults('train', { ...flags, 'eval-every': 100 }, TRAIN_FLAGS));
      // without validation data: a train file alone, so nothing is evaluated before step 1
      if (!valid) o.data = path.join(data, 'train.jsonl');
      return (await runTrain(o, quiet)).metrics.map((m) => [m.step, m.loss, m.grad_norm]);
    };
    const a = await run('with-baseline', true);
    expect(a).toEqual(await run('without-baseline', false));
    expect(notes.filter((n) => n.includes('Step 0: val loss'))).toHaveLength(1);
    expect(notes.find((n) => n.includes('Step 0: val loss'))).toMatch(/^with-baseline: /);
  });

  it('on a terminal, the frames cli-progress draws are the rendered lines, from the first one on', () => {
    const written: string[] = [];
    const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((c) => {
      written.push(String(c));
      return true;
    });
    const notes: string[] = [];
    try {
      const p = new TrainProgress({ json: false, out: () => {}, note: (n) => notes.push(n) }, true, {
        evalEvery: 2,
        hasValid: true,
      });
      const ex = { ids: [1, 2, 3], labels: [1, 2, 3], truncated: false };
      const val = p.start({ step: 0, total: 2, lr: 1e-3, validate: () => 2.5 }, loadModel(base).model, {
        train: [ex],
        valid: [ex],
        truncated: 0,
      });
      expect(val).toBe(2.5);
      p.step({ step: 1, loss: 3, lr: 1e-3, grad_norm: 1, tokens: 30, tokens_per_s: 60, elapsed_s: 0.5 }, 2);
      p.stop();
    } finally {
      spy.mockRestore();
      if (tty) Object.defineProperty(process.stderr, 'isTTY', tty);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
    }
    expect(notes.slice(1)).toEqual([
      'Train: 1 sample, 3 tokens; valid: 1 sample, 3 tokens',
      expect.stringMatching(/^Step 0: val loss 2\.5000 /),
    ]);
    const out = written.join('');
    expect(out).toContain('step 0/2 | loss — | val 2.5000 @0 | lr 1.00e-3 | — tok/s | ETA —');
    expect(out).toContain('step 1/2 | loss 3.0000 | val 2.5000 @0 | lr 1.00e-3 | 60 tok/s | ETA 1s');
    expect(out).not.toMatch(/\{\w+\}/);
  });
});

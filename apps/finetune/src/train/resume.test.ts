// train/resume.test.ts — which options a resumed run may change, how refusals and notes read, the resume command.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TrainOptions } from './options.js';
import {
  flagName,
  resumeCommand,
  resumeConflictError,
  resumeConflicts,
  runDirOf,
  shellWord,
  storedOptions,
  totalChangeNote,
} from './resume.js';

const stored = {
  model: '/abs/base',
  data: '/abs/data.jsonl',
  rank: 8,
  lr: 1e-4,
  batchSize: 2,
  seed: 0,
  iters: 200,
  saveEvery: 50,
  schedule: 'constant',
};

describe('storedOptions', () => {
  it('keeps every option of the run, paths absolute, and nothing of the invocation', () => {
    const o = { model: 'runs/base', data: 'd.jsonl', out: 'runs/lora', resume: 'runs/lora', force: true, rank: 4 };
    expect(storedOptions(o as unknown as TrainOptions)).toEqual({
      model: path.resolve('runs/base'),
      data: path.resolve('d.jsonl'),
      rank: 4,
    });
  });
});

describe('resumeConflicts', () => {
  it('typed options: absent ones come from the checkpoint; equal paths in other spellings are equal', () => {
    expect(resumeConflicts(stored, {}, true)).toEqual([]);
    expect(
      resumeConflicts(stored, { model: '/abs/./base/', rank: 8, resume: 'x', out: 'y', json: true }, true),
    ).toEqual([]);
  });

  it('may change: iters, epochs, eval/save cadence, validation file, grad checkpointing, strict', () => {
    const given = {
      iters: 300,
      epochs: 2,
      evalEvery: 5,
      saveEvery: 1,
      valBatches: 2,
      valid: 'v.jsonl',
      gradCheckpoint: true,
      strict: true,
    };
    expect(resumeConflicts(stored, given, true)).toEqual([]);
  });

  it('refuses what decides the steps already done, each with both values', () => {
    const c = resumeConflicts(stored, { rank: 16, lr: 1e-3, batchSize: 2, model: '/other', schedule: 'cosine' }, true);
    expect(c).toEqual([
      { field: 'rank', stored: 8, given: 16 },
      { field: 'lr', stored: 1e-4, given: 1e-3 },
      { field: 'model', stored: '/abs/base', given: '/other' },
      { field: 'schedule', stored: 'constant', given: 'cosine' },
    ]);
    const e = resumeConflictError('runs/lora/checkpoints/step-9', c);
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(
      "--resume runs/lora/checkpoints/step-9: --rank 16 (checkpoint: 8), --lr 0.001 (checkpoint: 0.0001), --model /other (checkpoint: /abs/base), --schedule cosine (checkpoint: constant) differ from the checkpoint's run",
    );
    expect(e.hint).toMatch(/^these options decide the steps already done: drop them/);
  });

  it("complete options (the trainer's check): an option set on one side only differs too", () => {
    expect(resumeConflicts({ ...stored, layers: 1 }, stored, false)).toEqual([
      { field: 'layers', stored: 1, given: undefined },
    ]);
    // an option missing from an older checkpoint is fine at its default (dropout 0), not otherwise
    expect(resumeConflicts(stored, { ...stored, dropout: 0 }, false)).toEqual([]);
    expect(resumeConflicts(stored, { ...stored, dropout: 0.1 }, false)).toEqual([
      { field: 'dropout', stored: undefined, given: 0.1 },
    ]);
    expect(resumeConflictError('c', [{ field: 'layers', stored: 1, given: undefined }]).message).toBe(
      "--resume c: --layers (not set) (checkpoint: 1) differs from the checkpoint's run",
    );
  });
});

describe('names and commands', () => {
  it('field → flag, run dir of a checkpoint, shell words', () => {
    expect(['batchSize', 'fineTuneType', 'lr'].map(flagName)).toEqual(['batch-size', 'fine-tune-type', 'lr']);
    expect(runDirOf(path.join('runs', 'lora', 'checkpoints', 'step-3'))).toBe(path.join('runs', 'lora'));
    expect(runDirOf(path.join('elsewhere', 'step-3'))).toBeUndefined();
    expect(shellWord('runs/lora-1')).toBe('runs/lora-1');
    expect(shellWord("my run's dir")).toBe(`'my run'\\''s dir'`);
  });

  it('the resume command is the one typed: `pnpm finetune` under the root script, else `finetune`', () => {
    expect(resumeCommand('runs/lora', { npm_lifecycle_event: 'finetune' })).toBe(
      'pnpm finetune train --resume runs/lora',
    );
    expect(resumeCommand('runs/a b', {})).toBe("finetune train --resume 'runs/a b'");
  });
});

describe('totalChangeNote', () => {
  const o = (schedule: TrainOptions['schedule']) => ({ schedule }) as TrainOptions;
  it('silent when the total is unchanged; says what happens to the learning rates when it changes', () => {
    expect(totalChangeNote(o('cosine'), 200, 200, 200)).toBeUndefined();
    expect(totalChangeNote(o('cosine'), 200, 200, 300)).toBe(
      "note: the run now ends at step 300 (the checkpoint's run: 200); the cosine schedule is recomputed over 300 steps: steps 1–200 stay as they were, the learning rates after step 200 follow the new schedule",
    );
    expect(totalChangeNote(o('constant'), 200, 200, 300)).toMatch(
      /does not depend on the total, so the steps after 200 are those of a 300-step run$/,
    );
  });
});

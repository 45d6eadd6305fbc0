// train/checkpoint.ts — checkpoints/step-N/: trainable weights, AdamW moments, schedule position and RNG.
//
// Each checkpoint directory appears whole or not at all (built beside, then renamed), so a crash
// while saving leaves the previous checkpoint as the latest complete one.
import fs from 'node:fs';
import path from 'node:path';
import {
  type AdamWMeta,
  nonFinite,
  readJsonObject,
  recoverOutputs,
  SafetensorsFile,
  type Tensor,
  TsloraError,
  writeSafetensors,
} from '@tslora/core-tensor';
import { buildDirAtomically } from '../fs-util.js';
import { OPTION_BEFORE_IT_EXISTED } from './options.js';
import { resumeCommand } from './resume.js';

export interface TrainerState {
  /** Optimizer steps completed. */
  step: number;
  /** Epoch and batch cursor into that epoch's plan (plans are rebuilt from the seed). */
  epoch: number;
  cursor: number;
  /** Dropout generator state, so a resumed run draws the same masks. */
  rng: { s: number[]; spare: number | null };
  /** AdamW step count and hyper-parameters as saved by the optimizer (null before the first save). */
  optimizer: AdamWMeta | null;
  /**
   * The run's options (every one but --resume, --out and --force; paths absolute): `train --resume DIR`
   * alone takes them, and refuses a given option that would make it another run (train/resume.ts).
   */
  options: Record<string, unknown>;
}

const STATE = 'trainer_state.json';
const WEIGHTS = 'trainable.safetensors';
const MOMENTS = 'optimizer.safetensors';

export function stepDirName(step: number): string {
  return `step-${step}`;
}

const STEP_DIR = /^step-\d+$/;

/**
 * What killed saves left in `root`, by the one output recovery rule (core-tensor recoverOutputs):
 * a re-saved step-N set aside whole while its name is missing goes back, every temp dir
 * (`.step-N.tmp-PID-HEX`) of any step is removed. The run's output lock keeps other writers out.
 */
export function recoverCheckpoints(root: string): void {
  recoverOutputs(root, (name) => STEP_DIR.test(name));
}

/**
 * Refuses weights or moments that are not finite: a checkpoint is what a run resumes from, so one
 * holding Inf/NaN (an update that overflowed) must never replace the last good one.
 */
function checkFinite(root: string, step: number, tensors: Iterable<readonly [string, Float32Array]>): void {
  for (const [name, v] of tensors) {
    const bad = nonFinite(v).count;
    if (bad === 0) continue;
    throw new TsloraError(
      `step ${step}: ${bad} of ${v.length} values of ${name} are not finite after the update; checkpoint ${stepDirName(step)} was not written`,
      {
        hint: `the last good checkpoint is ${latestCheckpoint(root) ?? '(none yet)'}; lower --lr or set --max-grad-norm`,
        exitCode: 1,
      },
    );
  }
}

/** The errno code of a failed write, whether raw or wrapped by the safetensors writer. */
function ioCode(e: unknown): string | undefined {
  const own = (e as NodeJS.ErrnoException)?.code;
  return own ?? ((e as { cause?: NodeJS.ErrnoException })?.cause?.code || undefined);
}

/** The files of one checkpoint, written into its temp dir. */
function writeStepFiles(
  tmp: string,
  state: TrainerState,
  trainable: [string, Tensor][],
  moments: Map<string, Float32Array>,
  extra?: (dir: string) => void,
): void {
  const f32 = (name: string, data: Float32Array, shape: readonly number[]) => ({
    name,
    dtype: 'f32' as const,
    shape: [...shape],
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
  writeSafetensors(
    path.join(tmp, WEIGHTS),
    trainable.map(([n, t]) => f32(n, t.f32, t.shape)),
  );
  writeSafetensors(
    path.join(tmp, MOMENTS),
    [...moments].map(([n, m]) => f32(n, m, [m.length])),
  );
  extra?.(tmp);
  fs.writeFileSync(path.join(tmp, STATE), `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * Writes one checkpoint atomically; `extra(dir)` adds files (the PEFT adapter) inside the same commit.
 * What killed saves left is recovered first (recoverCheckpoints); non-finite values are refused. A write that
 * fails (disk full, file-size limit) names the checkpoint and the last complete one, not a temp path.
 */
export function saveCheckpoint(
  root: string,
  state: TrainerState,
  trainable: [string, Tensor][],
  moments: Map<string, Float32Array>,
  extra?: (dir: string) => void,
): string {
  checkFinite(root, state.step, [...trainable.map(([n, t]) => [n, t.f32] as const), ...moments]);
  recoverCheckpoints(root);
  const dir = path.join(root, stepDirName(state.step));
  try {
    buildDirAtomically(dir, (tmp) => writeStepFiles(tmp, state, trainable, moments, extra), true);
  } catch (e) {
    const code = ioCode(e);
    if (code === undefined) throw e;
    const cause = (e as { cause?: unknown }).cause ?? e;
    throw new TsloraError(
      `checkpoint ${dir} was not written (${code}); the last complete checkpoint is ${latestCheckpoint(root) ?? '(none yet)'}`,
      {
        hint: `check free space and limits on ${root}, then resume: ${resumeCommand(path.dirname(root))}`,
        exitCode: 1,
        cause,
      },
    );
  }
  return dir;
}

/** The newest complete checkpoint under root (temp dirs of interrupted saves are ignored). */
export function latestCheckpoint(root: string): string | undefined {
  if (!fs.existsSync(root)) return undefined;
  const steps = fs
    .readdirSync(root)
    .map((f) => /^step-(\d+)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null && fs.existsSync(path.join(root, m[0], STATE)))
    .map((m) => Number(m[1]));
  if (steps.length === 0) return undefined;
  return path.join(root, stepDirName(Math.max(...steps)));
}

export interface LoadedCheckpoint {
  dir: string;
  state: TrainerState;
  weights: Map<string, Float32Array>;
  moments: Map<string, Float32Array>;
}

/** The checkpoint `dir` names: the dir itself (a step dir), or the latest under `dir/checkpoints` or `dir`. */
export function findCheckpoint(dir: string): string {
  if (fs.existsSync(path.join(dir, STATE))) return dir;
  const latest = latestCheckpoint(path.join(dir, 'checkpoints')) ?? latestCheckpoint(dir);
  if (!latest)
    throw new TsloraError(`--resume ${dir}: no complete checkpoint found`, {
      hint: 'pass a run directory (its --out) or a checkpoints/step-N directory',
      exitCode: 2,
    });
  return latest;
}

/** Reads only trainer_state.json of the checkpoint `dir` names (see findCheckpoint). */
export function readCheckpointState(dir: string): { dir: string; state: TrainerState } {
  const d = findCheckpoint(dir);
  const stateFile = path.join(d, STATE);
  // written by saveCheckpoint; its fields are trusted as they were before (only the JSON itself is checked)
  const state = readJsonObject(stateFile, {
    missingHint: 'resume from an earlier checkpoint',
    hint: 'resume from an earlier checkpoint',
  }) as unknown as TrainerState;
  // a checkpoint written before an option existed ran with that option's old behaviour (--chat-think keep)
  return { dir: d, state: { ...state, options: { ...OPTION_BEFORE_IT_EXISTED, ...state.options } } };
}

/** Reads a checkpoint; `dir` may be the run's --out (its latest checkpoint is taken) or a step dir. */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const { dir: d, state } = readCheckpointState(dir);
  const read = (file: string) => {
    const st = SafetensorsFile.open(path.join(d, file));
    try {
      return new Map(st.tensors.map((t) => [t.name, st.readF32(t.name)] as const));
    } finally {
      st.close();
    }
  };
  return { dir: d, state, weights: read(WEIGHTS), moments: read(MOMENTS) };
}

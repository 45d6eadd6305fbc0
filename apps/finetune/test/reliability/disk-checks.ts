// disk-checks.ts — what the reliability suite checks on disk: file trees, safetensors contents, checkpoints, run directories.
// Re-exported by harness.ts, which the test files import.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SafetensorsFile } from '@tslora/core-tensor';
import { expect } from 'vitest';
import { loadCheckpoint } from '../../src/train/checkpoint.js';

/** Every file and directory under `root` (relative paths, sorted). */
export function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const p = rel ? path.join(rel, e.name) : e.name;
      out.push(e.isDirectory() ? `${p}/` : p);
      if (e.isDirectory()) walk(p);
    }
  };
  if (fs.existsSync(root)) walk('');
  return out.sort();
}

/** Relative path → sha256 of every file under `dir` (outputs are deterministic, so bytes must match). */
export function fileDigests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of listTree(dir))
    if (!f.endsWith('/'))
      out[f] = createHash('sha256')
        .update(fs.readFileSync(path.join(dir, f)))
        .digest('hex');
  return out;
}

/** Opens a safetensors file with the library reader and reads (decodes) every tensor; returns name → values. */
export function readAllTensors(file: string): Map<string, Float32Array> {
  const st = SafetensorsFile.open(file);
  try {
    return new Map(st.tensors.map((t) => [t.name, st.readF32(t.name)] as const));
  } finally {
    st.close();
  }
}

/** Raw bytes of every tensor of a safetensors file (for bit-for-bit comparisons). */
export function tensorBytes(file: string): Map<string, string> {
  const st = SafetensorsFile.open(file);
  try {
    return new Map(st.tensors.map((t) => [t.name, Buffer.from(st.readBytes(t.name)).toString('base64')] as const));
  } finally {
    st.close();
  }
}

/** Every tensor of a safetensors file as raw bytes with its name, dtype and shape (as writeSafetensors takes them). */
export function rawTensors(file: string) {
  const st = SafetensorsFile.open(file);
  try {
    return st.tensors.map((i) => ({ name: i.name, dtype: i.dtype, shape: [...i.shape], data: st.readBytes(i.name) }));
  } finally {
    st.close();
  }
}

const CHECKPOINT_FILES = [
  'adapter_config.json',
  'adapter_model.safetensors',
  'optimizer.safetensors',
  'trainable.safetensors',
  'trainer_state.json',
];

/** Step numbers of the complete-looking `step-N` directories under `root`. */
export function stepDirs(root: string): number[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((f) => /^step-(\d+)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** Hidden temp entries (`.step-N.tmp-*`, `.x.tmp`) directly under `dir`. */
export function leftovers(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.startsWith('.')) : [];
}

/**
 * Asserts `checkpoints/step-N` is whole: the five files, trainer_state.json parses and says step N,
 * every safetensors opens and every tensor reads back finite, the trainable tensors match the
 * adapter's, and the app's own loadCheckpoint accepts it.
 */
export function expectCompleteCheckpoint(dir: string, step: number): void {
  expect(fs.readdirSync(dir).sort(), dir).toEqual(CHECKPOINT_FILES);
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'trainer_state.json'), 'utf8')) as { step: number };
  expect(state.step, dir).toBe(step);
  JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
  const weights = readAllTensors(path.join(dir, 'trainable.safetensors'));
  const moments = readAllTensors(path.join(dir, 'optimizer.safetensors'));
  const adapter = readAllTensors(path.join(dir, 'adapter_model.safetensors'));
  expect(weights.size, dir).toBeGreaterThan(0);
  expect(adapter.size, dir).toBe(weights.size);
  // AdamW state per trainable tensor: both moments, of the tensor's size.
  for (const [name, w] of weights)
    for (const k of ['exp_avg', 'exp_avg_sq'])
      expect(moments.get(`${name}.${k}`)?.length, `${dir}: ${name}.${k}`).toBe(w.length);
  for (const m of [weights, moments, adapter])
    for (const [name, v] of m) expect(v.every(Number.isFinite), `${dir}: ${name}`).toBe(true);
  const loaded = loadCheckpoint(dir);
  expect(loaded.state.step).toBe(step);
}

/** Asserts every `step-N` under the `checkpoints` dir is whole (`expectCompleteCheckpoint`); returns the steps. */
export function expectCheckpointsComplete(checkpoints: string): number[] {
  const steps = stepDirs(checkpoints);
  for (const n of steps) expectCompleteCheckpoint(path.join(checkpoints, `step-${n}`), n);
  return steps;
}

/**
 * The state a run dir must be in after any run, finished, failed or killed: every checkpoint whole,
 * no temp entries in checkpoints/ or in the run dir. Returns the saved steps.
 */
export function expectIntactRun(out: string): number[] {
  const ck = path.join(out, 'checkpoints');
  const steps = expectCheckpointsComplete(ck);
  expect(leftovers(ck), 'no temp dir of a killed or failed save').toEqual([]);
  expect(leftovers(out), 'no temp file of a killed or failed write in the run dir').toEqual([]);
  return steps;
}

/** metrics.jsonl rows (a last line cut by a kill is ignored, as the app does). */
export function metricRows(file: string): { step: number; loss: number }[] {
  if (!fs.existsSync(file)) return [];
  const rows: { step: number; loss: number }[] = [];
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!l.trim()) continue;
    try {
      rows.push(JSON.parse(l));
    } catch {
      // a partial last line
    }
  }
  return rows;
}

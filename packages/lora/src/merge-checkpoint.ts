// merge-checkpoint.ts — streaming merge: base checkpoint + PEFT adapter → merged checkpoint, one tensor in memory at a time.
import fs from 'node:fs';
import nodePath from 'node:path';
import {
  CheckpointReader,
  checkOutDir as checkDir,
  DirTransaction,
  type DType,
  encodeF32,
  FileFormatError,
  isFloatDType,
  readJsonObject,
  recoverOutput,
  SafetensorsWriter,
  shapeStr,
  type Tensor,
  TsloraError,
  writeShardedIndex,
} from '@tslora/core-tensor';
import { ADAPTER_WEIGHTS_FILE, type AdapterContents, readAdapter, summarizeProblems } from './adapter-io.js';
import { loraScaling, NEVER_ADAPTED } from './config.js';
import { lastSegment } from './inject.js';
import { addLoraDelta, checkFinite, type MergeDType, roundToDType } from './merge.js';

/** Output dtype: 'auto' keeps each tensor's own dtype; the others convert every float tensor. */
export type MergeOutDType = 'auto' | MergeDType;

/** Options of {@link mergeCheckpoint}. */
export interface MergeCheckpointOptions {
  /** Base checkpoint: model.safetensors, or model.safetensors.index.json + shards. */
  modelDir: string;
  /** PEFT adapter directory (adapter_config.json + adapter_model.safetensors). */
  adapterDir: string;
  /** Created by renaming a finished temp dir; must not exist or be empty unless `force`. */
  outDir: string;
  dtype?: MergeOutDType;
  /** Replace a non-empty outDir. */
  force?: boolean;
}

/** What a merge did. */
export interface MergeSummary {
  /** Base tensors that received scaling·B·A. */
  tensorsMerged: number;
  /** Largest |scaling·B·A| element over all merged tensors (f32, before rounding to the output dtype). */
  maxAbsDelta: number;
  /** Total size of the files in outDir. */
  bytesWritten: number;
  /** File names written in outDir, sorted. */
  files: string[];
}

/** Non-weight files of a checkpoint directory copied to the merged one when present. */
export const CHECKPOINT_SIDE_FILES: readonly string[] = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'vocab.json',
  'merges.txt',
  'special_tokens_map.json',
  'added_tokens.json',
];

const TORCH_DTYPE: Record<MergeDType, string> = { f32: 'float32', bf16: 'bfloat16', f16: 'float16' };

/** true when `inner` is `outer` or lies inside it. */
function isWithin(inner: string, outer: string): boolean {
  const rel = nodePath.relative(nodePath.resolve(outer), nodePath.resolve(inner));
  return rel === '' || (!rel.startsWith('..') && !nodePath.isAbsolute(rel));
}

function checkOutDir(o: MergeCheckpointOptions): void {
  for (const input of [o.modelDir, o.adapterDir]) {
    if (isWithin(input, o.outDir)) {
      throw new TsloraError(`merge: output directory ${o.outDir} would replace the input ${input}`, {
        hint: 'write the merged model to a new directory',
      });
    }
  }
  checkDir(o.outDir, o.force, 'choose an empty or new directory, or set the force option to replace it');
}

/** The adapter pair merged into one base weight. */
export interface MergeTarget {
  A: Tensor;
  B: Tensor;
}
type Target = MergeTarget;

/**
 * Maps base tensor names to their adapter pair; every adapter module must hit a float (out,in) weight,
 * else a FileFormatError names each misfit. `finetune export` plans its on-the-fly merge with it too.
 */
export function planTargets(
  reader: CheckpointReader,
  adapter: AdapterContents,
  adapterFile: string,
): Map<string, Target> {
  const problems: string[] = [];
  const targets = new Map<string, Target>();
  for (const [path, pair] of adapter.modules) {
    const name = `${path}.weight`;
    const entry = reader.tensors.get(name);
    const want = [pair.B.dim(0), pair.A.dim(1)];
    if (NEVER_ADAPTED.includes(lastSegment(path)))
      problems.push(`${path} is an embedding or lm_head, which are never merged`);
    else if (!entry) problems.push(`${name} is not in the checkpoint`);
    else if (!isFloatDType(entry.info.dtype)) problems.push(`${name} has dtype ${entry.info.dtype}, not a float dtype`);
    else if (entry.info.shape.join() !== want.join())
      problems.push(`${name} is ${shapeStr(entry.info.shape)} but the adapter needs ${shapeStr(want)}`);
    else targets.set(name, pair);
  }
  if (problems.length) {
    throw new FileFormatError(
      adapterFile,
      `does not fit the checkpoint ${reader.dir} — ${summarizeProblems(problems)}`,
      {
        hint: 'merge the adapter into the base model it was trained on',
      },
    );
  }
  return targets;
}

interface Stats {
  merged: number;
  maxAbsDelta: number;
  tensorBytes: number;
}

/** The bytes of one output tensor: merged (f32 math, one rounding), converted, or copied byte for byte. */
function outputBytes(
  reader: CheckpointReader,
  name: string,
  outDtype: DType,
  target: Target | undefined,
  scaling: number,
  stats: Stats,
): Uint8Array {
  const info = reader.get(name).info;
  if (!target) return outDtype === info.dtype ? reader.readBytes(name) : encodeF32(reader.readF32(name), outDtype);
  const { values, maxAbsDelta } = mergeTensor(reader.readF32(name), target, scaling, outDtype, name, info.shape);
  stats.maxAbsDelta = Math.max(stats.maxAbsDelta, maxAbsDelta);
  stats.merged += 1;
  return encodeF32(values, outDtype);
}

/**
 * One merged weight exactly as `merge` writes it: W + scaling·B·A in f32, rounded once to `dtype`
 * (returned as the f32 values of that dtype), refused if any value is non-finite. Also returns the
 * largest |scaling·B·A| element (before rounding).
 */
export function mergeTensor(
  W: Float32Array,
  target: MergeTarget,
  scaling: number,
  dtype: DType,
  name: string,
  shape: readonly number[],
): { values: Float32Array; maxAbsDelta: number } {
  const out = W.slice();
  addLoraDelta(out, target.A, target.B, scaling, 1);
  let maxAbsDelta = 0;
  for (let i = 0; i < out.length; i++)
    maxAbsDelta = Math.max(maxAbsDelta, Math.abs((out[i] as number) - (W[i] as number)));
  roundToDType(out, dtype === 'bf16' || dtype === 'f16' ? dtype : 'f32');
  checkFinite(out, name, shape, 'merge');
  return { values: out, maxAbsDelta };
}

/** Writes one output safetensors file (same name and tensors as the input file), streaming tensor by tensor. */
function writeShard(
  reader: CheckpointReader,
  file: string,
  tmp: string,
  targets: Map<string, Target>,
  o: MergeCheckpointOptions,
  scaling: number,
  stats: Stats,
): void {
  const dtypeOf = (d: DType): DType => (o.dtype === undefined || o.dtype === 'auto' || !isFloatDType(d) ? d : o.dtype);
  const specs = [...reader.tensors.values()]
    .filter((t) => t.file === file)
    .map(({ info }) => ({ name: info.name, dtype: dtypeOf(info.dtype), shape: [...info.shape] }));
  const writer = new SafetensorsWriter(nodePath.join(tmp, file), specs, { format: 'pt' });
  try {
    for (const [i, name] of writer.order.entries()) {
      const bytes = outputBytes(reader, name, writer.tensors[i]!.dtype, targets.get(name), scaling, stats);
      writer.write(name, bytes);
      stats.tensorBytes += bytes.byteLength;
    }
    writer.commit();
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/** config.json with torch_dtype (and transformers ≥ 4.56's `dtype`) set to the output dtype; copied as is when unchanged. */
function copyConfig(modelDir: string, tmp: string, dtype: MergeOutDType): void {
  const src = nodePath.join(modelDir, 'config.json');
  if (!fs.existsSync(src)) return;
  const dst = nodePath.join(tmp, 'config.json');
  if (dtype === 'auto') {
    fs.copyFileSync(src, dst);
    return;
  }
  const cfg = readJsonObject(src, { hint: 're-download config.json' });
  const name = TORCH_DTYPE[dtype];
  const keys = ['torch_dtype', 'dtype'].filter((k) => k in cfg);
  if (keys.length > 0 && keys.every((k) => cfg[k] === name)) {
    fs.copyFileSync(src, dst);
    return;
  }
  for (const k of keys.length ? keys : ['torch_dtype']) cfg[k] = name;
  fs.writeFileSync(dst, `${JSON.stringify(cfg, null, 2)}\n`);
}

/**
 * Merges a PEFT LoRA adapter into a base checkpoint on disk. Each target weight becomes
 * W' = W + scaling·B·A computed in f32 and rounded once to the output dtype; every other tensor is
 * copied byte for byte (converted only when `dtype` changes it); embeddings and lm_head are never
 * touched. The layout (single file or shards + index) is kept; config.json, generation_config.json
 * and tokenizer files are copied. Everything is built in a temp dir beside outDir and renamed at
 * the end, so a failed merge leaves no half-written directory. Leftovers of killed merges into
 * outDir are recovered first, which is only safe while no other process writes outDir: a caller
 * that may run concurrently holds core-tensor's OutputLock of outDir (the finetune CLI does).
 */
export function mergeCheckpoint(o: MergeCheckpointOptions): MergeSummary {
  // A merge killed between replaceDir()'s two renames left outDir absent and its previous contents
  // set aside whole: the recovery rule puts them back (and removes killed merges' temp dirs) before
  // the emptiness check, so a restored output needs `force` to be replaced.
  recoverOutput(o.outDir);
  checkOutDir(o);
  const adapter = readAdapter(o.adapterDir);
  const scaling = loraScaling(adapter.config.r, adapter.config.alpha, adapter.config.useRslora);
  const reader = CheckpointReader.open(o.modelDir);
  const outDir = nodePath.resolve(o.outDir);
  let tx: DirTransaction | undefined;
  try {
    const targets = planTargets(reader, adapter, nodePath.join(o.adapterDir, ADAPTER_WEIGHTS_FILE));
    tx = DirTransaction.begin(outDir);
    const tmp = tx.tmp;
    const stats: Stats = { merged: 0, maxAbsDelta: 0, tensorBytes: 0 };
    for (const file of reader.files) writeShard(reader, file, tmp, targets, o, scaling, stats);
    if (reader.index) writeShardedIndex(tmp, reader.index.weightMap, stats.tensorBytes);
    copyConfig(o.modelDir, tmp, o.dtype ?? 'auto');
    for (const f of CHECKPOINT_SIDE_FILES) {
      const src = nodePath.join(o.modelDir, f);
      if (fs.existsSync(src)) fs.copyFileSync(src, nodePath.join(tmp, f));
    }
    const files = fs.readdirSync(tmp).sort();
    const bytesWritten = files.reduce((s, f) => s + fs.statSync(nodePath.join(tmp, f)).size, 0);
    tx.commit(); // a kill mid-replace leaves the old output whole at <tmp>.old: recovered by the next merge
    return { tensorsMerged: stats.merged, maxAbsDelta: stats.maxAbsDelta, bytesWritten, files };
  } catch (e) {
    tx?.abort();
    throw describeWriteFailure(e, outDir);
  } finally {
    reader.close();
  }
}

/** A full disk or a file-size limit is reported against --out, not the temp dir the user never named. */
function describeWriteFailure(e: unknown, outDir: string): unknown {
  const code = (e as NodeJS.ErrnoException)?.code ?? (e as { cause?: NodeJS.ErrnoException })?.cause?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') {
    const why = code === 'EFBIG' ? 'file too large for the file-size limit (ulimit -f)' : 'no space left on device';
    return new TsloraError(`merge into ${outDir} failed: ${why} (${code}); nothing was written`, {
      hint: 'free disk space (or raise the limit) and run merge again',
      exitCode: 1,
      cause: e,
    });
  }
  return e;
}

// sharded.ts — Hugging Face checkpoint directories: model.safetensors, or model.safetensors.index.json + shards.

import fs from 'node:fs';
import nodePath from 'node:path';
import { FileFormatError, TsloraError } from '../errors.js';
import { readJsonFile } from './json-file.js';
import { findDuplicateKey, SafetensorsFile, similarNames, type TensorInfo } from './safetensors-read.js';
import { writeFileAtomic } from './safetensors-write.js';

/** File name of a single-file checkpoint. */
export const SINGLE_FILE = 'model.safetensors';
/** File name of the shard index. */
export const INDEX_FILE = 'model.safetensors.index.json';

/** A parsed `model.safetensors.index.json`. */
export interface ShardedIndex {
  /** The index's `metadata` object as written (HF puts `total_size` there). */
  metadata: Record<string, unknown>;
  /** `metadata.total_size` (bytes of tensor data over all shards) when present. */
  totalSize: number | undefined;
  /** tensor name -> shard file name (a plain name inside the checkpoint directory). */
  weightMap: Map<string, string>;
  /** Distinct shard file names, sorted. */
  files: string[];
}

/** True for a bare file name: no directory part, not "." or "..", so it cannot point outside its directory. */
export function isPlainFileName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

/** `model-00001-of-00003.safetensors` for shard `i` (1-based) of `n`, as transformers names them. */
export function shardFileName(i: number, n: number): string {
  if (!Number.isSafeInteger(n) || n < 1 || !Number.isSafeInteger(i) || i < 1 || i > n) {
    throw new TsloraError(`shardFileName: shard ${i} of ${n} is out of range`, {
      hint: 'shards are numbered 1..n (1-based)',
    });
  }
  const pad = (x: number): string => String(x).padStart(5, '0');
  return `model-${pad(i)}-of-${pad(n)}.safetensors`;
}

/** Reads and validates `dir/model.safetensors.index.json`. Shard names must be plain file names inside `dir`. */
export function readShardedIndex(dir: string): ShardedIndex {
  const file = nodePath.join(dir, INDEX_FILE);
  const hint = 'the index is corrupt; re-download model.safetensors.index.json from the same revision as the shards';
  const { json: root, text } = readJsonFile(file, { missingHint: 'check the checkpoint directory', hint });
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(root) || !isObj(root.weight_map)) throw new FileFormatError(file, 'has no "weight_map" object', { hint });
  const dup = findDuplicateKey(text);
  if (dup !== undefined)
    throw new FileFormatError(file, `lists the key ${JSON.stringify(dup)} more than once`, { hint });
  const metadata = root.metadata === undefined ? {} : root.metadata;
  if (!isObj(metadata)) throw new FileFormatError(file, '"metadata" is not an object', { hint });
  const total = metadata.total_size;
  if (total !== undefined && !(typeof total === 'number' && Number.isSafeInteger(total) && total >= 0)) {
    throw new FileFormatError(file, `metadata.total_size ${JSON.stringify(total)} is not a non-negative integer`, {
      hint,
    });
  }
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(root.weight_map)) {
    if (typeof shard !== 'string' || !isPlainFileName(shard)) {
      throw new FileFormatError(
        file,
        `weight_map entry ${JSON.stringify(name)} points to ${JSON.stringify(shard)}, which is not a plain file name in the checkpoint directory`,
        {
          hint: 'shard names must be bare file names such as model-00001-of-00002.safetensors; paths are refused for safety',
        },
      );
    }
    weightMap.set(name, shard);
  }
  return { metadata, totalSize: total, weightMap, files: [...new Set(weightMap.values())].sort() };
}

/**
 * Writes `dir/model.safetensors.index.json` atomically, formatted as transformers writes it
 * (2-space indent, sorted keys, trailing newline).
 */
export function writeShardedIndex(
  dir: string,
  weightMap: ReadonlyMap<string, string> | Record<string, string>,
  totalSize: number,
): void {
  const entries = weightMap instanceof Map ? [...weightMap.entries()] : Object.entries(weightMap);
  const file = nodePath.join(dir, INDEX_FILE);
  for (const [name, shard] of entries) {
    if (!isPlainFileName(shard))
      throw new TsloraError(
        `${file}: tensor ${JSON.stringify(name)} maps to ${JSON.stringify(shard)}, not a plain file name`,
        { hint: 'use shardFileName(i, n)' },
      );
  }
  if (!Number.isSafeInteger(totalSize) || totalSize < 0)
    throw new TsloraError(`${file}: total_size ${totalSize} is not a non-negative integer`);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // Built by hand: JSON.stringify would move integer-like keys to the front and break the sort.
  const lines = entries.map(([name, shard]) => `    ${JSON.stringify(name)}: ${JSON.stringify(shard)}`);
  const weightMapJson = lines.length ? `{\n${lines.join(',\n')}\n  }` : '{}';
  writeFileAtomic(
    file,
    `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": ${weightMapJson}\n}\n`,
  );
}

/** Where a checkpoint tensor lives: its header entry and the (shard) file name inside the directory. */
export interface CheckpointTensor {
  info: TensorInfo;
  file: string;
}

/**
 * Reads a checkpoint directory (or a single .safetensors path) tensor by tensor, hiding whether it
 * is sharded. Opening validates every shard header and that the index and shards agree.
 */
export class CheckpointReader {
  /** Every tensor by name. */
  readonly tensors: Map<string, CheckpointTensor>;
  /** Safetensors file names in the directory, sorted (one for an unsharded checkpoint). */
  readonly files: string[];
  private readonly open: Map<string, SafetensorsFile>;

  private constructor(
    /** The checkpoint directory. */
    readonly dir: string,
    /** The index when the checkpoint is sharded. */
    readonly index: ShardedIndex | undefined,
    open: Map<string, SafetensorsFile>,
  ) {
    this.open = open;
    this.files = [...open.keys()].sort();
    this.tensors = new Map();
    for (const [file, st] of open) for (const info of st.tensors) this.tensors.set(info.name, { info, file });
  }

  /** Opens `dir/model.safetensors.index.json` + shards, else `dir/model.safetensors`; a path to a .safetensors file also works. */
  static open(dir: string): CheckpointReader {
    if (dir.endsWith('.safetensors') && fs.statSync(dir, { throwIfNoEntry: false })?.isFile()) {
      return new CheckpointReader(
        nodePath.dirname(dir),
        undefined,
        new Map([[nodePath.basename(dir), SafetensorsFile.open(dir)]]),
      );
    }
    if (fs.existsSync(nodePath.join(dir, INDEX_FILE))) return CheckpointReader.openSharded(dir);
    const single = nodePath.join(dir, SINGLE_FILE);
    if (!fs.existsSync(single)) {
      throw new FileFormatError(dir, `holds neither ${SINGLE_FILE} nor ${INDEX_FILE}`, {
        hint: 'pass a Hugging Face checkpoint directory with safetensors weights (pytorch_model.bin is not supported)',
      });
    }
    return new CheckpointReader(dir, undefined, new Map([[SINGLE_FILE, SafetensorsFile.open(single)]]));
  }

  private static openSharded(dir: string): CheckpointReader {
    const index = readShardedIndex(dir);
    const indexFile = nodePath.join(dir, INDEX_FILE);
    const open = new Map<string, SafetensorsFile>();
    try {
      for (const file of index.files) {
        const path = nodePath.join(dir, file);
        if (!fs.existsSync(path))
          throw new FileFormatError(indexFile, `lists shard ${JSON.stringify(file)}, which is missing from ${dir}`, {
            hint: 'download every shard listed in the index',
          });
        open.set(file, SafetensorsFile.open(path));
      }
      checkIndexAgrees(index, open, indexFile);
      return new CheckpointReader(dir, index, open);
    } catch (e) {
      for (const st of open.values()) st.close();
      throw e;
    }
  }

  /** The entry of `name`; the error lists the closest names. */
  get(name: string): CheckpointTensor {
    const t = this.tensors.get(name);
    if (t !== undefined) return t;
    const near = similarNames(name, this.tensors.keys());
    throw new FileFormatError(
      this.dir,
      `checkpoint has no tensor named ${JSON.stringify(name)}; similar names: ${near.map((n) => JSON.stringify(n)).join(', ') || '(none)'}`,
      {
        hint: 'the checkpoint and the model config come from different models, or the name is misspelled',
      },
    );
  }

  /** The raw little-endian bytes of one tensor. */
  readBytes(name: string): Uint8Array {
    return this.shard(name).readBytes(name);
  }

  /** A float tensor decoded to f32. */
  readF32(name: string): Float32Array {
    return this.shard(name).readF32(name);
  }

  /** An integer/bool tensor decoded to int32. */
  readInt(name: string): Int32Array {
    return this.shard(name).readInt(name);
  }

  /** Closes every open shard; idempotent. */
  close(): void {
    for (const st of this.open.values()) st.close();
  }

  private shard(name: string): SafetensorsFile {
    return this.open.get(this.get(name).file)!;
  }
}

/** Every index entry must be in its shard, and every shard tensor in the index under that shard. */
function checkIndexAgrees(index: ShardedIndex, open: Map<string, SafetensorsFile>, indexFile: string): void {
  const hint = 'the index and the shards come from different exports; re-download them from the same revision';
  for (const [name, file] of index.weightMap) {
    if (!open.get(file)!.has(name))
      throw new FileFormatError(
        indexFile,
        `maps tensor ${JSON.stringify(name)} to ${file}, which does not contain it`,
        { hint },
      );
  }
  for (const [file, st] of open) {
    for (const { name } of st.tensors) {
      const mapped = index.weightMap.get(name);
      if (mapped !== file) {
        throw new FileFormatError(
          indexFile,
          `shard ${file} holds tensor ${JSON.stringify(name)}, which the index ${mapped === undefined ? 'does not list' : `maps to ${mapped}`}`,
          { hint },
        );
      }
    }
  }
}

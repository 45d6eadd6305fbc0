// sharded.test.ts — index.json + shards read back equal to a single file; unsafe or inconsistent indexes refused.

import fs from 'node:fs';
import nodePath from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeF32, encodeInt } from '../dtype.js';
import { FileFormatError, TsloraError } from '../errors.js';
import { tempDir } from './fixtures/raw-file.js';
import { type TensorData, writeSafetensors } from './safetensors.js';
import { CheckpointReader, INDEX_FILE, readShardedIndex, shardFileName, writeShardedIndex } from './sharded.js';

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function model(): TensorData[] {
  const f = (name: string, shape: number[], dtype: 'f32' | 'bf16' | 'f16', k: number): TensorData => {
    const x = Float32Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      (_, i) => Math.cos(k + i * 0.37) * (i + 1),
    );
    return { name, dtype, shape, data: encodeF32(x, dtype) };
  };
  return [
    f('model.embed_tokens.weight', [8, 4], 'bf16', 1),
    f('model.layers.0.self_attn.q_proj.weight', [4, 4], 'bf16', 2),
    f('model.layers.0.self_attn.q_proj.bias', [4], 'f32', 3),
    f('model.layers.1.mlp.up_proj.weight', [6, 4], 'f16', 4),
    f('model.norm.weight', [4], 'f32', 5),
    { name: 'position_ids', dtype: 'i64', shape: [5], data: encodeInt(Int32Array.from([0, 1, 2, 3, 4]), 'i64') },
  ];
}

/** Writes `tensors` as `n` shards + index into `out`, round-robin by name. */
function writeSharded(out: string, tensors: TensorData[], n: number): Map<string, string> {
  const weightMap = new Map<string, string>();
  let total = 0;
  for (let i = 1; i <= n; i++) {
    const part = tensors.filter((_, j) => j % n === i - 1);
    writeSafetensors(nodePath.join(out, shardFileName(i, n)), part);
    for (const t of part) {
      weightMap.set(t.name, shardFileName(i, n));
      total += t.data.length;
    }
  }
  writeShardedIndex(out, weightMap, total);
  return weightMap;
}

describe('shard names and index file', () => {
  it('names shards as transformers does (1-based)', () => {
    expect(shardFileName(1, 3)).toBe('model-00001-of-00003.safetensors');
    expect(shardFileName(12, 123456)).toBe('model-00012-of-123456.safetensors');
    expect(() => shardFileName(0, 3)).toThrow(/shard 0 of 3 is out of range/);
    expect(() => shardFileName(4, 3)).toThrow(TsloraError);
  });

  it('writes the index with sorted keys and 2-space indent, and reads it back', () => {
    writeShardedIndex(
      dir,
      {
        'b.w': 'model-00002-of-00002.safetensors',
        '10': 'model-00001-of-00002.safetensors',
        'a.w': 'model-00001-of-00002.safetensors',
      },
      1234,
    );
    const text = fs.readFileSync(nodePath.join(dir, INDEX_FILE), 'utf8');
    expect(text).toBe(
      '{\n  "metadata": {\n    "total_size": 1234\n  },\n  "weight_map": {\n    "10": "model-00001-of-00002.safetensors",\n    "a.w": "model-00001-of-00002.safetensors",\n    "b.w": "model-00002-of-00002.safetensors"\n  }\n}\n',
    );
    const idx = readShardedIndex(dir);
    expect(idx.totalSize).toBe(1234);
    expect(idx.files).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(idx.weightMap.get('b.w')).toBe('model-00002-of-00002.safetensors');
    expect(fs.readdirSync(dir)).toEqual([INDEX_FILE]); // no temp file left
  });

  it('refuses shard names that are paths, on read and on write', () => {
    for (const bad of ['../x', '../model.safetensors', '/etc/passwd', 'sub/model.safetensors', '..', '.', '', 'a\\b']) {
      fs.writeFileSync(
        nodePath.join(dir, INDEX_FILE),
        JSON.stringify({ metadata: { total_size: 4 }, weight_map: { w: bad } }),
      );
      expect(() => readShardedIndex(dir)).toThrow(FileFormatError);
      expect(() => readShardedIndex(dir)).toThrow(
        new RegExp(`${INDEX_FILE.replace(/\./g, '\\.')}: weight_map entry "w" points to .*not a plain file name`),
      );
      expect(() => CheckpointReader.open(dir)).toThrow(/not a plain file name/);
      expect(() => writeShardedIndex(dir, { w: bad }, 4)).toThrow(/not a plain file name/);
    }
  });

  it('refuses malformed indexes with FileFormatError naming the index', () => {
    const cases: [string, RegExp][] = [
      ['{', /not valid JSON/],
      ['{"metadata":{}}', /has no "weight_map" object/],
      ['{"weight_map":{"w":"a.safetensors","w":"b.safetensors"}}', /lists the key "w" more than once/],
      ['{"metadata":{"total_size":-1},"weight_map":{}}', /total_size -1 is not a non-negative integer/],
      ['{"metadata":[],"weight_map":{}}', /"metadata" is not an object/],
      ['{"weight_map":{"w":3}}', /points to 3/],
    ];
    for (const [text, msg] of cases) {
      fs.writeFileSync(nodePath.join(dir, INDEX_FILE), text);
      let err: unknown;
      try {
        readShardedIndex(dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FileFormatError);
      expect((err as Error).message).toContain(nodePath.join(dir, INDEX_FILE));
      expect((err as Error).message).toMatch(msg);
    }
  });
});

describe('CheckpointReader', () => {
  it('3 shards + index read back equal to the single-file checkpoint', () => {
    const tensors = model();
    const single = nodePath.join(dir, 'single');
    const sharded = nodePath.join(dir, 'sharded');
    fs.mkdirSync(single);
    fs.mkdirSync(sharded);
    writeSafetensors(nodePath.join(single, 'model.safetensors'), tensors);
    const weightMap = writeSharded(sharded, tensors, 3);

    const a = CheckpointReader.open(single);
    const b = CheckpointReader.open(sharded);
    try {
      expect(a.index).toBeUndefined();
      expect(a.files).toEqual(['model.safetensors']);
      expect(b.files).toEqual([1, 2, 3].map((i) => shardFileName(i, 3)));
      expect(b.index?.totalSize).toBe(tensors.reduce((s, t) => s + t.data.length, 0));
      expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
      for (const t of tensors) {
        expect(b.tensors.get(t.name)!.file).toBe(weightMap.get(t.name));
        expect(b.tensors.get(t.name)!.info.shape).toEqual(t.shape);
        expect(b.readBytes(t.name)).toEqual(a.readBytes(t.name));
        expect(b.readBytes(t.name)).toEqual(t.data);
        if (t.dtype === 'i64') expect(b.readInt(t.name)).toEqual(a.readInt(t.name));
        else expect(b.readF32(t.name)).toEqual(a.readF32(t.name));
      }
      expect(() => b.get('model.norm.weigth')).toThrow(
        /no tensor named "model\.norm\.weigth"; similar names: "model\.norm\.weight"/,
      );
    } finally {
      a.close();
      b.close();
    }
    const direct = CheckpointReader.open(nodePath.join(single, 'model.safetensors'));
    expect(direct.tensors.size).toBe(tensors.length);
    direct.close();
  });

  it('refuses an index that disagrees with its shards or a missing shard', () => {
    const tensors = model();
    writeSharded(dir, tensors, 2);
    const indexPath = nodePath.join(dir, INDEX_FILE);
    const index = JSON.parse(fs.readFileSync(indexPath, 'utf8')) as { weight_map: Record<string, string> };

    const moved = structuredClone(index);
    moved.weight_map['model.norm.weight'] =
      shardFileName(2, 2) === moved.weight_map['model.norm.weight'] ? shardFileName(1, 2) : shardFileName(2, 2);
    fs.writeFileSync(indexPath, JSON.stringify(moved));
    expect(() => CheckpointReader.open(dir)).toThrow(
      /maps tensor "model\.norm\.weight" to model-0000\d-of-00002\.safetensors, which does not contain it/,
    );

    const dropped = structuredClone(index);
    delete dropped.weight_map.position_ids;
    fs.writeFileSync(indexPath, JSON.stringify(dropped));
    expect(() => CheckpointReader.open(dir)).toThrow(/holds tensor "position_ids", which the index does not list/);

    const missing = structuredClone(index);
    missing.weight_map.position_ids = 'model-00009-of-00009.safetensors';
    fs.writeFileSync(indexPath, JSON.stringify(missing));
    expect(() => CheckpointReader.open(dir)).toThrow(
      /lists shard "model-00009-of-00009\.safetensors", which is missing/,
    );
  });

  it('refuses a directory with neither model.safetensors nor an index', () => {
    expect(() => CheckpointReader.open(dir)).toThrow(FileFormatError);
    expect(() => CheckpointReader.open(dir)).toThrow(
      /holds neither model\.safetensors nor model\.safetensors\.index\.json/,
    );
  });
});

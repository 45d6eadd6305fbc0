// gguf.test.ts — GGUF writer and reader: a tiny file's bytes laid out by hand from the spec, a round trip of every type, refusals.
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { encodeGgml, type GgmlType } from './ggml-quant.js';
import { GgufFile } from './gguf-read.js';
import { type GgufMetaValue, GgufWriter } from './gguf-write.js';

const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'tslora-gguf-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const tmp = (): string => nodePath.join(root, `f${n++}.gguf`);

describe('GgufWriter byte layout', () => {
  it('writes magic, version, counts, one KV, one tensor info, padding and data exactly as the GGUF spec lays them out', () => {
    const path = tmp();
    const meta = new Map<string, GgufMetaValue>([['general.alignment', { type: 'uint32', value: 32 }]]);
    const w = new GgufWriter(path, meta, [{ name: 'a', type: 'F32', dims: [2] }]);
    w.write('a', new Uint8Array(new Float32Array([1, -2]).buffer));
    w.commit();
    // prettier-ignore
    const want = [
      0x47,
      0x47,
      0x55,
      0x46, //                      magic "GGUF"
      3,
      0,
      0,
      0, //                                  version 3 (u32)
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      0, //                      tensor_count (u64)
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      0, //                      metadata_kv_count (u64)
      17,
      0,
      0,
      0,
      0,
      0,
      0,
      0, //                     key length (u64) ...
      ...Buffer.from('general.alignment'), //         ... key bytes, no NUL
      4,
      0,
      0,
      0, //                                  value type GGUF_TYPE_UINT32 = 4
      32,
      0,
      0,
      0, //                                 value 32
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0x61, //                tensor name "a"
      1,
      0,
      0,
      0, //                                  n_dims (u32)
      2,
      0,
      0,
      0,
      0,
      0,
      0,
      0, //                      ne[0] (u64)
      0,
      0,
      0,
      0, //                                  type GGML_TYPE_F32 = 0
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0, //                      offset within the data section (u64)
    ];
    const headerLen = want.length; // 86 → padded to 96
    want.push(...new Array(96 - headerLen).fill(0));
    want.push(0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0); //    1.0f, -2.0f
    want.push(...new Array(32 - 8).fill(0)); //       the tensor is padded to the alignment too
    expect([...fs.readFileSync(path)]).toEqual(want);
    const r = GgufFile.open(path);
    expect([r.dataOffset, r.alignment, r.tensors[0]]).toEqual([
      96,
      32,
      { name: 'a', type: 'F32', dims: [2], offset: 0, nbytes: 8 },
    ]);
    expect([...r.readF32('a')]).toEqual([1, -2]);
    r.close();
  });
});

describe('GGUF round trip', () => {
  it('every metadata value type, arrays of strings and numbers, and F32/F16/BF16/Q8_0 tensors read back as written', () => {
    const path = tmp();
    const meta = new Map<string, GgufMetaValue>([
      ['general.architecture', { type: 'string', value: 'qwen2' }],
      ['t.u8', { type: 'uint8', value: 255 }],
      ['t.i8', { type: 'int8', value: -128 }],
      ['t.u16', { type: 'uint16', value: 65535 }],
      ['t.i16', { type: 'int16', value: -32768 }],
      ['t.u32', { type: 'uint32', value: 4294967295 }],
      ['t.i32', { type: 'int32', value: -2147483648 }],
      ['t.f32', { type: 'float32', value: 1e6 }],
      ['t.bool', { type: 'bool', value: true }],
      ['t.u64', { type: 'uint64', value: 2n ** 64n - 1n }],
      ['t.i64', { type: 'int64', value: -(2n ** 63n) }],
      ['t.f64', { type: 'float64', value: Math.PI }],
      ['t.strs', { type: 'array', itemType: 'string', value: ['Ġthe', '你好', '🙂', '', '<|im_end|>'] }],
      ['t.i32s', { type: 'array', itemType: 'int32', value: [1, 3, 4, -1] }],
      ['t.empty', { type: 'array', itemType: 'float32', value: [] }],
      // > 64 KiB of header: the builder grows its buffer mid-value
      [
        't.many',
        {
          type: 'array',
          itemType: 'string',
          value: Array.from({ length: 6000 }, (_, i) => `tok${i}${'x'.repeat(i % 23)}`),
        },
      ],
      ['general.alignment', { type: 'uint32', value: 64 }],
    ]);
    const rng = new Random(5);
    const tensors: { name: string; type: GgmlType; dims: number[]; data: Float32Array }[] = [
      { name: 'token_embd.weight', type: 'Q8_0', dims: [64, 3] },
      { name: 'blk.0.attn_norm.weight', type: 'F32', dims: [7] },
      { name: 'blk.0.attn_q.weight', type: 'F16', dims: [5, 3] },
      { name: 'output.weight', type: 'BF16', dims: [3, 2, 2] },
    ].map((t) => {
      const data = new Float32Array(t.dims.reduce((a, b) => a * b, 1));
      rng.fillNormal(data, 0, 1);
      return { ...t, type: t.type as GgmlType, data };
    });
    const w = new GgufWriter(path, meta, tensors);
    expect(w.expected).toBe('token_embd.weight');
    for (const t of tensors) w.write(t.name, encodeGgml(t.data, t.type));
    w.commit();
    const r = GgufFile.open(path);
    expect(r.version).toBe(3);
    expect([...r.metadata.entries()]).toEqual([
      ...[...meta.entries()].map(([k, v]): [string, GgufMetaValue] => {
        if (v.type === 'uint64' || v.type === 'int64') return [k, { ...v, value: BigInt(v.value) }];
        if (v.type === 'float32') return [k, { ...v, value: Math.fround(v.value as number) }];
        return [k, v];
      }),
    ]);
    expect(r.alignment).toBe(64);
    expect(r.dataOffset % 64).toBe(0);
    for (const t of tensors) {
      const info = r.info(t.name);
      expect([info.type, info.dims, info.offset % 64]).toEqual([t.type, t.dims, 0]);
      expect(Buffer.from(r.readBytes(t.name)).equals(Buffer.from(encodeGgml(t.data, t.type)))).toBe(true);
    }
    expect(r.readF32('blk.0.attn_norm.weight')).toEqual(tensors[1]!.data);
    r.close();
    expect(fs.statSync(path).size).toBe(r.dataOffset + r.tensors.at(-1)!.offset + 64); // BF16 [3,2,2] = 24 B → 64
  });
});

describe('GgufWriter refusals', () => {
  const meta = new Map<string, GgufMetaValue>();
  it('refuses Q8_0 rows that are not a multiple of 32, bad names and dims, before creating anything', () => {
    const path = tmp();
    expect(() => new GgufWriter(path, meta, [{ name: 'w', type: 'Q8_0', dims: [48, 2] }])).toThrow(
      /tensor "w" has rows of 48 values, not a multiple of 32 as Q8_0 needs/,
    );
    expect(() => new GgufWriter(path, meta, [{ name: 'x'.repeat(64), type: 'F32', dims: [1] }])).toThrow(/64\+ bytes/);
    expect(() => new GgufWriter(path, meta, [{ name: 'w', type: 'F32', dims: [1, 1, 1, 1, 1] }])).toThrow(/dims/);
    expect(
      () =>
        new GgufWriter(path, new Map([['k', { type: 'uint8', value: 256 }]]), [{ name: 'w', type: 'F32', dims: [1] }]),
    ).toThrow(/"256" is not a valid uint8/);
    expect(fs.readdirSync(root).filter((f) => f.startsWith(`.${nodePath.basename(path)}`))).toEqual([]);
    expect(fs.existsSync(path)).toBe(false);
  });

  it('writes nothing at the path until commit, and nothing at all after abort or a wrong-size write', () => {
    const path = tmp();
    const w = new GgufWriter(path, meta, [
      { name: 'a', type: 'F32', dims: [2] },
      { name: 'b', type: 'F32', dims: [2] },
    ]);
    expect(() => w.write('b', new Uint8Array(8))).toThrow(/out of order; expected "a"/);
    w.write('a', new Uint8Array(8));
    expect(fs.existsSync(path)).toBe(false);
    expect(() => w.write('b', new Uint8Array(4))).toThrow(/needs 8 bytes, got 4/);
    w.abort();
    expect(fs.existsSync(path)).toBe(false);
    expect(fs.readdirSync(root).filter((f) => f.includes(nodePath.basename(path)))).toEqual([]);
  });
});

describe('GgufFile refusals', () => {
  it('names the problem in a truncated file, a wrong magic and an unknown tensor type', () => {
    const path = tmp();
    const w = new GgufWriter(path, new Map(), [{ name: 'a', type: 'F32', dims: [8] }]);
    w.write('a', new Uint8Array(32));
    w.commit();
    const good = fs.readFileSync(path);
    const bad = tmp();
    fs.writeFileSync(bad, good.subarray(0, 40));
    expect(() => GgufFile.open(bad)).toThrow(/header ends early/);
    fs.writeFileSync(bad, good.subarray(0, good.length - 4));
    expect(() => GgufFile.open(bad)).toThrow(/tensor a runs past the end of the file/);
    const magic = Buffer.from(good);
    magic[0] = 0x46;
    fs.writeFileSync(bad, magic);
    expect(() => GgufFile.open(bad)).toThrow(/does not start with the GGUF magic/);
    const type = Buffer.from(good);
    type.writeUInt32LE(2, 24 + 8 + 1 + 4 + 8); // the tensor's type field: Q4_0
    fs.writeFileSync(bad, type);
    expect(() => GgufFile.open(bad)).toThrow(/ggml type 2, which tslora cannot read/);
  });
});

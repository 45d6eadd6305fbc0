// safetensors.test.ts — reading a PyTorch-written golden, writer layout, round trips, streaming and atomic writes.

import fs from 'node:fs';
import nodePath from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALL_DTYPES, type DType, encodeF32, encodeInt, isFloatDType, itemSize } from '../dtype.js';
import { FileFormatError, TsloraError } from '../errors.js';
import { tempDir } from './fixtures/raw-file.js';
import { SafetensorsFile, SafetensorsWriter, type TensorData, writeSafetensors } from './safetensors.js';

const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;
const expected = JSON.parse(fs.readFileSync(fixture('golden_expected.json'), 'utf8')) as {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
};
const toNumber = (v: number | string): number => (typeof v === 'number' ? v : Number(v)); // "NaN", "Infinity", "-Infinity"

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('PyTorch-written golden', () => {
  it('lists every tensor with the dtype and shape torch wrote, in file order', () => {
    const st = SafetensorsFile.open(fixture('golden.safetensors'));
    try {
      expect(st.metadata).toEqual(expected.metadata);
      expect(st.tensors.map((t) => t.name).sort()).toEqual(Object.keys(expected.tensors).sort());
      for (const t of st.tensors) {
        expect(t.dtype.toUpperCase()).toBe(expected.tensors[t.name]!.dtype);
        expect(t.shape).toEqual(expected.tensors[t.name]!.shape);
      }
      const begins = st.tensors.map((t) => t.begin);
      expect(begins).toEqual([...begins].sort((a, b) => a - b));
    } finally {
      st.close();
    }
  });

  it('values equal what torch held (floats via readF32, ints via readInt)', () => {
    const st = SafetensorsFile.open(fixture('golden.safetensors'));
    try {
      for (const [name, want] of Object.entries(expected.tensors)) {
        const info = st.get(name);
        const got = isFloatDType(info.dtype) ? Array.from(st.readF32(name)) : Array.from(st.readInt(name));
        const wantNums = want.values.map(toNumber).map((v) => (info.dtype === 'f64' ? Math.fround(v) : v));
        expect(got.length, name).toBe(wantNums.length);
        got.forEach((g, i) => {
          const ok = Object.is(g, wantNums[i]) || (Number.isNaN(g) && Number.isNaN(wantNums[i]!));
          expect(ok, `${name}[${i}]: ${g} vs ${wantNums[i]}`).toBe(true);
        });
      }
    } finally {
      st.close();
    }
  });

  it('rewriting the golden with writeSafetensors reproduces its bytes exactly (same layout as the Rust crate)', () => {
    const st = SafetensorsFile.open(fixture('golden.safetensors'));
    const tensors: TensorData[] = st.tensors.map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      data: st.readBytes(t.name),
    }));
    st.close();
    tensors.reverse(); // input order must not matter
    const out = nodePath.join(dir, 'copy.safetensors');
    writeSafetensors(out, tensors);
    expect(new Uint8Array(fs.readFileSync(out))).toEqual(
      new Uint8Array(fs.readFileSync(fixture('golden.safetensors'))),
    );
  });
});

function sampleTensor(name: string, dtype: DType, shape: number[], seed: number): TensorData {
  const n = shape.reduce((a, b) => a * b, 1);
  if (isFloatDType(dtype)) {
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7 + i) * 10 ** ((i % 7) - 3));
    return { name, dtype, shape, data: encodeF32(x, dtype) };
  }
  const [lo, hi] =
    dtype === 'bool'
      ? [0, 1]
      : dtype === 'u8'
        ? [0, 255]
        : dtype === 'i8'
          ? [-128, 127]
          : dtype === 'i16'
            ? [-32768, 32767]
            : [-(2 ** 31), 2 ** 31 - 1];
  const v = Int32Array.from({ length: n }, (_, i) => lo + ((i * 2654435761 + seed) % (hi - lo + 1)));
  return { name, dtype, shape, data: encodeInt(v, dtype) };
}

describe('writer', () => {
  it('round trips every dtype through a file, byte for byte, with offsets aligned to the element size', () => {
    const tensors = ALL_DTYPES.flatMap((d, i) => [
      sampleTensor(`t.${d}`, d, [3, i + 1], i),
      sampleTensor(`z.${d}.empty`, d, [0, 4], i),
    ]);
    tensors.push(sampleTensor('scalar', 'f32', [], 99));
    const path = nodePath.join(dir, 'all.safetensors');
    writeSafetensors(path, tensors, { format: 'pt', note: 'ünïcode ✓' });
    const st = SafetensorsFile.open(path);
    try {
      expect(st.metadata).toEqual({ format: 'pt', note: 'ünïcode ✓' });
      for (const t of tensors) {
        const info = st.get(t.name);
        expect([info.dtype, info.shape]).toEqual([t.dtype, t.shape]);
        expect(info.begin % itemSize(t.dtype)).toBe(0);
        expect(st.readBytes(t.name)).toEqual(t.data);
      }
      // Layout: descending alignment as the Rust crate's Dtype enum, then name.
      expect(st.tensors.map((t) => t.name).filter((n) => n.startsWith('t.'))).toEqual(ALL_DTYPES.map((d) => `t.${d}`));
    } finally {
      st.close();
    }
    const bytes = fs.readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    expect(bytes.subarray(8, 8 + n).toString('utf8')).toMatch(
      /^\{"__metadata__":\{"format":"pt","note":"ünïcode ✓"\},"t\.i64":\{"dtype":"I64","shape":\[3,1\],"data_offsets":\[0,24\]\}.*\} *$/,
    );
  });

  it('defaults metadata to {"format":"pt"} and omits it for {}', () => {
    const a = nodePath.join(dir, 'a.safetensors');
    writeSafetensors(a, [sampleTensor('x', 'f32', [2], 1)]);
    expect(fs.readFileSync(a).toString('utf8', 8, 60)).toContain('{"__metadata__":{"format":"pt"},"x":');
    writeSafetensors(a, [sampleTensor('x', 'f32', [2], 1)], {});
    expect(fs.readFileSync(a).toString('utf8', 8, 12)).toBe('{"x"');
  });

  it('keeps integer-like tensor names in sorted position', () => {
    const p = nodePath.join(dir, 'n.safetensors');
    writeSafetensors(
      p,
      ['b', '10', '2', 'a'].map((n, i) => sampleTensor(n, 'f32', [1], i)),
    );
    const st = SafetensorsFile.open(p);
    expect(st.tensors.map((t) => t.name)).toEqual(['10', '2', 'a', 'b']);
    st.close();
  });

  it('refuses bad input and leaves no file behind', () => {
    const p = nodePath.join(dir, 'bad.safetensors');
    const cases: [TensorData[], RegExp][] = [
      [[{ ...sampleTensor('x', 'f32', [2], 0), data: new Uint8Array(7) }], /needs 8 bytes, got 7/],
      [[sampleTensor('x', 'f32', [2], 0), sampleTensor('x', 'i8', [1], 0)], /"x" is given twice/],
      [[sampleTensor('__metadata__', 'f32', [1], 0)], /invalid tensor name/],
      [[{ ...sampleTensor('x', 'f32', [1], 0), shape: [-1] }], /shape \[-1\]/],
      [[{ ...sampleTensor('x', 'f32', [1], 0), dtype: 'f8' as DType }], /unknown dtype "f8"/],
    ];
    for (const [tensors, msg] of cases) {
      expect(() => writeSafetensors(p, tensors)).toThrow(TsloraError);
      expect(() => writeSafetensors(p, tensors)).toThrow(msg);
    }
    expect(() => writeSafetensors(p, [], { n: 1 as unknown as string })).toThrow(
      /metadata value of "n" is not a string/,
    );
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a failed write leaves an existing file untouched', () => {
    const p = nodePath.join(dir, 'keep.safetensors');
    writeSafetensors(p, [sampleTensor('old', 'f32', [2], 0)]);
    const before = fs.readFileSync(p);
    expect(() =>
      writeSafetensors(p, [
        sampleTensor('a', 'f32', [2], 0),
        { ...sampleTensor('b', 'f32', [2], 0), data: new Uint8Array(1) },
      ]),
    ).toThrow(/needs 8 bytes/);
    expect(fs.readFileSync(p)).toEqual(before);
    expect(fs.readdirSync(dir)).toEqual(['keep.safetensors']);
  });

  it('reports an unwritable directory as a TsloraError naming the path', () => {
    const p = nodePath.join(dir, 'missing', 'x.safetensors');
    expect(() => writeSafetensors(p, [sampleTensor('x', 'f32', [1], 0)])).toThrow(
      /missing\/x\.safetensors: creating the temp file failed \(ENOENT\)/,
    );
  });
});

describe('SafetensorsWriter (streaming)', () => {
  const specs = [
    sampleTensor('b', 'bf16', [4, 3], 1),
    sampleTensor('a', 'f32', [5], 2),
    sampleTensor('c', 'i64', [2], 3),
  ];

  it('exposes the order, accepts writes in that order and equals writeSafetensors output', () => {
    const p = nodePath.join(dir, 's.safetensors');
    const w = new SafetensorsWriter(
      p,
      specs.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
    );
    expect(w.order).toEqual(['c', 'a', 'b']);
    expect(fs.existsSync(p)).toBe(false);
    for (const name of w.order) w.write(name, specs.find((s) => s.name === name)!.data);
    expect(fs.existsSync(p)).toBe(false); // nothing visible before commit
    w.commit();
    const q = nodePath.join(dir, 'w.safetensors');
    writeSafetensors(q, specs);
    expect(fs.readFileSync(p)).toEqual(fs.readFileSync(q));
  });

  it('refuses out-of-order writes and wrong sizes; abort removes the temp file', () => {
    const p = nodePath.join(dir, 's.safetensors');
    const w = new SafetensorsWriter(p, specs);
    expect(() => w.write('a', specs[1]!.data)).toThrow(/"a" written out of order; expected "c"/);
    expect(() => w.write('c', new Uint8Array(3))).toThrow(/"c" of shape \[2\] i64 needs 16 bytes, got 3/);
    w.abort();
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(() => w.write('c', specs[2]!.data)).toThrow(/after commit\(\) or abort\(\)/);
  });

  it('commit with tensors missing fails and writes nothing', () => {
    const p = nodePath.join(dir, 's.safetensors');
    const w = new SafetensorsWriter(p, specs);
    w.write('c', specs[2]!.data);
    expect(() => w.commit()).toThrow(/2 tensors unwritten \(next: "a"\)/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('reader', () => {
  it('get() on a missing name lists similar names', () => {
    const p = nodePath.join(dir, 'm.safetensors');
    const names = [
      'model.layers.0.mlp.up_proj.weight',
      'model.layers.0.mlp.down_proj.weight',
      'model.norm.weight',
      'lm_head.weight',
    ];
    writeSafetensors(
      p,
      names.map((n, i) => sampleTensor(n, 'f32', [1], i)),
    );
    const st = SafetensorsFile.open(p);
    expect(() => st.get('model.layers.0.mlp.up_proj.weigth')).toThrow(FileFormatError);
    expect(() => st.get('model.layers.0.mlp.up_proj.weigth')).toThrow(
      /m\.safetensors: no tensor named "model\.layers\.0\.mlp\.up_proj\.weigth"; similar names: "model\.layers\.0\.mlp\.up_proj\.weight"/,
    );
    expect(() => st.readInt(names[0]!)).toThrow(/has dtype f32, not an integer dtype/);
    st.close();
    expect(() => st.readBytes(names[0]!)).toThrow(/after close\(\)/);
  });

  it('readInt names the file and tensor when an i64 value does not fit int32', () => {
    const p = nodePath.join(dir, 'i.safetensors');
    writeSafetensors(p, [
      { name: 'ids', dtype: 'i64', shape: [2], data: new Uint8Array(BigInt64Array.from([1n, 5000000000n]).buffer) },
    ]);
    const st = SafetensorsFile.open(p);
    expect(() => st.readInt('ids')).toThrow(FileFormatError);
    expect(() => st.readInt('ids')).toThrow(/i\.safetensors: tensor "ids": decodeInt: i64 value 5000000000 at index 1/);
    st.close();
  });

  it('reads a tensor stored beyond 2 GiB (sparse file) without reading the rest', () => {
    const big = 2 ** 31 + 8; // u8 bytes before the tensor we read
    const p = nodePath.join(dir, 'big.safetensors');
    const header = Buffer.from(
      JSON.stringify({
        pad: { dtype: 'U8', shape: [big], data_offsets: [0, big] },
        tail: { dtype: 'F32', shape: [3], data_offsets: [big, big + 12] },
      }),
    );
    const fd = fs.openSync(p, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    fs.writeSync(fd, len, 0, 8, 0);
    fs.writeSync(fd, header, 0, header.length, 8);
    const tail = new Uint8Array(Float32Array.from([1.5, -2, 3e-5]).buffer);
    fs.writeSync(fd, tail, 0, 12, 8 + header.length + big);
    fs.closeSync(fd);
    const st = SafetensorsFile.open(p);
    try {
      expect(Array.from(st.readF32('tail'))).toEqual([1.5, -2, Math.fround(3e-5)]);
      expect(st.get('pad').end).toBe(big);
    } finally {
      st.close();
    }
  });
});

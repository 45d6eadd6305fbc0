// safetensors-reject.test.ts — every rule of DESIGN §3 the reader enforces, each with the error class and message.

import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileFormatError } from '../errors.js';
import { putFile, rawSafetensors, rawWithHeaderBytes, tempDir } from './fixtures/raw-file.js';
import { parseSafetensorsHeader, SafetensorsFile } from './safetensors.js';

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

const f32 = (begin: number, end: number, shape: number[] = [(end - begin) / 4]): object => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, end],
});

/** Opens `bytes` as a file and expects a FileFormatError whose message names the file and matches `problem`. */
function expectRejected(bytes: Uint8Array, problem: RegExp): FileFormatError {
  const path = putFile(dir, 'bad.safetensors', bytes);
  let err: unknown;
  try {
    SafetensorsFile.open(path).close();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FileFormatError);
  const e = err as FileFormatError;
  expect(e.file).toBe(path);
  expect(e.message.startsWith(`${path}: `)).toBe(true);
  expect(e.message).toMatch(problem);
  expect(e.hint).toBeTruthy();
  expect(e.exitCode).toBe(2);
  return e;
}

describe('file and header length', () => {
  it('refuses files shorter than 8 bytes', () => {
    expectRejected(new Uint8Array(0), /file has 0 bytes, fewer than the 8-byte/);
    expectRejected(new Uint8Array(7), /file has 7 bytes/);
  });

  it('refuses a header length above 100,000,000 before reading it', () => {
    const spy = vi.spyOn(fs, 'readSync');
    expectRejected(rawSafetensors('{}', 0, 100_000_001n), /header length 100000001 exceeds the 100000000-byte limit/);
    expectRejected(rawSafetensors('{}', 0, 2n ** 64n - 1n), /header length 18446744073709551615 exceeds/);
    expect(spy).toHaveBeenCalled();
    expect(spy.mock.calls.every((c) => ((c as unknown[])[3] as number) <= 8)).toBe(true); // only the 8-byte length was read
  });

  it('refuses a header length that runs past the file, without allocating it', () => {
    const files = [rawSafetensors('{}', 0, 99_999_999n), rawSafetensors('{"a":1}', 0, 8n)];
    const alloc = vi.spyOn(Buffer, 'alloc');
    expectRejected(files[0]!, /header length 99999999 runs past the end of the 10-byte file/);
    expectRejected(files[1]!, /header length 8 runs past the end of the 15-byte file/);
    expect(alloc.mock.calls.every((c) => c[0] <= 15)).toBe(true);
    // Control: the spy does see the reader's header allocation when the length is valid.
    SafetensorsFile.open(putFile(dir, 'ok.safetensors', rawSafetensors('{}          '))).close();
    expect(alloc.mock.calls.map((c) => c[0])).toContain(12);
  });
});

describe('header text', () => {
  it('refuses a header that is not UTF-8', () => {
    expectRejected(
      rawWithHeaderBytes(Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])),
      /header is not valid UTF-8/,
    );
  });

  it('refuses a header that does not start with "{" (leading space, array, BOM)', () => {
    expectRejected(rawSafetensors(' {}'), /does not start with "\{"/);
    expectRejected(rawSafetensors('[]'), /does not start with "\{"/);
    expectRejected(rawSafetensors('\ufeff{}'), /does not start with "\{"/);
  });

  it('refuses a header that is not JSON, or JSON that is not an object', () => {
    expectRejected(rawSafetensors('{"a": '), /header is not valid JSON/);
    expectRejected(rawSafetensors('{} {}'), /header is not valid JSON/);
  });

  it('refuses duplicate tensor names, also when spelled with escapes', () => {
    expectRejected(
      rawSafetensors(`{"w":${JSON.stringify(f32(0, 4))},"w":${JSON.stringify(f32(4, 8))}}`, 8),
      /lists the key "w" more than once/,
    );
    expectRejected(
      rawSafetensors(`{"w":${JSON.stringify(f32(0, 4))},"\\u0077":${JSON.stringify(f32(4, 8))}}`, 8),
      /lists the key "w" more than once/,
    );
    expectRejected(
      rawSafetensors(`{"w":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}`, 4),
      /lists the key "dtype" more than once/,
    );
  });

  it('accepts trailing space padding, unusual names and keys containing quotes and braces', () => {
    const header = `{"a\\"}{[":${JSON.stringify(f32(0, 4))},"__metadata__":{"k":"v \\" }"}}    `;
    const st = SafetensorsFile.open(putFile(dir, 'ok.safetensors', rawSafetensors(header, 4)));
    expect(st.tensors.map((t) => t.name)).toEqual(['a"}{[']);
    expect(st.metadata).toEqual({ k: 'v " }' });
    st.close();
  });
});

describe('tensor entries', () => {
  it('refuses unknown dtypes, naming the tensor and the dtype', () => {
    const e = expectRejected(
      rawSafetensors({ 'model.w': { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, 4),
      /tensor "model\.w": unknown or unsupported dtype "F8_E4M3"/,
    );
    expect(e.hint).toMatch(/F64, F32, F16, BF16/);
    expectRejected(
      rawSafetensors({ w: { dtype: 7, shape: [1], data_offsets: [0, 4] } }, 4),
      /tensor "w": dtype is 7, not a string/,
    );
  });

  it('refuses shapes that are not lists of non-negative integers', () => {
    for (const shape of [[-1], [1.5], ['2'], [2 ** 60], 3, null]) {
      expectRejected(
        rawSafetensors({ w: { dtype: 'U8', shape, data_offsets: [0, 2] } }, 2),
        /tensor "w": shape .* is not a list of non-negative integers/,
      );
    }
  });

  it('refuses malformed data_offsets and entries that are not objects', () => {
    expectRejected(
      rawSafetensors({ w: { dtype: 'U8', shape: [2], data_offsets: [0, 1, 2] } }, 2),
      /tensor "w": data_offsets \[0,1,2\] is not a pair/,
    );
    expectRejected(
      rawSafetensors({ w: { dtype: 'U8', shape: [2], data_offsets: [2, 0] } }, 2),
      /tensor "w": data_offsets \[2, 0\] end before they begin/,
    );
    expectRejected(rawSafetensors({ w: [1, 2] }, 0), /tensor "w": header entry is not an object/);
  });

  it('refuses offsets that disagree with shape x itemsize', () => {
    expectRejected(
      rawSafetensors({ w: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 8] } }, 8),
      /tensor "w": shape \[2, 3\] of BF16 needs 12 bytes but data_offsets \[0, 8\] hold 8/,
    );
  });

  it('refuses offsets that run past the data section', () => {
    expectRejected(
      rawSafetensors({ w: f32(0, 8) }, 4),
      /tensor "w": data_offsets \[0, 8\] run past the end of the file \(data section has 4 bytes\)/,
    );
    expectRejected(
      rawSafetensors({ w: { dtype: 'U8', shape: [2 ** 40], data_offsets: [0, 2 ** 40] } }, 4),
      /run past the end of the file/,
    );
  });

  it('refuses overlapping tensors and gaps between them', () => {
    expectRejected(
      rawSafetensors({ a: f32(0, 8), b: f32(4, 12) }, 12),
      /tensor "b" \[4, 12\] overlaps tensor "a" \[0, 8\]/,
    );
    expectRejected(rawSafetensors({ a: f32(0, 4), b: f32(8, 12) }, 12), /gap of 4 bytes before tensor "b"/);
    expectRejected(rawSafetensors({ a: f32(4, 8) }, 8), /gap of 4 bytes before tensor "a"/);
  });

  it('refuses data that does not end at the end of the file', () => {
    expectRejected(
      rawSafetensors({ a: f32(0, 4) }, 5),
      /tensor data ends at byte 4 of the data section but the file has 1 more bytes/,
    );
    expectRejected(rawSafetensors({}, 3), /ends at byte 0 .* 3 more bytes/);
  });

  it('accepts tensors listed out of offset order and zero-size tensors', () => {
    const st = SafetensorsFile.open(
      putFile(dir, 'ok.safetensors', rawSafetensors({ b: f32(4, 8), e: f32(4, 4, [0, 5]), a: f32(0, 4) }, 8)),
    );
    expect(st.tensors.map((t) => t.name)).toEqual(['a', 'e', 'b']);
    st.close();
  });
});

describe('__metadata__', () => {
  it('must map strings to strings', () => {
    expectRejected(
      rawSafetensors({ __metadata__: { format: 'pt', step: 3 } }),
      /__metadata__ value of "step" is 3, not a string/,
    );
    expectRejected(rawSafetensors({ __metadata__: ['pt'] }), /__metadata__ is not a JSON object/);
    expectRejected(rawSafetensors({ __metadata__: null }), /__metadata__ is not a JSON object/);
  });
});

describe('parseSafetensorsHeader directly', () => {
  it('names the given file in errors', () => {
    const header = Buffer.from(JSON.stringify({ w: f32(0, 4) }));
    expect(() => parseSafetensorsHeader(header, 3, 'x/model.safetensors')).toThrow(
      /^x\/model\.safetensors: tensor "w": data_offsets \[0, 4\] run past/,
    );
    expect(parseSafetensorsHeader(header, 4, 'x').tensors).toEqual([
      { name: 'w', dtype: 'f32', shape: [1], begin: 0, end: 4 },
    ]);
  });

  it('refuses a directory and a missing file with a FileFormatError', () => {
    expect(() => SafetensorsFile.open(dir)).toThrow(/is not a regular file/);
    expect(() => SafetensorsFile.open(`${dir}/nope.safetensors`)).toThrow(FileFormatError);
    expect(() => SafetensorsFile.open(`${dir}/nope.safetensors`)).toThrow(/cannot open safetensors file \(ENOENT\)/);
  });
});

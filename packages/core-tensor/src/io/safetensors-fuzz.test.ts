// safetensors-fuzz.test.ts — property tests: corrupted files yield FileFormatError, never another exception or a big allocation.

import fs from 'node:fs';
import nodePath from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { ALL_DTYPES, isFloatDType } from '../dtype.js';
import { FileFormatError } from '../errors.js';
import { putFile, tempDir } from './fixtures/raw-file.js';
import { parseSafetensorsHeader, SafetensorsFile, type TensorData, writeSafetensors } from './safetensors.js';

let dir: string;
let allocSpy: MockInstance<typeof Buffer.alloc>;
let readSpy: MockInstance<typeof fs.readSync>;
beforeEach(() => {
  dir = tempDir();
  allocSpy = vi.spyOn(Buffer, 'alloc');
  readSpy = vi.spyOn(fs, 'readSync');
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

const tensorArb: fc.Arbitrary<TensorData[]> = fc
  .uniqueArray(
    fc.record({
      name: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__'),
      dtype: fc.constantFrom(...ALL_DTYPES),
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
      seed: fc.integer({ min: 0, max: 255 }),
    }),
    { selector: (t) => t.name, minLength: 1, maxLength: 5 },
  )
  .map((ts) =>
    ts.map(({ name, dtype, shape, seed }) => {
      const n =
        shape.reduce((a, b) => a * b, 1) *
        (dtype === 'i64' || dtype === 'f64'
          ? 8
          : dtype === 'f32' || dtype === 'i32'
            ? 4
            : dtype.endsWith('16')
              ? 2
              : 1);
      return { name, dtype, shape, data: Uint8Array.from({ length: n }, (_, i) => (seed + 31 * i) & 0xff) };
    }),
  );

/** A valid file's bytes, written by our writer. */
function validFile(tensors: TensorData[]): Uint8Array {
  const p = nodePath.join(dir, 'valid.safetensors');
  writeSafetensors(p, tensors);
  return new Uint8Array(fs.readFileSync(p));
}

/**
 * Opens `bytes` from disk. Returns 'ok' (after reading and decoding every tensor) or 'rejected'
 * (FileFormatError); any other exception propagates and fails the property. Also checks that no
 * read or Buffer allocation made by the reader was larger than the file.
 */
function openOrReject(bytes: Uint8Array): 'ok' | 'rejected' {
  const path = putFile(dir, 'fuzz.safetensors', bytes);
  allocSpy.mockClear();
  readSpy.mockClear();
  let result: 'ok' | 'rejected' = 'ok';
  try {
    const st = SafetensorsFile.open(path);
    try {
      for (const t of st.tensors) {
        expect(st.readBytes(t.name).length).toBe(t.end - t.begin);
        try {
          if (isFloatDType(t.dtype)) st.readF32(t.name);
          else st.readInt(t.name);
        } catch (e) {
          if (!(e instanceof FileFormatError && /does not fit in int32/.test(e.message))) throw e;
        }
      }
    } finally {
      st.close();
    }
  } catch (e) {
    if (!(e instanceof FileFormatError)) throw e;
    expect(e.message.startsWith(`${path}: `)).toBe(true);
    result = 'rejected';
  }
  for (const c of allocSpy.mock.calls) expect(c[0]).toBeLessThanOrEqual(bytes.length);
  for (const c of readSpy.mock.calls)
    expect(((c as unknown[])[3] as number | undefined) ?? 0).toBeLessThanOrEqual(bytes.length);
  return result;
}

function withHeaderLength(bytes: Uint8Array, n: bigint): Uint8Array {
  const out = Buffer.from(bytes);
  out.writeBigUInt64LE(n, 0);
  return out;
}

describe('corrupted files are rejected with FileFormatError', () => {
  it('valid files written by the writer open and read', () => {
    fc.assert(
      fc.property(tensorArb, (ts) => {
        expect(openOrReject(validFile(ts))).toBe('ok');
      }),
      { numRuns: 50 },
    );
  });

  it('any wrong header length is rejected before allocating more than the file', () => {
    fc.assert(
      fc.property(
        tensorArb,
        fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.integer({ min: -16, max: 16 })),
        (ts, v) => {
          const bytes = validFile(ts);
          const real = bytes.length > 0 ? Buffer.from(bytes).readBigUInt64LE(0) : 0n;
          const n = typeof v === 'bigint' ? v : real + BigInt(v);
          if (n < 0n || n === real) return;
          expect(openOrReject(withHeaderLength(bytes, n))).toBe('rejected');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('huge declared header lengths throw before any large allocation', () => {
    for (const n of [2n ** 64n - 1n, 2n ** 53n, 100_000_000n, 99_999_999n, 1n << 31n]) {
      expect(
        openOrReject(
          withHeaderLength(validFile([{ name: 'x', dtype: 'f32', shape: [2], data: new Uint8Array(8) }]), n),
        ),
      ).toBe('rejected');
    }
  });

  it('random header byte changes are either harmless or a FileFormatError', () => {
    fc.assert(
      fc.property(
        tensorArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (ts, edits) => {
          const bytes = Buffer.from(validFile(ts));
          const n = Number(bytes.readBigUInt64LE(0));
          for (const [pos, b] of edits) bytes[8 + (pos % n)] = b;
          openOrReject(bytes);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('changed data_offsets are rejected unless they still tile the data exactly', () => {
    fc.assert(
      fc.property(
        tensorArb,
        fc.nat(),
        fc.tuple(fc.integer({ min: -9, max: 9 }), fc.integer({ min: -9, max: 9 })),
        fc.boolean(),
        (ts, which, [db, de], huge) => {
          const bytes = Buffer.from(validFile(ts));
          const n = Number(bytes.readBigUInt64LE(0));
          const header = JSON.parse(bytes.toString('utf8', 8, 8 + n)) as Record<string, { data_offsets: number[] }>;
          const names = Object.keys(header).filter((k) => k !== '__metadata__');
          const entry = header[names[which % names.length]!]!;
          const [b, e] = entry.data_offsets as [number, number];
          entry.data_offsets = huge ? [b, 2 ** 52 + e] : [b + db, e + de];
          const h = Buffer.from(JSON.stringify(header));
          const out = Buffer.concat([Buffer.alloc(8), h, bytes.subarray(8 + n)]);
          out.writeBigUInt64LE(BigInt(h.length), 0);
          const verdict = openOrReject(out);
          if (huge || db !== 0 || de !== 0) {
            // Only a zero-size tensor moved within another zero-size slot could still be valid.
            if (verdict === 'ok') expect(db === de && e - b === 0).toBe(true);
          } else {
            expect(verdict).toBe('ok');
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('truncated files are always rejected', () => {
    fc.assert(
      fc.property(tensorArb, fc.nat(), (ts, cut) => {
        const bytes = validFile(ts);
        expect(openOrReject(bytes.subarray(0, cut % bytes.length))).toBe('rejected');
      }),
      { numRuns: 200 },
    );
  });

  it('trailing bytes after the data are always rejected', () => {
    fc.assert(
      fc.property(tensorArb, fc.uint8Array({ minLength: 1, maxLength: 16 }), (ts, extra) => {
        expect(openOrReject(Buffer.concat([validFile(ts), extra]))).toBe('rejected');
      }),
      { numRuns: 100 },
    );
  });
});

describe('parseSafetensorsHeader on arbitrary input', () => {
  it('arbitrary strings and JSON values: FileFormatError or a valid parse, nothing else', () => {
    const entry = fc.record({
      dtype: fc.oneof(fc.constantFrom('F32', 'BF16', 'I64', 'U8', 'BOOL', 'X'), fc.jsonValue()),
      shape: fc.oneof(fc.array(fc.integer({ min: -2, max: 5 }), { maxLength: 3 }), fc.jsonValue()),
      data_offsets: fc.oneof(
        fc.tuple(fc.integer({ min: -2, max: 64 }), fc.integer({ min: -2, max: 64 })),
        fc.jsonValue(),
      ),
    });
    const header = fc.oneof(
      fc.string(),
      fc.json(),
      fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(entry, fc.jsonValue())).map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(header, fc.integer({ min: 0, max: 128 }), (text, dataSize) => {
        try {
          const { tensors } = parseSafetensorsHeader(Buffer.from(text, 'utf8'), dataSize, 'fuzz.safetensors');
          const covered = tensors.reduce((a, t) => a + (t.end - t.begin), 0);
          expect(covered).toBe(dataSize);
        } catch (e) {
          if (!(e instanceof FileFormatError)) throw e;
          expect(e.message.startsWith('fuzz.safetensors: ')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

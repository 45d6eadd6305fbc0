// bad-checkpoint.reliability.test.ts — broken checkpoints through every command: exit 2, one line naming file and problem, bounded memory.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectCleanError,
  expectRefusedWritingNothing,
  makeBaseAndData,
  runCliRss,
  runMainOk,
  tempWorkspace,
  trainArgv,
} from './harness.js';

const ws = tempWorkspace('ckpt', 'bad checkpoints');
const { root, base, data, ledger } = ws;
const adapter = path.join(root, 'adapter-run');
const SIDE_FILES = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'];

type Header = Record<
  string,
  { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>
>;

function readBase(): { header: Header; data: Buffer } {
  const buf = fs.readFileSync(path.join(base, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Header, data: buf.subarray(8 + n) };
}

/** A safetensors file from a header (object or raw text) and data; `len` overrides the 8-byte length. */
function safetensorsBytes(header: Header | string | Buffer, data: Uint8Array, len?: bigint): Buffer {
  const h = Buffer.isBuffer(header)
    ? header
    : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const pad = Buffer.alloc((8 - (h.length % 8)) % 8, 0x20);
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(len ?? BigInt(h.length + pad.length));
  return Buffer.concat([lenBuf, h, pad, data]);
}

/** A checkpoint dir: the base's config.json (or `config`), symlinked tokenizer files, and `weights` as model.safetensors. */
function variant(
  name: string,
  weights: Buffer | ((file: string) => void) | null,
  opts: { config?: string; drop?: string[] } = {},
): string {
  const dir = path.join(root, 'variants', name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), opts.config ?? fs.readFileSync(path.join(base, 'config.json')));
  for (const f of SIDE_FILES) if (!opts.drop?.includes(f)) fs.symlinkSync(path.join(base, f), path.join(dir, f));
  const file = path.join(dir, 'model.safetensors');
  if (typeof weights === 'function') weights(file);
  else if (weights) fs.writeFileSync(file, weights);
  else if (!opts.drop?.includes('model.safetensors')) fs.symlinkSync(path.join(base, 'model.safetensors'), file);
  return dir;
}

/** A variant whose weights are the base's with one tensor entry of the header mutated. */
function variantWithEntry(
  dirName: string,
  tensor: string,
  f: (e: { dtype: string; shape: number[]; data_offsets: [number, number] }) => void,
): string {
  const { header, data } = readBase();
  f(header[tensor] as { dtype: string; shape: number[]; data_offsets: [number, number] });
  return variant(dirName, safetensorsBytes(header, data));
}

const UP = 'model.layers.0.mlp.up_proj.weight';
const GATE = 'model.layers.0.mlp.gate_proj.weight';

interface Case {
  name: string;
  build: () => string;
  /** What the error line must say (besides naming the file). */
  expect: RegExp;
  /** The file the error must name, relative to the variant dir ('' = the dir itself). */
  names: string;
  /** Commands that read this part of a checkpoint (merge copies config and tokenizer files without reading them). */
  commands?: string[];
}

const CASES: Case[] = [
  {
    name: 'truncated safetensors (cut in half)',
    names: 'model.safetensors',
    expect: /run past the end of the file/,
    build: () => variant('truncated', fs.readFileSync(path.join(base, 'model.safetensors')).subarray(0, 4_900_000)),
  },
  {
    name: 'file shorter than 8 bytes',
    names: 'model.safetensors',
    expect: /fewer than the 8-byte/,
    build: () => variant('short', Buffer.from([1, 2, 3, 4, 5])),
  },
  {
    name: 'header length > file size',
    names: 'model.safetensors',
    expect: /header length 99999999 runs past the end of the 4\d\d\d-byte file/,
    build: () => variant('len-past-end', safetensorsBytes('{}', Buffer.alloc(4000), 99_999_999n)),
  },
  {
    name: 'header length > 100,000,000 (2^40)',
    names: 'model.safetensors',
    expect: /header length 1099511627776 exceeds the 100000000-byte limit/,
    build: () => variant('len-huge', safetensorsBytes('{}', Buffer.alloc(64), 1n << 40n)),
  },
  {
    name: 'header not JSON',
    names: 'model.safetensors',
    expect: /header is not valid JSON/,
    build: () => variant('not-json', safetensorsBytes('{"a": nope}', Buffer.alloc(0))),
  },
  {
    name: 'header not UTF-8',
    names: 'model.safetensors',
    expect: /header is not valid UTF-8/,
    build: () => variant('not-utf8', safetensorsBytes(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), Buffer.alloc(0))),
  },
  {
    name: 'header not an object',
    names: 'model.safetensors',
    expect: /does not start with "\{"/,
    build: () => variant('not-object', safetensorsBytes('[1,2,3]', Buffer.alloc(0))),
  },
  {
    name: 'unknown dtype',
    names: 'model.safetensors',
    expect: /unknown or unsupported dtype "Q4_K"/,
    build: () =>
      variantWithEntry('dtype', UP, (e) => {
        e.dtype = 'Q4_K';
      }),
  },
  {
    name: 'overlapping offsets',
    names: 'model.safetensors',
    expect: /overlaps tensor/,
    build: () =>
      variantWithEntry('overlap', UP, (e) => {
        e.data_offsets = [e.data_offsets[0] - 2, e.data_offsets[1] - 2];
      }),
  },
  {
    name: 'gap between offsets',
    names: 'model.safetensors',
    expect: /gap of 2 bytes before tensor/,
    build: () =>
      variantWithEntry('gap', GATE, (e) => {
        e.data_offsets = [e.data_offsets[0] + 2, e.data_offsets[1] + 2];
      }),
  },
  {
    name: 'shape × dtype ≠ byte range',
    names: 'model.safetensors',
    expect: /shape \[64, 32\] of F32 needs 8192 bytes but data_offsets .* hold 4096/,
    build: () =>
      variantWithEntry('nbytes', UP, (e) => {
        e.dtype = 'F32';
      }),
  },
  {
    name: 'duplicate tensor names',
    names: 'model.safetensors',
    expect: /lists the key "model\.norm\.weight" more than once/,
    build: () => {
      const { header, data } = readBase();
      const norm = JSON.stringify(header['model.norm.weight']);
      const text = JSON.stringify(header).replace(/}$/, `,"model.norm.weight":${norm}}`);
      return variant('duplicate', safetensorsBytes(text, data));
    },
  },
  {
    name: 'bytes after the last tensor',
    names: 'model.safetensors',
    expect: /more bytes after it/,
    build: () =>
      variant('trailing', Buffer.concat([fs.readFileSync(path.join(base, 'model.safetensors')), Buffer.alloc(16)])),
  },
  {
    name: 'model.safetensors missing',
    names: '',
    expect: /model\.safetensors|no .*safetensors/,
    build: () => variant('no-weights', null, { drop: ['model.safetensors'] }),
  },
  {
    name: 'config.json missing a field',
    names: 'config.json',
    expect: /missing field "hidden_size"/,
    commands: ['inspect', 'eval', 'generate', 'train'],
    build: () =>
      variant('cfg-field', null, {
        config: fs.readFileSync(path.join(base, 'config.json'), 'utf8').replace(/"hidden_size": \d+,/, ''),
      }),
  },
  {
    name: 'config.json not JSON',
    names: 'config.json',
    expect: /config\.json: not valid JSON at line 1, column 24 \(character 23\)/,
    commands: ['inspect', 'eval', 'generate', 'train'],
    build: () => variant('cfg-json', null, { config: '{"model_type": "qwen2",' }),
  },
  {
    name: 'config.json missing',
    names: '',
    expect: /model directory .* has no config\.json$/,
    commands: ['inspect', 'eval', 'generate', 'train'],
    build: () => {
      const d = variant('cfg-missing', null);
      fs.rmSync(path.join(d, 'config.json'));
      return d;
    },
  },
  {
    name: 'config and weights disagree (shape)',
    names: 'model.safetensors',
    expect: /"model\.layers\.0\.mlp\.up_proj\.weight" has shape \[32, 64\] but config\.json says \[64, 32\]/,
    commands: ['eval', 'generate', 'train'],
    build: () =>
      variantWithEntry('disagree', UP, (e) => {
        e.shape = [32, 64];
      }),
  },
  {
    name: 'tokenizer.json missing',
    names: 'tokenizer.json',
    expect: /tokenizer\.json/,
    commands: ['inspect', 'eval', 'generate', 'train'],
    build: () => variant('no-tokenizer', null, { drop: ['tokenizer.json'] }),
  },
];

const COMMANDS: Record<string, (dir: string, out: string) => string[]> = {
  inspect: (d) => ['inspect', '--model', d],
  eval: (d) => ['eval', '--model', d, '--data', data],
  generate: (d) => ['generate', '--model', d, '--prompt', 'hi', '--max-tokens', '2'],
  train: (d, out) => trainArgv({ model: d, data, out }),
  merge: (d, out) => ['merge', '--model', d, '--adapter', adapter, '--out', out],
};

beforeAll(async () => {
  await makeBaseAndData(ws, 8);
  await runMainOk(trainArgv({ model: base, data, out: adapter }));
});

describe.each(CASES)('bad checkpoint: $name', (c) => {
  let dir = '';
  beforeAll(() => {
    dir = c.build();
  });
  const commands = c.commands ?? Object.keys(COMMANDS);
  it.each(commands)('%s exits 2 naming the file, writes nothing', async (cmd) => {
    const out = path.join(root, 'outs', `${path.basename(dir)}-${cmd}`);
    const args = (COMMANDS[cmd] as (d: string, o: string) => string[])(dir, out);
    const { r, line } = await expectRefusedWritingNothing(
      root,
      args,
      [c.expect],
      'nothing written (no --out, no temp dirs)',
    );
    expect(line).toContain(c.names ? path.join(dir, c.names) : dir);
    ledger.add(`${c.name} | ${cmd} | exit ${r.code} | ${line}`);
  });
});

describe('memory stays bounded when the header length is hostile', () => {
  // A child process per case so its peak RSS is its own. The baseline is the same command failing
  // on a 5-byte file; a reader that allocated the claimed header would add ~95 MB or 100 MB+.
  it('header length 99,999,999 (> file size) and 2^40 / 150,000,000 (> limit) on a sparse 200 MB file', async () => {
    const sparse = (len: bigint) => (file: string) => {
      fs.writeFileSync(file, safetensorsBytes('{}', Buffer.alloc(0), len));
      fs.truncateSync(file, 200_000_000); // sparse: the file system holds no data blocks
    };
    const dirs = {
      baseline: variant('rss-baseline', Buffer.from([1, 2, 3, 4, 5])),
      pastEnd: variant('rss-past-end', safetensorsBytes('{}', Buffer.alloc(4000), 99_999_999n)),
      overLimit: variant('rss-over-limit', sparse(150_000_000n)),
      huge: variant('rss-huge', sparse(1n << 40n)),
    };
    const rss: Record<string, number> = {};
    for (const [k, d] of Object.entries(dirs)) {
      const r = await runCliRss(['eval', '--model', d, '--data', data]);
      expectCleanError(r, 2, /model\.safetensors/);
      rss[k] = r.peakRssMiB;
    }
    const b = rss.baseline as number;
    for (const k of ['pastEnd', 'overLimit', 'huge'])
      expect(rss[k], `peak RSS ${k} vs baseline ${b.toFixed(0)} MiB`).toBeLessThan(b + 25);
    ledger.add(
      `peak RSS (MiB): baseline ${b.toFixed(0)}, len 99,999,999 > file ${rss.pastEnd?.toFixed(0)}, len 150,000,000 ${rss.overLimit?.toFixed(0)}, len 2^40 ${rss.huge?.toFixed(0)}`,
    );
  });
});

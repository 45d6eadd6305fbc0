// export/export-gguf.test.ts — what `finetune export` writes, read back with GgufFile and checked against the checkpoint it came from.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CheckpointReader, GgufFile, quantizeQ8_0 } from '@tslora/core-tensor';
import { mergeCheckpoint, readAdapter } from '@tslora/lora';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli.js';
import { qwenTokenizerDir } from '../model/init.js';
import { randomAdapter, TINY, tinyCheckpoint } from './__fixtures__/tiny-models.js';
import { exportLoraGguf, exportModelGguf } from './export-gguf.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tslora-export-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const at = (...p: string[]): string => path.join(root, ...p);
const bytesOf = (f: string): Buffer => fs.readFileSync(f);
/** Bitwise equality of two f32 arrays (toEqual walks 10M-element arrays one by one: minutes). */
const sameF32 = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

beforeAll(() => {
  tinyCheckpoint(at('qwen2'), TINY.qwen2);
  tinyCheckpoint(at('qwen3'), TINY.qwen3);
  randomAdapter(at('qwen2'), at('qwen2-lora'), { useRslora: false, seed: 7 });
  randomAdapter(at('qwen3'), at('qwen3-lora'), { useRslora: true, seed: 8 });
});

describe('finetune export: tensors', () => {
  for (const arch of ['qwen2', 'qwen3'] as const) {
    it(`${arch} f32: every tensor under its llama.cpp name, dims reversed, values exactly the checkpoint's`, () => {
      const out = at(`${arch}-f32.gguf`);
      exportModelGguf({ modelDir: at(arch), out, type: 'f32' });
      const g = GgufFile.open(out);
      const r = CheckpointReader.open(at(arch));
      const names = g.tensors.map((t) => t.name);
      const perLayer =
        arch === 'qwen2'
          ? ['attn_norm', 'attn_q', 'attn_q.bias', 'attn_k', 'attn_k.bias', 'attn_v', 'attn_v.bias', 'attn_output']
          : ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'attn_q_norm', 'attn_k_norm'];
      const want = [
        'token_embd.weight',
        ...[0, 1].flatMap((l) =>
          [...perLayer, 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'].map(
            (n) => `blk.${l}.${n}${n.endsWith('.bias') ? '' : '.weight'}`,
          ),
        ),
        'output_norm.weight',
        ...(arch === 'qwen3' ? ['output.weight'] : []), // qwen2 is tied: llama.cpp reuses token_embd
      ];
      expect(names).toEqual(want);
      const hf = (n: string): string =>
        n === 'token_embd.weight' ? 'model.embed_tokens.weight' : n === 'output.weight' ? 'lm_head.weight' : '';
      expect(g.info('blk.1.attn_q.weight').dims).toEqual(
        arch === 'qwen2' ? [64, 64] : [64, 128], // ggml ne = [in, out]; qwen3 q_proj is (4 heads·32, 64)
      );
      expect(g.info('blk.0.ffn_down.weight').dims).toEqual([TINY[arch].intermediate, 64]);
      expect(g.info('token_embd.weight').dims).toEqual([64, 151936]);
      for (const t of g.tensors) expect([t.name, t.type]).toEqual([t.name, 'F32']);
      for (const n of ['token_embd.weight', ...(arch === 'qwen3' ? ['output.weight'] : [])])
        expect([n, sameF32(g.readF32(n), r.readF32(hf(n)))]).toEqual([n, true]);
      const q = arch === 'qwen2' ? 'model.layers.1.self_attn.q_proj.bias' : 'model.layers.1.self_attn.k_norm.weight';
      expect(g.readF32(arch === 'qwen2' ? 'blk.1.attn_q.bias' : 'blk.1.attn_k_norm.weight')).toEqual(r.readF32(q));
      r.close();
      g.close();
    });
  }

  it('q8_0: matrices are quantizeQ8_0 of the checkpoint values, norms and biases stay F32', () => {
    const out = at('qwen2-q8.gguf');
    exportModelGguf({ modelDir: at('qwen2'), out, type: 'q8_0' });
    const g = GgufFile.open(out);
    const r = CheckpointReader.open(at('qwen2'));
    expect(g.info('blk.0.ffn_up.weight').type).toBe('Q8_0');
    const up = quantizeQ8_0(r.readF32('model.layers.0.mlp.up_proj.weight'));
    expect(Buffer.from(g.readBytes('blk.0.ffn_up.weight')).equals(Buffer.from(up))).toBe(true);
    expect([g.info('blk.0.attn_k.bias').type, g.info('output_norm.weight').type]).toEqual(['F32', 'F32']);
    expect([g.get('general.file_type'), g.get('general.quantization_version')]).toEqual([7, 2]);
    r.close();
    g.close();
  });
});

describe('finetune export: metadata', () => {
  it('qwen3 architecture keys, with head_dim 32 ≠ hidden/heads as key/value length, rope 1e6 and GQA kv heads', () => {
    const g = GgufFile.open(at('qwen3-f32.gguf'));
    const keys = [
      'general.architecture',
      'general.file_type',
      'general.alignment',
      'qwen3.context_length',
      'qwen3.embedding_length',
      'qwen3.block_count',
      'qwen3.feed_forward_length',
      'qwen3.attention.head_count',
      'qwen3.attention.head_count_kv',
      'qwen3.attention.key_length',
      'qwen3.attention.value_length',
      'qwen3.rope.freq_base',
      'qwen3.attention.layer_norm_rms_epsilon',
    ];
    expect(keys.map((k) => g.get(k))).toEqual(['qwen3', 0, 32, 32768, 64, 2, 96, 4, 2, 32, 32, 1e6, Math.fround(1e-6)]);
    expect(g.metadata.get('qwen3.rope.freq_base')?.type).toBe('float32');
    expect(g.get('general.quantization_version')).toBeUndefined();
    g.close();
  });

  it('the tokenizer: every id with its type, the merges, special ids and the chat template', () => {
    const g = GgufFile.open(at('qwen2-f32.gguf'));
    const tok = JSON.parse(fs.readFileSync(path.join(qwenTokenizerDir(), 'tokenizer.json'), 'utf8'));
    const cfg = JSON.parse(fs.readFileSync(path.join(qwenTokenizerDir(), 'tokenizer_config.json'), 'utf8'));
    const tokens = g.get('tokenizer.ggml.tokens') as string[];
    const types = g.get('tokenizer.ggml.token_type') as number[];
    expect([g.get('tokenizer.ggml.model'), g.get('tokenizer.ggml.pre'), tokens.length]).toEqual([
      'gpt2',
      'qwen2',
      151936,
    ]);
    for (const [text, id] of Object.entries(tok.model.vocab as Record<string, number>).slice(0, 2000))
      expect([tokens[id], types[id]]).toEqual([text, 1]);
    // special → CONTROL (3); <tool_call> is special=false → USER_DEFINED (4); <|fim_prefix|> looks special → CONTROL
    const row = (id: number): [string | undefined, number | undefined] => [tokens[id], types[id]];
    expect([row(151643), row(151645), row(151657), row(151659), row(151668)]).toEqual([
      ['<|endoftext|>', 3],
      ['<|im_end|>', 3],
      ['<tool_call>', 4],
      ['<|fim_prefix|>', 3],
      ['</think>', 4],
    ]);
    expect([row(151669), row(151935)]).toEqual([
      ['[PAD151669]', 5],
      ['[PAD151935]', 5],
    ]);
    const merges = g.get('tokenizer.ggml.merges') as string[];
    expect(merges.length).toBe(tok.model.merges.length);
    expect(merges[0]).toBe(tok.model.merges[0].join(' '));
    expect(
      ['bos_token_id', 'eos_token_id', 'padding_token_id', 'add_bos_token'].map((k) => g.get(`tokenizer.ggml.${k}`)),
    ).toEqual([151643, 151645, 151643, false]);
    expect(g.get('tokenizer.chat_template')).toBe(cfg.chat_template);
    g.close();
  });
});

describe('finetune export --adapter', () => {
  for (const [arch, type] of [
    ['qwen2', 'q8_0'],
    ['qwen3', 'f16'],
  ] as const) {
    it(`${arch} ${type}: base + adapter merged on the fly is byte for byte the export of \`merge\`'s output`, () => {
      const merged = at(`${arch}-merged`);
      mergeCheckpoint({ modelDir: at(arch), adapterDir: at(`${arch}-lora`), outDir: merged, dtype: 'auto' });
      const a = at(`${arch}-onfly.${type}.gguf`);
      const b = at(`${arch}-ofmerged.${type}.gguf`);
      const s = exportModelGguf({ modelDir: at(arch), adapterDir: at(`${arch}-lora`), out: a, type });
      exportModelGguf({ modelDir: merged, out: b, type });
      expect(s.tensorsMerged).toBe(14);
      expect(bytesOf(a).equals(bytesOf(b))).toBe(true);
      // and the adapter did change the weights
      exportModelGguf({ modelDir: at(arch), out: at(`${arch}-plain.${type}.gguf`), type });
      expect(bytesOf(a).equals(bytesOf(at(`${arch}-plain.${type}.gguf`)))).toBe(false);
    });
  }

  it('--lora-only: blk.N.X.weight.lora_a [in, r] and .lora_b [r, out] holding PEFT A and B; rsLoRA alpha written as alpha·√r', () => {
    const out = at('qwen3-lora.gguf');
    exportLoraGguf({ modelDir: at('qwen3'), adapterDir: at('qwen3-lora'), out, type: 'f32' });
    const g = GgufFile.open(out);
    const ad = readAdapter(at('qwen3-lora'));
    expect(['general.type', 'general.architecture', 'adapter.type'].map((k) => g.get(k))).toEqual([
      'adapter',
      'qwen3',
      'lora',
    ]);
    expect(g.get('adapter.lora.alpha')).toBe(Math.fround(8 * Math.sqrt(4))); // scaling alpha/√r = 4 = alpha'/r
    expect(g.tensors.length).toBe(2 * 14);
    const q = ad.modules.get('model.layers.1.self_attn.q_proj')!;
    expect([g.info('blk.1.attn_q.weight.lora_a').dims, g.info('blk.1.attn_q.weight.lora_b').dims]).toEqual([
      [64, 4],
      [4, 128],
    ]);
    expect(g.readF32('blk.1.attn_q.weight.lora_a')).toEqual(q.A.f32);
    expect(g.readF32('blk.1.attn_q.weight.lora_b')).toEqual(q.B.f32);
    g.close();
  });
});

describe('finetune export refusals: exit 2, one error line and a hint, nothing written', () => {
  async function refused(args: string[], message: RegExp): Promise<void> {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const before = fs.readdirSync(root).sort();
    let code: number;
    let text: string;
    try {
      code = await main(['export', ...args]);
      text = err.mock.calls.map((c) => String(c[0])).join('');
    } finally {
      err.mockRestore();
    }
    expect([code, text]).toEqual([2, expect.stringMatching(message)]);
    expect(text).toMatch(/^error: [^\n]+\nhint: [^\n]+\n$/);
    expect(fs.readdirSync(root).sort()).toEqual(before);
  }
  function variant(name: string, edit: (cfg: Record<string, unknown>) => void): string {
    const dir = at(name);
    fs.cpSync(at('qwen2'), dir, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    edit(cfg);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    return dir;
  }

  it('another architecture, RoPE scaling, sliding window', async () => {
    const llama = variant('llama', (c) => {
      c.model_type = 'llama';
    });
    const yarn = variant('yarn', (c) => {
      c.rope_scaling = { type: 'yarn', factor: 4 };
    });
    const swa = variant('swa', (c) => {
      c.use_sliding_window = true;
    });
    await refused(['--model', llama, '--out', at('x.gguf')], /model_type "llama" is not supported/);
    await refused(['--model', yarn, '--out', at('x.gguf')], /RoPE scaling .* is not supported/);
    await refused(['--model', swa, '--out', at('x.gguf')], /use_sliding_window is true/);
  });

  it('q8_0 rows that are not a multiple of 32', async () => {
    const dir = at('odd');
    tinyCheckpoint(dir, { ...TINY.qwen2, intermediate: 48 });
    await refused(
      ['--model', dir, '--out', at('x.gguf')],
      /--type q8_0: model\.layers\.0\.mlp\.down_proj\.weight \[64,48\] has rows of 48 values, not a multiple of 32/,
    );
  });

  it('an adapter for another model, --out existing or a directory, --lora-only without --adapter', async () => {
    await refused(
      ['--model', at('qwen2'), '--adapter', at('qwen3-lora'), '--out', at('x.gguf')],
      /does not fit the checkpoint .* 14 problems: .*self_attn\.k_proj\.weight is \[32, 64\] but the adapter needs \[64, 64\];.* and 9 more/,
    );
    await refused(
      ['--model', at('qwen2'), '--adapter', at('qwen3-lora'), '--lora-only', '--out', at('x.gguf')],
      /does not fit the checkpoint/,
    );
    fs.writeFileSync(at('exists.gguf'), 'an earlier export');
    await refused(['--model', at('qwen2'), '--out', at('exists.gguf')], /exists\.gguf already exists/);
    expect(fs.readFileSync(at('exists.gguf'), 'utf8')).toBe('an earlier export');
    await refused(['--model', at('qwen2'), '--out', at('qwen2'), '--force'], /is a directory/);
    await refused(['--model', at('qwen2'), '--lora-only', '--out', at('x.gguf')], /--lora-only needs --adapter/);
  });
});

describe('finetune export --force', () => {
  it('replaces an existing file whole, and leaves no temp file beside it', async () => {
    const out = at('replace.gguf');
    fs.writeFileSync(out, 'an earlier export');
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let code: number;
    let printed: string;
    try {
      code = await main(['export', '--model', at('qwen2'), '--out', out, '--type', 'bf16', '--force', '--json']);
      printed = stdout.mock.calls.map((c) => String(c[0])).join('');
    } finally {
      stdout.mockRestore();
    }
    expect(code).toBe(0);
    expect(JSON.parse(printed)).toEqual({
      out,
      type: 'bf16',
      tensors: 26,
      tensorsMerged: 0,
      bytes: fs.statSync(out).size,
    });
    expect(bytesOf(out).subarray(0, 4).toString()).toBe('GGUF');
    // bf16 from a bf16 checkpoint: the checkpoint's own bits, no rounding
    const g = GgufFile.open(out);
    const r = CheckpointReader.open(at('qwen2'));
    const embd = Buffer.from(r.readBytes('model.embed_tokens.weight'));
    expect([g.info('token_embd.weight').type, Buffer.from(g.readBytes('token_embd.weight')).equals(embd)]).toEqual([
      'BF16',
      true,
    ]);
    r.close();
    g.close();
    expect(fs.readdirSync(root).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});

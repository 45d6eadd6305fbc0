// export/export-gguf.llama.test.ts — llama.cpp itself (node-llama-cpp's prebuilt CPU build) loads, tokenizes and runs what `finetune export` writes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Random } from '@tslora/core-tensor';
import { mergeCheckpoint } from '@tslora/lora';
import { getLlama, type Llama, LlamaLogLevel, type LlamaModel, type Token, TokenBias } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodableIds, generate } from '../generate.js';
import { openSession, type Session } from '../session.js';
import { randomAdapter, TINY, tinyCheckpoint, tsloraLastLogits } from './__fixtures__/tiny-models.js';
import { exportLoraGguf, exportModelGguf } from './export-gguf.js';
import { EXPORT_TYPES, type ExportType } from './qwen-gguf.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tslora-llama-'));
const at = (...p: string[]): string => path.join(root, ...p);
const ARCHS = ['qwen2', 'qwen3'] as const;
const V = 151936;
/**
 * |Δ log-softmax| allowed per type, against tslora's f32 forward of the bf16 checkpoint. BF16 and
 * Q8_0 are bounded by llama.cpp's CPU kernels as much as by the file: for a BF16 weight it rounds
 * the activations to bf16 too, for a Q8_0 weight it quantizes them to Q8_0 (the BF16 weights are
 * the checkpoint's own bits, see export-gguf.test.ts). Measured here: f32 ≤ 6.7e-5, f16 ≤ 5.9e-3, bf16 ≤ 0.070, q8_0 ≤ 0.28.
 */
const TOL: Record<ExportType, number> = { f32: 1e-4, f16: 1e-2, bf16: 0.1, q8_0: 0.5 };
const PROMPT = 'The quick brown fox jumps over the lazy dog. 你好';
/** llama.cpp's KV cache is F16 by default: keep it F32 so the comparison measures the weights alone. */
const EXACT_CONTEXT = {
  contextSize: 256,
  // One thread: llama.cpp's workers spin-wait on each other, which on a loaded 2-core machine turned
  // 20 greedy tokens from 0.5 s into 35 s; a tiny model gains nothing from a second thread.
  threads: 1,
  flashAttention: false,
  experimentalKvCacheKeyType: 'F32',
  experimentalKvCacheValueType: 'F32',
} as const;

/** 2 checkpoints, 8 exports, 8 llama.cpp loads: ~1 min on a quiet 2-core machine, far more on a shared one. */
const SLOW = 900_000;

let llama: Llama;
const sessions = new Map<string, Session>();
/** Every exported file, loaded once, by `${arch}.${type}`. */
const models = new Map<string, LlamaModel>();
beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  for (const arch of ARCHS) {
    tinyCheckpoint(at(arch), TINY[arch]);
    sessions.set(arch, openSession(at(arch)));
    for (const type of EXPORT_TYPES) {
      const file = at(`${arch}.${type}.gguf`);
      exportModelGguf({ modelDir: at(arch), out: file, type });
      models.set(`${arch}.${type}`, await llama.loadModel({ modelPath: file }));
    }
  }
}, SLOW);
afterAll(async () => {
  for (const m of models.values()) await m.dispose();
  await llama?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});
const session = (arch: string): Session => sessions.get(arch)!;
const model = (arch: string, type: ExportType): LlamaModel => models.get(`${arch}.${type}`)!;

/** llama.cpp's next-token log-probabilities after `ids` (full vocabulary: temperature 1, no top-k/p/min-p cut). */
async function llamaLogProbs(m: LlamaModel, ids: readonly number[], lora?: string): Promise<Float64Array> {
  const ctx = await m.createContext({ ...EXACT_CONTEXT, ...(lora ? { lora } : {}) });
  try {
    const last = ids.length - 1;
    const out = await ctx
      .getSequence()
      .controlledEvaluate([
        ...(ids.slice(0, last) as Token[]),
        [
          ids[last] as Token,
          { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } },
        ],
      ]);
    const probs = out[last]?.next.probabilities;
    if (!probs || probs.size !== V) throw new Error(`llama.cpp gave ${probs?.size} probabilities, not ${V}`);
    const lp = new Float64Array(V);
    for (const [id, p] of probs) lp[id] = Math.log(p);
    return lp;
  } finally {
    await ctx.dispose();
  }
}

/** log-softmax in f64: llama.cpp hands out probabilities, so logits are compared up to their common shift. */
function logSoftmax(logits: Float32Array): Float64Array {
  let mx = Number.NEGATIVE_INFINITY;
  for (const v of logits) mx = Math.max(mx, v);
  let s = 0;
  for (const v of logits) s += Math.exp(v - mx);
  const lse = mx + Math.log(s);
  return Float64Array.from(logits, (v) => v - lse);
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

function spread(a: Float64Array): number {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of a) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return hi - lo;
}

describe('llama.cpp loads every exported file', () => {
  for (const arch of ARCHS)
    it(`${arch}: architecture, file type, vocabulary, embedding and context length as llama.cpp reports them`, () => {
      for (const type of EXPORT_TYPES) {
        const m = model(arch, type);
        const desc = m.typeDescription.split(' '); // llama_model_desc: "<arch> <size> <ftype>"
        const ftype = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0' }[type];
        expect([type, desc[0], desc.at(-1)]).toEqual([type, arch, ftype]);
        expect([m.trainContextSize, m.embeddingVectorSize, [...m.iterateAllTokens()].length]).toEqual([32768, 64, V]);
        // llama.cpp refuses a file whose blk.N tensors do not match block_count, so loading checks the layers
        expect(m.fileInsights.totalLayers - 1).toBe(2); // block_count, +1 for the output layer
      }
    });
});

describe("llama.cpp's tokenizer", () => {
  it('gives the ids @huggingface/tokenizers gives, on ASCII, code, CJK, emoji and chat special tokens', () => {
    const texts = [
      'Hello, world! The quick brown fox.',
      'def square(x):\n    return x ** 2  # 42\n\tif a != b: pass',
      '你好，世界。日本語のテキストも한국어도',
      'I ❤️ 🦙s and 👩‍💻 🇯🇵!',
      '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
      '<think>\nhmm</think> <tool_call>{"a": 1}</tool_call><|endoftext|>',
      '  multiple   spaces\n\n\nand 12345 3.14159 numbers',
    ];
    const hf = session('qwen2').tokenizer;
    const m = model('qwen2', 'q8_0');
    for (const t of texts) expect([t, m.tokenize(t, true)]).toEqual([t, hf.encode(t)]);
    expect(m.tokenize(texts[4]!, true)).toContain(151644); // <|im_start|> is one token, not text
  });
});

describe("llama.cpp's next-token logits equal tslora's", () => {
  for (const arch of ARCHS)
    it(
      `${arch}: f32 to ${TOL.f32}, f16 to ${TOL.f16}, bf16 to ${TOL.bf16}, q8_0 to ${TOL.q8_0} (log-softmax, all ${V} ids)`,
      async () => {
        const s = session(arch);
        const ids = s.tokenizer.encode(PROMPT);
        const want = logSoftmax(tsloraLastLogits(s, ids));
        expect(spread(want)).toBeGreaterThan(5); // logits spread over units: a misplaced weight shows
        const diffs: Record<string, number> = {};
        for (const type of EXPORT_TYPES) diffs[type] = maxAbsDiff(await llamaLogProbs(model(arch, type), ids), want);
        console.log(
          `${arch}: log-softmax spread ${spread(want).toFixed(2)}, max |Δ| vs tslora ${JSON.stringify(diffs)}`,
        );
        for (const type of EXPORT_TYPES) expect([type, diffs[type]! <= TOL[type]]).toEqual([type, true]);
        expect(diffs.q8_0).toBeGreaterThan(diffs.f32!); // quantization shows: the comparison is not vacuous
      },
      SLOW,
    );
});

describe('greedy generation', () => {
  for (const arch of ARCHS)
    it(
      `${arch}: 20 greedy tokens from the f16 GGUF are \`finetune generate\`'s`,
      async () => {
        const s = session(arch);
        const ids = s.tokenizer.encode(PROMPT);
        // as commands/generate.ts calls it: temperature 0, eos from the tokenizer and config, padding rows masked
        const eos = [...new Set([...s.tokenizer.eosTokenIds, ...s.config.eosTokenId])];
        const vocab = decodableIds(s.tokenizer);
        const want = generate(s.model, ids, {
          maxTokens: 20,
          temperature: 0,
          topP: 1,
          rng: new Random(0),
          eosTokenIds: eos,
          vocab,
        });
        const m = model(arch, 'f16');
        const bias = new TokenBias(m.tokenizer); // nor may llama.cpp pick the embedding's padding rows
        for (let id = vocab.limit; id < V; id++) bias.set(id as Token, 'never');
        const ctx = await m.createContext(EXACT_CONTEXT);
        const got: number[] = [];
        try {
          for await (const t of ctx.getSequence().evaluate(ids as Token[], { temperature: 0, tokenBias: bias })) {
            got.push(t);
            if (got.length === 20 || eos.includes(t)) break;
          }
        } finally {
          await ctx.dispose();
        }
        expect(want.length).toBeGreaterThan(0);
        expect(got).toEqual(want);
      },
      SLOW,
    );
});

describe('adapters in llama.cpp', () => {
  it(
    "--lora-only applied by llama.cpp to the base gives the merged export's logits (f32: 1e-4, f16: 3e-2)",
    async () => {
      // An f32 base, so the merged weights are rounded once (by the export), as llama.cpp's on-the-fly
      // W·x + s·B·(A·x) never rounds them; a bf16 base would add merge's bf16 rounding on one side only.
      const base = tinyCheckpoint(at('qwen3-f32'), { ...TINY.qwen3, dtype: 'f32', seed: 4 });
      randomAdapter(base, at('lora'), { useRslora: true, seed: 3, std: 0.15 }); // rsLoRA: exercises alpha·√r
      mergeCheckpoint({ modelDir: base, adapterDir: at('lora'), outDir: at('merged'), dtype: 'auto' });
      const ids = session('qwen3').tokenizer.encode(PROMPT);
      // f32: the adapter file itself (names, dims, alpha·√r) with nothing rounded. f16: both sides round
      // independently (the merged file rounds W + ΔW once, the base and adapter files round W, A and B),
      // so the bound is about twice the single-export f16 error.
      const tol = { f32: 1e-4, f16: 3e-2 };
      for (const type of ['f32', 'f16'] as const) {
        exportModelGguf({ modelDir: at('merged'), out: at(`merged.${type}.gguf`), type });
        exportModelGguf({ modelDir: base, out: at(`base.${type}.gguf`), type });
        exportLoraGguf({ modelDir: base, adapterDir: at('lora'), out: at(`lora.${type}.gguf`), type });
        const merged = await llama.loadModel({ modelPath: at(`merged.${type}.gguf`) });
        const plain = await llama.loadModel({ modelPath: at(`base.${type}.gguf`) });
        try {
          const want = await llamaLogProbs(merged, ids);
          const applied = maxAbsDiff(await llamaLogProbs(plain, ids, at(`lora.${type}.gguf`)), want);
          const without = maxAbsDiff(await llamaLogProbs(plain, ids), want);
          console.log(`${type}: --lora-only vs merged, max |Δ log-softmax| ${applied} (no adapter: ${without})`);
          expect([type, applied <= tol[type]]).toEqual([type, true]);
          expect(without).toBeGreaterThan(0.5); // the adapter changes the logits a lot
        } finally {
          await merged.dispose();
          await plain.dispose();
        }
      }
    },
    SLOW,
  );
});

// commands/init-tiny.ts — `finetune init-tiny`: a small random Qwen-style checkpoint with the real tokenizer.
import type { Command } from '../cli/command.js';
import { num, str } from '../cli/command.js';
import { usageError } from '../cli/flags.js';
import { lockingOutput } from '../fs-util.js';
import { createTinyCheckpoint, TINY_DEFAULTS, type TinyOptions } from '../model/init.js';

export const initTiny: Command = lockingOutput({
  name: 'init-tiny',
  summary: 'write a small random Qwen-style checkpoint (HF layout, real Qwen tokenizer)',
  details: [
    'What a random base can learn: it knows no language, so LoRA can teach it only what the training data',
    "shows: a small closed task such as the demo's 16 capitals (validation loss 13.1 -> 2.2 in 200 steps with",
    '--lr 1e-2), never facts, grammar or instructions beyond that data. Use it to check a pipeline, not a model.',
    '',
    "Why --init-std is 0.2 and not HF's 0.02: LoRA never adapts lm_head, so no logit can",
    'exceed about init-std x hidden. At 0.02 x 64 = 1.3 no token of 151,936 can become likely and the loss',
    'stays near 10.9 whatever LoRA learns; at 0.2 the bound is 13. Train a random base with a high --lr',
    "(1e-2, as `finetune demo`); train's default 1e-4 suits pretrained checkpoints and barely moves this one.",
  ].join('\n'),
  flags: {
    out: { kind: 'string', required: true, help: 'output directory (new or empty)' },
    arch: { kind: 'string', choices: ['qwen2', 'qwen3'], default: TINY_DEFAULTS.arch, help: 'architecture' },
    hidden: { kind: 'int', min: 2, default: TINY_DEFAULTS.hidden, help: 'hidden size' },
    layers: { kind: 'int', min: 1, default: TINY_DEFAULTS.layers, help: 'decoder layers' },
    heads: { kind: 'int', min: 1, default: TINY_DEFAULTS.heads, help: 'attention heads' },
    'kv-heads': { kind: 'int', min: 1, default: TINY_DEFAULTS.kvHeads, help: 'key/value heads (GQA)' },
    'head-dim': { kind: 'int', min: 2, help: 'per-head dim (default hidden/heads)' },
    intermediate: { kind: 'int', min: 1, default: TINY_DEFAULTS.intermediate, help: 'MLP intermediate size' },
    'vocab-size': {
      kind: 'int',
      min: 1,
      default: TINY_DEFAULTS.vocabSize,
      help: 'embedding rows (≥ 151669 to fit the real tokenizer)',
    },
    seed: { kind: 'int', min: 0, default: 0, help: 'random seed' },
    dtype: { kind: 'string', choices: ['bf16', 'f16', 'f32'], default: 'bf16', help: 'storage dtype' },
    'init-std': {
      kind: 'number',
      min: 0,
      exclusiveMin: true,
      default: TINY_DEFAULTS.initStd,
      help: "std of the normal init, written as initializer_range (HF's 0.02 leaves a tiny base unable to learn; see below)",
    },
    json: { kind: 'boolean', help: 'print one JSON object' },
  },
  run(v, io) {
    const o: TinyOptions = {
      arch: str(v, 'arch') as TinyOptions['arch'],
      hidden: num(v, 'hidden'),
      layers: num(v, 'layers'),
      heads: num(v, 'heads'),
      kvHeads: num(v, 'kv-heads'),
      intermediate: num(v, 'intermediate'),
      vocabSize: num(v, 'vocab-size'),
      seed: num(v, 'seed'),
      dtype: str(v, 'dtype') as TinyOptions['dtype'],
      initStd: num(v, 'init-std'),
    };
    if (v['head-dim'] !== undefined) o.headDim = num(v, 'head-dim');
    if (o.headDim === undefined && o.hidden % o.heads !== 0)
      throw usageError(
        `--hidden ${o.hidden} must be a multiple of --heads ${o.heads}`,
        'change one of them, or give --head-dim',
      );
    if ((o.headDim ?? o.hidden / o.heads) % 2 !== 0)
      throw usageError(`head dim ${o.headDim ?? o.hidden / o.heads} must be even (RoPE rotates pairs)`);
    // The real tokenizer's highest id is 151668: a smaller embedding could not hold its ids.
    if (o.vocabSize < 151669)
      throw usageError(
        `--vocab-size ${o.vocabSize} is smaller than the Qwen tokenizer (ids up to 151668)`,
        'use at least 151669; the default 151936 is what Qwen ships',
      );
    const r = createTinyCheckpoint(str(v, 'out'), o);
    if (io.json) io.out(JSON.stringify({ out: str(v, 'out'), ...o, parameters: r.parameters, files: r.files }));
    else
      io.out(
        `wrote ${str(v, 'out')}: ${o.arch}, ${r.parameters.toLocaleString('en-US')} parameters (${o.dtype}); files: ${r.files.join(', ')}`,
      );
  },
});

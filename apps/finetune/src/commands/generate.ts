// commands/generate.ts — `finetune generate`: KV-cached decoding streamed to stdout.
import { Random } from '@tslora/core-tensor';
import type { Command } from '../cli/command.js';
import { bool, MODEL_FLAGS, num, optStr, str } from '../cli/command.js';
import { usageError } from '../cli/flags.js';
import { QUANTIZE_FLAGS, quantizeFrom } from '../cli/quantize-flags.js';
import { decodableIds, generate } from '../generate.js';
import { initBackend, openSession } from '../session.js';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'generate text (greedy at temperature 0), optionally with an adapter, with a KV cache',
  flags: {
    ...MODEL_FLAGS,
    ...QUANTIZE_FLAGS,
    prompt: { kind: 'string', required: true, help: 'prompt text' },
    chat: { kind: 'boolean', help: "wrap the prompt as a user turn with the checkpoint's chat template" },
    'max-tokens': { kind: 'int', min: 1, default: 100, help: 'new tokens at most' },
    temperature: { kind: 'number', min: 0, default: 0, help: '0 = greedy' },
    'top-p': { kind: 'number', min: 0, max: 1, exclusiveMin: true, default: 1, help: 'nucleus sampling mass' },
    seed: { kind: 'int', min: 0, default: 0, help: 'sampling seed' },
    json: { kind: 'boolean', help: 'print one JSON object instead of streaming' },
  },
  run(v, io) {
    initBackend(io.note);
    const s = openSession(str(v, 'model'), optStr(v, 'adapter'), quantizeFrom(v));
    const tok = s.tokenizer;
    const prompt = str(v, 'prompt');
    const promptIds = bool(v, 'chat')
      ? tok.applyChatTemplateIds([{ role: 'user', content: prompt }], { addGenerationPrompt: true })
      : tok.encode(prompt);
    // Qwen has no BOS: an empty raw prompt leaves nothing to condition on (a chat turn is never empty).
    if (promptIds.length === 0)
      throw usageError(
        '--prompt is empty: with no token to start from there is nothing to continue',
        'give --prompt some text, or add --chat (the chat template makes even an empty turn a prompt)',
      );
    const eos = [...new Set([...tok.eosTokenIds, ...s.config.eosTokenId])];
    const ids: number[] = [];
    let shown = '';
    const t0 = performance.now();
    generate(s.model, promptIds, {
      maxTokens: num(v, 'max-tokens'),
      temperature: num(v, 'temperature'),
      topP: num(v, 'top-p'),
      rng: new Random(num(v, 'seed')),
      eosTokenIds: eos,
      vocab: decodableIds(tok),
      onToken: (id) => {
        ids.push(id);
        if (io.json) return;
        // Stream whole characters only: a token can end inside a multi-byte UTF-8 sequence.
        const text = tok.decode(ids, { skipSpecialTokens: true });
        if (!text.endsWith('\uFFFD') && text.length > shown.length) {
          process.stdout.write(text.slice(shown.length));
          shown = text;
        }
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const text = tok.decode(ids, { skipSpecialTokens: true });
    if (io.json)
      io.out(JSON.stringify({ prompt_tokens: promptIds.length, ids, text, tokens_per_s: ids.length / seconds }));
    else {
      if (text.length > shown.length) process.stdout.write(text.slice(shown.length));
      process.stdout.write('\n');
      io.note(`${ids.length} tokens in ${seconds.toFixed(2)} s (${(ids.length / seconds).toFixed(1)} tokens/s)`);
    }
  },
};

// commands/eval.ts — `finetune eval`: mean loss per target token, perplexity and token count.
import type { Command } from '../cli/command.js';
import { bool, MODEL_FLAGS, num, optStr, str } from '../cli/command.js';
import { QUANTIZE_FLAGS, quantizeFrom } from '../cli/quantize-flags.js';
import { encodeRecords } from '../data/format.js';
import { EVAL_DATA, readJsonl, resolveEvalPath } from '../data/jsonl.js';
import { CHAT_THINK_FLAG, type ChatThink } from '../data/think.js';
import { evaluate } from '../evaluate.js';
import { initBackend, openSession } from '../session.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'mean cross-entropy per target token, perplexity and token count on a JSONL file',
  flags: {
    ...MODEL_FLAGS,
    ...QUANTIZE_FLAGS,
    data: {
      kind: 'string',
      required: true,
      help: 'JSONL file ({"text"}, {"prompt","completion"} or {"messages"}), or a data directory: its test.jsonl is scored (as mlx-lm --test)',
    },
    'batch-size': { kind: 'int', min: 1, default: 4, help: 'sequences per forward pass' },
    'max-seq-len': { kind: 'int', min: 2, default: 2048, help: 'longer samples are truncated' },
    'mask-prompt': { kind: 'boolean', help: 'score only completions / final assistant turns' },
    'chat-think': CHAT_THINK_FLAG,
    json: { kind: 'boolean', help: 'print one JSON object' },
  },
  run(v, io) {
    // The data path is checked before the model loads: a wrong --data should not cost a model load.
    const file = resolveEvalPath(str(v, 'data'));
    if (file !== str(v, 'data')) io.note(`note: scoring ${file}`);
    const records = readJsonl(file, EVAL_DATA);
    initBackend(io.note);
    const s = openSession(str(v, 'model'), optStr(v, 'adapter'), quantizeFrom(v));
    const { examples, truncated } = encodeRecords(file, records, s.tokenizer, {
      maxSeqLen: num(v, 'max-seq-len'),
      maskPrompt: bool(v, 'mask-prompt'),
      chatThink: str(v, 'chat-think') as ChatThink,
    });
    if (truncated > 0)
      io.note(
        `note: ${truncated} of ${examples.length} samples were truncated to --max-seq-len ${num(v, 'max-seq-len')}`,
      );
    const padId = s.tokenizer.padTokenId ?? s.tokenizer.eosTokenIds[0] ?? 0;
    const r = evaluate(s.model, examples, { batchSize: num(v, 'batch-size'), padId });
    if (io.json) io.out(JSON.stringify({ ...r, samples: examples.length, truncated }));
    else
      io.out(
        `loss ${r.loss.toFixed(4)}  perplexity ${r.perplexity.toFixed(3)}  tokens ${r.tokens}  samples ${examples.length}`,
      );
  },
};

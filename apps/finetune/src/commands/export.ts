// commands/export.ts — `finetune export`: a checkpoint (+ adapter merged on the fly) as a GGUF for llama.cpp / Ollama / LM Studio.
import path from 'node:path';
import type { Command } from '../cli/command.js';
import { bool, optStr, str } from '../cli/command.js';
import { usageError } from '../cli/flags.js';
import { type ExportSummary, exportLoraGguf, exportModelGguf } from '../export/export-gguf.js';
import { EXPORT_TYPES, type ExportType } from '../export/qwen-gguf.js';
import { lockingOutput, removeStaleTemps } from '../fs-util.js';

// Holds the lock of --out (one writer per output, fs-util.ts) while it writes.
export const exportCommand: Command = lockingOutput({
  name: 'export',
  summary: 'write a GGUF file for llama.cpp, Ollama and LM Studio (adapter merged on the fly, or --lora-only)',
  flags: {
    model: { kind: 'string', required: true, help: 'base checkpoint directory (Qwen2 / Qwen3)' },
    adapter: { kind: 'string', help: 'PEFT adapter directory, merged as `finetune merge` would' },
    out: { kind: 'string', required: true, help: 'output .gguf file' },
    type: {
      kind: 'string',
      choices: [...EXPORT_TYPES],
      default: 'q8_0',
      help:
        'ggml type of the weight matrices (norms and biases stay f32): ' +
        'f32 = 4 bytes/weight, exact; f16 = 2 bytes, ~1e-3 relative rounding, range ±65504; ' +
        'bf16 = 2 bytes, exact for bf16 checkpoints (Qwen ships bf16); ' +
        'q8_0 = 1.06 bytes (blocks of 32 int8 + an f16 scale), ~0.4% relative error per weight, rows must be a multiple of 32',
    },
    'lora-only': {
      kind: 'boolean',
      help: 'write the adapter alone as a llama.cpp LoRA GGUF (llama-cli --lora, Ollama ADAPTER); f16 for --type q8_0',
    },
    force: { kind: 'boolean', help: 'replace an existing --out file' },
    json: { kind: 'boolean', help: 'print one JSON object' },
  },
  run(v, io) {
    // a killed export's `.NAME.PID.HEX.tmp` beside --out: safe to remove now that we hold the lock
    const outPath = str(v, 'out');
    removeStaleTemps(path.dirname(path.resolve(outPath)), [path.basename(outPath)]);
    const adapterDir = optStr(v, 'adapter');
    const o = {
      modelDir: str(v, 'model'),
      out: str(v, 'out'),
      type: str(v, 'type') as ExportType,
      force: bool(v, 'force'),
    };
    let summary: ExportSummary;
    if (bool(v, 'lora-only')) {
      if (adapterDir === undefined)
        throw usageError('--lora-only needs --adapter', 'pass --adapter DIR (the adapter to export)');
      summary = exportLoraGguf({ ...o, adapterDir });
    } else summary = exportModelGguf(adapterDir === undefined ? o : { ...o, adapterDir });
    if (io.json) {
      io.out(JSON.stringify(summary));
      return;
    }
    const what = bool(v, 'lora-only') ? 'LoRA adapter' : `${summary.type} model`;
    const merged = summary.tensorsMerged > 0 ? ` (${summary.tensorsMerged} weights merged with the adapter)` : '';
    io.out(
      `wrote ${summary.out}: ${what}, ${summary.tensors} tensors, ${(summary.bytes / 2 ** 20).toFixed(1)} MiB${merged}`,
    );
  },
});

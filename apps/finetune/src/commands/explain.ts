// commands/explain.ts — `finetune explain`: the basics of fine-tuning as figures with the user's own model's numbers.
//
// Without --model it builds the tiny demo base (as `finetune demo` does) in a temp dir and removes it.
// It runs on the TypeScript reference backend on purpose: the figures are small, and the same
// bytes on every machine let the README's committed SVGs be checked by regenerating them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TsloraError } from '@tslora/core-tensor';
import { readAdapterConfig } from '@tslora/lora';
import type { Command } from '../cli/command.js';
import { bool, num, optStr, str } from '../cli/command.js';
import { type ExplainOptions, explainSections, writeExplain } from '../explain/build.js';
import { buildDirAtomically, checkOutDir, lockingOutput } from '../fs-util.js';
import { createTinyCheckpoint, TINY_DEFAULTS, type TinyOptions } from '../model/init.js';
import { explainLinkInto } from '../report/explain-link.js';

/** The base `finetune demo` trains (its default flags), seed 0. */
export const DEMO_BASE: TinyOptions = { ...TINY_DEFAULTS, heads: 4, kvHeads: 2, intermediate: 192, initStd: 0.2 };
const DEMO_LABEL =
  'the tiny demo base (`finetune init-tiny`, hidden 64, 2 layers, seed 0, as `finetune demo` makes it)';

function mustBeDir(dir: string, flag: string, hint: string): void {
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw new TsloraError(`--${flag} ${dir}: directory not found`, { hint, exitCode: 2 });
}

/** --model, else the adapter's base_model_name_or_path when that is a local dir, else null (demo base). */
function resolveModel(model: string | undefined, adapter: string | undefined): string | null {
  if (model !== undefined) {
    mustBeDir(
      model,
      'model',
      'pass a Hugging Face checkpoint directory, or leave --model out to use the tiny demo base',
    );
    return model;
  }
  if (adapter === undefined) return null;
  const base = readAdapterConfig(adapter).baseModelNameOrPath;
  return base && fs.statSync(base, { throwIfNoEntry: false })?.isDirectory() ? base : null;
}

export const explainCommand: Command = lockingOutput({
  name: 'explain',
  summary: 'write explain.html: activations, LoRA arithmetic, vocab vs embedding, attention_mask, loss curves',
  flags: {
    model: { kind: 'string', help: 'checkpoint directory (default: the tiny demo base, made in a temp dir)' },
    adapter: { kind: 'string', help: 'a training run / PEFT adapter dir: its real A and B, and its loss curves' },
    out: { kind: 'string', required: true, help: 'output directory (new or empty)' },
    force: { kind: 'boolean', help: 'replace a non-empty --out' },
    rank: { kind: 'int', min: 1, default: 8, help: 'LoRA rank of the illustration when no --adapter is given' },
    seed: { kind: 'int', min: 0, default: 0, help: 'seed of the random input and the illustrative A, B' },
    json: { kind: 'boolean', help: 'print one JSON object with every section’s numbers' },
  },
  run(v, io) {
    const out = path.resolve(str(v, 'out'));
    const adapter = optStr(v, 'adapter');
    checkOutDir(out, bool(v, 'force'));
    if (adapter !== undefined)
      mustBeDir(adapter, 'adapter', 'pass the --out directory of `finetune train` (or a PEFT adapter dir)');
    const model = resolveModel(optStr(v, 'model'), adapter);
    const tmp = model === null ? fs.mkdtempSync(path.join(os.tmpdir(), 'tslora-explain-')) : null;
    try {
      if (tmp !== null) {
        io.note(`making the tiny demo base in ${tmp}`);
        createTinyCheckpoint(tmp, DEMO_BASE);
      }
      const o: ExplainOptions = {
        modelDir: model ?? (tmp as string),
        modelLabel: model ?? DEMO_LABEL,
        rank: num(v, 'rank'),
        seed: num(v, 'seed'),
        ...(adapter !== undefined ? { adapterDir: adapter } : {}),
      };
      const sections = explainSections(o);
      const files = buildDirAtomically(out, (dir) => writeExplain(dir, o, sections), bool(v, 'force'));
      const linked = adapter !== undefined && explainLinkInto(adapter, path.join(out, 'explain.html'));
      if (io.json) {
        io.out(
          JSON.stringify({
            out,
            files,
            report_linked: linked,
            sections: Object.fromEntries(sections.map((s) => [s.id, s.numbers])),
          }),
        );
      } else {
        io.out(`wrote ${path.join(out, 'explain.html')} (${files.length - 1} figures: ${files.slice(1).join(', ')})`);
        if (linked) io.out(`linked it from ${path.join(adapter as string, 'report.html')}`);
      }
    } finally {
      if (tmp !== null) fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
});

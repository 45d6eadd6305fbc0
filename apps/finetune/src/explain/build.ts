// explain/build.ts — runs every section for a model (and adapter) and writes explain.html plus its SVGs.
import fs from 'node:fs';
import path from 'node:path';
import { openSession } from '../session.js';
import { activationsSection } from './activations.js';
import { attentionSection } from './attention-mask.js';
import { loraArithmetic, loraSection } from './lora-arith.js';
import { explainHtml } from './page.js';
import { runSection } from './run-curves.js';
import type { Section } from './section.js';
import { vocabSection } from './vocab.js';

export interface ExplainOptions {
  modelDir: string;
  /** How the page names the model (the tiny demo base has no lasting path). */
  modelLabel: string;
  adapterDir?: string;
  /** Rank of the illustrative LoRA when no adapter is given. */
  rank: number;
  seed: number;
}

export function explainSections(o: ExplainOptions): Section[] {
  const s = openSession(o.modelDir, o.adapterDir);
  const sections = [
    activationsSection(),
    loraSection(loraArithmetic(s.model, { rank: o.rank, seed: o.seed })),
    vocabSection(o.modelDir),
    attentionSection(s.model, s.tokenizer),
  ];
  if (o.adapterDir) sections.push(runSection(o.adapterDir));
  return sections;
}

/** Writes explain.html and every figure into `dir` (an empty temp dir); returns the file names. */
export function writeExplain(dir: string, o: ExplainOptions, sections: readonly Section[]): string[] {
  const files: string[] = [];
  for (const f of sections.flatMap((x) => x.figures)) {
    fs.writeFileSync(path.join(dir, f.file), f.svg);
    files.push(f.file);
  }
  const intro = `The basics of LoRA fine-tuning, computed on ${o.modelLabel}${o.adapterDir ? ` with the adapter ${o.adapterDir}` : ''}. Every number on this page comes from that model and from the same code tslora trains with. Written by \`finetune explain\`.`;
  fs.writeFileSync(path.join(dir, 'explain.html'), explainHtml('tslora explain', intro, sections));
  return ['explain.html', ...files];
}

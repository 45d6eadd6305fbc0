// report.ts — the trainable-parameter summary PEFT prints (print_trainable_parameters), same numbers and text.
import type { Module } from '@tslora/core-tensor';

/** Counts and PEFT's one-line text. */
export interface TrainableReport {
  trainable: number;
  all: number;
  /** 100·trainable/all (0 for an empty model). */
  percent: number;
  /** `trainable params: 4,399,104 || all params: 498,431,872 || trainable%: 0.8826` */
  text: string;
}

/** 1234567 → "1,234,567" (Python's `{:,d}`). */
function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** PEFT's line for given counts: `trainable params: {:,d} || all params: {:,d} || trainable%: {:.4f}`. */
export function formatTrainable(trainable: number, all: number): string {
  const percent = all > 0 ? (100 * trainable) / all : 0;
  return `trainable params: ${thousands(trainable)} || all params: ${thousands(all)} || trainable%: ${percent.toFixed(4)}`;
}

/**
 * Counts parameters as PEFT's get_nb_trainable_parameters does: over named_parameters(), so a tensor
 * shared by two modules (tied embed_tokens/lm_head) is counted once; frozen base weights count in
 * `all`, LoRA's A and B in both.
 */
export function trainableReport(model: Module): TrainableReport {
  let trainable = 0;
  let all = 0;
  for (const [, t] of model.namedParameters()) {
    all += t.size;
    if (t.requiresGrad) trainable += t.size;
  }
  return { trainable, all, percent: all > 0 ? (100 * trainable) / all : 0, text: formatTrainable(trainable, all) };
}

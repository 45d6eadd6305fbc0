// cli/flag-aliases.ts — flags users bring from mlx-lm, PEFT and the Hugging Face Trainer, mapped to ours.
//
// Edit distance cannot find these (`--learning-rate` is 11 edits from `--lr`), so an unknown flag is
// looked up here first. Names are compared with `_` read as `-`, so `--learning_rate` (HF Trainer,
// mlx-lm YAML keys) and `--learning-rate` (mlx_lm.lora) both resolve.

/** What a foreign flag is called here: one of our flags, or a sentence when there is no one-to-one flag. */
export type Alias = { flag: string; from: string } | { say: string; from: string };

const MLX = 'mlx-lm';
const PEFT = 'PEFT';
const HF = 'the HF Trainer';

export const FOREIGN_FLAGS: Readonly<Record<string, Alias>> = {
  // mlx_lm.lora (argparse flags of mlx_lm/lora.py)
  'learning-rate': { flag: 'lr', from: MLX },
  'num-layers': { flag: 'layers', from: MLX },
  'steps-per-eval': { flag: 'eval-every', from: MLX },
  'adapter-path': { flag: 'out', from: MLX },
  'max-seq-length': { flag: 'max-seq-len', from: MLX },
  'resume-adapter-file': { flag: 'resume', from: MLX },
  'steps-per-report': { say: 'every step is logged to metrics.jsonl (the progress line shows it)', from: MLX },
  'test-batches': { say: 'run `finetune eval --data DIR` (it scores DIR/test.jsonl)', from: MLX },
  test: { say: 'run `finetune eval --data DIR` (it scores DIR/test.jsonl)', from: MLX },
  train: { say: '`finetune train` is the command; it needs no --train', from: MLX },
  optimizer: { say: 'the optimizer is always AdamW (see --weight-decay)', from: MLX },
  // mlx_lm.generate / mlx_lm.fuse
  temp: { flag: 'temperature', from: MLX },
  'save-path': { flag: 'out', from: MLX },
  // PEFT LoraConfig fields, and the flag names people guess from them
  r: { flag: 'rank', from: PEFT },
  'lora-r': { flag: 'rank', from: PEFT },
  'lora-rank': { flag: 'rank', from: PEFT },
  'lora-alpha': { flag: 'alpha', from: PEFT },
  'lora-dropout': { flag: 'dropout', from: PEFT },
  'target-modules': { flag: 'targets', from: PEFT },
  'layers-to-transform': { flag: 'layers', from: PEFT },
  'use-rslora': { flag: 'rslora', from: PEFT },
  // transformers TrainingArguments
  'output-dir': { flag: 'out', from: HF },
  'max-steps': { flag: 'iters', from: HF },
  'num-train-epochs': { flag: 'epochs', from: HF },
  'per-device-train-batch-size': { flag: 'batch-size', from: HF },
  'gradient-accumulation-steps': { flag: 'grad-accum', from: HF },
  'warmup-steps': { flag: 'warmup', from: HF },
  'lr-scheduler-type': { flag: 'schedule', from: HF },
  'eval-steps': { flag: 'eval-every', from: HF },
  'save-steps': { flag: 'save-every', from: HF },
  'gradient-checkpointing': { flag: 'grad-checkpoint', from: HF },
  'resume-from-checkpoint': { flag: 'resume', from: HF },
  'max-new-tokens': { flag: 'max-tokens', from: HF },
};

/**
 * The hint for an unknown flag `given` (without dashes) that another tool spells that way, or
 * undefined. `known` are the command's flags: an alias is only offered when the command has it.
 */
export function foreignFlagHint(given: string, known: readonly string[]): string | undefined {
  const a = FOREIGN_FLAGS[given.toLowerCase().replace(/_/g, '-')];
  if (!a) return undefined;
  if ('say' in a) return `--${given} is ${a.from}'s; here ${a.say}`;
  if (!known.includes(a.flag)) return undefined;
  return `did you mean --${a.flag}? (--${given} is ${a.from}'s name for it)`;
}

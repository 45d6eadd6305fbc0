// model/load.ts — a checkpoint directory (config.json + safetensors, single or sharded) → QwenForCausalLM.
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointReader, FileFormatError, readJsonObject, shapeEq, shapeStr, TsloraError } from '@tslora/core-tensor';
import { parseQwenConfig, type QwenConfig } from './config.js';
import {
  checkNotPreQuantized,
  installFrozen,
  isProjectionWeight,
  newScratch,
  type QuantizeOptions,
  readFrozen,
} from './frozen-base.js';
import { QwenForCausalLM } from './qwen.js';

const MAKE_ONE = 'make one with `finetune init-tiny --out DIR`';

/** Reads and validates `dir/config.json`. */
export function readConfig(dir: string): QwenConfig {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st) {
    throw new TsloraError(`model directory ${dir} does not exist`, {
      hint: `pass --model a Hugging Face checkpoint directory (${MAKE_ONE})`,
    });
  }
  // `--model …/model.safetensors` is the commonest slip: the checkpoint is the directory around it.
  if (!st.isDirectory()) {
    throw new TsloraError(`--model ${dir} is a file; pass its directory`, {
      hint: `use --model ${path.dirname(dir)} (the directory with config.json, the *.safetensors and tokenizer.json)`,
    });
  }
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file))
    throw new TsloraError(`model directory ${dir} has no config.json`, {
      hint: `pass --model the directory that holds config.json, the *.safetensors and tokenizer.json of a Hugging Face checkpoint (${MAKE_ONE})`,
    });
  const raw = readJsonObject(file, { missingHint: 'a checkpoint directory needs config.json beside its safetensors' });
  return parseQwenConfig(raw, file);
}

export interface LoadedModel {
  model: QwenForCausalLM;
  config: QwenConfig;
  /** Storage dtype of the weights as found in the file ('bf16' for the published Qwen models). */
  dtype: string;
}

/**
 * Builds the model from config.json and fills it from the safetensors, decoding bf16/f16 to f32.
 * Every key and shape is checked first, and all problems are reported together.
 */
export function loadModel(dir: string, opts: { quantize?: QuantizeOptions } = {}): LoadedModel {
  const config = readConfig(dir);
  const reader = CheckpointReader.open(dir);
  try {
    if (opts.quantize) checkNotPreQuantized(dir, reader);
    const model = new QwenForCausalLM(config);
    const params = new Map(model.namedParameters());
    const missing: string[] = [];
    const misshaped: string[] = [];
    for (const [name, p] of params) {
      const t = reader.tensors.get(name);
      if (!t) missing.push(name);
      else if (!shapeEq(t.info.shape, p.shape))
        misshaped.push(`"${name}" has shape ${shapeStr(t.info.shape)} but config.json says ${shapeStr(p.shape)}`);
    }
    // A tied checkpoint may still carry lm_head.weight (HF ignores it); anything else is a mismatch.
    const unexpected = [...reader.tensors.keys()].filter(
      (n) => !params.has(n) && !(n === 'lm_head.weight' && config.tieWordEmbeddings),
    );
    if (missing.length || misshaped.length || unexpected.length) {
      const parts = [
        misshaped.length ? misshaped.join('; ') : '',
        missing.length ? `missing ${missing.length}: ${list(missing)}` : '',
        unexpected.length ? `unexpected ${unexpected.length}: ${list(unexpected)}` : '',
      ].filter(Boolean);
      throw new FileFormatError(
        reader.files.length > 1
          ? path.join(dir, 'model.safetensors.index.json')
          : path.join(dir, reader.files[0] ?? ''),
        parts.join(' | '),
        {
          hint: 'the checkpoint and config.json come from different models; re-download both from the same revision',
        },
      );
    }
    const dtypes = new Set<string>();
    const scratch = opts.quantize ? newScratch() : undefined;
    for (const [name, p] of params) {
      const t = reader.get(name);
      dtypes.add(t.info.dtype);
      // --quantize: the projection goes straight into its frozen storage (frozen-base.ts)
      if (opts.quantize && scratch && isProjectionWeight(name))
        installFrozen(model, name, readFrozen(reader, name, opts.quantize, scratch));
      else p.data = reader.readF32(name);
    }
    model.freeze();
    return { model, config, dtype: dtypes.size === 1 ? ([...dtypes][0] as string) : [...dtypes].join('+') };
  } finally {
    reader.close();
  }
}

function list(names: string[]): string {
  return names.length > 6 ? `${names.slice(0, 6).join(', ')}, … (${names.length - 6} more)` : names.join(', ');
}

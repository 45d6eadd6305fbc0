// commands/merge.ts — `finetune merge`: W' = W + scale·B·A streamed into a new checkpoint, optionally verified.
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointReader, type DType, itemSize, noGrad, numel, Tensor, TsloraError } from '@tslora/core-tensor';
import { mergeCheckpoint } from '@tslora/lora';
import type { Command } from '../cli/command.js';
import { bool, str } from '../cli/command.js';
import { checkOutDir, lockingOutput } from '../fs-util.js';
import { readConfig } from '../model/load.js';
import { initBackend, openSession } from '../session.js';

export interface VerifyResult {
  maxAbsLogitDiff: number;
  /** Largest |logit| seen, to put the difference in proportion. */
  maxAbsLogit: number;
  tokens: number;
}

/**
 * Runs the same batch through base+adapter and through the merged checkpoint and compares the
 * logits — the check users ask PEFT for after merge_and_unload().
 */
export function verifyMerge(
  modelDir: string,
  adapterDir: string,
  mergedDir: string,
  text = 'The quick brown fox jumps over the lazy dog. 你好，世界',
): VerifyResult {
  const a = openSession(modelDir, adapterDir);
  const ids = a.tokenizer.encode(text);
  const input = Tensor.int(ids, [1, ids.length]);
  const la = noGrad(() => a.model.forward(input)).f32;
  const b = openSession(mergedDir);
  const lb = noGrad(() => b.model.forward(input)).f32;
  let diff = 0;
  let mx = 0;
  for (let i = 0; i < la.length; i++) {
    diff = Math.max(diff, Math.abs((la[i] as number) - (lb[i] as number)));
    mx = Math.max(mx, Math.abs(la[i] as number));
  }
  return { maxAbsLogitDiff: diff, maxAbsLogit: mx, tokens: ids.length };
}

/** Bytes the merged checkpoint will take (tensor data in the output dtype, plus the side files). */
export function mergedSize(modelDir: string, dtype: 'auto' | 'bf16' | 'f16' | 'f32'): number {
  const r = CheckpointReader.open(modelDir);
  let bytes = 0;
  for (const { info } of r.tensors.values()) {
    const out: DType = dtype === 'auto' || !['f32', 'f16', 'bf16'].includes(info.dtype) ? info.dtype : dtype;
    bytes += numel(info.shape) * itemSize(out) + 1024; // + its header entry, generously
  }
  r.close();
  for (const f of fs.readdirSync(modelDir))
    if (!f.endsWith('.safetensors')) bytes += fs.statSync(path.join(modelDir, f)).size;
  return bytes;
}

/** Refuses up front when the output filesystem cannot hold the merge (a failed write is cleaned too). */
function checkFreeSpace(out: string, needed: number): void {
  let dir = path.resolve(out);
  while (!fs.existsSync(dir)) dir = path.dirname(dir);
  const st = fs.statfsSync(dir);
  const free = st.bavail * st.bsize;
  if (free < needed) {
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    throw new TsloraError(
      `not enough disk space for the merge: it needs ${mib(needed)}, ${dir} has ${mib(free)} free`,
      { hint: 'free space or choose another --out', exitCode: 1 },
    );
  }
}

export const mergeCommand: Command = lockingOutput({
  name: 'merge',
  summary: 'merge a PEFT adapter into the base weights (base dtype, same sharding), tensor by tensor',
  flags: {
    model: { kind: 'string', required: true, help: 'base checkpoint directory' },
    adapter: { kind: 'string', required: true, help: 'PEFT adapter directory' },
    out: { kind: 'string', required: true, help: 'output directory (new or empty unless --force)' },
    dtype: {
      kind: 'string',
      choices: ['auto', 'bf16', 'f16', 'f32'],
      default: 'auto',
      help: 'output dtype (auto = as the base)',
    },
    verify: { kind: 'boolean', help: 'compare logits of base+adapter and of the merged checkpoint' },
    force: { kind: 'boolean', help: 'replace a non-empty --out' },
    json: { kind: 'boolean', help: 'print one JSON object' },
  },
  run(v, io) {
    const dtype = str(v, 'dtype') as 'auto' | 'bf16' | 'f16' | 'f32';
    readConfig(str(v, 'model')); // a base whose config.json cannot be loaded would give an unloadable merge
    // The library's refusal speaks of its `force` option; the CLI's names the --force flag. An --out
    // that holds an input is left to the library, whose refusal says that (no --force can fix it).
    const holdsInput = [str(v, 'model'), str(v, 'adapter')].some(
      (d) => !path.relative(path.resolve(str(v, 'out')), path.resolve(d)).startsWith('..'),
    );
    if (!holdsInput) checkOutDir(str(v, 'out'), bool(v, 'force'));
    checkFreeSpace(str(v, 'out'), mergedSize(str(v, 'model'), dtype));
    const summary = mergeCheckpoint({
      modelDir: str(v, 'model'),
      adapterDir: str(v, 'adapter'),
      outDir: str(v, 'out'),
      dtype,
      force: bool(v, 'force'),
    });
    let verify: VerifyResult | undefined;
    if (bool(v, 'verify')) {
      initBackend(io.note);
      verify = verifyMerge(str(v, 'model'), str(v, 'adapter'), str(v, 'out'));
    }
    if (io.json) {
      io.out(JSON.stringify({ ...summary, ...(verify ? { verify } : {}) }));
      return;
    }
    io.out(
      `merged ${summary.tensorsMerged} tensors into ${str(v, 'out')} (max |ΔW| ${summary.maxAbsDelta.toExponential(3)}, ${(summary.bytesWritten / 2 ** 20).toFixed(1)} MiB)`,
    );
    // QLoRA: an adapter trained on a --quantize'd base is still merged into the exact weights read here.
    io.out(`base weights: the exact ${str(v, 'model')} tensors (never a bf16/int8/int4 copy from --quantize)`);
    if (verify)
      io.out(
        `verify: max |logit(base+adapter) − logit(merged)| = ${verify.maxAbsLogitDiff.toExponential(3)} over ${verify.tokens} tokens (max |logit| ${verify.maxAbsLogit.toFixed(2)})`,
      );
  },
});

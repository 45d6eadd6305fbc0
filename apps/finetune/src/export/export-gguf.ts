// export/export-gguf.ts — a Qwen checkpoint (+ a LoRA adapter merged on the fly) → one GGUF file, tensor by tensor; or the adapter alone.
import fs from 'node:fs';
import path from 'node:path';
import {
  CheckpointReader,
  encodeGgml,
  type GgmlType,
  type GgufMetaValue,
  GgufWriter,
  isFloatDType,
  TsloraError,
} from '@tslora/core-tensor';
import {
  ADAPTER_WEIGHTS_FILE,
  lastSegment,
  loraScaling,
  type MergeTarget,
  mergeTensor,
  planMergeTargets,
  readAdapter,
} from '@tslora/lora';
import { readConfig } from '../model/load.js';
import { checkExportable, type ExportType, ggufTensorName, modelMetadata, planTensors } from './qwen-gguf.js';
import { tokenizerMetadata } from './tokenizer-gguf.js';

export interface ExportOptions {
  modelDir: string;
  adapterDir?: string;
  out: string;
  type: ExportType;
  force?: boolean;
}

export interface ExportSummary {
  out: string;
  type: ExportType;
  tensors: number;
  /** Base weights that received scaling·B·A on the way (0 without an adapter). */
  tensorsMerged: number;
  bytes: number;
}

/** --out must be a new file (or, with force, an existing file — never a directory) in an existing directory. */
export function checkOut(out: string, force: boolean | undefined): void {
  const st = fs.statSync(out, { throwIfNoEntry: false });
  if (st?.isDirectory())
    throw new TsloraError(`--out ${out} is a directory`, { hint: 'give --out a file path such as model.gguf' });
  if (st && !force)
    throw new TsloraError(`--out ${out} already exists`, {
      hint: 'choose another --out, or pass --force to replace it',
    });
  const dir = path.dirname(path.resolve(out));
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw new TsloraError(`--out ${out}: directory ${dir} does not exist`, {
      hint: 'create it first, or choose another --out',
    });
}

function adapterPlan(
  reader: CheckpointReader,
  adapterDir: string,
): { targets: Map<string, MergeTarget>; scaling: number } {
  const adapter = readAdapter(adapterDir);
  const targets = planMergeTargets(reader, adapter, path.join(adapterDir, ADAPTER_WEIGHTS_FILE));
  const { r, alpha, useRslora } = adapter.config;
  return { targets, scaling: loraScaling(r, alpha, useRslora) };
}

/**
 * Writes the checkpoint at `modelDir` as a llama.cpp GGUF of `type`, merging `adapterDir` on the way
 * exactly as `finetune merge` does (W + scaling·B·A in f32, rounded once to the base dtype), so the
 * export of base+adapter is byte for byte the export of the merged checkpoint. Everything that can
 * be refused is refused before the temp file is created; the file appears whole at `out` or not at all.
 */
export function exportModelGguf(o: ExportOptions): ExportSummary {
  checkOut(o.out, o.force);
  const config = readConfig(o.modelDir);
  checkExportable(config, path.join(o.modelDir, 'config.json'));
  const reader = CheckpointReader.open(o.modelDir);
  try {
    const shapes = new Map([...reader.tensors].map(([n, t]) => [n, t.info.shape]));
    const plan = planTensors(config, shapes, o.type);
    for (const t of plan) {
      const dtype = reader.get(t.hf).info.dtype;
      if (!isFloatDType(dtype))
        throw new TsloraError(`${t.hf} has dtype ${dtype}; only float checkpoints can be exported`, {
          hint: 'export the original (unquantized) checkpoint',
        });
    }
    const merge = o.adapterDir ? adapterPlan(reader, o.adapterDir) : undefined;
    const metadata = new Map<string, GgufMetaValue>([
      ...modelMetadata(config, o.type),
      ...tokenizerMetadata(o.modelDir, config),
    ]);
    const writer = new GgufWriter(o.out, metadata, plan);
    let merged = 0;
    try {
      for (const t of plan) {
        const info = reader.get(t.hf).info;
        let values = reader.readF32(t.hf);
        const target = merge?.targets.get(t.hf);
        if (target && merge) {
          values = mergeTensor(values, target, merge.scaling, info.dtype, t.hf, info.shape).values;
          merged += 1;
        }
        writer.write(t.name, encodeGgml(values, t.type));
      }
      writer.commit();
    } catch (e) {
      writer.abort();
      throw e;
    }
    return { out: o.out, type: o.type, tensors: plan.length, tensorsMerged: merged, bytes: fs.statSync(o.out).size };
  } finally {
    reader.close();
  }
}

/** ggml type of the LoRA matrices: Q8_0 needs rows of 32, which lora_b (r wide) rarely has, so q8_0 → F16. */
const LORA_TYPE: Record<ExportType, GgmlType> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'F16' };

/**
 * The adapter alone as a llama.cpp LoRA GGUF (general.type "adapter", adapter.type "lora"), for
 * `llama-cli --lora` and Ollama's ADAPTER. Per adapted weight `blk.N.X.weight` it holds
 * `….lora_a` with ggml dims [in, r] and `….lora_b` with [r, out] — the row-major bytes of PEFT's
 * A (r,in) and B (out,r) as they are. llama.cpp scales by alpha/r with r = lora_b's ne[0]; for an
 * rsLoRA adapter (scaling alpha/√r) the alpha written is alpha·√r, which gives the same scaling.
 */
export function exportLoraGguf(o: ExportOptions & { adapterDir: string }): ExportSummary {
  checkOut(o.out, o.force);
  const config = readConfig(o.modelDir);
  checkExportable(config, path.join(o.modelDir, 'config.json'));
  const reader = CheckpointReader.open(o.modelDir);
  let adapter: ReturnType<typeof readAdapter>;
  try {
    adapter = readAdapter(o.adapterDir);
    planMergeTargets(reader, adapter, path.join(o.adapterDir, ADAPTER_WEIGHTS_FILE)); // refuses a misfit
  } finally {
    reader.close();
  }
  const { r, alpha, useRslora } = adapter.config;
  const type = LORA_TYPE[o.type];
  const tensors: { name: string; type: GgmlType; dims: number[]; data: Float32Array }[] = [];
  for (const [module, pair] of adapter.modules) {
    const base = ggufTensorName(`${module}.weight`);
    if (base === undefined)
      throw new TsloraError(`${o.adapterDir}: adapted module ${module} (${lastSegment(module)}) has no GGUF name`, {
        hint: 'only adapters on Qwen decoder projections can be exported',
      });
    const [out, rank] = pair.B.shape as [number, number];
    tensors.push({ name: `${base}.lora_a`, type, dims: [pair.A.dim(1), rank], data: pair.A.f32 });
    tensors.push({ name: `${base}.lora_b`, type, dims: [rank, out], data: pair.B.f32 });
  }
  const metadata = new Map<string, GgufMetaValue>([
    ['general.architecture', { type: 'string', value: config.modelType }],
    ['general.type', { type: 'string', value: 'adapter' }],
    ['general.alignment', { type: 'uint32', value: 32 }],
    ['adapter.type', { type: 'string', value: 'lora' }],
    ['adapter.lora.alpha', { type: 'float32', value: useRslora ? alpha * Math.sqrt(r) : alpha }],
  ]);
  const writer = new GgufWriter(o.out, metadata, tensors);
  try {
    for (const t of tensors) writer.write(t.name, encodeGgml(t.data, t.type));
    writer.commit();
  } catch (e) {
    writer.abort();
    throw e;
  }
  return { out: o.out, type: o.type, tensors: tensors.length, tensorsMerged: 0, bytes: fs.statSync(o.out).size };
}

// model/frozen-base.ts — `--quantize bf16|int8|int4`: the seven projections' weights read one by one into a compact frozen storage.
//
// Each projection weight is read from the safetensors alone (at most one tensor's f32 form exists at a
// time), turned into a FrozenWeight and installed with Linear.setFrozen, so the model's f32 projection
// weights never exist. Norms, biases, the embedding and lm_head stay exact f32.
// bf16 keeps a bf16 checkpoint's bits as they are (exact); an f32 checkpoint is rounded to bf16 (RNE).
import path from 'node:path';
import {
  type CheckpointReader,
  FrozenWeight,
  f32ToBf16Bits,
  Linear,
  type Module,
  quantizeMatrix,
  readJsonObject,
  TsloraError,
  WeightScratch,
} from '@tslora/core-tensor';

export type QuantizeMode = 'bf16' | 'int8' | 'int4';
export const QUANTIZE_MODES: readonly QuantizeMode[] = ['bf16', 'int8', 'int4'];

export interface QuantizeOptions {
  mode: QuantizeMode;
  /** Group length along the input dimension for int8/int4 (--q-group-size). */
  groupSize: number;
}

/**
 * Default --q-group-size: 128. bench/qlora-kernels.bench.ts (0.5B up/gate, T=512, accuracy level 4):
 * int4 g32 1.20×, g64 1.38×, g128 1.71× the f32 Gemm; int8 g32 1.45×, g128 1.71×. Larger groups are
 * faster (fewer scales per dot product) and 128 is the common int4 choice (GPTQ/AWQ/llama.cpp's K-quants).
 */
export const DEFAULT_Q_GROUP_SIZE = 128;

/** The seven LoRA target projections of a Qwen decoder layer. */
const PROJECTION = /^model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)\.weight$/;

export function isProjectionWeight(name: string): boolean {
  return PROJECTION.test(name);
}

/** Refuses a checkpoint that is already quantized (GPTQ/AWQ/bitsandbytes…): tslora reads only float weights. */
export function checkNotPreQuantized(dir: string, reader: CheckpointReader): void {
  const file = path.join(dir, 'config.json');
  const raw = readJsonObject(file) as { quantization_config?: { quant_method?: unknown } };
  const packed = [...reader.tensors.keys()].find((n) => /\.(qweight|qzeros|g_idx|SCB|absmax|quant_map)$/.test(n));
  if (raw.quantization_config !== undefined || packed) {
    const what = raw.quantization_config
      ? `config.json has quantization_config (quant_method ${JSON.stringify(raw.quantization_config.quant_method)})`
      : `it holds the packed tensor "${packed}"`;
    throw new TsloraError(
      `--model ${dir}: the checkpoint is already quantized in a format tslora cannot read: ${what}`,
      {
        hint: 'use the original bf16/f32 checkpoint; --quantize int8|int4 quantizes it at load',
        exitCode: 2,
      },
    );
  }
}

/** Reads `name` (a projection weight of shape (out,in)) into the chosen frozen storage. */
export function readFrozen(
  reader: CheckpointReader,
  name: string,
  opts: QuantizeOptions,
  scratch: WeightScratch,
): FrozenWeight {
  const t = reader.get(name);
  const [out, inF] = t.info.shape as [number, number];
  if (opts.mode === 'bf16') {
    if (t.info.dtype === 'bf16') {
      const bytes = reader.readBytes(name); // fresh buffer at byteOffset 0
      return FrozenWeight.bf16(new Uint16Array(bytes.buffer, 0, out * inF), out, inF, scratch);
    }
    const f = reader.readF32(name);
    return FrozenWeight.bf16(Uint16Array.from(f, f32ToBf16Bits), out, inF, scratch);
  }
  const bits = opts.mode === 'int8' ? 8 : 4;
  return FrozenWeight.quantized(
    quantizeMatrix(reader.readF32(name), out, inF, { bits, blockSize: opts.groupSize }),
    scratch,
  );
}

/** Installs `fw` as the weight of the Linear that owns parameter `name`. */
export function installFrozen(model: Module, name: string, fw: FrozenWeight): void {
  const owner = model.getSubmodule(name.slice(0, -'.weight'.length));
  if (!(owner instanceof Linear)) throw new Error(`installFrozen: ${name} is not a Linear weight`);
  owner.setFrozen(fw);
}

/** One scratch shared by a model's frozen weights (they are used one at a time). */
export function newScratch(): WeightScratch {
  return new WeightScratch();
}

/** The load options of a training run's --quantize/--q-group-size (undefined: exact f32). */
export function quantizeOf(o: { quantize?: QuantizeMode; qGroupSize?: number }): QuantizeOptions | undefined {
  return o.quantize ? { mode: o.quantize, groupSize: o.qGroupSize ?? DEFAULT_Q_GROUP_SIZE } : undefined;
}

// model/frozen-base.test.ts — --quantize at load: bf16 bit-identical to f32, int8/int4 equal to a dequantized-f32 model, errors.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  bf16BitsToF32,
  CheckpointReader,
  dequantizeRows,
  encodeF32,
  f32ToBf16Bits,
  ortBackend,
  quantizeMatrix,
  Random,
  registerBackend,
  setBackend,
  Tensor,
  TsloraError,
  tsBackend,
  writeSafetensors,
} from '@tslora/core-tensor';
import { applyLora, loraModules } from '@tslora/lora';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../../test/golden.js';
import { resolveTrainOptions } from '../commands/train-options.js';
import { DEFAULT_Q_GROUP_SIZE, isProjectionWeight, type QuantizeOptions, quantizeOf } from './frozen-base.js';
import { loadModel } from './load.js';

registerBackend(tsBackend);
registerBackend(ortBackend);
const SRC = path.join(FIXTURES, 'tiny-qwen2');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qlora-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of the tiny checkpoint with every tensor passed through `map` (name, f32) and stored as `dtype`. */
function rewrite(name: string, dtype: 'bf16' | 'f32', map: (n: string, x: Float32Array) => Float32Array): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(SRC, 'config.json'), path.join(dir, 'config.json'));
  const r = CheckpointReader.open(SRC);
  const tensors = [...r.tensors.keys()].map((n) => {
    const shape = [...r.get(n).info.shape];
    return { name: n, dtype, shape, data: encodeF32(map(n, r.readF32(n)), dtype) };
  });
  r.close();
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  return dir;
}

const toBf16 = (x: Float32Array): Float32Array => Float32Array.from(x, (v) => bf16BitsToF32(f32ToBf16Bits(v)));
const BF16_DIR = rewrite('bf16', 'bf16', (_n, x) => toBf16(x));

const ids = new Random(7);
const B = 2;
const T = 12;
const input = Array.from({ length: B * T }, () => ids.int(200));

/** Loss and every LoRA gradient (B made non-zero so dA is too) of one forward/backward. */
function lossAndGrads(dir: string, quantize?: QuantizeOptions): { loss: number; grads: Float32Array[] } {
  const { model } = loadModel(dir, quantize ? { quantize } : {});
  applyLora(model, { r: 4, alpha: 8, targetModules: 'all-linear', seed: 3 });
  for (const [, m] of loraModules(model)) new Random(5).fillNormal(m.lora_B.weight.f32, 0, 0.1);
  model.train();
  const x = Tensor.int(input, [B, T]);
  const loss = model.loss(x, x);
  loss.backward();
  const grads = loraModules(model).flatMap(([, m]) => [
    m.lora_A.weight.grad!.f32.slice(),
    m.lora_B.weight.grad!.f32.slice(),
  ]);
  return { loss: loss.item(), grads };
}

function maxRel(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  let m = 0;
  a.forEach((x, i) => {
    for (let j = 0; j < x.length; j++) {
      d = Math.max(d, Math.abs(x[j]! - b[i]![j]!));
      m = Math.max(m, Math.abs(b[i]![j]!));
    }
  });
  return d / m;
}

for (const backend of ['ts', 'ort'] as const) {
  describe(`--quantize on the ${backend} backend`, () => {
    it('bf16: loss and LoRA gradients bit-identical to the f32 path on a bf16 checkpoint', () => {
      setBackend(backend);
      const f32 = lossAndGrads(BF16_DIR);
      const bf = lossAndGrads(BF16_DIR, { mode: 'bf16', groupSize: 128 });
      expect(bf.loss).toBe(f32.loss);
      expect(bf.grads).toEqual(f32.grads);
    });

    for (const [mode, bits] of [
      ['int8', 8],
      ['int4', 4],
    ] as const) {
      it(`${mode}: equals an f32 model holding the dequantized projections (and stays near f32)`, () => {
        setBackend(backend);
        const groupSize = 32;
        const deqDir = rewrite(`deq-${mode}`, 'f32', (n, x) => {
          if (!isProjectionWeight(n)) return x;
          const inF = n.includes('down_proj') ? 128 : 64; // tiny-qwen2: hidden 64, intermediate 128
          return dequantizeRows(quantizeMatrix(x, x.length / inF, inF, { bits, blockSize: groupSize }));
        });
        const q = lossAndGrads(SRC, { mode, groupSize });
        const ref = lossAndGrads(deqDir);
        const exact = lossAndGrads(SRC);
        // ts: the same dequantized f32 values through the same GEMM; ort: MatMulNBits at accuracy level 4 (int8 activations)
        const tol = backend === 'ts' ? 1e-5 : 2e-3;
        expect(Math.abs(q.loss - ref.loss) / ref.loss).toBeLessThan(tol);
        expect(maxRel(q.grads, ref.grads)).toBeLessThan(backend === 'ts' ? 1e-4 : 5e-2);
        console.log(
          `${backend} ${mode} g${groupSize}: loss ${q.loss} vs dequantized-f32 ${ref.loss} vs f32 ${exact.loss}`,
        );
        expect(Math.abs(q.loss - exact.loss) / exact.loss).toBeLessThan(mode === 'int8' ? 1e-3 : 2e-2);
      });
    }
  });
}

describe('--quantize errors (exit 2, nothing loaded)', () => {
  const code = (fn: () => unknown): TsloraError => {
    try {
      fn();
    } catch (e) {
      if (e instanceof TsloraError) return e;
      throw e;
    }
    throw new Error('expected an error');
  };

  it('a group size that does not divide the input dimension names --q-group-size', () => {
    const e = code(() => loadModel(SRC, { quantize: { mode: 'int4', groupSize: 256 } }));
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('--q-group-size 256 does not divide the input dimension 64');
  });

  it('an already-quantized checkpoint (quantization_config) is refused, naming --model', () => {
    const dir = rewrite('gptq', 'f32', (_n, x) => x);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    cfg.quantization_config = { quant_method: 'gptq', bits: 4 };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    const e = code(() => loadModel(dir, { quantize: { mode: 'int4', groupSize: 32 } }));
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('already quantized');
    expect(e.message).toContain('"gptq"');
  });
});

describe('--quantize flags of train', () => {
  const usage = (flags: Record<string, string | number | boolean>): string => {
    try {
      resolveTrainOptions({ model: 'm', data: 'd', out: 'o', ...flags });
    } catch (e) {
      expect((e as TsloraError).exitCode).toBe(2);
      return (e as Error).message;
    }
    throw new Error('expected a usage error');
  };

  it('refuses --quantize with --fine-tune-type full, and --q-group-size without int8/int4', () => {
    expect(usage({ quantize: 'int4', 'fine-tune-type': 'full' })).toContain(
      '--quantize int4 cannot be used with --fine-tune-type full',
    );
    expect(usage({ 'q-group-size': 64 })).toContain('--q-group-size needs --quantize int8 or int4');
    expect(usage({ quantize: 'bf16', 'q-group-size': 64 })).toContain('not to --quantize bf16');
  });

  it('passes the mode and group size through (absent: the exact f32 path)', () => {
    const o = resolveTrainOptions({ model: 'm', data: 'd', out: 'o', quantize: 'int8', 'q-group-size': 32 });
    expect(quantizeOf(o)).toEqual({ mode: 'int8', groupSize: 32 });
    expect(quantizeOf(resolveTrainOptions({ model: 'm', data: 'd', out: 'o', quantize: 'int4' }))).toEqual({
      mode: 'int4',
      groupSize: DEFAULT_Q_GROUP_SIZE,
    });
    expect(quantizeOf(resolveTrainOptions({ model: 'm', data: 'd', out: 'o' }))).toBeUndefined();
  });
});

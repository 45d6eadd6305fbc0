// merge.ts — folding a LoRA update into its base weight (W' = W + scaling·B·A) and taking it back out, in memory.
import {
  decodeF32,
  encodeF32,
  type Module,
  nonFinite,
  ShapeError,
  shapeStr,
  Tensor,
  TsloraError,
  tsBackend,
} from '@tslora/core-tensor';
import { loraModules } from './inject.js';

/** Storage dtypes a merged weight may be rounded to. */
export type MergeDType = 'f32' | 'bf16' | 'f16';

/** Rounds f32 values to `dtype` and back, in place (once, round-to-nearest-even); f32 is left as is. */
export function roundToDType(data: Float32Array, dtype: MergeDType): Float32Array {
  if (dtype !== 'f32') data.set(decodeF32(encodeF32(data, dtype), dtype));
  return data;
}

/** Throws a TsloraError naming `name` if any value is NaN or ±Inf (a merge must never write one silently). */
export function checkFinite(data: Float32Array, name: string, shape: readonly number[], what: string): void {
  const { count: bad, first } = nonFinite(data);
  if (bad === 0) return;
  const cols = shape[shape.length - 1] ?? 1;
  throw new TsloraError(
    `${what}: ${name} ${shapeStr(shape)} would hold ${bad} non-finite value${bad > 1 ? 's' : ''} (first at [${Math.floor(first / cols)}, ${first % cols}]: ${data[first]})`,
    {
      hint: 'the adapter holds NaN/Inf (a diverged run), or the merged values overflow the output dtype (f16 tops out at 65504); check the adapter or merge to bf16/f32',
      exitCode: 1,
    },
  );
}

function checkShapes(W: Tensor, A: Tensor, B: Tensor, name: string): void {
  if (
    W.ndim !== 2 ||
    A.ndim !== 2 ||
    B.ndim !== 2 ||
    B.dim(0) !== W.dim(0) ||
    A.dim(1) !== W.dim(1) ||
    B.dim(1) !== A.dim(0)
  ) {
    throw new ShapeError(
      `merge: ${name} is ${shapeStr(W.shape)} but lora_A is ${shapeStr(A.shape)} and lora_B ${shapeStr(B.shape)} — expected W (out,in), A (r,in), B (out,r)`,
    );
  }
}

/**
 * out ← out + sign·scaling·B·A, in f32 (GEMM with beta = 1 accumulates straight into `out`).
 * out: (out,in)  B: (out,r)  A: (r,in)
 * Always on the TypeScript reference kernel: its summation order is fixed, so a merged checkpoint's
 * bytes never depend on the active backend or its thread count (a value on a bf16 rounding boundary
 * would otherwise round either way). The product is rank-r, cheap next to reading the weights.
 */
export function addLoraDelta(out: Float32Array, A: Tensor, B: Tensor, scaling: number, sign: 1 | -1): void {
  const [o, r] = B.shape as [number, number];
  const inF = A.dim(1);
  tsBackend.gemm({ a: B.f32, b: A.f32, m: o, n: inF, k: r, alpha: sign * scaling, beta: 1, out });
}

/**
 * W' = W + scaling·B·A computed in f32, rounded once to `dtype` (the base checkpoint's dtype, so
 * a bf16 model stays bf16). Pure: returns a new tensor holding the rounded values as f32. Throws
 * if any value is non-finite, naming `name`.
 */
export function mergedWeight(
  W: Tensor,
  A: Tensor,
  B: Tensor,
  scaling: number,
  dtype: MergeDType = 'f32',
  name = 'weight',
): Tensor {
  checkShapes(W, A, B, name);
  const out = W.f32.slice();
  addLoraDelta(out, A, B, scaling, 1);
  roundToDType(out, dtype);
  checkFinite(out, name, W.shape, 'merge');
  return new Tensor(out, W.shape);
}

/** Options of {@link mergeLora}. */
export interface MergeOptions {
  /** Round each merged weight once to this dtype (a bf16 base stays bf16-exact); default f32. */
  dtype?: MergeDType;
}

/**
 * Folds every unmerged LoraLinear's update into its base weight in place (the same buffer, so
 * references to the weight stay valid); merged modules then forward through the base alone.
 * A module whose result would be non-finite is refused (its weight untouched) with an error
 * naming it; modules merged before it stay merged and flagged. Returns the merged paths.
 */
export function mergeLora(model: Module, opts: MergeOptions = {}): string[] {
  const done: string[] = [];
  for (const [path, m] of loraModules(model)) {
    if (m.merged) continue;
    if (m.base_layer.frozen) {
      throw new TsloraError(`mergeLora: ${path} has a ${m.base_layer.frozen.storage} frozen base (--quantize)`, {
        hint: 'merge into the original checkpoint instead: `finetune merge` streams the exact base weights',
      });
    }
    const W = m.base_layer.weight;
    W.f32.set(
      mergedWeight(W, m.lora_A.weight, m.lora_B.weight, m.scaling, opts.dtype ?? 'f32', `${path}.base_layer.weight`)
        .f32,
    );
    m._merged = true;
    done.push(path);
  }
  return done;
}

/**
 * Subtracts scaling·B·A from every merged base weight (f32), restoring W up to f32 rounding
 * (|ΔW| ≲ 2⁻²³·(|W| + |scaling·B·A|) per element; more if the merge rounded to bf16/f16). Returns the paths.
 */
export function unmergeLora(model: Module): string[] {
  const done: string[] = [];
  for (const [path, m] of loraModules(model)) {
    if (!m.merged) continue;
    const W = m.base_layer.weight;
    const out = W.f32.slice();
    addLoraDelta(out, m.lora_A.weight, m.lora_B.weight, m.scaling, -1);
    checkFinite(out, `${path}.base_layer.weight`, W.shape, 'unmerge');
    W.f32.set(out);
    m._merged = false;
    done.push(path);
  }
  return done;
}

/**
 * PEFT's merge_and_unload: merges every LoraLinear and puts its base Linear (now holding W') back
 * in its place, leaving a plain model. Returns the paths replaced.
 */
export function mergeAndUnload(model: Module, opts: MergeOptions = {}): string[] {
  mergeLora(model, opts);
  const mods = loraModules(model);
  for (const [path, m] of mods) model.setSubmodule(path, m.base_layer);
  return mods.map(([p]) => p);
}

// explain/lora-arith.ts — section 2: LoRA's arithmetic on one real layer of the model, computed three ways.
//
// y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ    x: (T,in)  W: (out,in) frozen  A: (r,in)  B: (out,r)  s = alpha/r
// (1) the formula with the tensor ops, (2) the LoraLinear module training runs (fused GEMMs),
// (3) x·W′ᵀ with W′ = W + s·B·A merged (what `finetune merge` writes). All three must agree.
import { Linear, type Module, Random, Tensor } from '@tslora/core-tensor';
import { LoraLinear, loraModules, mergedWeight } from '@tslora/lora';
import { esc, fmt, type Section } from './section.js';

/** The layer shown when no adapter says otherwise (every Qwen has it). */
export const DEFAULT_LAYER = 'model.layers.0.self_attn.q_proj';
const TOKENS = 4;

export interface LoraArithmetic {
  layer: string;
  fromAdapter: boolean;
  out: number;
  in: number;
  r: number;
  alpha: number;
  scaling: number;
  params: { W: number; A: number; B: number; lora: number; savingPercent: number };
  /** Inputs and the three outputs, (T,in) and (T,out), for tests to check independently. */
  x: Float32Array;
  W: Float32Array;
  A: Float32Array;
  B: Float32Array;
  bias: Float32Array | null;
  formula: Float32Array;
  module: Float32Array;
  merged: Float32Array;
  maxDiff: { moduleVsFormula: number; mergedVsFormula: number };
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);

/** The adapter's LoraLinear for the layer (q_proj of layer 0 if adapted, else the first), or a fresh one. */
function pickLayer(model: Module, rank: number, rng: Random): { path: string; lora: LoraLinear; fromAdapter: boolean } {
  const adapted = loraModules(model);
  if (adapted.length > 0) {
    const [path, lora] = adapted.find(([p]) => p === DEFAULT_LAYER) ?? (adapted[0] as [string, LoraLinear]);
    return { path, lora, fromAdapter: true };
  }
  const base = model.getSubmodule(DEFAULT_LAYER);
  if (!(base instanceof Linear)) throw new Error(`${DEFAULT_LAYER} is not a Linear layer`);
  const lora = new LoraLinear(base, { r: rank, alpha: 2 * rank, scaling: 2, dropout: 0, init: 'kaiming', rng });
  // Training starts B at zero (so ΔW = 0 at step 0); a random B stands in for a trained one here,
  // otherwise every comparison below would be trivially W alone.
  rng.fillNormal(lora.lora_B.weight.f32, 0, 0.02);
  return { path: DEFAULT_LAYER, lora, fromAdapter: false };
}

export function loraArithmetic(model: Module, opts: { rank: number; seed: number }): LoraArithmetic {
  const rng = new Random(opts.seed);
  const { path, lora, fromAdapter } = pickLayer(model, opts.rank, rng);
  const { weight: W, bias } = lora.base_layer;
  const [out, inF] = W.shape as [number, number];
  const A = lora.lora_A.weight; // (r,in)
  const B = lora.lora_B.weight; // (out,r)
  const r = A.dim(0);
  const s = lora.scaling;
  const x = Tensor.randn([TOKENS, inF], rng); // (T,in)
  let formula = x.matmulT(W).add(x.matmulT(A).matmulT(B).mul(s)); // (T,out)
  if (bias) formula = formula.add(bias);
  const module = lora.forward(x); // (T,out)
  const Wm = mergedWeight(W, A, B, s); // W′ = W + s·B·A: (out,in)
  let merged = x.matmulT(Wm);
  if (bias) merged = merged.add(bias);
  const lp = r * inF + out * r;
  return {
    layer: path,
    fromAdapter,
    out,
    in: inF,
    r,
    alpha: lora.loraAlpha,
    scaling: s,
    params: { W: out * inF, A: r * inF, B: out * r, lora: lp, savingPercent: 100 * (1 - lp / (out * inF)) },
    x: x.f32.slice(),
    W: W.f32.slice(),
    A: A.f32.slice(),
    B: B.f32.slice(),
    bias: bias ? bias.f32.slice() : null,
    formula: formula.f32.slice(),
    module: module.f32.slice(),
    merged: merged.f32.slice(),
    maxDiff: {
      moduleVsFormula: maxAbsDiff(module.f32, formula.f32),
      mergedVsFormula: maxAbsDiff(merged.f32, formula.f32),
    },
  };
}

/** W, B, A and the merged W′ = W + s·B·A drawn to scale (longest side 180 px, at least 3 px), with their shapes and counts. */
export function loraShapesSvg(a: LoraArithmetic): string {
  const k = 180 / Math.max(a.out, a.in);
  const px = (n: number) => Math.max(3, Math.round(n * k));
  const boxes = [
    { name: 'W (frozen)', rows: a.out, cols: a.in, fill: '#c6dbef' },
    { name: 'B', rows: a.out, cols: a.r, fill: '#fdae6b' },
    { name: 'A', rows: a.r, cols: a.in, fill: '#fdd0a2' },
    { name: 'W′ (merged)', rows: a.out, cols: a.in, fill: '#fee6ce' },
  ];
  const gap = 50;
  const top = 50;
  const height = top + px(a.out) + 60;
  let x = 20;
  const parts: string[] = [];
  for (const [i, b] of boxes.entries()) {
    const w = px(b.cols);
    const h = px(b.rows);
    const cx = x + w / 2;
    parts.push(
      `<rect x="${x}" y="${top}" width="${w}" height="${h}" fill="${b.fill}" stroke="#555"/>`,
      `<text x="${cx}" y="${top - 8}" text-anchor="middle" font-weight="bold">${esc(b.name)}</text>`,
      `<text x="${cx}" y="${top + px(a.out) + 18}" text-anchor="middle">${b.rows}×${b.cols}</text>`,
      `<text x="${cx}" y="${top + px(a.out) + 34}" text-anchor="middle">${(b.rows * b.cols).toLocaleString('en-US')} values</text>`,
    );
    const op = [`+ ${fmt(a.scaling)}·`, '·', '=', ''][i] as string; // W′ = W + s·B·A
    if (op)
      parts.push(`<text x="${x + w + gap / 2}" y="${top + h / 2}" text-anchor="middle" font-size="16">${op}</text>`);
    x += w + gap;
  }
  const width = x;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>LoRA on ${esc(a.layer)}: W ${a.out}×${a.in} frozen, A ${a.r}×${a.in}, B ${a.out}×${a.r}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="20" y="22" font-size="14" font-weight="bold">${esc(a.layer)}: train ${a.params.lora.toLocaleString('en-US')} values instead of ${a.params.W.toLocaleString('en-US')} (${fmt(a.params.savingPercent)}% fewer)</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

export function loraSection(a: LoraArithmetic): Section {
  const src = a.fromAdapter
    ? `A and B are the trained matrices of the adapter (rank ${a.r}, lora_alpha ${a.alpha}).`
    : `A is initialised as PEFT does (kaiming-uniform), and B, which training starts at zero, is random here so the update is not trivially zero (rank ${a.r}, lora_alpha ${a.alpha}).`;
  return {
    id: 'lora',
    title: '2. LoRA arithmetic on a real layer',
    paragraphs: [
      `LoRA keeps the weight W of ${a.layer} (${a.out}×${a.in}, ${a.params.W.toLocaleString('en-US')} values) frozen and learns two thin matrices: A (${a.r}×${a.in}) and B (${a.out}×${a.r}), ${a.params.lora.toLocaleString('en-US')} values — ${fmt(a.params.savingPercent)}% fewer to train and to store. ${src}`,
      `The layer computes output = input·Wᵀ + s·(input·Aᵀ)·Bᵀ with s = lora_alpha/r = ${fmt(a.scaling)}. On a random input of ${TOKENS} tokens, the formula written out with tensor ops and the LoraLinear module that training runs differ by at most ${a.maxDiff.moduleVsFormula.toExponential(2)} (float32 rounding).`,
      `Merging folds the update into the weight once: W′ = W + s·B·A. input·W′ᵀ differs from the unmerged output by at most ${a.maxDiff.mergedVsFormula.toExponential(2)}, which is why a merged model needs no LoRA code at inference.`,
    ],
    figures: [{ file: 'lora.svg', alt: `W + s·B·A = W′ for ${a.layer}, drawn to scale`, svg: loraShapesSvg(a) }],
    table: {
      head: ['token', 'output[0..3] (formula)', 'LoraLinear module', 'merged W′'],
      rows: Array.from({ length: TOKENS }, (_, t) => [
        t,
        ...[a.formula, a.module, a.merged].map((y) =>
          Array.from(y.subarray(t * a.out, t * a.out + 4), (v) => v.toFixed(5)).join(', '),
        ),
      ]),
    },
    numbers: {
      layer: a.layer,
      from_adapter: a.fromAdapter,
      shape: { W: [a.out, a.in], A: [a.r, a.in], B: [a.out, a.r] },
      scaling: a.scaling,
      params: a.params,
      max_abs_diff: { module_vs_formula: a.maxDiff.moduleVsFormula, merged_vs_formula: a.maxDiff.mergedVsFormula },
    },
  };
}

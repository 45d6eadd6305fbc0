// wasm/swiglu-kernels.ts — SwiGLU forward and backward as WebAssembly SIMD loops (4 f32 lanes, 8 floats per step).
//
// Exports (pointers are byte offsets into the module's memory; n is a multiple of 8):
//   swiglu(g, u, y, n)              y = silu(g)·u = g·σ(g)·u
//   swigluBackward(g, u, dy, dg, du, n)
//                                   du = dy·g·σ(g);  dg = dy·u·(σ + g·σ·(1 − σ))
// σ(g) from e = exp(−|g|) (never overflows): σ = 1/(1 + e) for g ≥ 0, e/(1 + e) otherwise.
// A NaN in g gives NaN (through the factor g); g = −∞ gives NaN, as PyTorch's silu does (−∞·0).
import { buildWasmModule, instantiateWasm, WASM_I32, type WasmFunction, type WasmMemory } from './assembler.js';
import { simdBoth, simdExp, simdRowLoop } from './simd-macros.js';

/** g (from p) → σ(g) in local sg, with e = exp(−|g|) left in local e (suffix s for the second chain). */
const sigmoid = (s: string, at: string) => `
  local.get p v128.load${at} local.tee g${s}
  f32x4.abs f32x4.neg ${simdExp(s)} local.set e${s}
  v128.const 1  v128.const 1 local.get e${s} f32x4.add  f32x4.div  local.set sg${s}
  local.get sg${s}  local.get e${s} local.get sg${s} f32x4.mul  local.get g${s} v128.const 0 f32x4.ge  v128.bitselect
  local.set sg${s}`;

const forward = (s: string, at: string) => `
  ${sigmoid(s, at)}
  local.get y
  local.get g${s} local.get sg${s} f32x4.mul  local.get u v128.load${at} f32x4.mul
  v128.store${at}`;

const backward = (s: string, at: string) => `
  ${sigmoid(s, at)}
  local.get du
  local.get dy v128.load${at} local.tee d${s}
  local.get g${s} local.get sg${s} f32x4.mul local.tee e${s}
  f32x4.mul
  v128.store${at}
  local.get dg
  local.get d${s} local.get u v128.load${at} f32x4.mul
  local.get sg${s}  local.get e${s}  v128.const 1 local.get sg${s} f32x4.sub  f32x4.mul  f32x4.add
  f32x4.mul
  v128.store${at}`;

const ptr = (name: string): [string, number] => [name, WASM_I32];

const FNS: WasmFunction[] = [
  {
    name: 'swiglu',
    params: [ptr('p'), ptr('u'), ptr('y'), ptr('n')],
    result: null,
    body: simdRowLoop('n', ...simdBoth(forward), ['u', 'y']),
  },
  {
    name: 'swigluBackward',
    params: [ptr('p'), ptr('u'), ptr('dy'), ptr('dg'), ptr('du'), ptr('n')],
    result: null,
    body: simdRowLoop('n', ...simdBoth(backward), ['u', 'dy', 'dg', 'du']),
  },
];

const TEMPS = {
  i32: ['end'],
  v128: ['x', 't', 'fx', 'm', 'g', 'e', 'sg', 'd', 'x2', 't2', 'fx2', 'm2', 'g2', 'e2', 'sg2', 'd2'],
};

/** The instantiated SwiGLU kernels and their memory. */
export interface SwigluKernels {
  memory: WasmMemory;
  swiglu(g: number, u: number, y: number, n: number): void;
  swigluBackward(g: number, u: number, dy: number, dg: number, du: number, n: number): void;
}

/** The module's bytes (exposed for the validity test). */
export function buildSwigluModule(): Uint8Array {
  return buildWasmModule(FNS, TEMPS);
}

let kernels: SwigluKernels | null | undefined;
let enabled = true;

/** The SIMD kernels, or null when WebAssembly SIMD is unavailable (or switched off for tests). */
export function swigluKernels(): SwigluKernels | null {
  if (!enabled) return null;
  if (kernels === undefined) kernels = instantiateWasm<SwigluKernels>(buildSwigluModule());
  return kernels;
}

/** Test hook: false forces the scalar JS loops (both paths are tested against the same references). */
export function setSwigluSimd(on: boolean): void {
  enabled = on;
}

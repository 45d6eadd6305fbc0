// wasm-rows.ts — the softmax row loops as WebAssembly SIMD (4 f32 lanes), assembled in memory from the WAT-like text below.
//
// Why: attention's row work (max, exp, the softmax backward) is ~T·S/2 exponentials per head and
// pass, single-threaded in JS; 4-wide SIMD with a Cephes-style expf cuts it ~3×. The module is
// assembled here from readable instructions (no binary blob, no toolchain); if WebAssembly SIMD is
// unavailable it is simply not used and softmax-rows.ts runs its scalar JS loops.
//
// Exports (pointers are byte offsets into the module's own memory; n is a multiple of 8):
//   rowMax(p, n) → f32                 max_j x[j]
//   rowMaxBias(p, b, n) → f32          max_j x[j] + bias[j]
//   expRow(p, n, sub) → f32            x[j] = exp(x[j] − sub); returns Σ x[j]
//   expRowBias(p, b, n, sub) → f32     x[j] = exp(x[j] + bias[j] − sub); returns Σ x[j]
//   dsRow(p, d, n, dot)                d[j] = p[j]·(d[j] − dot)
//   scaleCopy(p, d, n, f)              d[j] = p[j]·f
// exp: core-tensor's simdExp (Cephes expf; 0 below −87.34, which also covers −∞ bias); measured
// < 1 ulp on [−87, 0] (wasm-rows.test.ts). Sums run in f32 per lane, like PyTorch's f32 softmax.
// The assembler and the exp/loop macros live in @tslora/core-tensor (shared with its SwiGLU kernels).
import {
  buildWasmModule,
  instantiateWasm,
  simdBoth,
  simdExp,
  simdReduce,
  simdRowLoop,
  WASM_F32,
  WASM_I32,
  type WasmFunction,
  type WasmMemory,
  wasmF32,
} from '@tslora/core-tensor';

/** Locals after the params: one i32, then the v128 temporaries. */
const TEMPS = { i32: ['end'], v128: ['acc', 'x', 't', 'fx', 'm', 'acc2', 'x2', 't2', 'fx2', 'm2'] };
const I32 = WASM_I32;
const F32 = WASM_F32;

const FNS: WasmFunction[] = [
  {
    name: 'rowMax',
    params: [
      ['p', I32],
      ['n', I32],
    ],
    result: F32,
    body: `v128.const -Infinity local.tee acc local.set acc2 ${simdRowLoop('n', ...simdBoth((s, at) => `local.get acc${s} local.get p v128.load${at} f32x4.max local.set acc${s}`))} ${simdReduce('f32.max')}`,
  },
  {
    name: 'rowMaxBias',
    params: [
      ['p', I32],
      ['b', I32],
      ['n', I32],
    ],
    result: F32,
    body: `v128.const -Infinity local.tee acc local.set acc2 ${simdRowLoop('n', ...simdBoth((s, at) => `local.get acc${s} local.get p v128.load${at} local.get b v128.load${at} f32x4.add f32x4.max local.set acc${s}`), ['b'])} ${simdReduce('f32.max')}`,
  },
  {
    name: 'expRow',
    params: [
      ['p', I32],
      ['n', I32],
      ['sub', F32],
    ],
    result: F32,
    body: `v128.const 0 local.tee acc local.set acc2 ${simdRowLoop('n', ...simdBoth((s, at) => `local.get p local.get p v128.load${at} local.get sub f32x4.splat f32x4.sub ${simdExp(s)} local.tee x${s} v128.store${at} local.get acc${s} local.get x${s} f32x4.add local.set acc${s}`))} ${simdReduce('f32.add')}`,
  },
  {
    name: 'expRowBias',
    params: [
      ['p', I32],
      ['b', I32],
      ['n', I32],
      ['sub', F32],
    ],
    result: F32,
    body: `v128.const 0 local.tee acc local.set acc2 ${simdRowLoop('n', ...simdBoth((s, at) => `local.get p local.get p v128.load${at} local.get b v128.load${at} f32x4.add local.get sub f32x4.splat f32x4.sub ${simdExp(s)} local.tee x${s} v128.store${at} local.get acc${s} local.get x${s} f32x4.add local.set acc${s}`), ['b'])} ${simdReduce('f32.add')}`,
  },
  {
    name: 'scaleCopy', // d[j] = p[j]·f: one row of a layout change (head-major ↔ token-major)
    params: [
      ['p', I32],
      ['d', I32],
      ['n', I32],
      ['f', F32],
    ],
    result: null,
    body: simdRowLoop(
      'n',
      ...simdBoth(
        (_, at) => `local.get d local.get p v128.load${at} local.get f f32x4.splat f32x4.mul v128.store${at}`,
      ),
      ['d'],
    ),
  },
  {
    name: 'dsRow', // p walks P, d walks dP (written in place)
    params: [
      ['p', I32],
      ['d', I32],
      ['n', I32],
      ['dot', F32],
    ],
    result: null,
    body: simdRowLoop(
      'n',
      ...simdBoth(
        (_, at) =>
          `local.get d local.get p v128.load${at} local.get d v128.load${at} local.get dot f32x4.splat f32x4.sub f32x4.mul v128.store${at}`,
      ),
      ['d'],
    ),
  },
];

/** The module's bytes: FNS exported by name, plus the memory (one page to start, growable). */
export function buildRowsModule(): Uint8Array {
  return buildWasmModule(FNS, TEMPS);
}

/** The instantiated kernels and their memory. */
export interface RowKernels {
  memory: WasmMemory;
  rowMax(p: number, n: number): number;
  rowMaxBias(p: number, b: number, n: number): number;
  expRow(p: number, n: number, sub: number): number;
  expRowBias(p: number, b: number, n: number, sub: number): number;
  dsRow(p: number, d: number, n: number, dot: number): void;
  scaleCopy(p: number, d: number, n: number, f: number): void;
}

let kernels: RowKernels | null | undefined;
let enabled = true;

/** The SIMD kernels, or null when WebAssembly SIMD is unavailable (or switched off for tests). */
export function rowKernels(): RowKernels | null {
  if (!enabled) return null;
  // null when this engine has no WebAssembly SIMD: the scalar JS loops are used
  if (kernels === undefined) kernels = instantiateWasm<RowKernels>(buildRowsModule());
  return kernels;
}

/** Test hook: false forces the scalar JS row loops (both paths are tested against the same references). */
export function setWasmRowKernels(on: boolean): void {
  enabled = on;
}

/** The kernels' memory as f32, grown to at least `floats` elements (views made earlier may detach). */
export function wasmArena(k: RowKernels, floats: number): Float32Array {
  return wasmF32(k.memory, floats);
}

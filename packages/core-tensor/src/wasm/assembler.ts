// wasm/assembler.ts — a tiny WebAssembly assembler: WAT-like instruction text → a module's bytes, plus instantiation.
//
// Why: the memory-bound row and elementwise loops that need exp (softmax rows, SiLU) are ~3–10× faster
// as 4-lane SIMD than as scalar JS, and a readable instruction list assembled at load time needs no
// toolchain and ships no binary blob. Each kernel module has its own memory: callers copy operands
// in (in cache-sized chunks) or keep their scratch there. Engines without WebAssembly SIMD get null
// from instantiateWasm and use their scalar JS loops.

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
const f32Bytes = (x: number): number[] => [...new Uint8Array(Float32Array.of(x).buffer)];
const simd = (code: number): number[] => [0xfd, ...uleb(code)];

type Imm = 'none' | 'local' | 'u32' | 'f32' | 'f32x4' | 'i32x4' | 'mem' | 'mem16' | 'void';

/** Opcode bytes and the kind of immediate each instruction takes (final SIMD encodings). */
const OPS: Record<string, [number[], Imm]> = {
  'local.get': [[0x20], 'local'],
  'local.set': [[0x21], 'local'],
  'local.tee': [[0x22], 'local'],
  'i32.const': [[0x41], 'u32'], // small non-negative constants only (u32 LEB = s32 LEB below 64)
  'i32.add': [[0x6a], 'none'],
  'i32.shl': [[0x74], 'none'],
  'i32.ge_u': [[0x4f], 'none'],
  'f32.add': [[0x92], 'none'],
  'f32.max': [[0x97], 'none'],
  block: [[0x02], 'void'],
  loop: [[0x03], 'void'],
  br: [[0x0c], 'u32'],
  br_if: [[0x0d], 'u32'],
  end: [[0x0b], 'none'],
  'v128.load': [simd(0), 'mem'],
  'v128.store': [simd(11), 'mem'],
  'v128.load.hi': [simd(0), 'mem16'], // the second vector of an 8-float step: offset 16
  'v128.store.hi': [simd(11), 'mem16'],
  'v128.const': [simd(12), 'f32x4'], // four equal f32 lanes
  'v128.const.i32': [simd(12), 'i32x4'], // four equal i32 lanes
  'f32x4.splat': [simd(19), 'none'],
  'f32x4.extract_lane': [simd(31), 'u32'],
  'f32x4.ge': [simd(70), 'none'],
  'v128.and': [simd(78), 'none'],
  'v128.bitselect': [simd(82), 'none'],
  'i32x4.shl': [simd(171), 'none'],
  'i32x4.add': [simd(174), 'none'],
  'f32x4.abs': [simd(224), 'none'],
  'f32x4.neg': [simd(225), 'none'],
  'f32x4.add': [simd(228), 'none'],
  'f32x4.sub': [simd(229), 'none'],
  'f32x4.mul': [simd(230), 'none'],
  'f32x4.div': [simd(231), 'none'],
  'f32x4.min': [simd(232), 'none'],
  'f32x4.max': [simd(233), 'none'],
};

/** Assembles whitespace-separated instructions; `locals` names the function's locals in index order. */
export function assembleWasm(text: string, locals: string[]): number[] {
  const toks = text.trim().split(/\s+/);
  const out: number[] = [];
  for (let i = 0; i < toks.length; i++) {
    const name = toks[i] as string;
    const def = OPS[name];
    if (!def) throw new Error(`wasm assembler: unknown instruction "${name}"`);
    const [bytes, imm] = def;
    out.push(...bytes);
    if (imm === 'void') out.push(0x40);
    // memarg: align 4 (unaligned v128 access is allowed), offset 0 or 16
    else if (imm === 'mem') out.push(0x02, 0x00);
    else if (imm === 'mem16') out.push(0x02, 0x10);
    else if (imm !== 'none') {
      const arg = toks[++i] as string;
      if (imm === 'local') {
        const idx = locals.indexOf(arg);
        if (idx < 0) throw new Error(`wasm assembler: unknown local "${arg}"`);
        out.push(...uleb(idx));
      } else if (imm === 'u32') out.push(...uleb(Number(arg)));
      else if (imm === 'f32') out.push(...f32Bytes(Number(arg)));
      else if (imm === 'f32x4') for (let l = 0; l < 4; l++) out.push(...f32Bytes(Number(arg)));
      else out.push(...new Uint8Array(Int32Array.of(Number(arg), Number(arg), Number(arg), Number(arg)).buffer));
    }
  }
  return out;
}

/** Value types of params and results. */
export const WASM_I32 = 0x7f;
export const WASM_F32 = 0x7d;
export const WASM_V128 = 0x7b;

/** One exported function: named params, an optional result, and its body as instruction text. */
export interface WasmFunction {
  name: string;
  params: [string, number][];
  result: number | null;
  body: string;
}

/** Locals every function of a module gets after its params: i32 scratch, then v128 temporaries. */
export interface WasmTemps {
  i32: string[];
  v128: string[];
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}
function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}
const utf8 = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];

/** The module's bytes: `fns` exported by name, plus `memory` (one page to start, growable). */
export function buildWasmModule(fns: WasmFunction[], temps: WasmTemps): Uint8Array {
  const types = fns.map((d) => [
    0x60,
    ...vec(d.params.map(([, t]) => [t])),
    ...(d.result === null ? [0] : [1, d.result]),
  ]);
  const codes = fns.map((d) => {
    const locals = [...d.params.map(([n]) => n), ...temps.i32, ...temps.v128];
    const body = [
      ...vec([
        [temps.i32.length, WASM_I32],
        [temps.v128.length, WASM_V128],
      ]),
      ...assembleWasm(d.body, locals),
      0x0b,
    ];
    return [...uleb(body.length), ...body];
  });
  const exports = [[...utf8('memory'), 0x02, 0], ...fns.map((d, i) => [...utf8(d.name), 0x00, ...uleb(i)])];
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  return Uint8Array.from([
    ...header,
    ...section(1, vec(types)),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec(exports)),
    ...section(10, vec(codes)),
  ]);
}

/** A kernel module's memory (the slice of the WebAssembly JS API used here; the project's lib has no DOM types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

/** Instantiates module bytes; null when this engine has no WebAssembly (or no SIMD, which fails validation). */
export function instantiateWasm<T extends { memory: WasmMemory }>(bytes: Uint8Array): T | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  try {
    if (!wasm) return null;
    return new wasm.Instance(new wasm.Module(bytes)).exports as T;
  } catch {
    return null;
  }
}

/** The memory as f32, grown to at least `floats` elements (views made earlier may detach). */
export function wasmF32(memory: WasmMemory, floats: number): Float32Array {
  const need = Math.ceil((floats * 4) / 65536) - memory.buffer.byteLength / 65536;
  if (need > 0) memory.grow(need);
  return new Float32Array(memory.buffer);
}

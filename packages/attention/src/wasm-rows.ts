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
// exp: x ≥ −87.34 (else 0, which also covers −∞ bias): n = round(x·log2e) by the 1.5·2^23 trick,
// r = x − n·ln2 (two-part ln2), e^r by Cephes' expf polynomial, 2^n by exponent bits; measured
// < 1 ulp on [−87, 0] (wasm-rows.test.ts). Sums run in f32 per lane, like PyTorch's f32 softmax.

// ---- a tiny assembler: WAT-like text (one flat instruction stream) → bytes ----------------------

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

/** Opcode bytes and the kind of immediate each instruction takes (final SIMD encodings). */
const OPS: Record<string, [number[], 'none' | 'local' | 'u32' | 'f32' | 'f32x4' | 'i32x4' | 'mem' | 'mem16' | 'void']> =
  {
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
    'i32x4.shl': [simd(171), 'none'],
    'i32x4.add': [simd(174), 'none'],
    'f32x4.add': [simd(228), 'none'],
    'f32x4.sub': [simd(229), 'none'],
    'f32x4.mul': [simd(230), 'none'],
    'f32x4.max': [simd(233), 'none'],
  };

/** Assembles whitespace-separated instructions; `locals` names the function's locals in index order. */
function assemble(text: string, locals: string[]): number[] {
  const toks = text.trim().split(/\s+/);
  const out: number[] = [];
  for (let i = 0; i < toks.length; i++) {
    const name = toks[i] as string;
    const def = OPS[name];
    if (!def) throw new Error(`wasm-rows: unknown instruction "${name}"`);
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
        if (idx < 0) throw new Error(`wasm-rows: unknown local "${arg}"`);
        out.push(...uleb(idx));
      } else if (imm === 'u32') out.push(...uleb(Number(arg)));
      else if (imm === 'f32') out.push(...f32Bytes(Number(arg)));
      else if (imm === 'f32x4') for (let l = 0; l < 4; l++) out.push(...f32Bytes(Number(arg)));
      else out.push(...new Uint8Array(Int32Array.of(Number(arg), Number(arg), Number(arg), Number(arg)).buffer));
    }
  }
  return out;
}

// ---- the kernels --------------------------------------------------------------------------------

const LOW = -87.33654; // below, e^x is under f32's smallest normal: 0
/** Cephes expf: e^r = 1 + r + r²·P(r) on |r| ≤ ln2/2. */
const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

/** x (v128, on the stack) → e^x, with temporaries x, t, fx, m suffixed by `s` (two chains interleave). */
const exp4 = (s: string) => `
  local.tee x${s}  v128.const ${LOW}  f32x4.ge  local.set m${s}
  local.get x${s}  v128.const ${LOW}  f32x4.max  local.set x${s}
  local.get x${s}  v128.const ${Math.LOG2E}  f32x4.mul  v128.const 12582912  f32x4.add  local.tee t${s}
  v128.const 12582912  f32x4.sub  local.set fx${s}
  local.get x${s}  local.get fx${s}  v128.const 0.693359375  f32x4.mul  f32x4.sub
  local.get fx${s}  v128.const -2.12194440e-4  f32x4.mul  f32x4.sub  local.set x${s}
  v128.const ${P[0]}
  ${P.slice(1)
    .map((c) => `local.get x${s} f32x4.mul v128.const ${c} f32x4.add`)
    .join('\n  ')}
  local.get x${s}  f32x4.mul  local.get x${s}  f32x4.mul  local.get x${s}  f32x4.add  v128.const 1  f32x4.add
  local.get t${s}  i32.const 23  i32x4.shl  v128.const.i32 ${0x3f800000}  i32x4.add  f32x4.mul
  local.get m${s}  v128.and`;

/**
 * end = p + 4·n, then for (; p < end; p += 32, and every extra pointer += 32) body — 8 floats (two
 * vectors, `lo` at offset 0 and `hi` at 16) per step: two independent dependency chains per
 * iteration keep the SIMD units busy (~1.3× over one vector per step).
 */
const rowLoop = (n: string, lo: string, hi: string, extra: string[] = []) => `
  local.get p  local.get ${n}  i32.const 2  i32.shl  i32.add  local.set end
  block loop
    local.get p  local.get end  i32.ge_u  br_if 1
    ${lo}
    ${hi}
    ${['p', ...extra].map((x) => `local.get ${x} i32.const 32 i32.add local.set ${x}`).join('\n    ')}
    br 0
  end end`;

/** The lanes of acc and acc2 folded with f32.add or f32.max. */
const reduce = (how: string) => {
  const lanes = ['acc', 'acc2'].flatMap((a) => [0, 1, 2, 3].map((l) => `local.get ${a} f32x4.extract_lane ${l}`));
  return `${lanes[0]} ${lanes
    .slice(1)
    .map((x) => `${x} ${how}`)
    .join(' ')}`;
};

/** Both halves of a step: `f('', '')` for the vector at offset 0, `f('2', '.hi')` for offset 16. */
const both = (f: (s: string, at: string) => string) => [f('', ''), f('2', '.hi')] as const;

interface FnDef {
  name: string;
  params: [string, number][];
  result: number | null;
  body: string;
}

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
/** Locals after the params: one i32, then the v128 temporaries. */
const TEMPS = ['end', 'acc', 'x', 't', 'fx', 'm', 'acc2', 'x2', 't2', 'fx2', 'm2'];

const FNS: FnDef[] = [
  {
    name: 'rowMax',
    params: [
      ['p', I32],
      ['n', I32],
    ],
    result: F32,
    body: `v128.const -Infinity local.tee acc local.set acc2 ${rowLoop('n', ...both((s, at) => `local.get acc${s} local.get p v128.load${at} f32x4.max local.set acc${s}`))} ${reduce('f32.max')}`,
  },
  {
    name: 'rowMaxBias',
    params: [
      ['p', I32],
      ['b', I32],
      ['n', I32],
    ],
    result: F32,
    body: `v128.const -Infinity local.tee acc local.set acc2 ${rowLoop('n', ...both((s, at) => `local.get acc${s} local.get p v128.load${at} local.get b v128.load${at} f32x4.add f32x4.max local.set acc${s}`), ['b'])} ${reduce('f32.max')}`,
  },
  {
    name: 'expRow',
    params: [
      ['p', I32],
      ['n', I32],
      ['sub', F32],
    ],
    result: F32,
    body: `v128.const 0 local.tee acc local.set acc2 ${rowLoop('n', ...both((s, at) => `local.get p local.get p v128.load${at} local.get sub f32x4.splat f32x4.sub ${exp4(s)} local.tee x${s} v128.store${at} local.get acc${s} local.get x${s} f32x4.add local.set acc${s}`))} ${reduce('f32.add')}`,
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
    body: `v128.const 0 local.tee acc local.set acc2 ${rowLoop('n', ...both((s, at) => `local.get p local.get p v128.load${at} local.get b v128.load${at} f32x4.add local.get sub f32x4.splat f32x4.sub ${exp4(s)} local.tee x${s} v128.store${at} local.get acc${s} local.get x${s} f32x4.add local.set acc${s}`), ['b'])} ${reduce('f32.add')}`,
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
    body: rowLoop(
      'n',
      ...both((_, at) => `local.get d local.get p v128.load${at} local.get f f32x4.splat f32x4.mul v128.store${at}`),
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
    body: rowLoop(
      'n',
      ...both(
        (_, at) =>
          `local.get d local.get p v128.load${at} local.get d v128.load${at} local.get dot f32x4.splat f32x4.sub f32x4.mul v128.store${at}`,
      ),
      ['d'],
    ),
  },
];

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}
function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}
const utf8 = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];

/** The module's bytes: FNS exported by name, plus the memory (one page to start, growable). */
export function buildRowsModule(): Uint8Array {
  const types = FNS.map((d) => [
    0x60,
    ...vec(d.params.map(([, t]) => [t])),
    ...(d.result === null ? [0] : [1, d.result]),
  ]);
  const codes = FNS.map((d) => {
    const locals = [...d.params.map(([n]) => n), ...TEMPS];
    const body = [
      ...vec([
        [1, I32],
        [TEMPS.length - 1, V128],
      ]),
      ...assemble(d.body, locals),
      0x0b,
    ];
    return [...uleb(body.length), ...body];
  });
  const exports = [[...utf8('memory'), 0x02, 0], ...FNS.map((d, i) => [...utf8(d.name), 0x00, ...uleb(i)])];
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  return Uint8Array.from([
    ...header,
    ...section(1, vec(types)),
    ...section(3, vec(FNS.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec(exports)),
    ...section(10, vec(codes)),
  ]);
}

// The slice of the WebAssembly JS API used here (typed locally: the project's lib has no DOM types).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
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
  if (kernels === undefined) {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    try {
      if (!wasm) throw new Error('no WebAssembly');
      kernels = new wasm.Instance(new wasm.Module(buildRowsModule())).exports as RowKernels;
    } catch {
      kernels = null; // no SIMD in this engine: the scalar JS loops are used
    }
  }
  return kernels;
}

/** Test hook: false forces the scalar JS row loops (both paths are tested against the same references). */
export function setWasmRowKernels(on: boolean): void {
  enabled = on;
}

/** The kernels' memory as f32, grown to at least `floats` elements (views made earlier may detach). */
export function wasmArena(k: RowKernels, floats: number): Float32Array {
  const need = Math.ceil((floats * 4) / 65536) - k.memory.buffer.byteLength / 65536;
  if (need > 0) k.memory.grow(need);
  return new Float32Array(k.memory.buffer);
}

// wasm-rows.ts — the softmax row loops as WebAssembly SIMD (4 f32 lanes), built in memory from the instruction list below.
//
// Why: attention's row work (max, exp, the softmax backward) is ~T·S/2 exponentials per head and
// pass, single-threaded in JS; 4-wide SIMD with a Cephes-style expf cuts it ~3×. The module is
// encoded here from readable instructions (no binary blob, no toolchain); if WebAssembly SIMD is
// unavailable it is simply not used and softmax-rows.ts runs its scalar JS loops.
//
// Exports (pointers are byte offsets into the module's own memory; n is a multiple of 4):
//   rowMax(p, n) → f32                 max_j x[j]
//   rowMaxBias(p, b, n) → f32          max_j x[j] + bias[j]
//   expRow(p, n, sub) → f32            x[j] = exp(x[j] − sub); returns Σ x[j]
//   expRowBias(p, b, n, sub) → f32     x[j] = exp(x[j] + bias[j] − sub); returns Σ x[j]
//   dsRow(p, d, n, dot)                d[j] = p[j]·(d[j] − dot)
// exp: x ≥ −87.34 (else 0, which also covers −∞ bias): n = round(x·log2e) by the 1.5·2^23 trick,
// r = x − n·ln2 (two-part ln2), e^r by Cephes' degree-7 polynomial (≤ 2 ulp), 2^n by exponent bits.

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

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
function f32Bytes(x: number): number[] {
  return [...new Uint8Array(Float32Array.of(x).buffer)];
}
const simd = (op: number): number[] => [0xfd, ...uleb(op)];
const vconstF = (x: number): number[] => [...simd(12), ...f32Bytes(x), ...f32Bytes(x), ...f32Bytes(x), ...f32Bytes(x)];
const vconstI = (x: number): number[] => [...simd(12), ...new Uint8Array(Int32Array.of(x, x, x, x).buffer)];

// The few opcodes used (core and final SIMD encodings).
const op = {
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32const: (x: number) => [0x41, ...uleb(x)], // small non-negative constants only
  f32const: (x: number) => [0x43, ...f32Bytes(x)],
  i32add: [0x6a],
  i32shl: [0x74],
  i32geu: [0x4f],
  f32add: [0x92],
  f32max: [0x97],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  brIf: (d: number) => [0x0d, ...uleb(d)],
  br: (d: number) => [0x0c, ...uleb(d)],
  end: [0x0b],
  load: [...simd(0), 0x02, 0x00], // v128.load align=4 offset=0
  store: [...simd(11), 0x02, 0x00],
  splat: simd(19), // f32x4.splat
  lane: (i: number) => [...simd(31), i], // f32x4.extract_lane
  ge: simd(70), // f32x4.ge
  and: simd(78), // v128.and
  ishl: simd(171), // i32x4.shl
  iadd: simd(174), // i32x4.add
  add: simd(228),
  sub: simd(229),
  mul: simd(230),
  max: simd(233),
};

/** Locals shared by every function: params first, then end (i32), then v128 temporaries. */
interface Frame {
  ptr: number;
  end: number;
  acc: number;
  x: number;
  t: number;
  fx: number;
  m: number;
}

const MAGIC = 12582912; // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits
const LOW = -87.33654; // below, e^x is under f32's smallest normal: 0
const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

/** Consumes x (v128) on the stack, leaves e^x. */
function exp4(f: Frame): number[] {
  const { x, t, fx, m } = f;
  const poly: number[] = [...vconstF(P[0] as number)];
  for (const c of P.slice(1)) poly.push(...op.get(x), ...op.mul, ...vconstF(c), ...op.add);
  return [
    ...op.tee(x),
    ...vconstF(LOW),
    ...op.ge,
    ...op.set(m),
    ...op.get(x),
    ...vconstF(LOW),
    ...op.max,
    ...op.set(x),
    ...op.get(x),
    ...vconstF(Math.LOG2E),
    ...op.mul,
    ...vconstF(MAGIC),
    ...op.add,
    ...op.tee(t),
    ...vconstF(MAGIC),
    ...op.sub,
    ...op.set(fx),
    ...op.get(x),
    ...op.get(fx),
    ...vconstF(0.693359375),
    ...op.mul,
    ...op.sub,
    ...op.get(fx),
    ...vconstF(-2.1219444e-4),
    ...op.mul,
    ...op.sub,
    ...op.set(x),
    ...poly,
    ...op.get(x),
    ...op.mul,
    ...op.get(x),
    ...op.mul,
    ...op.get(x),
    ...op.add,
    ...vconstF(1),
    ...op.add,
    ...op.get(t),
    ...op.i32const(23),
    ...op.ishl,
    ...vconstI(0x3f800000),
    ...op.iadd,
    ...op.mul,
    ...op.get(m),
    ...op.and,
  ];
}

/** for (; ptr < end; ptr += 16, extra pointers += 16) body */
function loop(f: Frame, body: number[], extraPtrs: number[] = []): number[] {
  const bump = (p: number) => [...op.get(p), ...op.i32const(16), ...op.i32add, ...op.set(p)];
  return [
    ...op.block,
    ...op.loop,
    ...op.get(f.ptr),
    ...op.get(f.end),
    ...op.i32geu,
    ...op.brIf(1),
    ...body,
    ...bump(f.ptr),
    ...extraPtrs.flatMap(bump),
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/** end = ptr + 4·n */
const setEnd = (f: Frame, n: number) => [
  ...op.get(f.ptr),
  ...op.get(n),
  ...op.i32const(2),
  ...op.i32shl,
  ...op.i32add,
  ...op.set(f.end),
];

/** Horizontal reduce of acc with f32.add or f32.max. */
function reduce(f: Frame, how: number[]): number[] {
  return [
    ...op.get(f.acc),
    ...op.lane(0),
    ...op.get(f.acc),
    ...op.lane(1),
    ...how,
    ...op.get(f.acc),
    ...op.lane(2),
    ...how,
    ...op.get(f.acc),
    ...op.lane(3),
    ...how,
  ];
}

interface FnDef {
  name: string;
  params: number[];
  result: number | null;
  body: (f: Frame) => number[];
}

// Param indices: 0 = ptr; the bias / second pointer is 1 when present.
const FNS: FnDef[] = [
  {
    name: 'rowMax',
    params: [I32, I32],
    result: F32,
    body: (f) => [
      ...setEnd(f, 1),
      ...vconstF(Number.NEGATIVE_INFINITY),
      ...op.set(f.acc),
      ...loop(f, [...op.get(f.acc), ...op.get(f.ptr), ...op.load, ...op.max, ...op.set(f.acc)]),
      ...reduce(f, op.f32max),
    ],
  },
  {
    name: 'rowMaxBias',
    params: [I32, I32, I32],
    result: F32,
    body: (f) => [
      ...setEnd(f, 2),
      ...vconstF(Number.NEGATIVE_INFINITY),
      ...op.set(f.acc),
      ...loop(
        f,
        [
          ...op.get(f.acc),
          ...op.get(f.ptr),
          ...op.load,
          ...op.get(1),
          ...op.load,
          ...op.add,
          ...op.max,
          ...op.set(f.acc),
        ],
        [1],
      ),
      ...reduce(f, op.f32max),
    ],
  },
  {
    name: 'expRow',
    params: [I32, I32, F32],
    result: F32,
    body: (f) => [
      ...setEnd(f, 1),
      ...vconstF(0),
      ...op.set(f.acc),
      ...loop(f, [
        ...op.get(f.ptr),
        ...op.get(f.ptr),
        ...op.load,
        ...op.get(2),
        ...op.splat,
        ...op.sub,
        ...exp4(f),
        ...op.tee(f.x),
        ...op.store,
        ...op.get(f.acc),
        ...op.get(f.x),
        ...op.add,
        ...op.set(f.acc),
      ]),
      ...reduce(f, op.f32add),
    ],
  },
  {
    name: 'expRowBias',
    params: [I32, I32, I32, F32],
    result: F32,
    body: (f) => [
      ...setEnd(f, 2),
      ...vconstF(0),
      ...op.set(f.acc),
      ...loop(
        f,
        [
          ...op.get(f.ptr),
          ...op.get(f.ptr),
          ...op.load,
          ...op.get(1),
          ...op.load,
          ...op.add,
          ...op.get(3),
          ...op.splat,
          ...op.sub,
          ...exp4(f),
          ...op.tee(f.x),
          ...op.store,
          ...op.get(f.acc),
          ...op.get(f.x),
          ...op.add,
          ...op.set(f.acc),
        ],
        [1],
      ),
      ...reduce(f, op.f32add),
    ],
  },
  // dsRow(p, d, n, dot): ptr walks p, local 1 walks d
  {
    name: 'dsRow',
    params: [I32, I32, I32, F32],
    result: null,
    body: (f) => [
      ...setEnd(f, 2),
      ...loop(
        f,
        [
          ...op.get(1),
          ...op.get(f.ptr),
          ...op.load,
          ...op.get(1),
          ...op.load,
          ...op.get(3),
          ...op.splat,
          ...op.sub,
          ...op.mul,
          ...op.store,
        ],
        [1],
      ),
    ],
  },
];

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}
function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}
const name = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];

/** The module's bytes. */
export function buildRowsModule(): Uint8Array {
  const types = FNS.map((d) => [0x60, ...vec(d.params.map((p) => [p])), ...(d.result === null ? [0] : [1, d.result])]);
  const codes = FNS.map((d) => {
    const np = d.params.length;
    const f: Frame = { ptr: 0, end: np, acc: np + 1, x: np + 2, t: np + 3, fx: np + 4, m: np + 5 };
    const locals = vec([
      [1, I32],
      [5, V128],
    ]);
    const body = [...locals, ...d.body(f), ...op.end];
    return [...uleb(body.length), ...body];
  });
  const exports = [[...name('memory'), 0x02, 0], ...FNS.map((d, i) => [...name(d.name), 0x00, ...uleb(i)])];
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(3, vec(FNS.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, 1]])), // one memory, min 1 page, growable
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

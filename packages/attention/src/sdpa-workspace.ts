// sdpa-workspace.ts — the buffers one attention call works in: score blocks and token-major copies of a kv group, reused across calls.
//
// With the SIMD row kernels every buffer lives in their WebAssembly memory: the GEMMs write score
// blocks straight into it, the row kernels read them in place, and the head-major ↔ token-major
// layout changes run as SIMD row copies. Without SIMD the same buffers are JS scratch arrays and
// the layout changes plain loops. Nothing here outlives one call (the memory may grow at its start).
import type { Plan } from './sdpa-plan.js';
import { type RowKernels, rowKernels, wasmArena } from './wasm-rows.js';

/** The token-major (T·rep, D) buffers of a group: queries (scaled), upstream gradient, output, dQ. */
export type TokenBuf = 'q' | 'do' | 'o' | 'dq';
const TOKEN_BUFS: readonly TokenBuf[] = ['q', 'do', 'o', 'dq'];

export interface Workspace {
  /** Score block 0 (E, P) or 1 (dP, dS) of n floats (n ≤ Tc·rep·S). */
  block(which: 0 | 1, n: number): Float32Array;
  /** Makes sequence b's key bias row available to the SIMD kernels (copied next to the blocks). */
  useSequence(b: number): void;
  /** Byte offset of that copy in the kernels' memory (−1 without SIMD). */
  readonly biasPtr: number;
  /** The token-major buffer `name`, (T·rep, D). */
  tokenMajor(name: TokenBuf): Float32Array;
  /** Head-major rows (rep,T,D) at src[off…] → token-major buffer `name`, times `factor`; returns it. */
  gather(src: Float32Array, off: number, name: TokenBuf, factor: number): Float32Array;
  /** Token-major buffer `name` → head-major dst[off…], row r times factor·rowScale[r]. */
  scatter(name: TokenBuf, dst: Float32Array, off: number, factor: number, rowScale: Float64Array | null): void;
}

// JS scratch reused across calls (the fallback path), by name.
const f32Scratch = new Map<string, Float32Array>();
const f64Scratch = new Map<string, Float64Array>();

/** A reused Float32Array of at least n elements (a view of exactly n). */
export function scratch(name: string, n: number): Float32Array {
  let b = f32Scratch.get(name);
  if (!b || b.length < n) {
    b = new Float32Array(n);
    f32Scratch.set(name, b);
  }
  return b.subarray(0, n);
}

/** A reused Float64Array of at least n elements (a view of exactly n). */
export function scratch64(name: string, n: number): Float64Array {
  let b = f64Scratch.get(name);
  if (!b || b.length < n) {
    b = new Float64Array(n);
    f64Scratch.set(name, b);
  }
  return b.subarray(0, n);
}

/** The call's workspace: in SIMD memory when the kernels are available, else JS scratch. */
export function workspace(p: Plan): Workspace {
  const k = rowKernels();
  return k ? simdWorkspace(p, k) : jsWorkspace(p);
}

/** Row r = i·rep + h of the token-major layout holds head h, position i. */
function forEachRow(p: Plan, fn: (headMajor: number, tokenMajor: number) => void): void {
  for (let h = 0; h < p.rep; h++) for (let i = 0; i < p.T; i++) fn(h * p.T + i, i * p.rep + h);
}

function jsWorkspace(p: Plan): Workspace {
  const { D } = p;
  const R = p.rep * p.T;
  const tokenMajor = (name: TokenBuf) => scratch(`tm-${name}`, R * D);
  return {
    block: (w, n) => scratch(w === 0 ? 'block-p' : 'block-ds', n),
    useSequence: () => {},
    biasPtr: -1,
    tokenMajor,
    gather(src, off, name, factor) {
      const dst = tokenMajor(name);
      forEachRow(p, (hm, tm) => {
        for (let x = 0; x < D; x++) dst[tm * D + x] = (src[off + hm * D + x] as number) * factor;
      });
      return dst;
    },
    scatter(name, dst, off, factor, rowScale) {
      const src = tokenMajor(name);
      forEachRow(p, (hm, tm) => {
        const c = factor * (rowScale ? (rowScale[tm] as number) : 1);
        for (let x = 0; x < D; x++) dst[off + hm * D + x] = (src[tm * D + x] as number) * c;
      });
    },
  };
}

/**
 * Kernel memory layout, in floats: two score blocks, the bias row, four token-major buffers and a
 * head-major staging area (the group's rows of a JS array, copied in or out with one memcpy).
 */
function simdWorkspace(p: Plan, k: RowKernels): Workspace {
  const { D } = p;
  const R = p.rep * p.T;
  const cap = p.Tc * p.rep * p.S;
  const biasAt = 2 * cap;
  const tokenAt = biasAt + Math.ceil(p.S / 4) * 4;
  const stageAt = tokenAt + TOKEN_BUFS.length * R * D;
  const mem = wasmArena(k, stageAt + R * D);
  const stage = mem.subarray(stageAt, stageAt + R * D);
  const at = (name: TokenBuf) => tokenAt + TOKEN_BUFS.indexOf(name) * R * D;
  const D8 = D & ~7; // the SIMD copy moves 8 floats a step; a row's last D mod 8 go in JS
  /** Copies row by row between two places in kernel memory, each row times factor(row). */
  const copyRows = (
    from: (hm: number, tm: number) => number,
    to: (hm: number, tm: number) => number,
    f: (tm: number) => number,
  ) =>
    forEachRow(p, (hm, tm) => {
      const s = from(hm, tm);
      const d = to(hm, tm);
      const c = f(tm);
      if (D8 > 0) k.scaleCopy(s * 4, d * 4, D8, c);
      for (let x = D8; x < D; x++) mem[d + x] = (mem[s + x] as number) * c;
    });
  return {
    block: (w, n) => mem.subarray(w * cap, w * cap + n),
    useSequence: (b) => {
      if (p.bias) mem.set(p.bias.subarray(b * p.S, (b + 1) * p.S), biasAt);
    },
    biasPtr: biasAt * 4,
    tokenMajor: (name) => mem.subarray(at(name), at(name) + R * D),
    gather(src, off, name, factor) {
      stage.set(src.subarray(off, off + R * D));
      const base = at(name);
      copyRows(
        (hm) => stageAt + hm * D,
        (_, tm) => base + tm * D,
        () => factor,
      );
      return mem.subarray(base, base + R * D);
    },
    scatter(name, dst, off, factor, rowScale) {
      const base = at(name);
      copyRows(
        (_, tm) => base + tm * D,
        (hm) => stageAt + hm * D,
        (tm) => factor * (rowScale ? (rowScale[tm] as number) : 1),
      );
      dst.set(stage, off);
    },
  };
}

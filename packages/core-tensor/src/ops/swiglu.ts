// ops/swiglu.ts — fused SwiGLU: y = silu(gate)·up with its backward, the gated MLP's elementwise half in one pass.
//
// As a composition (silu, then mul) the MLP's (T,F) activations cost five full passes with a scalar
// Math.exp in two of them, plus three temporaries kept for backward; at the Qwen2.5-0.5B shape that
// was a quarter of a LoRA step. Fused: one pass forward, one backward (σ recomputed, nothing saved
// but the two inputs, which the GEMMs that made them keep anyway), exp on 4 SIMD lanes.
//   y = g·σ(g)·u      du = dy·g·σ(g)      dg = dy·u·σ(g)·(1 + g·(1 − σ(g)))
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import { gradBuffer } from '../grad-pool.js';
import { shapeEq, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';
import { wasmF32 } from '../wasm/assembler.js';
import { swigluKernels } from '../wasm/swiglu-kernels.js';

/** Floats per operand per kernel call: five 16 KiB operands stay in L2 between the copy and the kernel. */
const CHUNK = 4096;

function sigmoid(x: number): number {
  const e = Math.exp(-Math.abs(x)); // never overflows
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/** Forward kernel: y = silu(g)·u over equal-length arrays. */
export function swigluForward(G: Float32Array, U: Float32Array): Float32Array {
  const n = G.length;
  const Y = gradBuffer(n); // every element is written
  const k = swigluKernels();
  if (!k) {
    for (let i = 0; i < n; i++) {
      const g = G[i] as number;
      Y[i] = g * sigmoid(g) * (U[i] as number);
    }
    return Y;
  }
  // Operands are copied through the kernel's memory a chunk at a time (the last chunk's lanes past
  // `len` compute on stale values and are never copied out).
  const mem = wasmF32(k.memory, 3 * CHUNK);
  for (let o = 0; o < n; o += CHUNK) {
    const len = Math.min(CHUNK, n - o);
    mem.set(G.subarray(o, o + len), 0);
    mem.set(U.subarray(o, o + len), CHUNK);
    k.swiglu(0, 4 * CHUNK, 8 * CHUNK, (len + 7) & ~7);
    Y.set(mem.subarray(2 * CHUNK, 2 * CHUNK + len), o);
  }
  return Y;
}

/** Backward kernel: dg and du from the inputs and dy. */
export function swigluBackward(
  G: Float32Array,
  U: Float32Array,
  dY: Float32Array,
): { dG: Float32Array; dU: Float32Array } {
  const n = G.length;
  const dG = gradBuffer(n);
  const dU = gradBuffer(n);
  const k = swigluKernels();
  if (!k) {
    for (let i = 0; i < n; i++) {
      const g = G[i] as number;
      const s = sigmoid(g);
      const dy = dY[i] as number;
      dU[i] = dy * g * s;
      dG[i] = dy * (U[i] as number) * (s + g * s * (1 - s));
    }
    return { dG, dU };
  }
  const mem = wasmF32(k.memory, 5 * CHUNK);
  for (let o = 0; o < n; o += CHUNK) {
    const len = Math.min(CHUNK, n - o);
    mem.set(G.subarray(o, o + len), 0);
    mem.set(U.subarray(o, o + len), CHUNK);
    mem.set(dY.subarray(o, o + len), 2 * CHUNK);
    k.swigluBackward(0, 4 * CHUNK, 8 * CHUNK, 12 * CHUNK, 16 * CHUNK, (len + 7) & ~7);
    dG.set(mem.subarray(3 * CHUNK, 3 * CHUNK + len), o);
    dU.set(mem.subarray(4 * CHUNK, 4 * CHUNK + len), o);
  }
  return { dG, dU };
}

/**
 * silu(gate)·up, elementwise. gate, up: same shape, e.g. (B,T,F) → (B,T,F). Equal to
 * `gate.silu().mul(up)` (Qwen2MLP's act_fn(gate_proj(x)) * up_proj(x)) to f32 rounding.
 */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  if (gate.dtype !== 'f32' || up.dtype !== 'f32' || !shapeEq(gate.shape, up.shape)) {
    throw new ShapeError(
      `swiglu: gate ${shapeStr(gate.shape)} ${gate.dtype} and up ${shapeStr(up.shape)} ${up.dtype} must be f32 of one shape`,
    );
  }
  const G = gate.f32;
  const U = up.f32;
  const out = new Tensor(swigluForward(G, U), gate.shape);
  return record('swiglu', [gate, up], out, (dy, needs) => {
    const { dG, dU } = swigluBackward(G, U, dy);
    return [needs[0] ? dG : null, needs[1] ? dU : null];
  });
}

// grad-pool.ts — recycles gradient and scratch-activation buffers once the engine or the model knows they are dead.
//
// Why: a LoRA step's backward allocates about as much as its forward (a dx for every op of every
// layer), and a fresh large Float32Array costs page faults and zeroing (~1.5 ns per float measured
// here) plus garbage-collector pressure. A gradient's lifetime is known exactly to backward(): once
// the rule of the node it belongs to has consumed it and no other pending gradient refers to it, it
// is dead. Rules take their outputs from gradBuffer(); backward() returns dead ones with
// releaseGradBuffer(). Only arrays that gradBuffer() created are ever recycled, so a rule that
// returns dy itself, a saved array, a view or a caller's buffer is never affected.
// Forward kernels of the hot ops (LoRA linear, SwiGLU, RMSNorm, permute, add, RoPE, attention) also
// take their outputs here; model code declares its intermediates dead with doneWith(), so a step's
// activations reuse the previous step's memory (a GEMM into fresh pages measured 17% slower).

import { isGradEnabled } from './autograd.js';
import type { Tensor } from './tensor.js';

/** At most this many floats wait in the pool (256 MiB); beyond it released buffers are left to the GC. */
const MAX_POOLED_FLOATS = 1 << 26;

const free = new Map<number, Float32Array[]>();
const ours = new WeakSet<Float32Array>();
/** The arrays now in `free`. */
const waiting = new WeakSet<Float32Array>();
let pooled = 0;

/**
 * A Float32Array of length n for a backward rule's result: a recycled one when available. Its
 * contents are arbitrary unless `zero` is true — a rule that accumulates (+=) must ask for zeros.
 */
export function gradBuffer(n: number, zero = false): Float32Array {
  const list = free.get(n);
  const buf = list?.pop();
  if (buf) {
    waiting.delete(buf);
    pooled -= n;
    if (zero) buf.fill(0);
    return buf;
  }
  const fresh = new Float32Array(n);
  ours.add(fresh);
  return fresh;
}

/** True for arrays gradBuffer() created (only those are recycled). */
export function isGradBuffer(x: Float32Array): boolean {
  return ours.has(x);
}

/** Returns a dead gradient to the pool. Callers must hold the only reference; arrays from elsewhere are ignored. */
export function releaseGradBuffer(x: Float32Array): void {
  // waiting.has: a buffer released twice (two tensors sharing it) must not be handed out twice
  if (!ours.has(x) || waiting.has(x) || pooled + x.length > MAX_POOLED_FLOATS) return;
  waiting.add(x);
  let list = free.get(x.length);
  if (!list) {
    list = [];
    free.set(x.length, list);
  }
  list.push(x);
  pooled += x.length;
}

/**
 * Declares that the caller — model code, for an intermediate it created and never hands out — will
 * not read `t` (or any tensor sharing its buffer) again. Under noGrad its buffer goes back to the
 * pool now; on the tape it is marked and backward() recycles it right after this tensor's own rule
 * has run, when every consumer's rule has run too. Only buffers from gradBuffer()
 * are recycled, so this is a no-op for anything else. Pass the tensor that made the buffer, not a
 * reshape of it: a view's rule runs before the producer's, which may still read the buffer.
 */
export function doneWith(...ts: Tensor[]): void {
  const recording = isGradEnabled();
  for (const t of ts) {
    if (!recording) {
      if (t.data instanceof Float32Array) releaseGradBuffer(t.data);
    } else if (t.node) t.scratch = true;
    // Recording but off the tape (no input requires grad, e.g. a frozen norm's output): an op on the
    // tape may have saved it for its backward, and backward() never visits it — left to the GC.
  }
}

/** Drops every pooled buffer (for the GC to reclaim), e.g. before a phase that needs the memory. */
export function clearGradPool(): void {
  for (const list of free.values()) for (const b of list) waiting.delete(b);
  free.clear();
  pooled = 0;
}

/** Floats currently waiting in the pool (tests, diagnostics). */
export function gradPoolFloats(): number {
  return pooled;
}

// grad-pool.ts — recycles gradient buffers: a backward rule's output is reused once the engine knows it is dead.
//
// Why: a LoRA step's backward allocates about as much as its forward (a dx for every op of every
// layer), and a fresh large Float32Array costs page faults and zeroing (~1.5 ns per float measured
// here) plus garbage-collector pressure. A gradient's lifetime is known exactly to backward(): once
// the rule of the node it belongs to has consumed it and no other pending gradient refers to it, it
// is dead. Rules take their outputs from gradBuffer(); backward() returns dead ones with
// releaseGradBuffer(). Only arrays that gradBuffer() created are ever recycled, so a rule that
// returns dy itself, a saved array, a view or a caller's buffer is never affected.

/** At most this many floats wait in the pool (256 MiB); beyond it released buffers are left to the GC. */
const MAX_POOLED_FLOATS = 1 << 26;

const free = new Map<number, Float32Array[]>();
const ours = new WeakSet<Float32Array>();
let pooled = 0;

/**
 * A Float32Array of length n for a backward rule's result: a recycled one when available. Its
 * contents are arbitrary unless `zero` is true — a rule that accumulates (+=) must ask for zeros.
 */
export function gradBuffer(n: number, zero = false): Float32Array {
  const list = free.get(n);
  const buf = list?.pop();
  if (buf) {
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
  if (!ours.has(x) || pooled + x.length > MAX_POOLED_FLOATS) return;
  let list = free.get(x.length);
  if (!list) {
    list = [];
    free.set(x.length, list);
  }
  list.push(x);
  pooled += x.length;
}

/** Drops every pooled buffer (for the GC to reclaim), e.g. before a phase that needs the memory. */
export function clearGradPool(): void {
  free.clear();
  pooled = 0;
}

/** Floats currently waiting in the pool (tests, diagnostics). */
export function gradPoolFloats(): number {
  return pooled;
}

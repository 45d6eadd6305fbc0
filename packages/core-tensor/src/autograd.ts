// autograd.ts — the tape: every differentiable op records a node; backward() walks it in reverse.
//
// Gradients travel as raw Float32Arrays (not Tensors): the backward rules are kernels, not graphs,
// so there is no double-backward, and no wrapper allocation on the hot path.
import { gradBuffer, releaseGradBuffer } from './grad-pool.js';
import type { Tensor } from './tensor.js';

/**
 * Maps the gradient of an op's output to the gradients of its inputs. `needs[i]` is false for
 * inputs that do not require grad (frozen weights): the rule must skip that work and return null.
 * A rule may return `dy` itself (pass-through); the engine copies before accumulating into it.
 * Rules should take the arrays they return from gradBuffer() (grad-pool.ts): the engine recycles
 * those once nothing refers to them any more.
 */
export type BackwardFn = (dy: Float32Array, needs: readonly boolean[]) => (Float32Array | null)[];

export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  backward: BackwardFn | null;
}

let gradEnabled = true;

/** Runs fn without recording the tape (inference, optimizer updates, evaluation). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Attaches a backward rule to `out` when grad mode is on and some input requires grad. */
export function record(op: string, inputs: readonly Tensor[], out: Tensor, backward: BackwardFn): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

/** Inputs before outputs, so walking it backwards visits a node after all its consumers. */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: a 24-layer model's tape is deeper than the JS call stack likes.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as [Tensor, number];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const child = inputs[i] as Tensor;
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

interface Pending {
  buf: Float32Array;
  owned: boolean; // false while buf may be shared with another tensor's gradient
}

/**
 * How many pending gradients (plus rule results in flight) refer to each array. When the count of
 * an array from gradBuffer() drops to zero nothing can read it any more, and it goes back to the pool.
 */
class Refs {
  private readonly count = new Map<Float32Array, number>();
  hold(x: Float32Array): void {
    this.count.set(x, (this.count.get(x) ?? 0) + 1);
  }
  /** Drops one reference; recycles the array when it was the last one. */
  drop(x: Float32Array): void {
    const c = (this.count.get(x) ?? 1) - 1;
    if (c > 0) {
      this.count.set(x, c);
      return;
    }
    this.count.delete(x);
    releaseGradBuffer(x);
  }
  /** Drops one reference without recycling: the array now belongs to someone else (a leaf's .grad). */
  transfer(x: Float32Array): void {
    const c = (this.count.get(x) ?? 1) - 1;
    if (c > 0) this.count.set(x, c);
    else this.count.delete(x);
  }
}

function accumulate(pending: Map<Tensor, Pending>, refs: Refs, t: Tensor, g: Float32Array): void {
  const p = pending.get(t);
  if (!p) {
    pending.set(t, { buf: g, owned: false });
    refs.hold(g);
    return;
  }
  const b = p.buf;
  if (!p.owned) {
    // One pass into a fresh buffer rather than a copy and then an add (residual streams meet here).
    const sum = gradBuffer(b.length);
    for (let i = 0; i < b.length; i++) sum[i] = (b[i] as number) + (g[i] as number);
    refs.drop(b);
    p.buf = sum;
    p.owned = true;
    refs.hold(sum);
    return;
  }
  for (let i = 0; i < b.length; i++) b[i] = (b[i] as number) + (g[i] as number);
}

/**
 * Reverse-mode differentiation from `root` (a scalar unless `grad` is given). Leaf tensors that
 * require grad get `.grad` added to (so micro-batches accumulate, as in PyTorch). The tape is
 * released as it is walked: saved activations become garbage as soon as their rule has run, and
 * gradients from gradBuffer() go back to the pool as soon as nothing pending refers to them.
 */
export function backward(root: Tensor, grad?: Float32Array): void {
  if (!root.requiresGrad) throw new Error('backward: the tensor does not require grad (nothing to differentiate)');
  if (!grad && root.size !== 1) {
    throw new Error(
      `backward: output has shape [${root.shape.join(', ')}]; pass its gradient or reduce it to a scalar`,
    );
  }
  const order = topoOrder(root);
  const pending = new Map<Tensor, Pending>();
  const refs = new Refs();
  const rootBuf = grad ?? new Float32Array([1]);
  pending.set(root, { buf: rootBuf, owned: grad === undefined });
  refs.hold(rootBuf);
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i] as Tensor;
    const p = pending.get(t);
    pending.delete(t);
    const node = t.node;
    if (!p) continue;
    if (!node) {
      t.accumulateGrad(p.buf, p.owned);
      if (p.owned)
        refs.transfer(p.buf); // the leaf's .grad is this array now
      else refs.drop(p.buf); // copied into .grad
      continue;
    }
    const rule = node.backward;
    if (!rule) throw new Error(`backward: the graph through "${node.op}" was already freed by an earlier backward()`);
    const needs = node.inputs.map((x) => x.requiresGrad);
    const grads = rule(p.buf, needs);
    node.backward = null; // free the closure and everything it saved
    // Keep a stub (no inputs, no rule) rather than null: a second backward() through this tensor
    // must fail loudly, not treat it as a leaf and silently give it a .grad.
    t.node = { op: node.op, inputs: [], backward: null };
    const live: Float32Array[] = [];
    grads.forEach((g, j) => {
      if (g && needs[j]) live.push(g);
    });
    for (const g of live) refs.hold(g); // in flight: not recyclable while being accumulated
    grads.forEach((g, j) => {
      if (g && needs[j]) accumulate(pending, refs, node.inputs[j] as Tensor, g);
    });
    for (const g of live) refs.drop(g);
    refs.drop(p.buf); // this node's gradient has been consumed
    // every consumer's rule ran before this one: a scratch activation is dead now (see doneWith)
    if (t.scratch && t.data instanceof Float32Array) releaseGradBuffer(t.data);
  }
}

// autograd.ts — the tape: every differentiable op records a node; backward() walks it in reverse.
//
// Gradients travel as raw Float32Arrays (not Tensors): the backward rules are kernels, not graphs,
// so there is no double-backward, and no wrapper allocation on the hot path.
import type { Tensor } from './tensor.js';

/**
 * Maps the gradient of an op's output to the gradients of its inputs. `needs[i]` is false for
 * inputs that do not require grad (frozen weights): the rule must skip that work and return null.
 * A rule may return `dy` itself (pass-through); the engine copies before accumulating into it.
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

function accumulate(pending: Map<Tensor, Pending>, t: Tensor, g: Float32Array): void {
  const p = pending.get(t);
  if (!p) {
    pending.set(t, { buf: g, owned: false });
    return;
  }
  const b = p.buf;
  if (!p.owned) {
    // One pass into a fresh buffer rather than a copy and then an add (residual streams meet here).
    const sum = new Float32Array(b.length);
    for (let i = 0; i < b.length; i++) sum[i] = (b[i] as number) + (g[i] as number);
    p.buf = sum;
    p.owned = true;
    return;
  }
  for (let i = 0; i < b.length; i++) b[i] = (b[i] as number) + (g[i] as number);
}

/**
 * Reverse-mode differentiation from `root` (a scalar unless `grad` is given). Leaf tensors that
 * require grad get `.grad` added to (so micro-batches accumulate, as in PyTorch). The tape is
 * released as it is walked: saved activations become garbage as soon as their rule has run.
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
  pending.set(root, { buf: grad ?? new Float32Array([1]), owned: grad === undefined });
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i] as Tensor;
    const p = pending.get(t);
    pending.delete(t);
    const node = t.node;
    if (!p) continue;
    if (!node) {
      t.accumulateGrad(p.buf, p.owned);
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
    grads.forEach((g, j) => {
      if (g && needs[j]) accumulate(pending, node.inputs[j] as Tensor, g);
    });
  }
}

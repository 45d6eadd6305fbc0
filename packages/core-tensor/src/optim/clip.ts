// optim/clip.ts — gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_).
import type { Tensor } from '../tensor.js';

/**
 * Scales every gradient by min(1, maxNorm / (norm + 1e-6)), where norm is the L2 norm of all
 * gradients together (accumulated in f64), and returns that norm as it was before clipping.
 * Parameters without a gradient are ignored. A non-finite norm (NaN/Inf gradients) is returned
 * as is and the gradients are left untouched, so the caller can see it and refuse the step —
 * unlike torch, which would multiply the gradients by 0 or NaN. maxNorm = Infinity only measures.
 */
export function clipGradNorm(params: readonly Tensor[] | readonly [string, Tensor][], maxNorm: number): number {
  const grads: Float32Array[] = [];
  for (const p of params) {
    const t = Array.isArray(p) ? (p[1] as Tensor) : (p as Tensor);
    if (t.grad) grads.push(t.grad.f32);
  }
  let ss = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) ss += (g[i] as number) * (g[i] as number);
  const norm = Math.sqrt(ss);
  if (!Number.isFinite(norm)) return norm;
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) * coef;
  return norm;
}

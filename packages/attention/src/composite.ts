// composite.ts — attention spelled out with core-tensor ops (HF eager attention + repeat_kv): the readable reference the fused kernel is tested against.
import { expand, maskedFill, matmul, mul, reshape, softmax, Tensor } from '@tslora/core-tensor';
import { buildKeepMask, fullyMaskedRows } from './masks.js';
import type { SdpaOptions } from './sdpa.js';

/** HF `repeat_kv`: (B,Hkv,S,D) → (B,Hkv·rep,S,D), kv head g copied to query heads g·rep … g·rep+rep−1. */
export function repeatKv(x: Tensor, rep: number): Tensor {
  if (rep === 1) return x;
  const [B, Hkv, S, D] = x.shape as [number, number, number, number];
  return reshape(expand(reshape(x, [B, Hkv, 1, S, D]), [B, Hkv, rep, S, D]), [B, Hkv * rep, S, D]);
}

/**
 * The same function as {@link scaledDotProductAttention}, built from differentiable core-tensor ops:
 * scores = q·kᵀ·scale, masked_fill(masked, −1e30), softmax, zero the rows that have no key, ·v.
 * It materialises repeat_kv, the (B,H,T,S) scores and the (B,1,T,S) mask — fine for tests, slow and
 * memory-hungry for training. −1e30 rather than −∞ so a fully masked row is uniform (not NaN) before
 * it is zeroed; every other masked entry is exp(−1e30 − max) = 0 exactly.
 */
export function scaledDotProductAttentionComposite(q: Tensor, k: Tensor, v: Tensor, opts: SdpaOptions = {}): Tensor {
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const [, Hkv, S] = k.shape as [number, number, number, number];
  const rep = H / Hkv;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const keep = buildKeepMask(B, T, S, opts); // (B,T,S) 1 keep
  const masked = new Tensor(
    Int32Array.from(keep, (x) => 1 - x),
    [B, 1, T, S],
  );
  const rowHasKey = Tensor.from(
    fullyMaskedRows(keep, B * T, S).map((none) => (none ? 0 : 1)),
    [B, 1, T, 1],
  );
  const scores = mul(matmul(q, repeatKv(k, rep), { transB: true }), scale); // (B,H,T,S)
  const probs = mul(softmax(maskedFill(scores, masked, -1e30), -1), rowHasKey);
  return matmul(probs, repeatKv(v, rep)); // (B,H,T,D)
}

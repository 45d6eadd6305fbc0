// checkpoint.ts — gradient checkpointing: run a block without a tape, and re-run it with one during backward.
//
// The forward keeps only the block's input (and the RNG state it started from); the block's
// activations are recomputed when its gradient arrives, then freed again by an inner backward().
// Activation memory becomes one block's worth plus every block's input (mlx-lm's --grad-checkpoint,
// torch.utils.checkpoint). The recompute replays the same ops on the same values with the same
// dropout masks, so losses and gradients equal the un-checkpointed run's.
import { backward, isGradEnabled, noGrad, record } from './autograd.js';
import type { Random } from './random.js';
import { Tensor } from './tensor.js';

/**
 * y = fn(x), recomputed in backward. `params`: the trainable tensors fn reads besides x (their
 * gradients are accumulated by the recompute's inner backward, as a normal backward would).
 * `rng`: the generator fn draws dropout masks from, rewound for the recompute and then put back.
 */
export function checkpoint(fn: (x: Tensor) => Tensor, x: Tensor, params: readonly Tensor[], rng?: Random): Tensor {
  const trainable = params.filter((p) => p.requiresGrad);
  if (!isGradEnabled() || (!x.requiresGrad && trainable.length === 0)) return fn(x);
  const rngAt = rng?.state;
  const y = noGrad(() => fn(x));
  const out = new Tensor(y.f32, y.shape);
  return record('checkpoint', [x, ...trainable], out, (dy, needs) => {
    const after = rng?.state;
    if (rng && rngAt) rng.setState(rngAt);
    const x2 = new Tensor(x.f32, x.shape, { requiresGrad: needs[0] === true });
    const y2 = fn(x2);
    if (rng && after) rng.setState(after);
    // A copy: the inner backward recycles its root gradient, while the outer one still owns dy.
    if (y2.requiresGrad) backward(y2, dy.slice());
    // the params' gradients were accumulated by the inner backward; only dx goes back to the outer one
    return [x2.grad ? x2.grad.f32 : null, ...trainable.map(() => null)];
  });
}

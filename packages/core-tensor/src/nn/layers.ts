// nn/layers.ts — Linear (HF layout, weight (out,in)), Embedding and RMSNorm.
import { embedding } from '../ops/index-ops.js';
import { matmul } from '../ops/matmul.js';
import { rmsNorm } from '../ops/norm.js';
import type { FrozenWeight } from '../quant/frozen-weight.js';
import type { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { frozenLinear } from './frozen-linear.js';
import { Module } from './module.js';

/** y = x·Wᵀ + b   x: (...,in)  W: (out,in)  b: (out). Initialised like nn.Linear (kaiming-uniform a=√5). */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Set by {@link Linear.setFrozen}: the weight lives here (bf16 or quantized) and `weight` is empty. */
  frozen: FrozenWeight | null = null;

  constructor(inFeatures: number, outFeatures: number, opts: { bias?: boolean; rng?: Random } = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const w = new Float32Array(outFeatures * inFeatures);
    if (opts.rng) opts.rng.fillKaimingUniform(w, inFeatures);
    this.weight = new Tensor(w, [outFeatures, inFeatures], { requiresGrad: true });
    this.bias = opts.bias ? new Tensor(new Float32Array(outFeatures), [outFeatures], { requiresGrad: true }) : null;
  }

  forward(x: Tensor): Tensor {
    if (this.frozen) return frozenLinear(x, this.frozen, this.bias);
    const y = matmul(x, this.weight, { transB: true });
    return this.bias ? y.add(this.bias) : y;
  }

  /**
   * Moves the weight into a compact frozen storage (QLoRA): `weight` becomes an empty, frozen (0,in)
   * tensor so no f32 copy is kept, and forward() runs through `frozen`.
   */
  setFrozen(w: FrozenWeight): void {
    if (w.outFeatures !== this.outFeatures || w.inFeatures !== this.inFeatures) {
      throw new RangeError(
        `Linear.setFrozen: (${w.outFeatures},${w.inFeatures}) for a ${this.inFeatures}→${this.outFeatures} Linear`,
      );
    }
    this.frozen = w;
    this.weight = new Tensor(new Float32Array(0), [0, this.inFeatures]);
  }
}

/** Row lookup: ids (...) i32 → (..., C). */
export class Embedding extends Module {
  weight: Tensor;
  constructor(numEmbeddings: number, dim: number, opts: { rng?: Random } = {}) {
    super();
    const w = new Float32Array(numEmbeddings * dim);
    if (opts.rng) opts.rng.fillNormal(w);
    this.weight = new Tensor(w, [numEmbeddings, dim], { requiresGrad: true });
  }
  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}

/** y = w ⊙ x·rsqrt(mean(x²) + eps) over the last dim (Qwen: eps = rms_norm_eps = 1e-6, w = 1 at init). */
export class RMSNorm extends Module {
  weight: Tensor;
  readonly eps: number;
  constructor(dim: number, eps = 1e-6) {
    super();
    this.eps = eps;
    this.weight = new Tensor(new Float32Array(dim).fill(1), [dim], { requiresGrad: true });
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}

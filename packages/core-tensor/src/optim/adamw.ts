// optim/adamw.ts — AdamW with PyTorch's semantics (torch.optim.AdamW), updating parameters in place.
//
// Per parameter p with gradient g, at its step t (counted per parameter, as PyTorch does):
//   p ← p·(1 − lr·wd)                          decoupled weight decay, applied before the Adam update
//   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
//   p ← p − (lr / (1 − β1ᵗ)) · m / (sqrt(v) / sqrt(1 − β2ᵗ) + eps)      eps outside the sqrt
// A parameter whose .grad is null is skipped entirely (no decay, no step), as in PyTorch.
import { TsloraError } from '../errors.js';
import type { Tensor } from '../tensor.js';

export interface AdamWOptions {
  lr: number;
  /** (β1, β2), default (0.9, 0.999). */
  betas?: [number, number];
  /** Added to sqrt(v̂) (outside the square root), default 1e-8. */
  eps?: number;
  /** Decoupled weight decay, default 0.01 (PyTorch's AdamW default). */
  weightDecay?: number;
}

/**
 * JSON-serialisable optimizer settings and the number of step() calls. A type alias, not an
 * interface, so it is assignable to Record<string, unknown> (e.g. a trainer's JSON state).
 */
export type AdamWMeta = {
  step: number;
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
};

/**
 * Everything needed to resume bit-exactly. `moments` holds, per parameter that has state,
 * `${name}.exp_avg`, `${name}.exp_avg_sq` (PyTorch's names) and `${name}.step` (length 1).
 */
export interface AdamWStateDict {
  meta: AdamWMeta;
  moments: Map<string, Float32Array>;
}

interface ParamState {
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  /** This parameter's step count t (parameters without a gradient on a step do not advance). */
  step: Float32Array;
}

const SUFFIXES = ['exp_avg', 'exp_avg_sq', 'step'] as const;

function checkHyper(o: { lr: number; betas: [number, number]; eps: number; weightDecay: number }, where: string): void {
  const bad = (what: string): never => {
    throw new TsloraError(`${where}: ${what}`, {
      hint: 'AdamW needs lr ≥ 0, 0 ≤ β1, β2 < 1, eps ≥ 0 and weight decay ≥ 0',
    });
  };
  if (!(Number.isFinite(o.lr) && o.lr >= 0)) bad(`invalid learning rate ${o.lr}`);
  o.betas.forEach((b, i) => {
    if (!(Number.isFinite(b) && b >= 0 && b < 1)) bad(`invalid beta parameter at index ${i}: ${b}`);
  });
  if (!(Number.isFinite(o.eps) && o.eps >= 0)) bad(`invalid epsilon ${o.eps}`);
  if (!(Number.isFinite(o.weightDecay) && o.weightDecay >= 0)) bad(`invalid weight decay ${o.weightDecay}`);
}

/** AdamW over a fixed list of parameters (named, or unnamed and then named by index). */
export class AdamW {
  /** Learning rate of the next step(); set it from a schedule before each step. */
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  /** Number of step() calls so far. */
  steps = 0;
  private readonly named: [string, Tensor][];
  private readonly state: (ParamState | undefined)[];

  constructor(params: readonly Tensor[] | readonly [string, Tensor][], opts: AdamWOptions) {
    this.named = params.map((p, i) => (Array.isArray(p) ? [p[0], p[1]] : [String(i), p as Tensor]));
    if (this.named.length === 0) {
      throw new TsloraError('AdamW: got an empty parameter list', {
        hint: 'nothing is trainable: check the LoRA target modules or unfreeze some parameters',
      });
    }
    const seen = new Set<Tensor>();
    for (const [name, t] of this.named) {
      if (seen.has(t))
        throw new TsloraError(`AdamW: parameter "${name}" appears twice (tied weights must be passed once)`);
      if (t.dtype !== 'f32')
        throw new TsloraError(`AdamW: parameter "${name}" is ${t.dtype}; only f32 tensors can be optimised`);
      seen.add(t);
    }
    this.lr = opts.lr;
    this.betas = [...(opts.betas ?? [0.9, 0.999])];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    checkHyper(this, 'AdamW');
    this.state = this.named.map(() => undefined);
  }

  /** The parameters being optimised, with their names. */
  get parameters(): readonly [string, Tensor][] {
    return this.named;
  }

  /** One update of every parameter that has a gradient. Allocates only a parameter's first state. */
  step(): void {
    if (!(Number.isFinite(this.lr) && this.lr >= 0))
      throw new TsloraError(`AdamW.step: invalid learning rate ${this.lr}`);
    this.steps++;
    for (let i = 0; i < this.named.length; i++) {
      const p = (this.named[i] as [string, Tensor])[1];
      if (p.grad === null) continue;
      let st = this.state[i];
      if (!st) {
        st = { expAvg: new Float32Array(p.size), expAvgSq: new Float32Array(p.size), step: new Float32Array(1) };
        this.state[i] = st;
      }
      this.update(p.f32, p.grad.f32, st);
    }
  }

  /** The element loop: f64 arithmetic, one rounding to f32 per stored value (as PyTorch's f32 math, to ~1 ulp). */
  private update(P: Float32Array, G: Float32Array, st: ParamState): void {
    const [b1, b2] = this.betas;
    const t = (st.step[0] as number) + 1;
    st.step[0] = t;
    const stepSize = this.lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    const decay = 1 - this.lr * this.weightDecay;
    const eps = this.eps;
    const M = st.expAvg;
    const V = st.expAvgSq;
    for (let j = 0; j < P.length; j++) {
      const g = G[j] as number;
      M[j] = b1 * (M[j] as number) + (1 - b1) * g;
      V[j] = b2 * (V[j] as number) + (1 - b2) * g * g;
      const pd = Math.fround((P[j] as number) * decay);
      P[j] = pd - (stepSize * (M[j] as number)) / (Math.sqrt(V[j] as number) / bc2Sqrt + eps);
    }
  }

  /** Drops every parameter's gradient (set to null, as PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const [, p] of this.named) p.zeroGrad();
  }

  /**
   * Settings, step count and moments. The moment arrays are the live state (no copy, so saving a
   * large model's optimizer costs no memory); write them out before the next step().
   */
  stateDict(): AdamWStateDict {
    const moments = new Map<string, Float32Array>();
    this.named.forEach(([name], i) => {
      const st = this.state[i];
      if (!st) return;
      moments.set(`${name}.exp_avg`, st.expAvg);
      moments.set(`${name}.exp_avg_sq`, st.expAvgSq);
      moments.set(`${name}.step`, st.step);
    });
    const meta: AdamWMeta = {
      step: this.steps,
      lr: this.lr,
      betas: [...this.betas],
      eps: this.eps,
      weightDecay: this.weightDecay,
    };
    return { meta, moments };
  }

  /**
   * Restores a stateDict() (moments copied in). Accepts `{meta, moments}` or the meta fields spread
   * beside `moments`. Settings present in meta replace the current ones, as in PyTorch.
   */
  loadStateDict(sd: AdamWStateDict | (Partial<AdamWMeta> & { moments: Map<string, Float32Array> })): void {
    const meta: Partial<AdamWMeta> = 'meta' in sd ? sd.meta : sd;
    const next = {
      lr: meta.lr ?? this.lr,
      betas: meta.betas ?? this.betas,
      eps: meta.eps ?? this.eps,
      weightDecay: meta.weightDecay ?? this.weightDecay,
    };
    checkHyper(next, 'AdamW.loadStateDict');
    const steps = meta.step ?? this.steps;
    if (!(Number.isInteger(steps) && steps >= 0))
      throw new TsloraError(`AdamW.loadStateDict: invalid step count ${String(meta.step)}`);
    const loaded = this.readMoments(sd.moments);
    this.lr = next.lr;
    (this as { betas: [number, number] }).betas = [...next.betas];
    (this as { eps: number }).eps = next.eps;
    (this as { weightDecay: number }).weightDecay = next.weightDecay;
    this.steps = steps;
    loaded.forEach((st, i) => {
      this.state[i] = st;
    });
  }

  /** Validates every moment entry against the parameters before anything is changed. */
  private readMoments(moments: Map<string, Float32Array>): (ParamState | undefined)[] {
    const index = new Map(this.named.map(([n], i) => [n, i]));
    const found = this.named.map(() => new Map<string, Float32Array>());
    const fail = (msg: string): never => {
      throw new TsloraError(`AdamW.loadStateDict: ${msg}`, {
        hint: 'the optimizer state was saved for a different set of trainable parameters; resume with the same model and LoRA settings',
      });
    };
    for (const [key, arr] of moments) {
      const dot = key.lastIndexOf('.');
      const name = key.slice(0, dot);
      const suffix = key.slice(dot + 1);
      const i = index.get(name);
      if (dot < 0 || i === undefined || !(SUFFIXES as readonly string[]).includes(suffix))
        fail(`unexpected entry "${key}"`);
      const p = (this.named[i as number] as [string, Tensor])[1];
      const want = suffix === 'step' ? 1 : p.size;
      if (arr.length !== want) fail(`"${key}" has ${arr.length} values, parameter "${name}" needs ${want}`);
      (found[i as number] as Map<string, Float32Array>).set(suffix, arr);
    }
    return found.map((m, i) => {
      if (m.size === 0) return undefined;
      const name = (this.named[i] as [string, Tensor])[0];
      const get = (s: string): Float32Array =>
        m.get(s)?.slice() ?? fail(`parameter "${name}" has "${[...m.keys()].join('", "')}" but no "${s}"`);
      const st = { expAvg: get('exp_avg'), expAvgSq: get('exp_avg_sq'), step: get('step') };
      const t = st.step[0] as number;
      if (!(Number.isInteger(t) && t >= 0)) fail(`"${name}.step" is ${t}, not a step count`);
      return st;
    });
  }
}

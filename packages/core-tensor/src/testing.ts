// testing.ts — numeric test helpers (exported as @tslora/core-tensor/testing): closeness and gradcheck.
import { noGrad } from './autograd.js';
import { Random } from './random.js';
import { Tensor } from './tensor.js';

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  label?: string;
}

/** Largest |a−b| and where, plus whether every element passes |a−b| ≤ atol + rtol·|b|. */
export function compareClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: CloseOptions = {}) {
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-5;
  let maxDiff = 0;
  let worst = -1;
  let ok = actual.length === expected.length;
  for (let i = 0; i < Math.min(actual.length, expected.length); i++) {
    const a = actual[i] as number;
    const b = expected[i] as number;
    const d = Math.abs(a - b);
    // NaN matches only NaN and ±Inf only itself: with b = ±Inf, rtol·|b| = Inf would accept anything.
    const bad =
      Number.isNaN(a) || Number.isNaN(b)
        ? !(Number.isNaN(a) && Number.isNaN(b))
        : !Number.isFinite(a) || !Number.isFinite(b)
          ? a !== b
          : d > atol + rtol * Math.abs(b);
    if (bad) ok = false;
    if (d > maxDiff || (bad && worst < 0)) {
      maxDiff = Number.isNaN(d) ? maxDiff : d;
      worst = i;
    }
  }
  return { ok, maxDiff, worst };
}

/** Throws with a max-diff report unless actual ≈ expected elementwise (NaN equals NaN). */
export function expectClose(
  actual: ArrayLike<number> | Tensor,
  expected: ArrayLike<number> | Tensor,
  opts: CloseOptions = {},
): void {
  const a = actual instanceof Tensor ? actual.data : actual;
  const e = expected instanceof Tensor ? expected.data : expected;
  const r = compareClose(a, e, opts);
  if (!r.ok) {
    const where = r.worst >= 0 ? ` at [${r.worst}]: ${a[r.worst]} vs ${e[r.worst]}` : '';
    throw new Error(
      `${opts.label ?? 'expectClose'}: lengths ${a.length}/${e.length}, max |diff| ${r.maxDiff.toExponential(3)}${where} (atol ${opts.atol ?? 1e-5}, rtol ${opts.rtol ?? 1e-5})`,
    );
  }
}

export interface GradcheckOptions extends CloseOptions {
  /** Finite-difference step (f32 forward: 1e-2…1e-3 balances truncation and rounding). */
  eps?: number;
  seed?: number;
}

/**
 * Checks the analytic gradients of f at `inputs` against central finite differences of the
 * scalar L = Σ f(inputs) ⊙ R with a fixed random R (so every output element matters).
 * Only inputs with requiresGrad are checked. Throws with a report on mismatch.
 */
export function gradcheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): void {
  const eps = opts.eps ?? 1e-3;
  const rng = new Random(opts.seed ?? 1234);
  const out0 = noGrad(() => f(...inputs));
  const R = rng.fillNormal(new Float32Array(out0.size));
  const loss = (): number => {
    const o = noGrad(() => f(...inputs)).f32;
    let s = 0;
    for (let i = 0; i < o.length; i++) s += (o[i] as number) * (R[i] as number);
    return s;
  };
  for (const x of inputs) x.zeroGrad();
  const out = f(...inputs);
  out.backward(R);
  inputs.forEach((x, idx) => {
    if (!x.requiresGrad) return;
    const analytic = x.grad ? x.grad.f32 : new Float32Array(x.size);
    const numeric = new Float32Array(x.size);
    const X = x.f32;
    for (let i = 0; i < X.length; i++) {
      const orig = X[i] as number;
      X[i] = orig + eps;
      const lp = loss();
      X[i] = orig - eps;
      const lm = loss();
      X[i] = orig;
      numeric[i] = (lp - lm) / (2 * eps);
    }
    expectClose(analytic, numeric, {
      atol: opts.atol ?? 1e-2,
      rtol: opts.rtol ?? 1e-2,
      label: `gradcheck input ${idx}`,
    });
  });
}

export {
  type BackendName,
  backendUnderTest,
  describeEachBackend,
  type EachBackendOptions,
  type PerBackend,
  TEST_BACKENDS,
} from './testing-backends.js';

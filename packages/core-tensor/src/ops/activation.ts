// ops/activation.ts — sigmoid, tanh, relu, silu, gelu: values, derivatives and the autograd ops.
//
// Each activation is a pair (f, f') so the same definitions serve the op, its backward rule and
// the plotting helper (plot.ts) that shows users the curves.
import type { Tensor } from '../tensor.js';
import { unaryOp } from './unary.js';

export interface Activation {
  readonly name: string;
  f(x: number): number;
  /** Derivative at x given y = f(x) (cheaper than recomputing f for most activations). */
  df(x: number, y: number): number;
}

function sigmoidScalar(x: number): number {
  // Two branches keep exp() from overflowing for large |x|.
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** erf via the Chebyshev fit of erfc from Numerical Recipes: |rel. error| < 1.2e-7, below f32 epsilon. */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.5 * a);
  const y =
    t *
    Math.exp(
      -a * a -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return s * (1 - y);
}

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT2PI = 1 / Math.sqrt(2 * Math.PI);

export const activations = {
  sigmoid: { name: 'sigmoid', f: sigmoidScalar, df: (_x: number, y: number) => y * (1 - y) },
  tanh: { name: 'tanh', f: Math.tanh, df: (_x: number, y: number) => 1 - y * y },
  relu: { name: 'relu', f: (x: number) => Math.max(x, 0), df: (x: number) => (x > 0 ? 1 : 0) },
  // SiLU(x) = x·σ(x); SiLU'(x) = σ(x)·(1 + x·(1 − σ(x)))
  silu: {
    name: 'silu',
    f: (x: number) => x * sigmoidScalar(x),
    df: (x: number) => {
      const s = sigmoidScalar(x);
      return s * (1 + x * (1 - s));
    },
  },
  // exact GELU (PyTorch's default): x·Φ(x); GELU'(x) = Φ(x) + x·φ(x)
  gelu: {
    name: 'gelu',
    f: (x: number) => 0.5 * x * (1 + erf(x * INV_SQRT2)),
    df: (x: number) => 0.5 * (1 + erf(x * INV_SQRT2)) + x * INV_SQRT2PI * Math.exp(-0.5 * x * x),
  },
} satisfies Record<string, Activation>;

export type ActivationName = keyof typeof activations;

export function sigmoid(x: Tensor): Tensor {
  return unaryOp('sigmoid', x, activations.sigmoid.f, activations.sigmoid.df);
}
export function tanh(x: Tensor): Tensor {
  return unaryOp('tanh', x, activations.tanh.f, activations.tanh.df);
}
export function relu(x: Tensor): Tensor {
  return unaryOp('relu', x, activations.relu.f, activations.relu.df);
}
export function silu(x: Tensor): Tensor {
  return unaryOp('silu', x, activations.silu.f, activations.silu.df);
}
export function gelu(x: Tensor): Tensor {
  return unaryOp('gelu', x, activations.gelu.f, activations.gelu.df);
}

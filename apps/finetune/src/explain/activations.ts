// explain/activations.ts — section 1: activation functions and their derivatives, from the ops' own (f, f') pairs.
import { type ActivationName, activations, plotActivations } from '@tslora/core-tensor';
import { fmt, type Section } from './section.js';

const NAMES: ActivationName[] = ['sigmoid', 'tanh', 'relu', 'silu', 'gelu'];
const SAMPLE_X = [-2, -1, 0, 1, 2];

/** f(x) and f′(x) at a few x, straight from the table the autograd ops and their backward rules use. */
export function activationValues(): { name: ActivationName; x: number; f: number; df: number }[] {
  return NAMES.flatMap((name) =>
    SAMPLE_X.map((x) => {
      const a = activations[name];
      const f = a.f(x);
      return { name, x, f, df: (a.df as (x: number, y: number) => number)(x, f) };
    }),
  );
}

export function activationsSection(): Section {
  const values = activationValues();
  return {
    id: 'activations',
    title: '1. Activation functions and their derivatives',
    paragraphs: [
      'A neural network is linear layers with a non-linear function between them; without it, any stack of layers would collapse into one matrix. Training needs the slope f′(x) too: backpropagation multiplies the incoming gradient by it.',
      'The curves below are drawn from the same (f, f′) pairs that tslora’s sigmoid, tanh, relu, silu and gelu ops and their backward rules compute. Qwen’s MLP uses SiLU (x·σ(x)) inside SwiGLU: unlike ReLU its slope is never exactly 0 for negative inputs, so those units still learn.',
    ],
    figures: [
      {
        file: 'activations.svg',
        alt: 'f(x) and f′(x) of sigmoid, tanh, ReLU, SiLU and GELU',
        svg: plotActivations(NAMES),
      },
    ],
    table: {
      head: ['x', ...NAMES.flatMap((n) => [`${n}(x)`, `${n}′(x)`])],
      rows: SAMPLE_X.map((x) => [
        x,
        ...NAMES.flatMap((n) => {
          const v = values.find((r) => r.name === n && r.x === x) as { f: number; df: number };
          return [fmt(v.f), fmt(v.df)];
        }),
      ]),
    },
    numbers: { values },
  };
}

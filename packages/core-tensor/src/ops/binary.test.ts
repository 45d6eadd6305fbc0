// ops/binary.test.ts — add/sub/mul/div: forward against a naive multi-index loop, backward by finite differences.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { Random } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectClose, gradcheck } from '../testing.js';
import { add, div, mul, sub } from './binary.js';

const rng = new Random(7);
const randT = (shape: number[], requiresGrad = true, lo = -2, hi = 2): Tensor => {
  const t = Tensor.uniform(shape, rng, lo, hi);
  t.requiresGrad = requiresGrad;
  return t;
};

/** Independent reference: walk the output multi-index and read each input through NumPy's rules. */
function naiveBroadcast(
  a: Tensor,
  b: Tensor,
  f: (x: number, y: number) => number,
): { data: number[]; shape: number[] } {
  const nd = Math.max(a.ndim, b.ndim);
  const pad = (s: readonly number[]): number[] => [...new Array<number>(nd - s.length).fill(1), ...s];
  const as = pad(a.shape);
  const bs = pad(b.shape);
  const shape = as.map((d, i) => (d === 1 ? (bs[i] as number) : d));
  const total = shape.reduce((p, c) => p * c, 1);
  const data: number[] = [];
  const at = (t: Tensor, s: number[], idx: number[]): number => {
    let off = 0;
    for (let i = 0; i < nd; i++) off = off * (s[i] as number) + ((s[i] as number) === 1 ? 0 : (idx[i] as number));
    return t.data[off] as number;
  };
  for (let flat = 0; flat < total; flat++) {
    const idx = new Array<number>(nd);
    let r = flat;
    for (let i = nd - 1; i >= 0; i--) {
      idx[i] = r % (shape[i] as number);
      r = Math.floor(r / (shape[i] as number));
    }
    data.push(Math.fround(f(at(a, as, idx), at(b, bs, idx))));
  }
  return { data, shape };
}

const kinds = [
  { name: 'add', op: add, f: (x: number, y: number) => x + y },
  { name: 'sub', op: sub, f: (x: number, y: number) => x - y },
  { name: 'mul', op: mul, f: (x: number, y: number) => x * y },
  { name: 'div', op: div, f: (x: number, y: number) => x / y },
] as const;

// Pairs of shapes covering: equal, scalar, row bias, column, both sides broadcast, rank padding, size-1 dims, empty.
const shapePairs: [number[], number[]][] = [
  [
    [2, 3],
    [2, 3],
  ],
  [[2, 3], []],
  [[], [2, 3]],
  [[4, 3], [3]],
  [
    [3, 1],
    [1, 4],
  ],
  [
    [2, 1, 4],
    [3, 1],
  ],
  [
    [2, 3, 4],
    [2, 1, 4],
  ],
  [[1, 1], [1]],
  [
    [1, 3, 1],
    [2, 1, 5],
  ],
  [[0, 3], [3]],
];

describe.each(kinds)('$name', ({ name, op, f }) => {
  it.each(shapePairs)('forward %j ∘ %j matches the naive broadcast loop', (sa, sb) => {
    const a = randT(sa, false);
    const b = name === 'div' ? randT(sb, false, 0.5, 2) : randT(sb, false);
    const y = op(a, b);
    const ref = naiveBroadcast(a, b, f);
    expect(y.shape).toEqual(ref.shape);
    expectClose(y.data, ref.data, { atol: 0, rtol: 0, label: `${name} ${JSON.stringify([sa, sb])}` });
  });

  it.each(shapePairs.filter(([sa, sb]) => !sa.includes(0) && !sb.includes(0)))(
    'backward %j ∘ %j by finite differences',
    (sa, sb) => {
      const a = randT(sa);
      // keep divisors away from 0 so the finite differences are well conditioned
      const b = name === 'div' ? randT(sb, true, 0.5, 2) : randT(sb);
      gradcheck((x, y) => op(x, y), [a, b]);
    },
  );

  it('accepts a plain number on either side', () => {
    const a = randT([2, 2], false, 1, 2);
    expectClose(op(a, 3).data, naiveBroadcast(a, Tensor.from([3], []), f).data, { atol: 0, rtol: 0 });
    expectClose(op(3, a).data, naiveBroadcast(Tensor.from([3], []), a, f).data, { atol: 0, rtol: 0 });
  });

  it('refuses shapes that do not broadcast, naming the op and both shapes', () => {
    const e = (() => {
      try {
        op(Tensor.zeros([2, 3]), Tensor.zeros([4, 3]));
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(ShapeError);
    expect(String((e as Error).message)).toMatch(new RegExp(`^${name}: .*\\[2, 3\\].*\\[4, 3\\]`));
  });

  it('refuses i32 tensors (wrong dtype)', () => {
    expect(() => op(Tensor.int([1, 2]), Tensor.zeros([2]))).toThrow(ShapeError);
    expect(() => op(Tensor.zeros([2]), Tensor.int([1, 2]))).toThrow(/i32/);
  });
});

describe('binary ops, gradient plumbing', () => {
  it('only an input that requires grad receives one (frozen side gets none)', () => {
    const a = randT([3, 2]);
    const b = randT([2], false);
    mul(a, b).sum().backward();
    expect(a.grad).not.toBeNull();
    expect(b.grad).toBeNull();
    // d/da Σ a·b = b broadcast over rows
    expectClose(a.grad?.data ?? [], [...b.data, ...b.data, ...b.data], { atol: 0, rtol: 0 });
  });

  it('x ∘ x uses the same tensor twice and accumulates both contributions', () => {
    const x = Tensor.from([1.5, -2, 3], [3], { requiresGrad: true });
    mul(x, x).sum().backward(); // d Σx² = 2x
    expectClose(x.grad?.data ?? [], [3, -4, 6], { atol: 0, rtol: 0 });
    x.zeroGrad();
    add(x, x).sum().backward(); // d Σ2x = 2
    expectClose(x.grad?.data ?? [], [2, 2, 2], { atol: 0, rtol: 0 });
  });

  it('division by zero follows IEEE (documented: ±Inf / NaN, not an error)', () => {
    const y = div(Tensor.from([1, -1, 0]), Tensor.from([0, 0, 0]));
    expect(y.toArray()).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN]);
  });
});

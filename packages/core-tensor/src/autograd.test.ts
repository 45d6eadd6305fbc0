// autograd.test.ts — the tape: accumulation, grad mode, frozen inputs (needs), tape freeing and error cases.
import { describe, expect, it } from 'vitest';
import { backward, isGradEnabled, noGrad, record } from './autograd.js';
import { Tensor } from './tensor.js';
import { expectClose } from './testing.js';

const leaf = (values: number[], shape?: number[]): Tensor => Tensor.from(values, shape, { requiresGrad: true });

describe('gradient accumulation', () => {
  it('a tensor used twice in one graph receives the sum of both paths', () => {
    // L = Σ (x·y + x) → dL/dx = y + 1, dL/dy = x
    const x = leaf([1, 2, 3]);
    const y = leaf([4, 5, 6]);
    x.mul(y).add(x).sum().backward();
    expect(x.grad?.toArray()).toEqual([5, 6, 7]);
    expect(y.grad?.toArray()).toEqual([1, 2, 3]);
  });

  it('a shared intermediate (diamond) is differentiated once with both consumers summed', () => {
    // h = 2x; L = Σ h·h + Σ 3h → dL/dx = 2·(2h + 3) = 8x + 6
    const x = leaf([0.5, -1]);
    const h = x.mul(2);
    h.mul(h).sum().add(h.mul(3).sum()).backward();
    expect(x.grad?.toArray()).toEqual([10, -2]);
  });

  it('.grad accumulates across two backward calls (micro-batches), like PyTorch', () => {
    const x = leaf([1, 2]);
    x.mul(3).sum().backward();
    x.mul(x).sum().backward();
    expect(x.grad?.toArray()).toEqual([3 + 2, 3 + 4]);
    x.zeroGrad();
    x.mul(3).sum().backward();
    expect(x.grad?.toArray()).toEqual([3, 3]);
  });

  it('backward(grad) of a non-scalar output uses the given gradient and does not modify it', () => {
    const x = leaf([1, 2, 3]);
    const g = new Float32Array([0.5, -1, 2]);
    x.reshape([3]).backward(g);
    expect(x.grad?.toArray()).toEqual([0.5, -1, 2]);
    expect(x.grad?.data).not.toBe(g);
    x.reshape([3]).backward(g);
    expect(g).toEqual(new Float32Array([0.5, -1, 2]));
    expect(x.grad?.toArray()).toEqual([1, -2, 4]);
  });

  it('a pass-through rule that returns dy (reshape) does not alias one leaf’s grad with another’s', () => {
    const a = leaf([1, 2]);
    const b = leaf([3, 4]);
    a.add(b).sum().backward();
    expect(a.grad?.data).not.toBe(b.grad?.data);
    a.grad?.f32.fill(9);
    expect(b.grad?.toArray()).toEqual([1, 1]);
  });

  it('a deep chain (10 000 ops) does not overflow the call stack', () => {
    const x = leaf([1]);
    let y = x;
    for (let i = 0; i < 10000; i++) y = y.add(1);
    y.sum().backward();
    expect(x.grad?.toArray()).toEqual([1]);
  });
});

describe('grad mode', () => {
  it('noGrad records nothing, restores the mode after, and nests', () => {
    const x = leaf([1, 2]);
    expect(isGradEnabled()).toBe(true);
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      noGrad(() => expect(isGradEnabled()).toBe(false));
      expect(isGradEnabled()).toBe(false);
      return x.mul(2).exp();
    });
    expect(isGradEnabled()).toBe(true);
    expect([y.requiresGrad, y.node]).toEqual([false, null]);
    expect(() => y.sum().backward()).toThrow(/does not require grad/);
  });

  it('noGrad restores grad mode even when its body throws', () => {
    expect(() =>
      noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
  });

  it('ops on tensors that need no grad record no node', () => {
    const y = Tensor.from([1, 2]).mul(2);
    expect([y.requiresGrad, y.node]).toEqual([false, null]);
  });
});

describe('frozen inputs and needs', () => {
  it('the rule is told which inputs need grad; frozen inputs get no .grad even if the rule returns one', () => {
    const a = leaf([1, 2]);
    const b = Tensor.from([3, 4]); // frozen
    const seen: boolean[][] = [];
    const out = record('probe', [a, b], new Tensor(new Float32Array([4, 6]), [2]), (dy, needs) => {
      seen.push([...needs]);
      return [dy, dy]; // a careless rule: the engine must still not give b a gradient
    });
    expect(out.requiresGrad).toBe(true);
    out.sum().backward();
    expect(seen).toEqual([[true, false]]);
    expect(a.grad?.toArray()).toEqual([1, 1]);
    expect(b.grad).toBeNull();
  });

  it('a frozen branch is not walked at all', () => {
    const w = Tensor.from([2, 2]);
    let called = 0;
    const frozenOut = record('never', [w], new Tensor(new Float32Array([1, 1]), [2]), () => {
      called++;
      return [null];
    });
    expect(frozenOut.requiresGrad).toBe(false);
    const x = leaf([1, 1]);
    x.mul(frozenOut).sum().backward();
    expect(called).toBe(0);
    expect(x.grad?.toArray()).toEqual([1, 1]);
  });

  it('an input that turns frozen after recording gets no gradient (needs is read at backward time)', () => {
    const a = leaf([1]);
    const b = leaf([2]);
    const y = a.mul(b);
    b.requiresGrad = false;
    y.sum().backward();
    expect(a.grad?.toArray()).toEqual([2]);
    expect(b.grad).toBeNull();
  });
});

describe('the tape is freed after backward', () => {
  it('intermediate nodes drop their inputs and rules', () => {
    const x = leaf([1, 2]);
    const h = x.mul(2);
    const loss = h.sum();
    loss.backward();
    expect(h.node?.inputs.length ?? 0).toBe(0);
    expect(h.node?.backward ?? null).toBeNull();
    expect(loss.node?.inputs.length ?? 0).toBe(0);
  });

  it('a second backward through the same graph throws a clear error (and leaves .grad unchanged)', () => {
    const x = leaf([1, 2]);
    const loss = x.mul(x).sum();
    loss.backward();
    const before = x.grad?.toArray();
    expect(() => loss.backward()).toThrow(/already freed by an earlier backward\(\)/);
    expect(loss.grad).toBeNull();
    expect(x.grad?.toArray()).toEqual(before);
  });

  it('a new graph built on a freed intermediate also refuses to backpropagate through it', () => {
    const x = leaf([1, 2]);
    const h = x.exp();
    h.sum().backward();
    expect(() => h.mul(2).sum().backward()).toThrow(/"exp" was already freed/);
  });
});

describe('backward errors', () => {
  it('refuses a root that does not require grad', () => {
    expect(() => backward(Tensor.from([1]))).toThrow(/does not require grad/);
  });
  it('refuses a non-scalar root without a gradient, naming its shape', () => {
    expect(() => leaf([1, 2, 3, 4], [2, 2]).mul(2).backward()).toThrow(/output has shape \[2, 2\]; pass its gradient/);
  });
  it('a leaf root gets the seed gradient itself', () => {
    const x = leaf([3]);
    x.backward();
    expectClose(x.grad?.data ?? [], [1]);
  });
});

// grad-pool.test.ts — backward() recycles dead gradients, and never one that is still referenced (shared dy, leaf .grad).
import { afterEach, describe, expect, it } from 'vitest';
import { backward, noGrad } from './autograd.js';
import { clearGradPool, doneWith, gradBuffer, gradPoolFloats, isGradBuffer, releaseGradBuffer } from './grad-pool.js';
import { add, mul } from './ops/binary.js';
import { permute, reshape } from './ops/shape-ops.js';
import { Random } from './random.js';
import { Tensor } from './tensor.js';
import { expectClose } from './testing.js';

const rng = new Random(11);
const leaf = (shape: number[]) => {
  const t = Tensor.randn(shape, rng);
  t.requiresGrad = true;
  return t;
};

describe('gradient pool', () => {
  afterEach(() => clearGradPool());

  it('hands out recycled arrays of the same length, zeroed on request, and ignores foreign arrays', () => {
    const a = gradBuffer(64);
    a.fill(7);
    releaseGradBuffer(a);
    releaseGradBuffer(new Float32Array(64)); // not from the pool: ignored
    expect(gradPoolFloats()).toBe(64);
    const b = gradBuffer(64, true);
    expect(b).toBe(a);
    expect(Array.from(b).every((v) => v === 0)).toBe(true);
    expect(isGradBuffer(gradBuffer(64))).toBe(true);
    expect(gradPoolFloats()).toBe(0);
  });

  it('a buffer released twice (two tensors sharing it) is handed out once', () => {
    const a = gradBuffer(32);
    releaseGradBuffer(a);
    releaseGradBuffer(a);
    expect(gradPoolFloats()).toBe(32);
    expect(gradBuffer(32)).toBe(a);
    expect(gradBuffer(32)).not.toBe(a);
  });

  it('doneWith: off the tape the buffer is reused at once; on the tape only after backward has passed it', () => {
    const x = leaf([4, 6]);
    const y = mul(x, x); // pooled output, on the tape
    doneWith(y);
    expect(y.scratch).toBe(true);
    expect(gradBuffer(24)).not.toBe(y.data); // still needed: y's rule has not run
    const z = mul(y, 2);
    backward(z.sum());
    expectClose(
      x.grad!.f32,
      Array.from(x.f32, (v) => 4 * v),
      { atol: 1e-6 },
    );
    const reused = [gradBuffer(24), gradBuffer(24), gradBuffer(24)];
    expect(reused).toContain(y.data); // recycled after backward passed y
    const free = noGrad(() => mul(x, 3));
    noGrad(() => doneWith(free));
    expect(gradBuffer(24)).toBe(free.data);
  });

  it('doneWith while recording leaves an off-tape tensor alone: a later op on the tape may have saved it', () => {
    const frozen = Tensor.randn([4, 6], rng);
    const n = mul(frozen, 2); // no input requires grad: no node, but pooled
    const w = leaf([4, 6]);
    const y = mul(n, w); // saves n for dw
    doneWith(n);
    for (let i = 0; i < 4; i++) gradBuffer(24).fill(Number.NaN); // would clobber n if it had been released
    backward(y.sum());
    expectClose(
      w.grad!.f32,
      Array.from(frozen.f32, (v) => 2 * v),
      { atol: 1e-6 },
    );
  });

  it('a dy shared by two inputs (x·y + x·y through permutes) is recycled only after both have used it', () => {
    const x = leaf([3, 4, 5]);
    const y = leaf([3, 4, 5]);
    const f = () => {
      const p = mul(permute(x, [2, 0, 1]), permute(y, [2, 0, 1])); // (5,3,4)
      return add(p, p); // dy goes to both inputs of add: the same array twice
    };
    const dy = Tensor.randn([5, 3, 4], rng).f32;
    backward(f(), dy);
    const [gx, gy] = [x.grad!.f32.slice(), y.grad!.f32.slice()];
    expect(gradPoolFloats()).toBeGreaterThan(0); // intermediate gradients came back
    // expected: d/dx (2·x·y) = 2·y·dyᵀ where dyᵀ is dy permuted back to (3,4,5)
    const dyBack = permute(new Tensor(dy, [5, 3, 4]), [1, 2, 0]).f32;
    expectClose(
      gx,
      Array.from(y.f32, (v, i) => 2 * v * (dyBack[i] as number)),
      { atol: 1e-6 },
    );
    expectClose(
      gy,
      Array.from(x.f32, (v, i) => 2 * v * (dyBack[i] as number)),
      { atol: 1e-6 },
    );
    // a second pass reuses the pooled arrays and gives the same (accumulated) result
    backward(f(), dy);
    expectClose(
      x.grad!.f32,
      Array.from(gx, (v) => 2 * v),
      { atol: 1e-6 },
    );
    expectClose(
      y.grad!.f32,
      Array.from(gy, (v) => 2 * v),
      { atol: 1e-6 },
    );
  });

  it('a leaf that receives an engine-owned sum keeps it: later backward passes do not overwrite its .grad', () => {
    const x = leaf([2, 8]);
    // x feeds two paths, so its gradient is an engine-owned sum that becomes x.grad
    backward(add(mul(x, 3), reshape(permute(reshape(x, [8, 2]), [1, 0]), [2, 8])).sum());
    const kept = x.grad!.f32;
    const snapshot = kept.slice();
    const z = leaf([2, 8]);
    for (let i = 0; i < 3; i++) backward(mul(add(mul(z, 2), z), z).sum());
    expect(Array.from(kept)).toEqual(Array.from(snapshot));
  });
});

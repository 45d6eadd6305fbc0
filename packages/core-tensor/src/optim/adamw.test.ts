// optim/adamw.test.ts — AdamW against torch.optim.AdamW (scripts/make_adamw_golden.py), resume, validation.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TsloraError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { expectClose } from '../testing.js';
import { AdamW } from './adamw.js';

interface AdamWCase {
  name: string;
  opts: { betas: [number, number]; eps: number; weight_decay: number };
  init: { x: number[]; y: number[]; params: { shape: number[]; data: number[] }[] };
  steps: { lr: number; loss: number; grads: (number[] | null)[]; params: number[][] }[];
  state: { exp_avg: number[]; exp_avg_sq: number[]; step: number }[];
}
const golden = JSON.parse(readFileSync(new URL('./fixtures/optim-golden.json', import.meta.url), 'utf8')) as {
  adamw: AdamWCase[];
};

const makeParams = (c: AdamWCase): Tensor[] =>
  c.init.params.map((p) => Tensor.from(p.data, p.shape, { requiresGrad: true }));
const makeOpt = (c: AdamWCase, params: Tensor[] | [string, Tensor][]): AdamW =>
  new AdamW(params, {
    lr: c.steps[0]?.lr ?? 0,
    betas: c.opts.betas,
    eps: c.opts.eps,
    weightDecay: c.opts.weight_decay,
  });

/** The script's loss in tslora ops: mean((x@W + b − y)²) + Σc² on even steps. */
function loss(c: AdamWCase, [W, b, cc]: Tensor[], k: number): Tensor {
  const x = Tensor.from(c.init.x, [8, 5]);
  const y = Tensor.from(c.init.y, [8, 3]);
  const l = (
    x
      .matmul(W as Tensor)
      .add(b as Tensor)
      .sub(y)
      .pow(2) as Tensor
  ).mean();
  return k % 2 === 0 ? l.add((cc as Tensor).pow(2).sum()) : l;
}

describe.each(golden.adamw)('AdamW vs torch.optim.AdamW ($name)', (c) => {
  it('replaying torch’s gradients, every step’s parameters match to 1e-6 and the final moments too', () => {
    const params = makeParams(c);
    const opt = makeOpt(c, params);
    c.steps.forEach((s, k) => {
      opt.lr = s.lr;
      params.forEach((p, i) => {
        const g = s.grads[i];
        p.grad = g ? Tensor.from(g, p.shape) : null;
      });
      opt.step();
      for (const [i, p] of params.entries()) {
        expectClose(p.data, s.params[i] ?? [], { atol: 1e-6, rtol: 0, label: `${c.name} step ${k + 1} param ${i}` });
      }
    });
    const { moments, meta } = opt.stateDict();
    expect(meta.step).toBe(10);
    c.state.forEach((st, i) => {
      expectClose(moments.get(`${i}.exp_avg`) ?? [], st.exp_avg, { atol: 1e-7, rtol: 1e-5, label: `exp_avg ${i}` });
      expectClose(moments.get(`${i}.exp_avg_sq`) ?? [], st.exp_avg_sq, {
        atol: 1e-9,
        rtol: 1e-5,
        label: `exp_avg_sq ${i}`,
      });
      expect(moments.get(`${i}.step`)?.[0]).toBe(st.step); // c only had a gradient on 5 of the 10 steps
    });
  });

  it('end to end with tslora’s own gradients: losses and final parameters match torch', () => {
    const params = makeParams(c);
    const opt = makeOpt(c, params);
    c.steps.forEach((s, k) => {
      opt.lr = s.lr;
      opt.zeroGrad();
      const l = loss(c, params, k);
      expect(l.item()).toBeCloseTo(s.loss, 5);
      l.backward();
      opt.step();
    });
    const last = c.steps[c.steps.length - 1];
    for (const [i, p] of params.entries())
      expectClose(p.data, last?.params[i] ?? [], { atol: 1e-5, rtol: 0, label: `param ${i}` });
  });
});

describe('AdamW mechanics', () => {
  const c = golden.adamw[1] as AdamWCase;

  it('resuming from stateDict (through JSON and copies) continues bit-exactly', () => {
    const run = (params: Tensor[], opt: AdamW, from: number, to: number): void => {
      for (let k = from; k < to; k++) {
        opt.lr = c.steps[k]?.lr ?? 0;
        opt.zeroGrad();
        loss(c, params, k).backward();
        opt.step();
      }
    };
    const pa = makeParams(c);
    const oa = makeOpt(c, pa);
    run(pa, oa, 0, 10);

    const pb = makeParams(c);
    const ob = makeOpt(c, pb);
    run(pb, ob, 0, 5);
    const saved = ob.stateDict();
    const meta = JSON.parse(JSON.stringify(saved.meta)) as typeof saved.meta;
    const moments = new Map([...saved.moments].map(([k, v]) => [k, v.slice()] as const));
    const pc = pb.map((p) => new Tensor(p.f32.slice(), p.shape, { requiresGrad: true }));
    const oc = new AdamW(pc, { lr: 123 });
    oc.loadStateDict({ ...meta, moments });
    expect([oc.steps, oc.betas, oc.eps, oc.weightDecay]).toEqual([5, c.opts.betas, c.opts.eps, c.opts.weight_decay]);
    run(pc, oc, 5, 10);
    for (const [i, p] of pc.entries()) expect(Array.from(p.data)).toEqual(Array.from(pa[i]?.data ?? []));
    for (const [k, v] of oa.stateDict().moments)
      expect(Array.from(oc.stateDict().moments.get(k) ?? [])).toEqual(Array.from(v));
  });

  it('updates in place: parameter buffers and moment buffers are the same objects across steps', () => {
    const params = makeParams(c);
    const opt = makeOpt(c, params);
    const data = params.map((p) => p.data);
    loss(c, params, 0).backward();
    opt.step();
    const m1 = [...opt.stateDict().moments.values()];
    loss(c, params, 1).backward();
    opt.step();
    expect(params.map((p) => p.data)).toEqual(data);
    for (const [i, m] of [...opt.stateDict().moments.values()].entries()) expect(m).toBe(m1[i]);
  });

  it('with a zero gradient only the decoupled weight decay acts: p ← p·(1 − lr·wd)', () => {
    const p = Tensor.from([1, -2, 0.5], [3], { requiresGrad: true });
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.5 });
    p.grad = Tensor.zeros([3]);
    opt.step();
    expectClose(p.data, [0.95, -1.9, 0.475], { atol: 0, rtol: 1e-7 });
  });

  it('the first step moves each weight by about lr·sign(g) (bias correction; eps outside the sqrt)', () => {
    const p = Tensor.from([0, 0, 0], [3], { requiresGrad: true });
    const opt = new AdamW([['w', p]], { lr: 0.01, weightDecay: 0 });
    p.grad = Tensor.from([3, -1e-3, 1e-9]);
    opt.step();
    // m̂ = g, v̂ = g² → Δ = −lr·g/(|g| + eps): ±lr for large |g|, and lr·1e-9/(1e-9 + 1e-8) for tiny g
    expectClose(p.data, [-0.01, 0.01, -0.01 * (1e-9 / 1.1e-8)], { atol: 1e-9, rtol: 1e-5 });
  });

  it('parameters without a gradient are skipped entirely (no decay, no state); zeroGrad clears grads', () => {
    const a = Tensor.from([1, 1], [2], { requiresGrad: true });
    const b = Tensor.from([1, 1], [2], { requiresGrad: true });
    const opt = new AdamW(
      [
        ['a', a],
        ['b', b],
      ],
      { lr: 0.1, weightDecay: 0.1 },
    );
    a.grad = Tensor.ones([2]);
    opt.step();
    expect(b.toArray()).toEqual([1, 1]);
    expect([...opt.stateDict().moments.keys()]).toEqual(['a.exp_avg', 'a.exp_avg_sq', 'a.step']);
    opt.zeroGrad();
    expect([a.grad, b.grad]).toEqual([null, null]);
  });

  it('refuses bad hyper-parameters, empty and duplicate parameter lists with TsloraErrors', () => {
    const p = Tensor.zeros([1], { requiresGrad: true });
    expect(() => new AdamW([p], { lr: -1 })).toThrow(/invalid learning rate -1/);
    expect(() => new AdamW([p], { lr: 1, betas: [0.9, 1] })).toThrow(/beta parameter at index 1/);
    expect(() => new AdamW([p], { lr: 1, eps: Number.NaN })).toThrow(TsloraError);
    expect(() => new AdamW([p], { lr: 1, weightDecay: -0.1 })).toThrow(/weight decay/);
    expect(() => new AdamW([], { lr: 1 })).toThrow(/empty parameter list/);
    expect(() => new AdamW([p, p], { lr: 1 })).toThrow(/appears twice/);
    expect(() => new AdamW([Tensor.int([1])], { lr: 1 })).toThrow(/i32/);
    const opt = new AdamW([p], { lr: 1 });
    opt.lr = Number.POSITIVE_INFINITY;
    expect(() => opt.step()).toThrow(/invalid learning rate/);
  });

  it('loadStateDict refuses state for other parameters and changes nothing when it does', () => {
    const p = Tensor.zeros([3], { requiresGrad: true });
    const opt = new AdamW([['w', p]], { lr: 0.1 });
    const good = (): Map<string, Float32Array> =>
      new Map([
        ['w.exp_avg', new Float32Array(3)],
        ['w.exp_avg_sq', new Float32Array(3)],
        ['w.step', new Float32Array([2])],
      ]);
    const bad = (m: Map<string, Float32Array>) => () => opt.loadStateDict({ step: 2, moments: m });
    const extra = good().set('v.exp_avg', new Float32Array(3));
    expect(bad(extra)).toThrow(/unexpected entry "v\.exp_avg"/);
    expect(bad(good().set('w.exp_avg', new Float32Array(4)))).toThrow(
      /"w\.exp_avg" has 4 values, parameter "w" needs 3/,
    );
    const partial = good();
    partial.delete('w.exp_avg_sq');
    expect(bad(partial)).toThrow(/no "exp_avg_sq"/);
    expect(bad(good().set('w.step', new Float32Array([1.5])))).toThrow(/not a step count/);
    expect(() =>
      opt.loadStateDict({
        meta: { step: -1, lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
        moments: good(),
      }),
    ).toThrow(/invalid step count/);
    expect([opt.steps, opt.stateDict().moments.size]).toEqual([0, 0]);
    opt.loadStateDict({ meta: { step: 2, lr: 0.05, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, moments: good() });
    expect([opt.steps, opt.lr, opt.stateDict().moments.get('w.step')?.[0]]).toEqual([2, 0.05, 2]);
  });
});

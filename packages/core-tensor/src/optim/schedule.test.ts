// optim/schedule.test.ts — lrAt against transformers' warmup schedules run through torch's LambdaLR (golden JSON).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TsloraError } from '../errors.js';
import { expectClose } from '../testing.js';
import { lrAt, lrFactor, type ScheduleName } from './schedule.js';

interface ScheduleCase {
  schedule: ScheduleName;
  lr: number;
  warmup: number;
  total: number;
  minLr: number | null;
  lrs: number[];
}
const golden = JSON.parse(readFileSync(new URL('./fixtures/optim-golden.json', import.meta.url), 'utf8')) as {
  schedules: ScheduleCase[];
};

describe('lrAt vs transformers + LambdaLR', () => {
  it.each(golden.schedules)('$schedule lr=$lr warmup=$warmup total=$total minLr=$minLr', (c) => {
    const opts = { lr: c.lr, warmup: c.warmup, total: c.total, schedule: c.schedule, minLr: c.minLr ?? undefined };
    // optimizer step k (1-based) runs with lrAt(k − 1)
    const got = c.lrs.map((_, k) => lrAt(k, opts));
    expectClose(got, c.lrs, { atol: 1e-15, rtol: 1e-12, label: c.schedule });
  });
  it('the golden covers every schedule, with and without warmup, and a min lr', () => {
    const kinds = new Set(golden.schedules.map((c) => `${c.schedule}/${c.warmup > 0}`));
    expect(kinds).toEqual(
      new Set(['cosine/true', 'cosine/false', 'linear/true', 'linear/false', 'constant/true', 'constant/false']),
    );
    expect(golden.schedules.some((c) => c.minLr !== null)).toBe(true);
  });
});

describe('schedule shape', () => {
  const base = { lr: 1e-3, warmup: 4, total: 20 };
  it('warmup rises linearly from 0 and reaches the peak at step = warmup', () => {
    for (const schedule of ['cosine', 'linear', 'constant'] as const) {
      expect([0, 1, 2, 3, 4].map((s) => lrFactor(s, { ...base, schedule }))).toEqual([0, 0.25, 0.5, 0.75, 1]);
    }
  });
  it('cosine is at half the peak midway through the decay, and at minLr at the end', () => {
    expect(lrFactor(12, { ...base, schedule: 'cosine' })).toBeCloseTo(0.5, 12);
    expect(lrAt(20, { ...base, schedule: 'cosine', minLr: 1e-4 })).toBeCloseTo(1e-4, 15);
  });
  it('linear with minLr ends at minLr; past total every decay stays at its floor', () => {
    expect(lrAt(20, { ...base, schedule: 'linear', minLr: 2e-4 })).toBeCloseTo(2e-4, 15);
    expect(lrAt(12, { ...base, schedule: 'linear', minLr: 2e-4 })).toBeCloseTo(6e-4, 15);
    for (const schedule of ['cosine', 'linear'] as const) {
      expect(lrAt(25, { ...base, schedule })).toBe(0);
      expect(lrAt(99, { ...base, schedule, minLr: 1e-5 })).toBeCloseTo(1e-5, 15);
    }
    expect(lrAt(99, { ...base, schedule: 'constant', minLr: 1e-5 })).toBe(1e-3);
  });
  it('warmup longer than the run stays in warmup; lr 0 gives 0', () => {
    expect(lrAt(5, { lr: 1, warmup: 10, total: 6, schedule: 'cosine' })).toBeCloseTo(0.5, 15);
    expect(lrAt(3, { lr: 0, warmup: 0, total: 6, schedule: 'linear' })).toBe(0);
  });
  it('refuses unknown schedules and invalid numbers with TsloraErrors', () => {
    const ok = { lr: 1e-3, warmup: 2, total: 10, schedule: 'cosine' as const };
    expect(() => lrAt(0, { ...ok, schedule: 'step' as ScheduleName })).toThrow(/unknown schedule "step"/);
    expect(() => lrAt(0, { ...ok, lr: -1 })).toThrow(TsloraError);
    expect(() => lrAt(0, { ...ok, warmup: 1.5 })).toThrow(/warmup/);
    expect(() => lrAt(0, { ...ok, total: -1 })).toThrow(/total/);
    expect(() => lrAt(0, { ...ok, minLr: 1 })).toThrow(/minLr 1 must be in \[0, lr = 0.001\]/);
    expect(() => lrAt(-1, ok)).toThrow(/step/);
  });
});

// report/loss-svg.test.ts — the chart's text and geometry: integer step ticks, the legend above the
// plot (clear of a constant learning rate), the EMA line over the raw points, the full width.
import { XMLValidator } from 'fast-xml-parser';
import { parse } from 'node-html-parser';
import { describe, expect, it } from 'vitest';
import type { StepMetrics } from '../train/metrics.js';
import { lossSvg } from './loss-svg.js';
import { emaSmooth } from './summary.js';

const rows = (n: number, lr = (_s: number) => 1e-4): StepMetrics[] =>
  Array.from({ length: n }, (_, i) => ({
    step: i + 1,
    loss: 3 - i / n + 0.3 * Math.sin(7 * i), // a falling, noisy curve
    lr: lr(i + 1),
    grad_norm: 1,
    tokens: 64,
    tokens_per_s: 100,
    elapsed_s: i,
    ...((i + 1) % 25 === 0 ? { val_loss: 2.9 - i / n } : {}),
  }));
const xLabels = (svg: string) =>
  parse(svg)
    .querySelectorAll('.x-axis text')
    .map((t) => t.text);
/** Every y coordinate of an SVG path's d ("M x,y L x,y …" as d3-shape writes it). */
const pathYs = (d: string) => [...d.matchAll(/[ML]([-\d.]+),([-\d.]+)/g)].map((m) => Number(m[2]));

describe('loss.svg', () => {
  it('labels the step axis with whole steps only (no `5.00` beside `0`)', () => {
    expect(xLabels(lossSvg(rows(100)))).toEqual(['0', '10', '20', '30', '40', '50', '60', '70', '80', '90', '100']);
    expect(xLabels(lossSvg(rows(5)))).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(xLabels(lossSvg(rows(1)))).toEqual(['0', '1']);
    expect(xLabels(lossSvg(rows(500)))).toEqual([
      '0',
      '50',
      '100',
      '150',
      '200',
      '250',
      '300',
      '350',
      '400',
      '450',
      '500',
    ]);
  });

  it('puts the legend above the plot area, clear of a constant learning rate drawn at the top', () => {
    const svg = lossSvg(rows(100));
    const root = parse(svg);
    const legendY = Number(
      /translate\(0,([\d.]+)\)/.exec(root.querySelector('.legend')?.getAttribute('transform') ?? '')?.[1],
    );
    const lrYs = pathYs(root.querySelector('path.lr')?.getAttribute('d') ?? '');
    expect(lrYs.length).toBe(100);
    const top = Math.min(...lrYs, ...pathYs(root.querySelector('path.train')?.getAttribute('d') ?? ''));
    // legend text baselines sit at legendY + 4 with 11 px glyphs; the plot starts below them
    expect(legendY + 4 + 3).toBeLessThan(top);
    expect(root.querySelectorAll('.legend text').map((t) => t.text)).toEqual([
      'train loss (one batch)',
      'train loss, EMA 0.9',
      'validation loss',
      'learning rate (right axis)',
    ]);
  });

  it('draws the EMA-smoothed loss through every step, above the raw points, at the debiased EMA values', () => {
    const r = rows(60);
    const root = parse(lossSvg(r));
    const ema = pathYs(root.querySelector('path.train-ema')?.getAttribute('d') ?? '');
    const raw = root.querySelectorAll('circle.train-point').map((c) => Number(c.getAttribute('cy')));
    expect(ema).toHaveLength(60);
    expect(raw).toHaveLength(60);
    // y is linear in the loss: map the raw points' (loss, cy) pairs to pixels and compare
    const l0 = r[0]?.loss as number;
    const l1 = r[1]?.loss as number;
    const px = (l: number) => (raw[0] as number) + ((l - l0) * ((raw[1] as number) - (raw[0] as number))) / (l1 - l0);
    const want = emaSmooth(r.map((x) => x.loss)).map(px);
    for (const [i, y] of ema.entries()) expect(y, `step ${i + 1}`).toBeCloseTo(want[i] as number, 1);
    // drawn after (over) the raw points
    const svg = root.toString();
    expect(svg.indexOf('class="train-ema"')).toBeGreaterThan(svg.lastIndexOf('class="train-point"'));
    // smoother than the raw curve: total variation well below the raw points'
    const tv = (ys: number[]) => ys.slice(1).reduce((s, y, i) => s + Math.abs(y - (ys[i] as number)), 0);
    expect(tv(ema)).toBeLessThan(tv(raw) / 3);
  });

  it("is valid XML, uses report.html's 960 px column and draws a baseline val point at step 0 when given", () => {
    const svg = lossSvg(rows(50), 'T <&>', { baselineVal: 3.5 });
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(XMLValidator.validate(lossSvg([]))).toBe(true);
    const root = parse(svg);
    expect(root.querySelector('svg')?.getAttribute('width')).toBe('960');
    const b = root.querySelector('circle.val-baseline');
    expect(b?.getAttribute('data-step')).toBe('0');
    const tick0 = /translate\(([\d.]+)/.exec(root.querySelector('.x-axis g')?.getAttribute('transform') ?? '')?.[1];
    expect(xLabels(root.toString())[0]).toBe('0');
    expect(Number(b?.getAttribute('cx'))).toBeCloseTo(Number(tick0), 1);
    expect(root.querySelectorAll('circle.val-point')).toHaveLength(2); // steps 25 and 50, as before
  });
});

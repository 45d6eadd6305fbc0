// report/loss-svg.ts — loss.svg: train and validation loss against step, learning rate on a second axis.
//
// d3-scale maps data to pixels and d3-shape builds the path strings; both are DOM-free, so the
// chart is plain SVG text that opens from disk with no script and no network.
import { scaleLinear } from 'd3-scale';
import { line } from 'd3-shape';
import type { StepMetrics } from '../train/metrics.js';

const W = 720;
const H = 360;
const M = { top: 36, right: 70, bottom: 44, left: 62 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) =>
  Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2);

function extent(values: number[], pad = 0.05): [number, number] {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const d = hi - lo || Math.abs(hi) || 1;
  return [lo - d * pad, hi + d * pad];
}

/** The chart as an SVG document; one point (circle) per logged step for the training loss. */
export function lossSvg(rows: readonly StepMetrics[], title = 'Training loss'): string {
  const steps = rows.map((r) => r.step);
  const losses = rows.map((r) => r.loss).filter(Number.isFinite);
  const vals = rows.filter((r) => r.val_loss !== undefined && Number.isFinite(r.val_loss));
  const x = scaleLinear()
    .domain(steps.length ? [Math.min(...steps, 0), Math.max(...steps, 1)] : [0, 1])
    .range([M.left, W - M.right]);
  const y = scaleLinear()
    .domain(losses.length ? extent([...losses, ...vals.map((r) => r.val_loss as number)]) : [0, 1])
    .range([H - M.bottom, M.top])
    .nice();
  const lrs = rows.map((r) => r.lr);
  const yLr = scaleLinear()
    .domain([0, lrs.length ? Math.max(...lrs) || 1 : 1])
    .range([H - M.bottom, M.top])
    .nice();
  const path = (pts: [number, number][]) => line<[number, number]>()(pts) ?? '';
  const trainPath = path(rows.filter((r) => Number.isFinite(r.loss)).map((r) => [x(r.step), y(r.loss)]));
  const valPath = path(vals.map((r) => [x(r.step), y(r.val_loss as number)]));
  const lrPath = path(rows.map((r) => [x(r.step), yLr(r.lr)]));
  const xTicks = x
    .ticks(8)
    .map(
      (t) =>
        `<g transform="translate(${x(t).toFixed(1)},${H - M.bottom})"><line y2="5" stroke="#555"/><text y="18" text-anchor="middle">${fmt(t)}</text></g>`,
    );
  const yTicks = y
    .ticks(6)
    .map(
      (t) =>
        `<g transform="translate(${M.left},${y(t).toFixed(1)})"><line x2="${W - M.left - M.right}" stroke="#eee"/><text x="-8" dy="4" text-anchor="end">${fmt(t)}</text></g>`,
    );
  const lrTicks = yLr
    .ticks(5)
    .map(
      (t) =>
        `<g transform="translate(${W - M.right},${yLr(t).toFixed(1)})"><line x2="5" stroke="#b58900"/><text x="8" dy="4" fill="#b58900">${t.toExponential(0)}</text></g>`,
    );
  const points = rows
    .filter((r) => Number.isFinite(r.loss))
    .map(
      (r) =>
        `<circle class="train-point" cx="${x(r.step).toFixed(2)}" cy="${y(r.loss).toFixed(2)}" r="2" data-step="${r.step}" data-loss="${r.loss}"/>`,
    );
  const valPoints = vals.map(
    (r) =>
      `<circle class="val-point" cx="${x(r.step).toFixed(2)}" cy="${y(r.val_loss as number).toFixed(2)}" r="3.5" data-step="${r.step}" data-val-loss="${r.val_loss}"/>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">
<title>${esc(title)}</title>
<rect width="${W}" height="${H}" fill="white"/>
<text x="${M.left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>
<g class="grid">${yTicks.join('')}</g>
<g class="x-axis">${xTicks.join('')}<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#555"/></g>
<g class="lr-axis">${lrTicks.join('')}</g>
<text x="${(M.left + W - M.right) / 2}" y="${H - 8}" text-anchor="middle">step</text>
<text transform="translate(16,${H / 2}) rotate(-90)" text-anchor="middle">loss (nats/token)</text>
<text transform="translate(${W - 12},${H / 2}) rotate(90)" text-anchor="middle" fill="#b58900">learning rate</text>
<path class="lr" d="${lrPath}" fill="none" stroke="#b58900" stroke-width="1.2" stroke-dasharray="4 3"/>
<path class="train" d="${trainPath}" fill="none" stroke="#268bd2" stroke-width="1.6"/>
<g fill="#268bd2">${points.join('')}</g>
<path class="val" d="${valPath}" fill="none" stroke="#dc322f" stroke-width="1.6"/>
<g fill="#dc322f">${valPoints.join('')}</g>
<g transform="translate(${W - M.right - 190},${M.top})"><rect width="186" height="52" fill="white" stroke="#ccc"/>
<line x1="8" x2="28" y1="12" y2="12" stroke="#268bd2" stroke-width="2"/><text x="34" y="16">train loss</text>
<line x1="8" x2="28" y1="28" y2="28" stroke="#dc322f" stroke-width="2"/><text x="34" y="32">validation loss</text>
<line x1="8" x2="28" y1="44" y2="44" stroke="#b58900" stroke-dasharray="4 3"/><text x="34" y="48">learning rate (right axis)</text></g>
</svg>
`;
}

// report/loss-svg.ts — loss.svg: train loss (raw points, EMA line) and validation loss against step,
// learning rate on a second axis, the legend in a row above the plot (it never covers a curve).
//
// d3-scale maps data to pixels and d3-shape builds the path strings; both are DOM-free, so the
// chart is plain SVG text that opens from disk with no script and no network.
import { scaleLinear } from 'd3-scale';
import { line } from 'd3-shape';
import type { StepMetrics } from '../train/metrics.js';
import { EMA_WEIGHT, emaSmooth } from './summary.js';

// report.html's column is 960 px wide; the chart takes all of it (and scales down in a narrower window).
const W = 960;
const H = 380;
const M = { top: 58, right: 74, bottom: 44, left: 62 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) =>
  Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2);

function extent(values: number[], pad = 0.05): [number, number] {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const d = hi - lo || Math.abs(hi) || 1;
  return [lo - d * pad, hi + d * pad];
}

export interface LossSvgOptions {
  /** The validation loss before training (drawn at step 0, apart from metrics.jsonl's points). */
  baselineVal?: number;
}

/** Legend entries laid out left to right from x = M.left (about 6 px per character at 11 px). */
function legend(items: { swatch: string; label: string }[]): string {
  let x = M.left;
  const parts = items.map(({ swatch, label }) => {
    const g = `<g transform="translate(${x},0)">${swatch}<text x="26" y="4">${esc(label)}</text></g>`;
    x += 26 + label.length * 6 + 18;
    return g;
  });
  return `<g class="legend" transform="translate(0,40)">${parts.join('')}</g>`;
}

/** The chart as an SVG document; one point (circle) per logged step for the training loss. */
export function lossSvg(rows: readonly StepMetrics[], title = 'Training loss', opts: LossSvgOptions = {}): string {
  const steps = rows.map((r) => r.step);
  const losses = rows.map((r) => r.loss).filter(Number.isFinite);
  const vals = rows.filter((r) => r.val_loss !== undefined && Number.isFinite(r.val_loss));
  const baseline = opts.baselineVal !== undefined && Number.isFinite(opts.baselineVal) ? opts.baselineVal : undefined;
  const x = scaleLinear()
    .domain(steps.length ? [Math.min(...steps, 0), Math.max(...steps, 1)] : [0, 1])
    .range([M.left, W - M.right]);
  const y = scaleLinear()
    .domain(
      losses.length
        ? extent([...losses, ...vals.map((r) => r.val_loss as number), ...(baseline === undefined ? [] : [baseline])])
        : [0, 1],
    )
    .range([H - M.bottom, M.top])
    .nice();
  const lrs = rows.map((r) => r.lr);
  const yLr = scaleLinear()
    .domain([0, lrs.length ? Math.max(...lrs) || 1 : 1])
    .range([H - M.bottom, M.top])
    .nice();
  const path = (pts: [number, number][]) => line<[number, number]>()(pts) ?? '';
  const finite = rows.filter((r) => Number.isFinite(r.loss));
  const trainPath = path(finite.map((r) => [x(r.step), y(r.loss)]));
  const ema = emaSmooth(finite.map((r) => r.loss));
  const emaPath = path(finite.map((r, i) => [x(r.step), y(ema[i] as number)]));
  const valPts: [number, number][] = vals.map((r) => [x(r.step), y(r.val_loss as number)]);
  const valPath = path(baseline === undefined ? valPts : [[x(0), y(baseline)], ...valPts]);
  const lrPath = path(rows.map((r) => [x(r.step), yLr(r.lr)]));
  // Steps are whole numbers: a short run's ticks at 0.5 would be labels of steps that do not exist.
  const xTicks = x
    .ticks(10)
    .filter(Number.isInteger)
    .map(
      (t) =>
        `<g transform="translate(${x(t).toFixed(1)},${H - M.bottom})"><line y2="5" stroke="#555"/><text y="18" text-anchor="middle">${t}</text></g>`,
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
  const points = finite.map(
    (r) =>
      `<circle class="train-point" cx="${x(r.step).toFixed(2)}" cy="${y(r.loss).toFixed(2)}" r="2" data-step="${r.step}" data-loss="${r.loss}"/>`,
  );
  const valPoints = vals.map(
    (r) =>
      `<circle class="val-point" cx="${x(r.step).toFixed(2)}" cy="${y(r.val_loss as number).toFixed(2)}" r="3.5" data-step="${r.step}" data-val-loss="${r.val_loss}"/>`,
  );
  const basePoint =
    baseline === undefined
      ? ''
      : `<circle class="val-baseline" cx="${x(0).toFixed(2)}" cy="${y(baseline).toFixed(2)}" r="3.5" fill="white" stroke="#dc322f" stroke-width="1.5" data-step="0" data-val-loss="${baseline}"/>`;
  const swatch = (stroke: string, width = 2, dash = '') =>
    `<line x1="0" x2="20" y1="0" y2="0" stroke="${stroke}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`;
  const keys = [
    { swatch: `<circle cx="10" r="2" fill="#268bd2" fill-opacity="0.45"/>`, label: 'train loss (one batch)' },
    { swatch: swatch('#268bd2'), label: `train loss, EMA ${EMA_WEIGHT}` },
    ...(vals.length || baseline !== undefined ? [{ swatch: swatch('#dc322f'), label: 'validation loss' }] : []),
    { swatch: swatch('#b58900', 1.2, '4 3'), label: 'learning rate (right axis)' },
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">
<title>${esc(title)}</title>
<rect width="${W}" height="${H}" fill="white"/>
<text x="${M.left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>
${legend(keys)}
<g class="grid">${yTicks.join('')}</g>
<g class="x-axis">${xTicks.join('')}<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#555"/></g>
<g class="lr-axis">${lrTicks.join('')}</g>
<text x="${(M.left + W - M.right) / 2}" y="${H - 8}" text-anchor="middle">step</text>
<text transform="translate(16,${(H + M.top - M.bottom) / 2}) rotate(-90)" text-anchor="middle">loss (nats/token)</text>
<text transform="translate(${W - 12},${(H + M.top - M.bottom) / 2}) rotate(90)" text-anchor="middle" fill="#b58900">learning rate</text>
<path class="lr" d="${lrPath}" fill="none" stroke="#b58900" stroke-width="1.2" stroke-dasharray="4 3"/>
<path class="train" d="${trainPath}" fill="none" stroke="#268bd2" stroke-width="0.8" stroke-opacity="0.3"/>
<g fill="#268bd2" fill-opacity="0.45">${points.join('')}</g>
<path class="train-ema" d="${emaPath}" fill="none" stroke="#268bd2" stroke-width="2"/>
<path class="val" d="${valPath}" fill="none" stroke="#dc322f" stroke-width="1.6"/>
<g fill="#dc322f">${valPoints.join('')}</g>${basePoint}
</svg>
`;
}

// plot.ts — an SVG of activation functions f(x) and their derivatives f'(x), one small panel each.
//
// The curves come from `activations` in ops/activation.ts — the same (f, f') pairs the ops and
// their backward rules use — so the picture shows exactly what training computes.
// d3-scale maps values to pixels and d3-shape writes the path data; neither needs a DOM.
import { scaleLinear } from 'd3-scale';
import { line } from 'd3-shape';
import { TsloraError } from './errors.js';
import { type ActivationName, activations } from './ops/activation.js';

export interface PlotActivationsOptions {
  /** Left end of the x range (default −5). */
  from?: number;
  /** Right end of the x range (default 5). */
  to?: number;
  /** Samples per curve, evenly spaced including both ends (default 201). */
  points?: number;
}

// ---- the plot -----------------------------------------------------------------------------------

const PANEL_W = 240;
const PANEL_H = 170;
const MARGIN = { top: 24, right: 12, bottom: 24, left: 40 };
const COLUMNS = 3;
const LEGEND_H = 26;
const COLORS = { f: '#1f77b4', df: '#ff7f0e' };

const fmt = (v: number): string => String(Number(v.toPrecision(6)));

function checkOptions(names: readonly string[], from: number, to: number, points: number): void {
  const valid = Object.keys(activations);
  const unknown = names.filter((n) => !valid.includes(n));
  if (unknown.length > 0) {
    throw new TsloraError(`plotActivations: unknown activation "${unknown.join('", "')}"`, {
      hint: `choose from ${valid.join(', ')}`,
    });
  }
  if (!(Number.isFinite(from) && Number.isFinite(to) && from < to)) {
    throw new TsloraError(`plotActivations: the x range [${from}, ${to}] is empty or not finite`, {
      hint: 'pass from < to, e.g. {from: -5, to: 5}',
    });
  }
  if (!(Number.isInteger(points) && points >= 2 && points <= 100_000)) {
    throw new TsloraError(`plotActivations: points must be a whole number in [2, 100000], got ${points}`);
  }
}

/** One panel: frame, zero axes, ticks, the f and f' paths; scales recorded as data-* attributes. */
function panel(name: ActivationName, xs: readonly number[], ox: number, oy: number): string {
  const act = activations[name];
  const fs = xs.map((x) => act.f(x));
  const dfs = xs.map((x, i) => (act.df as (x: number, y: number) => number)(x, fs[i] as number));
  let lo = Math.min(...fs, ...dfs);
  let hi = Math.max(...fs, ...dfs);
  const pad = (hi - lo) * 0.05 || 1;
  lo -= pad;
  hi += pad;
  const from = xs[0] as number;
  const to = xs[xs.length - 1] as number;
  const xRange: [number, number] = [MARGIN.left, PANEL_W - MARGIN.right];
  const yRange: [number, number] = [PANEL_H - MARGIN.bottom, MARGIN.top];
  const sx = scaleLinear().domain([from, to]).range(xRange);
  const sy = scaleLinear().domain([lo, hi]).range(yRange);
  const idx = xs.map((_, i) => i);
  const curve = (ys: readonly number[]): string =>
    line<number>()
      .x((i) => sx(xs[i] as number))
      .y((i) => sy(ys[i] as number))(idx) ?? '';
  const dF = curve(fs);
  const dDf = curve(dfs);
  const parts: string[] = [
    `<g class="panel" data-activation="${name}" transform="translate(${ox},${oy})"`,
    ` data-x-domain="${from},${to}" data-x-range="${xRange.join(',')}" data-y-domain="${lo},${hi}" data-y-range="${yRange.join(',')}">`,
    `<rect x="${xRange[0]}" y="${yRange[1]}" width="${xRange[1] - xRange[0]}" height="${yRange[0] - yRange[1]}" fill="none" stroke="#ccc"/>`,
    `<text x="${(xRange[0] + xRange[1]) / 2}" y="${MARGIN.top - 8}" text-anchor="middle" font-weight="bold">${name}</text>`,
  ];
  if (lo < 0 && hi > 0)
    parts.push(`<line class="axis" x1="${xRange[0]}" x2="${xRange[1]}" y1="${sy(0)}" y2="${sy(0)}" stroke="#999"/>`);
  if (from < 0 && to > 0)
    parts.push(`<line class="axis" x1="${sx(0)}" x2="${sx(0)}" y1="${yRange[0]}" y2="${yRange[1]}" stroke="#999"/>`);
  for (const t of sx.ticks(4))
    parts.push(`<text x="${sx(t)}" y="${PANEL_H - 8}" text-anchor="middle">${fmt(t)}</text>`);
  for (const t of sy.ticks(4))
    parts.push(`<text x="${MARGIN.left - 4}" y="${sy(t) + 3}" text-anchor="end">${fmt(t)}</text>`);
  parts.push(`<path class="curve f" data-curve="f" d="${dF}" fill="none" stroke="${COLORS.f}" stroke-width="1.5"/>`);
  parts.push(
    `<path class="curve df" data-curve="df" d="${dDf}" fill="none" stroke="${COLORS.df}" stroke-width="1.5" stroke-dasharray="4 3"/>`,
  );
  parts.push('</g>');
  return parts.join('');
}

/**
 * SVG (a standalone document string) with one panel per activation showing f(x) (solid) and
 * f'(x) (dashed) over [from, to]. Each panel's <g> carries its scales as data-x-domain,
 * data-x-range, data-y-domain and data-y-range, so values can be read back from the paths.
 */
export function plotActivations(names?: readonly ActivationName[], opts: PlotActivationsOptions = {}): string {
  const list = names ?? (Object.keys(activations) as ActivationName[]);
  const from = opts.from ?? -5;
  const to = opts.to ?? 5;
  const points = opts.points ?? 201;
  checkOptions(list, from, to, points);
  const xs = Array.from({ length: points }, (_, i) =>
    i === points - 1 ? to : from + ((to - from) * i) / (points - 1),
  );
  const cols = Math.max(1, Math.min(COLUMNS, list.length));
  const rows = Math.ceil(list.length / cols);
  const width = cols * PANEL_W;
  const height = LEGEND_H + rows * PANEL_H;
  const panels = list.map((n, i) => panel(n, xs, (i % cols) * PANEL_W, LEGEND_H + Math.floor(i / cols) * PANEL_H));
  const legend =
    `<g class="legend" transform="translate(${MARGIN.left},16)">` +
    `<line x1="0" x2="20" y1="-4" y2="-4" stroke="${COLORS.f}" stroke-width="1.5"/><text x="24" y="0">f(x)</text>` +
    `<line x1="70" x2="90" y1="-4" y2="-4" stroke="${COLORS.df}" stroke-width="1.5" stroke-dasharray="4 3"/><text x="94" y="0">f′(x)</text></g>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="10">`,
    `<title>Activation functions and their derivatives on [${fmt(from)}, ${fmt(to)}]</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    legend,
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}

// plot.ts — attention weights (or masks) as an SVG heatmap: one panel per mask/head, a colour scale, the value in every cell.
//
// Plain string building, no DOM: it runs in Node and in the browser. Colours come from a `ColorScale`
// (t ∈ [0,1] → CSS colour); the default is viridis from its ten published stops, linearly
// interpolated — d3-scale-chromatic's `interpolateViridis` can be passed as `color` unchanged.
import { ShapeError, type Tensor } from '@tslora/core-tensor';

/** t ∈ [0,1] → a CSS colour. Compatible with d3-scale-chromatic's `interpolate*` functions. */
export type ColorScale = (t: number) => string;

const VIRIDIS_STOPS = [
  '#440154',
  '#482878',
  '#3e4989',
  '#31688e',
  '#26828e',
  '#1f9e89',
  '#35b779',
  '#6ece58',
  '#b5de2b',
  '#fde725',
];
const VIRIDIS_RGB = VIRIDIS_STOPS.map(
  (h) => [1, 3, 5].map((i) => Number.parseInt(h.slice(i, i + 2), 16)) as [number, number, number],
);

/** Viridis (perceptually uniform, colour-blind safe) through its ten stops; t is clamped to [0,1]. */
export const viridis: ColorScale = (t) => {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS_RGB.length - 1);
  const i = Math.min(VIRIDIS_RGB.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS_RGB[i] as [number, number, number];
  const b = VIRIDIS_RGB[i + 1] as [number, number, number];
  const hex = (k: 0 | 1 | 2) =>
    Math.round(a[k] + (b[k] - a[k]) * f)
      .toString(16)
      .padStart(2, '0');
  return `#${hex(0)}${hex(1)}${hex(2)}`;
};

/** Labels and looks of {@link plotAttention}. Every label array is optional. */
export interface PlotLabels {
  /** Heading above the panels. */
  title?: string;
  /** One title per panel (default "panel 0", …, or "b0 h1" for a (B,H,T,S) tensor). */
  panels?: string[];
  /** One label per query row (default q0, q1, …). */
  queries?: string[];
  /** One label per key column (default k0, k1, …). */
  keys?: string[];
  /** Same layout as the weights, 1 keep / 0 masked: masked cells are drawn hatched. */
  keep?: ArrayLike<number>;
  /** Panels per row of the grid (default: all in one row, at most 5). */
  columns?: number;
  /** Decimals printed in each cell (default 2). */
  digits?: number;
  /** Colour scale over [0,1] (default viridis). */
  color?: ColorScale;
}

const CELL = 44;
const GAP = 36;
const LEFT = 46;
const TOP = 54;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Weights as panels of (T,S): a Tensor (…,T,S) flattens its leading dims; nested arrays are (panels,T,S). */
function toPanels(weights: Tensor | number[][][]): {
  data: ArrayLike<number>;
  n: number;
  T: number;
  S: number;
  lead: number[];
} {
  if (Array.isArray(weights)) {
    const n = weights.length;
    const T = weights[0]?.length ?? 0;
    const S = weights[0]?.[0]?.length ?? 0;
    if (weights.some((p) => p.length !== T || p.some((r) => r.length !== S))) {
      throw new ShapeError('plotAttention: every panel must have the same (T,S) shape');
    }
    return { data: weights.flat(2), n, T, S, lead: [n] };
  }
  if (weights.ndim < 2)
    throw new ShapeError(`plotAttention: weights must be (…,T,S), got [${weights.shape.join(', ')}]`);
  const [T, S] = weights.shape.slice(-2) as [number, number];
  const lead = weights.shape.slice(0, -2);
  return { data: weights.data, n: lead.reduce((a, b) => a * b, 1), T, S, lead };
}

function defaultPanelTitle(lead: number[], i: number): string {
  if (lead.length === 2) return `b${Math.floor(i / (lead[1] as number))} h${i % (lead[1] as number)}`;
  return `panel ${i}`;
}

/**
 * Renders attention weights (values in [0,1]; masks work too) as a self-contained SVG heatmap.
 * `weights` is a Tensor (…,T,S) — (B,H,T,S) gives one panel per (sequence, head) — or nested arrays
 * (panels,T,S). Each cell shows its value; a colour bar maps colours to [0,1].
 *
 * @throws ShapeError when a label list or `keep` does not match the weights.
 */
export function plotAttention(weights: Tensor | number[][][], labels: PlotLabels = {}): string {
  const { data, n, T, S, lead } = toPanels(weights);
  const check = (what: string, got: number | undefined, want: number) => {
    if (got !== undefined && got !== want)
      throw new ShapeError(`plotAttention: ${what} has ${got} entries but the weights need ${want}`);
  };
  check('labels.panels', labels.panels?.length, n);
  check('labels.queries', labels.queries?.length, T);
  check('labels.keys', labels.keys?.length, S);
  check('labels.keep', labels.keep?.length, n * T * S);
  const color = labels.color ?? viridis;
  const digits = labels.digits ?? 2;
  const cols = Math.max(1, Math.min(n, labels.columns ?? Math.min(n, 5)));
  const rows = Math.ceil(n / cols);
  const panelW = LEFT + S * CELL;
  const panelH = TOP - 24 + T * CELL;
  const width = cols * panelW + (cols - 1) * GAP + 110;
  const height = 40 + rows * (panelH + GAP);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    '<defs><pattern id="masked" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b0b0b0" stroke-width="2"/></pattern></defs>',
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(labels.title ?? 'attention weights')}</text>`,
  ];
  for (let p = 0; p < n; p++) {
    const x0 = (p % cols) * (panelW + GAP);
    const y0 = 40 + Math.floor(p / cols) * (panelH + GAP);
    parts.push(
      panel(p, x0, y0, { data, T, S, labels, color, digits, title: labels.panels?.[p] ?? defaultPanelTitle(lead, p) }),
    );
  }
  parts.push(
    colorBar(cols * panelW + (cols - 1) * GAP + 30, 40 + TOP - 24, Math.min(rows * panelH, 220), color),
    '</svg>',
  );
  return parts.join('\n');
}

interface PanelArgs {
  data: ArrayLike<number>;
  T: number;
  S: number;
  labels: PlotLabels;
  color: ColorScale;
  digits: number;
  title: string;
}

/** One (T,S) panel: title, key labels on top, query labels on the left, a coloured cell per weight. */
function panel(p: number, x0: number, y0: number, a: PanelArgs): string {
  const { T, S, data, labels } = a;
  const gx = x0 + LEFT;
  const gy = y0 + TOP - 24;
  const out: string[] = [`<g class="panel"><text x="${x0}" y="${y0 + 4}" font-weight="bold">${esc(a.title)}</text>`];
  for (let j = 0; j < S; j++)
    out.push(
      `<text x="${gx + j * CELL + CELL / 2}" y="${gy - 6}" text-anchor="middle">${esc(labels.keys?.[j] ?? `k${j}`)}</text>`,
    );
  for (let i = 0; i < T; i++) {
    out.push(
      `<text x="${gx - 6}" y="${gy + i * CELL + CELL / 2 + 4}" text-anchor="end">${esc(labels.queries?.[i] ?? `q${i}`)}</text>`,
    );
    for (let j = 0; j < S; j++) {
      const idx = (p * T + i) * S + j;
      const w = data[idx] as number;
      const masked = labels.keep !== undefined && (labels.keep[idx] as number) === 0;
      const fill = masked ? 'url(#masked)' : a.color(w);
      const ink = masked || w > 0.55 ? '#111111' : '#ffffff'; // viridis is dark below ~0.55
      const cx = gx + j * CELL;
      const cy = gy + i * CELL;
      out.push(
        `<rect class="cell${masked ? ' masked' : ''}" x="${cx}" y="${cy}" width="${CELL}" height="${CELL}" fill="${fill}" stroke="white"><title>${esc(`${labels.queries?.[i] ?? `q${i}`} → ${labels.keys?.[j] ?? `k${j}`}: ${Number.isFinite(w) ? w : String(w)}${masked ? ' (masked)' : ''}`)}</title></rect>`,
        `<text class="value" x="${cx + CELL / 2}" y="${cy + CELL / 2 + 4}" text-anchor="middle" fill="${ink}">${Number.isFinite(w) ? w.toFixed(a.digits) : esc(String(w))}</text>`,
      );
    }
  }
  out.push('</g>');
  return out.join('\n');
}

/** A vertical colour bar for [0,1] with ticks at 0, 0.5 and 1, plus the hatch legend. */
function colorBar(x: number, y: number, h: number, color: ColorScale): string {
  const stops = Array.from(
    { length: 11 },
    (_, i) => `<stop offset="${i * 10}%" stop-color="${color(1 - i / 10)}"/>`,
  ).join('');
  return [
    `<g class="colorbar"><defs><linearGradient id="scale" x1="0" y1="0" x2="0" y2="1">${stops}</linearGradient></defs>`,
    `<rect x="${x}" y="${y}" width="16" height="${h}" fill="url(#scale)" stroke="#888888"/>`,
    ...[1, 0.5, 0].map((t) => `<text x="${x + 22}" y="${y + (1 - t) * h + 4}">${t.toFixed(1)}</text>`),
    `<rect x="${x}" y="${y + h + 14}" width="16" height="16" fill="url(#masked)" stroke="#888888"/><text x="${x + 22}" y="${y + h + 27}">masked</text></g>`,
  ].join('\n');
}

// report/html.ts — report.html: config (as the flags), data stats, trainable parameters, loss chart,
// a run summary (smoothed final loss, best val, wall time, throughput), metrics, samples.
// One self-contained file (inline SVG and CSS, no script): it opens from disk with no network.
import type { StepMetrics } from '../train/metrics.js';
import { camel, TRAIN_FLAGS } from '../train/options.js';
import { formatDuration } from '../train/progress.js';
import { EXPLAIN_MARK, explainLinkHtml } from './explain-link.js';
import { lossSvg } from './loss-svg.js';
import { summarise } from './summary.js';

export interface ReportInput {
  title: string;
  options: Record<string, unknown>;
  data: Record<string, number | string>;
  trainable: string;
  metrics: readonly StepMetrics[];
  final: Record<string, number | string | undefined>;
  samples: { prompt: string; output: string }[];
  /** Relative link to a `finetune explain` page (else a marker that `finetune explain --adapter` fills in). */
  explainHref?: string;
  /** Validation loss before the first step. */
  baselineVal?: number;
  /** When the run started (shown in the summary). */
  started?: Date;
}

const FLAG_OF_FIELD = new Map(Object.keys(TRAIN_FLAGS).map((f) => [camel(f), f]));

/** `batchSize` → `--batch-size`, the flag a user types (TRAIN_FLAGS' spelling; else kebab-cased). */
export function flagName(field: string): string {
  return `--${FLAG_OF_FIELD.get(field) ?? field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The derived rows of the Final metrics table. */
function summaryRows(r: ReportInput): [string, unknown][] {
  const s = summarise(r.metrics);
  const rows: [string, unknown][] = [];
  if (s.finalLossEma !== undefined) rows.push(['final_loss_ema', s.finalLossEma]);
  if (s.bestVal) rows.push(['best_val_loss', s.bestVal.loss], ['best_val_step', s.bestVal.step]);
  if (r.baselineVal !== undefined) rows.push(['val_loss_before_training', r.baselineVal]);
  if (r.metrics.length) rows.push(['wall_time', formatDuration(s.wallS)]);
  if (s.meanTokensPerS !== undefined) rows.push(['mean_tokens_per_s', Math.round(s.meanTokensPerS)]);
  if (r.started) rows.push(['started', r.started.toISOString().replace(/\.\d{3}Z$/, 'Z')]);
  return rows;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function table(id: string, rows: [string, unknown][]): string {
  const body = rows
    .map(
      ([k, v]) =>
        `<tr><th>${esc(k)}</th><td>${esc(typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v ?? '—'))}</td></tr>`,
    )
    .join('\n');
  return `<table id="${id}">\n${body}\n</table>`;
}

export function reportHtml(r: ReportInput): string {
  const last = r.metrics[r.metrics.length - 1];
  const metricRows = r.metrics
    .map(
      (m) =>
        `<tr><td>${m.step}</td><td>${m.loss.toFixed(4)}</td><td>${m.val_loss === undefined ? '' : m.val_loss.toFixed(4)}</td><td>${m.lr.toExponential(2)}</td><td>${m.grad_norm.toFixed(3)}</td><td>${m.tokens_per_s.toFixed(0)}</td></tr>`,
    )
    .join('\n');
  const samples = r.samples.length
    ? `<h2>Sample generations</h2>\n${r.samples
        .map((s) => `<div class="sample"><div class="prompt">${esc(s.prompt)}</div><pre>${esc(s.output)}</pre></div>`)
        .join('\n')}\n`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
th{font-weight:600;color:#555}.grid{display:flex;gap:3em;flex-wrap:wrap}
.sample{margin:1em 0}.prompt{font-weight:600}pre{background:#f6f8fa;padding:.6em;white-space:pre-wrap}
#metrics{max-height:360px;overflow:auto;display:block}
figure{margin:1em 0}#loss-chart svg{max-width:100%;height:auto}
</style></head><body>
<h1>${esc(r.title)}</h1>
<p>${esc(r.trainable)}</p>
${r.explainHref ? explainLinkHtml(r.explainHref) : EXPLAIN_MARK}
<h2>Loss</h2>
<figure id="loss-chart">${lossSvg(r.metrics, undefined, { baselineVal: r.baselineVal })}</figure>
<h2>Final metrics</h2>
${table('final', [...Object.entries(r.final), ...summaryRows(r)])}
<div class="grid"><div><h2>Run configuration</h2>
${table(
  'config',
  Object.entries(r.options).map(([k, v]) => [flagName(k), v]),
)}</div>
<div><h2>Data</h2>
${table('data', Object.entries(r.data))}</div></div>
${samples}<h2>Every logged step</h2>
<table id="metrics"><thead><tr><th>step</th><th>loss</th><th>val loss</th><th>lr</th><th>grad norm</th><th>tokens/s</th></tr></thead>
<tbody>
${metricRows}
</tbody></table>
<p>${last ? `${r.metrics.length} steps logged; last step ${last.step}.` : 'no steps logged'}</p>
</body></html>
`;
}

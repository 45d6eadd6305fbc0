// report/html.test.ts — report.html's text read back with an HTML parser: the summary rows, config as
// the flags a user types, no empty sections, the explain marker.
import { parse } from 'node-html-parser';
import { describe, expect, it } from 'vitest';
import type { StepMetrics } from '../train/metrics.js';
import { camel, TRAIN_FLAGS } from '../train/options.js';
import { EXPLAIN_MARK } from './explain-link.js';
import { flagName, type ReportInput, reportHtml } from './html.js';

const metrics: StepMetrics[] = [1, 2, 3, 4].map((step) => ({
  step,
  loss: [4, 2, 3, 1][step - 1] as number,
  lr: 1e-3,
  grad_norm: 0.5,
  tokens: 200,
  tokens_per_s: 100, // 2 s of compute per step
  elapsed_s: 2.5 * step, // 0.5 s per step outside the step (evaluation, reports)
  ...(step % 2 === 0 ? { val_loss: step === 2 ? 2.5 : 2.75 } : {}),
}));
const input = (extra: Partial<ReportInput> = {}): ReportInput => ({
  title: 'LoRA fine-tune of base',
  options: { model: '/m', lr: 1e-3, rank: 8, batchSize: 4, maxSeqLen: 64, fineTuneType: 'lora', chatThink: 'auto' },
  data: { train_samples: 10 },
  trainable: 'trainable params: 1,024 || all params: 100,000 || trainable%: 1.0240',
  metrics,
  final: { steps: 4, final_loss: 1 },
  samples: [],
  baselineVal: 3.25,
  started: new Date(Date.UTC(2026, 11, 4, 19, 5, 7, 123)),
  ...extra,
});
const rowsOf = (html: string, id: string) =>
  parse(html)
    .querySelectorAll(`#${id} tr`)
    .map((tr) => [tr.querySelector('th')?.text, tr.querySelector('td')?.text]);

describe('report.html', () => {
  it('final metrics: the smoothed final loss, best val with its step, the baseline, wall time, tokens/s, date', () => {
    // EMA 0.9, debiased, of 4, 2, 3, 1 in closed form: 0.1·(0.729·4 + 0.81·2 + 0.9·3 + 1) / (1 − 0.9⁴)
    const ema = (0.1 * (0.729 * 4 + 0.81 * 2 + 0.9 * 3 + 1)) / (1 - 0.9 ** 4);
    expect(rowsOf(reportHtml(input()), 'final')).toEqual([
      ['steps', '4'],
      ['final_loss', '1'],
      ['final_loss_ema', String(Number(ema.toPrecision(6)))],
      ['best_val_loss', '2.5'],
      ['best_val_step', '2'],
      ['val_loss_before_training', '3.25'],
      ['wall_time', '10s'],
      ['mean_tokens_per_s', '100'],
      ['started', '2026-12-04T19:05:07Z'],
    ]);
    expect(ema).toBeCloseTo(0.8236 / 0.3439, 12);
  });

  it('shows the run configuration as the flags a user types', () => {
    expect(rowsOf(reportHtml(input()), 'config')).toEqual([
      ['--model', '/m'],
      ['--lr', '0.001'],
      ['--rank', '8'],
      ['--batch-size', '4'],
      ['--max-seq-len', '64'],
      ['--fine-tune-type', 'lora'],
      ['--chat-think', 'auto'],
    ]);
    // every option field maps back to its flag
    for (const f of Object.keys(TRAIN_FLAGS)) expect(flagName(camel(f))).toBe(`--${f}`);
  });

  it('has no "Sample generations" section without samples, and one with them', () => {
    const headings = (html: string) =>
      parse(html)
        .querySelectorAll('h2')
        .map((h) => h.text);
    const without = reportHtml(input());
    expect(headings(without)).toEqual(['Loss', 'Final metrics', 'Run configuration', 'Data', 'Every logged step']);
    expect(without).not.toMatch(/<p>none<\/p>/);
    const withSamples = reportHtml(input({ samples: [{ prompt: 'Q <1>', output: 'A & B' }] }));
    expect(headings(withSamples)).toContain('Sample generations');
    const sample = parse(withSamples).querySelector('.sample');
    expect(sample?.querySelector('.prompt')?.text).toBe('Q <1>');
    expect(withSamples).toContain('Q &lt;1&gt;');
    expect(sample?.querySelector('pre')?.text).toBe('A & B');
  });

  it('embeds the chart with its baseline point, keeps the explain marker, and works for a bare input', () => {
    const html = reportHtml(input());
    expect(parse(html).querySelector('#loss-chart svg circle.val-baseline')?.getAttribute('data-val-loss')).toBe(
      '3.25',
    );
    expect(html).toContain(EXPLAIN_MARK);
    const bare = reportHtml({ ...input(), baselineVal: undefined, started: undefined, metrics: [], final: {} });
    expect(rowsOf(bare, 'final')).toEqual([]);
    expect(parse(bare).querySelectorAll('#metrics tbody tr')).toHaveLength(0);
  });
});

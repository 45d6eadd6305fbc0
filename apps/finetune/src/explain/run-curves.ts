// explain/run-curves.ts — section 5: a training run's loss and learning-rate curves (the chart of report.html).
import fs from 'node:fs';
import path from 'node:path';
import { FileFormatError } from '@tslora/core-tensor';
import { lossSvg } from '../report/loss-svg.js';
import type { StepMetrics } from '../train/metrics.js';
import { fmt, type Section } from './section.js';

/** metrics.jsonl of a run dir, or null when the adapter dir has none (an adapter not trained by tslora). */
export function readRunMetrics(dir: string): StepMetrics[] | null {
  const file = path.join(dir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return null;
  const rows: StepMetrics[] = [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      // the last line may be cut by a crash mid-write (train drops it too); any other is damage
      if (i >= lines.length - 2) continue;
      throw new FileFormatError(file, `line ${i + 1} is not JSON`, { hint: 'the run log is damaged; re-run training' });
    }
    const r = row as Partial<StepMetrics>;
    if (typeof r.step !== 'number' || typeof r.loss !== 'number' || typeof r.lr !== 'number')
      throw new FileFormatError(file, `line ${i + 1} lacks step, loss or lr`, {
        hint: 'pass the directory of a tslora training run',
      });
    rows.push(r as StepMetrics);
  }
  return rows;
}

export function runSection(adapterDir: string): Section {
  const rows = readRunMetrics(adapterDir);
  if (rows === null || rows.length === 0) {
    return {
      id: 'run',
      title: '5. The training run',
      paragraphs: [
        `${adapterDir} has no metrics.jsonl with logged steps (it was not written by \`finetune train\`), so there are no curves to show.`,
      ],
      figures: [],
      numbers: { steps: 0 },
    };
  }
  const first = rows[0] as StepMetrics;
  const last = rows[rows.length - 1] as StepMetrics;
  const peak = rows.reduce((m, r) => Math.max(m, r.lr), 0);
  const val = rows.filter((r) => r.val_loss !== undefined);
  return {
    id: 'run',
    title: '5. The training run',
    paragraphs: [
      `Loss is the mean cross-entropy of the next token over the target tokens: ${fmt(first.loss)} at step ${first.step}, ${fmt(last.loss)} at step ${last.step}${val.length ? `; validation loss ${fmt(val[val.length - 1]?.val_loss as number)} at the last evaluation` : ''}. ln(vocabulary) is what a uniform guess scores; a falling curve means the adapter learned something.`,
      `The learning rate (right axis) warms up to its peak ${peak.toExponential(2)} and then decays by the schedule; large steps early would knock a model that knows nothing of the task around, small ones late let it settle.`,
    ],
    figures: [
      {
        file: 'loss.svg',
        alt: 'training loss and learning rate against step',
        svg: lossSvg(rows, 'Training loss and learning rate'),
      },
    ],
    numbers: { steps: rows.length, first_loss: first.loss, last_loss: last.loss, peak_lr: peak },
  };
}

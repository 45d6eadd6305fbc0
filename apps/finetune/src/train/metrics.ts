// train/metrics.ts — metrics.jsonl: one JSON object per logged step, appended and flushed as it happens.
import fs from 'node:fs';
import { writeFileAtomic } from '@tslora/core-tensor';

export interface StepMetrics {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  tokens_per_s: number;
  elapsed_s: number;
  val_loss?: number;
}

export class MetricsLog {
  readonly path: string;
  readonly rows: StepMetrics[] = [];

  /** Opens the log; on resume, rows after `keepUpToStep` (written after that checkpoint) are dropped. */
  constructor(path: string, keepUpToStep?: number) {
    this.path = path;
    if (keepUpToStep !== undefined && fs.existsSync(path)) {
      for (const line of fs.readFileSync(path, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const row = JSON.parse(line) as StepMetrics;
          if (row.step <= keepUpToStep) this.rows.push(row);
        } catch {
          // a line cut by a crash mid-write: dropped, the checkpoint is the source of truth
        }
      }
    }
    writeFileAtomic(path, this.rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }

  append(row: StepMetrics): void {
    this.rows.push(row);
    fs.appendFileSync(this.path, `${JSON.stringify(row)}\n`);
  }
}

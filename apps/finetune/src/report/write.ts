// report/write.ts — writes loss.svg and report.html into a run directory (atomically, each refresh).
import path from 'node:path';
import { writeFileAtomic } from '@tslora/core-tensor';
import { type ReportInput, reportHtml } from './html.js';
import { lossSvg } from './loss-svg.js';

export function writeReports(out: string, r: ReportInput): void {
  writeFileAtomic(path.join(out, 'loss.svg'), lossSvg(r.metrics, undefined, { baselineVal: r.baselineVal }));
  writeFileAtomic(path.join(out, 'report.html'), reportHtml(r));
}

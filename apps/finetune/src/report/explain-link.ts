// report/explain-link.ts — report.html's link to explain.html, placed when both exist.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '@tslora/core-tensor';

/** Where report.html leaves room for the link (an HTML comment: invisible until filled). */
export const EXPLAIN_MARK = '<!-- explain-link -->';

export function explainLinkHtml(href: string): string {
  const h = href.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return `<p id="explain-link">The basics behind these numbers, on this model: <a href="${h}">explain.html</a></p>`;
}

/**
 * Puts a link to `explainFile` into `runDir`/report.html (replacing the marker, or an earlier link).
 * Returns false when the run has no report.html or the report has neither (written by another tool).
 */
export function explainLinkInto(runDir: string, explainFile: string): boolean {
  const report = path.join(runDir, 'report.html');
  if (!fs.existsSync(report)) return false;
  const html = fs.readFileSync(report, 'utf8');
  const href = path.relative(path.resolve(runDir), path.resolve(explainFile)).split(path.sep).join('/');
  const link = explainLinkHtml(href);
  const next = html.includes(EXPLAIN_MARK)
    ? html.replace(EXPLAIN_MARK, link)
    : html.replace(/<p id="explain-link">.*?<\/p>/, link);
  if (next === html) return html.includes(link);
  writeFileAtomic(report, next);
  return true;
}

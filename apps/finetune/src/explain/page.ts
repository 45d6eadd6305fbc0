// explain/page.ts — explain.html: every section, its figures as data-URI images (no script, no network).
//
// Images rather than inline <svg>: each figure stays an isolated document, so ids inside one SVG
// (the hatching pattern of the heatmaps) cannot clash with another's.
import { esc, type Section } from './section.js';

const dataUri = (svg: string): string => `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;

function sectionHtml(s: Section): string {
  const figures = s.figures
    .map(
      (f) =>
        `<figure><img src="${dataUri(f.svg)}" alt="${esc(f.alt)}" data-file="${esc(f.file)}"><figcaption>${esc(f.file)}</figcaption></figure>`,
    )
    .join('\n');
  const table = s.table
    ? `<table><thead><tr>${s.table.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>\n${s.table.rows
        .map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`)
        .join('\n')}\n</tbody></table>`
    : '';
  return `<section id="${s.id}">\n<h2>${esc(s.title)}</h2>\n${s.paragraphs.map((p) => `<p>${esc(p)}</p>`).join('\n')}\n${figures}\n${table}\n</section>`;
}

export function explainHtml(title: string, intro: string, sections: readonly Section[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
figure{margin:1em 0;overflow-x:auto}img{max-width:100%;height:auto}figcaption{font-size:.8em;color:#777}
table{border-collapse:collapse;font-size:.85em}th,td{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
nav a{margin-right:1em}
</style></head><body>
<h1>${esc(title)}</h1>
<p>${esc(intro)}</p>
<nav>${sections.map((s) => `<a href="#${s.id}">${esc(s.title)}</a>`).join('')}</nav>
${sections.map(sectionHtml).join('\n')}
</body></html>
`;
}

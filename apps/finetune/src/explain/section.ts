// explain/section.ts — what one section of explain.html is: a title, plain sentences, figures and numbers.

/** One figure: written as `file` beside explain.html and embedded in it as a data URI. */
export interface Figure {
  file: string;
  alt: string;
  svg: string;
}

/** One section of the page; `numbers` also goes to --json. */
export interface Section {
  id: string;
  title: string;
  /** Plain-text paragraphs (escaped when rendered). */
  paragraphs: string[];
  figures: Figure[];
  /** Rows of a small table shown under the figures. */
  table?: { head: string[]; rows: (string | number)[][] };
  numbers: Record<string, unknown>;
}

export const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A number for people: 4 significant digits, integers with thousands separators, tiny values in e-notation. */
export function fmt(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

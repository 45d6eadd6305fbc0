// plot.test.ts — plotActivations: well-formed SVG, one path per curve, and path points that read back as f and f'.
import { describe, expect, it } from 'vitest';
import { TsloraError } from './errors.js';
import type { ActivationName } from './ops/activation.js';
import { plotActivations } from './plot.js';

interface Element {
  name: string;
  attrs: Record<string, string>;
  children: Element[];
}

/** A small XML well-formedness check: balanced tags, quoted unique attributes, one root, no stray text. */
function parseXml(src: string): Element {
  const root: Element = { name: '#document', attrs: {}, children: [] };
  const stack: Element[] = [root];
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    const text = src.slice(i, lt < 0 ? src.length : lt);
    if (stack.length === 1 && text.trim() !== '') throw new Error(`text outside the root: ${text.slice(0, 20)}`);
    if (/[<>]/.test(text) || /&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(text))
      throw new Error(`bad text ${text.slice(0, 20)}`);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(src);
    if (!m) throw new Error(`malformed tag at ${lt}: ${src.slice(lt, lt + 40)}`);
    const [, close, name = '', attrText = '', selfClose] = m;
    const top = stack[stack.length - 1] as Element;
    if (close) {
      if (top.name !== name) throw new Error(`</${name}> closes <${top.name}>`);
      stack.pop();
    } else {
      const attrs: Record<string, string> = {};
      for (const a of attrText.matchAll(/([\w:.-]+)="([^"]*)"/g)) {
        if ((a[1] as string) in attrs) throw new Error(`duplicate attribute ${a[1]} on <${name}>`);
        attrs[a[1] as string] = a[2] as string;
      }
      const el: Element = { name, attrs, children: [] };
      top.children.push(el);
      if (!selfClose) stack.push(el);
    }
    i = tag.lastIndex;
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]?.name}>`);
  if (root.children.length !== 1) throw new Error('not exactly one root element');
  return root.children[0] as Element;
}

const all = (el: Element, name: string): Element[] => [
  ...(el.name === name ? [el] : []),
  ...el.children.flatMap((c) => all(c, name)),
];
const pair = (s: string | undefined): [number, number] => (s ?? '').split(',').map(Number) as [number, number];
const points = (d: string): [number, number][] => {
  expect(d).toMatch(/^M[-\d.e]+,[-\d.e]+(L[-\d.e]+,[-\d.e]+)*$/);
  return d
    .split(/[ML]/)
    .filter(Boolean)
    .map((p) => pair(p));
};

// Independent references (not the library's activations table).
const erf = (x: number): number => {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200 && Math.abs(term) > 1e-18; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
};
const sig = (x: number): number => 1 / (1 + Math.exp(-x));
const ref: Record<ActivationName, { f: (x: number) => number; df: (x: number) => number }> = {
  sigmoid: { f: sig, df: (x) => sig(x) * (1 - sig(x)) },
  tanh: { f: Math.tanh, df: (x) => 1 / Math.cosh(x) ** 2 },
  relu: { f: (x) => Math.max(0, x), df: (x) => (x > 0 ? 1 : 0) },
  silu: { f: (x) => x * sig(x), df: (x) => sig(x) + x * sig(x) * (1 - sig(x)) },
  gelu: {
    f: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
    df: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI),
  },
};

describe('plotActivations', () => {
  const svg = plotActivations();
  const doc = parseXml(svg);

  it('is one well-formed <svg> document with a viewBox', () => {
    expect(doc.name).toBe('svg');
    expect(doc.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(doc.attrs.viewBox).toMatch(/^0 0 \d+ \d+$/);
  });

  it('has one panel per activation (all five by default) and exactly one path per curve', () => {
    const panels = all(doc, 'g').filter((g) => g.attrs.class === 'panel');
    expect(panels.map((g) => g.attrs['data-activation'])).toEqual(['sigmoid', 'tanh', 'relu', 'silu', 'gelu']);
    for (const p of panels) expect(all(p, 'path').map((e) => e.attrs['data-curve'])).toEqual(['f', 'df']);
    expect(all(doc, 'path').length).toBe(10);
  });

  it('path points, mapped back through the panel scales, are f(x) and f′(x)', () => {
    for (const p of all(doc, 'g').filter((g) => g.attrs.class === 'panel')) {
      const name = p.attrs['data-activation'] as ActivationName;
      const [x0, x1] = pair(p.attrs['data-x-domain']);
      const [rx0, rx1] = pair(p.attrs['data-x-range']);
      const [y0, y1] = pair(p.attrs['data-y-domain']);
      const [ry0, ry1] = pair(p.attrs['data-y-range']);
      const toX = (px: number): number => x0 + ((px - rx0) / (rx1 - rx0)) * (x1 - x0);
      const toY = (py: number): number => y0 + ((py - ry0) / (ry1 - ry0)) * (y1 - y0);
      for (const path of all(p, 'path')) {
        const pts = points(path.attrs.d ?? '');
        expect(pts.length).toBe(201);
        const fn = path.attrs['data-curve'] === 'f' ? ref[name].f : ref[name].df;
        for (const k of [0, 37, 90, 100, 101, 163, 200]) {
          const [px, py] = pts[k] as [number, number];
          const x = toX(px);
          expect(x).toBeCloseTo(-5 + k * 0.05, 4);
          if (name === 'relu' && k === 100) continue; // x = 0 is the kink: f' is 0 there by convention
          expect(Math.abs(toY(py) - fn(-5 + k * 0.05))).toBeLessThan(2e-4 * (y1 - y0));
        }
      }
    }
  });

  it('honours names, range and points', () => {
    const one = parseXml(plotActivations(['gelu'], { from: -2, to: 3, points: 11 }));
    const paths = all(one, 'path');
    expect(paths.length).toBe(2);
    expect(points(paths[0]?.attrs.d ?? '').length).toBe(11);
    const g = all(one, 'g').find((e) => e.attrs.class === 'panel');
    expect(g?.attrs['data-x-domain']).toBe('-2,3');
  });

  it('refuses unknown names and empty ranges with TsloraErrors', () => {
    expect(() => plotActivations(['softplus' as ActivationName])).toThrow(/unknown activation "softplus"/);
    expect(() => plotActivations(undefined, { from: 1, to: 1 })).toThrow(TsloraError);
    expect(() => plotActivations(undefined, { points: 1 })).toThrow(/points/);
  });

  it('the XML check itself rejects broken documents', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow();
    expect(() => parseXml('<svg a="1" a="2"/>')).toThrow(/duplicate/);
    expect(() => parseXml('<svg/><svg/>')).toThrow(/root/);
  });
});

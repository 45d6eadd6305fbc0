// plot.test.ts — the SVG heatmap: one cell per weight with its value and colour, labels escaped, well-formed markup.
import { ShapeError, Tensor } from '@tslora/core-tensor';
import { describe, expect, it } from 'vitest';
import { plotAttention, viridis } from './plot.js';

/** Checks that every element is closed in order (enough to catch broken string building). */
function wellFormed(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, close, name, self] = m;
    if (self) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name as string);
  }
  return stack.length === 0 && !/&(?!amp;|lt;|gt;|quot;)/.test(svg);
}

describe('viridis', () => {
  it('hits the published end and middle stops and clamps', () => {
    expect(viridis(0)).toBe('#440154');
    expect(viridis(1)).toBe('#fde725');
    expect(viridis(5 / 9)).toBe('#1f9e89');
    expect(viridis(-3)).toBe('#440154');
    expect(viridis(7)).toBe('#fde725');
    expect(viridis(Number.NaN)).toBe('#440154');
  });
});

describe('plotAttention', () => {
  it('draws a (B,H,T,S) tensor as B·H panels with every value printed in its colour', () => {
    const w = Tensor.from([0, 1, 0.5, 0.25, 0.125, 0.875, 1, 0], [1, 2, 2, 2]);
    const svg = plotAttention(w, { title: 'two heads' });
    expect(wellFormed(svg)).toBe(true);
    expect(svg.match(/<rect class="cell"/g)).toHaveLength(8);
    expect(svg).toContain('>b0 h0<');
    expect(svg).toContain('>b0 h1<');
    for (const v of ['0.00', '1.00', '0.50', '0.25', '0.13', '0.88']) expect(svg).toContain(`>${v}</text>`);
    expect(svg).toContain(`fill="${viridis(0.5)}"`);
    expect(svg).toContain('linearGradient');
  });

  it('escapes labels, hatches masked cells and takes a custom colour scale', () => {
    const svg = plotAttention([[[0.3, 0.7]]], {
      panels: ['<a & b>'],
      queries: ['"q"'],
      keys: ['k<0>', 'k&1'],
      keep: [1, 0],
      color: () => 'red',
      digits: 1,
    });
    expect(wellFormed(svg)).toBe(true);
    expect(svg).toContain('&lt;a &amp; b&gt;');
    expect(svg).toContain('k&lt;0&gt;');
    expect(svg).toContain('class="cell masked"');
    expect(svg).toContain('fill="red"');
    expect(svg).toContain('>0.3</text>');
  });

  it('rejects labels that do not match the weights', () => {
    const w = [[[0.5, 0.5]]];
    expect(() => plotAttention(w, { keys: ['a'] })).toThrow(ShapeError);
    expect(() => plotAttention(w, { keep: [1, 1, 1] })).toThrow(/labels.keep has 3 entries but the weights need 2/);
    expect(() => plotAttention([[[1]], [[1, 2]]])).toThrow(/same \(T,S\) shape/);
  });
});

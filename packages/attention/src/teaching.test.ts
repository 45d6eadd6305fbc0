// teaching.test.ts — the seed's mask example: weights against a hand-written softmax, the all-zero mask, the SVG.
import { describe, expect, it } from 'vitest';
import { maskTeachingExample, maskTeachingSvg, TEACHING_MASKS, TEACHING_X } from './teaching.js';

/** Row-by-row softmax of x_i·x_j over the kept keys, straight from the definition (f64). */
function byHand(x: readonly number[], mask: readonly number[], causal: boolean): number[][] {
  return x.map((xi, i) => {
    const keep = x.map((_, j) => mask[j] === 1 && (!causal || j <= i));
    const e = x.map((xj, j) => (keep[j] ? Math.exp(xi * xj) : 0));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => (z === 0 ? 0 : v / z));
  });
}

describe('maskTeachingExample', () => {
  it('uses the seed’s X (5×3) and mask rows', () => {
    const ex = maskTeachingExample();
    expect(ex.x).toEqual(TEACHING_X);
    expect(ex.masks).toEqual([
      [1, 1, 0],
      [1, 0, 0],
      [1, 1, 1],
      [0, 0, 0],
      [1, 0, 1],
    ]);
  });

  for (const causal of [false, true]) {
    it(`weights equal the hand softmax for every mask row (causal: ${causal})`, () => {
      const ex = maskTeachingExample({ causal });
      TEACHING_X.forEach((x, b) => {
        const want = byHand(x, TEACHING_MASKS[b] as number[], causal);
        const wantUnmasked = byHand(x, [1, 1, 1], causal);
        for (let i = 0; i < 3; i++) {
          for (let j = 0; j < 3; j++) {
            expect(ex.masked[b]?.[i]?.[j]).toBeCloseTo(want[i]?.[j] as number, 6);
            expect(ex.unmasked[b]?.[i]?.[j]).toBeCloseTo(wantUnmasked[i]?.[j] as number, 6);
          }
          // the output is the weighted sum of the values (V = X)
          expect(ex.outputs[b]?.[i]).toBeCloseTo(
            want[i]?.reduce((a, w, j) => a + w * (x[j] as number), 0) as number,
            6,
          );
        }
      });
    });
  }

  it('masking a key is dropping it and renormalising the rest', () => {
    const ex = maskTeachingExample();
    // seq 0, mask [1,1,0]: row 0 over keys 0,1 is the unmasked row restricted and rescaled
    const u = ex.unmasked[0]?.[0] as number[];
    const m = ex.masked[0]?.[0] as number[];
    expect(m[2]).toBe(0);
    expect(m[0]).toBeCloseTo((u[0] as number) / ((u[0] as number) + (u[1] as number)), 6);
    // mask [1,1,1] changes nothing
    expect(ex.masked[2]).toEqual(ex.unmasked[2]);
  });

  it('the all-zero mask row gives zeros, not NaN, and says so', () => {
    const ex = maskTeachingExample();
    expect(ex.masked[3]).toEqual([
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(ex.outputs[3]).toEqual([0, 0, 0]);
    expect(ex.keep[3]).toEqual([
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(ex.notes[3]).toMatch(/all zeros \(not NaN\)/);
    expect(ex.notes[0]).toBe('[1,1,0]: key t2 gets weight 0 in every row; each row renormalises over t0, t1');
    for (const p of [...ex.masked, ...ex.unmasked])
      for (const r of p) for (const w of r) expect(Number.isNaN(w)).toBe(false);
  });

  it('renders two rows of five panels, masked cells hatched', () => {
    const svg = maskTeachingSvg();
    expect(svg.match(/<rect class="cell/g)).toHaveLength(10 * 9);
    // masked cells: 3 + 6 + 0 + 9 + 3 key columns of 3 rows in the bottom row; none in the top row
    expect(svg.match(/class="cell masked"/g)).toHaveLength(3 + 6 + 0 + 9 + 3);
    expect(svg).toContain('seq 3: mask [0,0,0]');
    expect(svg).not.toContain('NaN');
  });
});

// masks.test.ts — the boolean description of causal AND padding masks, with offsets.
import { ShapeError, Tensor } from '@tslora/core-tensor';
import { describe, expect, it } from 'vitest';
import { buildKeepMask, causalLimit, describeMask, fullyMaskedRows, keyBias } from './masks.js';

describe('buildKeepMask', () => {
  it('combines causal and a right-padded attention_mask', () => {
    const keep = buildKeepMask(1, 3, 3, { causal: true, attentionMask: Tensor.int([1, 1, 0], [1, 3]) });
    expect(describeMask(keep, 3, 3)).toBe('■··\n■■·\n■■·');
  });

  it('left padding leaves the first query rows with no key', () => {
    const keep = buildKeepMask(2, 3, 3, { causal: true, attentionMask: Tensor.int([0, 1, 1, 1, 1, 1], [2, 3]) });
    expect(describeMask(keep, 3, 3, 0)).toBe('···\n·■·\n·■■');
    expect(describeMask(keep, 3, 3, 1)).toBe('■··\n■■·\n■■■');
    expect(fullyMaskedRows(keep, 6, 3)).toEqual([true, false, false, false, false, false]);
  });

  it('places cached queries at the end of the keys (default offset S − T) or at an explicit offset', () => {
    expect(describeMask(buildKeepMask(1, 2, 4, { causal: true }), 2, 4)).toBe('■■■·\n■■■■');
    expect(describeMask(buildKeepMask(1, 2, 4, { causal: true, queryOffset: 1 }), 2, 4)).toBe('■■··\n■■■·');
    expect(describeMask(buildKeepMask(1, 2, 4, { attentionMask: Tensor.int([1, 0, 1, 1], [1, 4]) }), 2, 4)).toBe(
      '■·■■\n■·■■',
    );
  });

  it('causalLimit is the count of visible leading keys', () => {
    expect(causalLimit(0, 0, 5, true)).toBe(1);
    expect(causalLimit(4, 3, 5, true)).toBe(5);
    expect(causalLimit(2, 0, 5, false)).toBe(5);
  });
});

describe('keyBias', () => {
  it('is 0 for kept keys and −∞ for padding, from i32 or f32 masks', () => {
    expect(Array.from(keyBias(Tensor.int([1, 0], [1, 2]), 1, 2, 'op') as Float32Array)).toEqual([
      0,
      Number.NEGATIVE_INFINITY,
    ]);
    expect(Array.from(keyBias(Tensor.from([0, 1], [1, 2]), 1, 2, 'op') as Float32Array)).toEqual([
      Number.NEGATIVE_INFINITY,
      0,
    ]);
    expect(keyBias(undefined, 1, 2, 'op')).toBeNull();
  });
  it('names the op and both shapes when the mask is not (B,S)', () => {
    expect(() => keyBias(Tensor.int([1, 1, 1], [1, 3]), 2, 3, 'myOp')).toThrow(ShapeError);
    expect(() => keyBias(Tensor.int([1, 1, 1], [1, 3]), 2, 3, 'myOp')).toThrow(
      /myOp: attentionMask has shape \[1, 3\] but the keys need \(B,S\) = \[2, 3\]/,
    );
  });
});

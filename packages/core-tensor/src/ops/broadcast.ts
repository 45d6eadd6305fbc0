// ops/broadcast.ts — broadcasting helpers shared by the binary ops: index mapping and sum-to-shape.
import { broadcastStrides, numel, type Shape, shapeEq } from '../shape.js';

/**
 * For every output element (row-major over outShape) the index into an input of `inShape`
 * broadcast to outShape. Returns null when no mapping is needed (same shape).
 */
export function broadcastIndex(inShape: Shape, outShape: Shape): Int32Array | null {
  if (shapeEq(inShape, outShape)) return null;
  const n = numel(outShape);
  const idx = new Int32Array(n);
  const st = broadcastStrides(inShape, outShape);
  const nd = outShape.length;
  const counter = new Array<number>(nd).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    idx[i] = off;
    // odometer increment over outShape, carrying the input offset along
    for (let d = nd - 1; d >= 0; d--) {
      const c = (counter[d] as number) + 1;
      if (c < (outShape[d] as number)) {
        counter[d] = c;
        off += st[d] as number;
        break;
      }
      counter[d] = 0;
      off -= (st[d] as number) * ((outShape[d] as number) - 1);
    }
  }
  return idx;
}

/** Sums g (of outShape) down to inShape — the backward of broadcasting. */
export function sumToShape(g: Float32Array, outShape: Shape, inShape: Shape): Float32Array {
  if (shapeEq(inShape, outShape)) return g;
  const n = numel(inShape);
  const out = new Float32Array(n);
  if (n === 1) {
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i] as number;
    out[0] = s;
    return out;
  }
  // Fast path: in is a trailing block of out (a bias over rows): out's rows fold onto it.
  const core = dropLeadingOnes(inShape);
  if (shapeEq(core, outShape.slice(outShape.length - core.length))) {
    for (let i = 0; i < g.length; i += n)
      for (let j = 0; j < n; j++) out[j] = (out[j] as number) + (g[i + j] as number);
    return out;
  }
  const idx = broadcastIndex(inShape, outShape) as Int32Array;
  for (let i = 0; i < g.length; i++) {
    const k = idx[i] as number;
    out[k] = (out[k] as number) + (g[i] as number);
  }
  return out;
}

function dropLeadingOnes(s: Shape): Shape {
  let i = 0;
  while (i < s.length && s[i] === 1) i++;
  return s.slice(i);
}

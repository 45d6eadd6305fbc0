// sdpa-graph.ts — attention on a backend's fused block graphs (Backend.attentionBlockForward/Backward).
//
// Same blocking as sdpa.ts (one kv group of one sequence at a time, its rep query heads token-major,
// blocks of query positions against their first L keys), but each block is ONE backend call that
// keeps its (rows,L) scores, probabilities and dS inside the backend — with onnxruntime, MLAS runs the
// softmax and exp passes on every core and nothing (rows,L) is copied back to JS. Masks become one
// additive (rows,L) block per block, built once and reused by every layer that attends with the same
// geometry and padding. Saved for backward: q, k, v, o — not even the log-sum-exp: the backward
// recomputes P with the same softmax.
// A row with no key left: the backend gives it a finite uniform P; its O row is zeroed here, and its
// dO row is zeroed before the backward, which makes its dq and its share of dk, dv exactly 0.
import { ATTENTION_MASKED, type Backend, gradBuffer } from '@tslora/core-tensor';
import { causalLimit } from './masks.js';
import { blockAt, type Plan } from './sdpa-plan.js';
import { scratch, workspace } from './sdpa-workspace.js';

/** A backend with both halves of the fused block. */
export type BlockBackend = Backend & Required<Pick<Backend, 'attentionBlockForward' | 'attentionBlockBackward'>>;

export function hasBlocks(be: Backend): be is BlockBackend {
  return typeof be.attentionBlockForward === 'function' && typeof be.attentionBlockBackward === 'function';
}

/** The additive mask of one block and the rows in it that see no key. */
interface BlockMask {
  mask: Float32Array; // (rows,L)
  emptyRows: number[];
}

/** The blocks' masks of the last geometry seen (every layer of a model step shares it). */
let cached: { key: string; bias: Float32Array | null; perSeq: BlockMask[][] } | null = null;

function blockMask(p: Plan, b: number, i0: number): BlockMask {
  const { rows, L, rep } = blockAt(p, b, i0, -1);
  const mask = new Float32Array(rows * L);
  const emptyRows: number[] = [];
  const bias = p.bias;
  for (let r = 0; r < rows; r++) {
    const lim = causalLimit(i0 + Math.floor(r / rep), p.offset, L, p.causal);
    let kept = 0;
    for (let j = 0; j < L; j++) {
      const keep = j < lim && (bias === null || bias[b * p.S + j] === 0);
      if (keep) kept++;
      else mask[r * L + j] = ATTENTION_MASKED;
    }
    if (kept === 0) emptyRows.push(r);
  }
  return { mask, emptyRows };
}

/** Masks of every block of sequence b (index i0 / Tc), from the cache when the geometry and padding match. */
function masksFor(p: Plan, b: number): BlockMask[] {
  const key = `${p.B}|${p.T}|${p.S}|${p.rep}|${p.offset}|${p.causal}|${p.Tc}`;
  const sameBias = (x: Float32Array | null) =>
    x === p.bias ||
    (x !== null && p.bias !== null && x.length === p.bias.length && x.every((v, i) => v === p.bias?.[i]));
  if (!cached || cached.key !== key || !sameBias(cached.bias)) {
    cached = { key, bias: p.bias ? p.bias.slice() : null, perSeq: [] };
  }
  const seq = p.bias === null ? 0 : b; // without padding every sequence has the same masks
  let masks = cached.perSeq[seq];
  if (!masks) {
    masks = [];
    for (let i0 = 0; i0 < p.T; i0 += p.Tc) masks.push(blockMask(p, b, i0));
    cached.perSeq[seq] = masks;
  }
  return masks;
}

/** One block of one kv group: its rows [r0, r0 + rows) of the token-major buffers, its first L keys. */
interface GroupBlock {
  rows: number;
  L: number;
  /** The block's rows of a token-major (T·rep, D) buffer. */
  at: (x: Float32Array) => Float32Array;
  /** The group's first L rows of k or v. */
  keys: (x: Float32Array) => Float32Array;
  mask: BlockMask;
}

/**
 * Walks every (sequence, kv group): `group(qOff, eachBlock)` gets the group's offset into q/o/dq and
 * a function that walks its blocks; kOff is the offset into k/v/dk/dv.
 */
function forEachGroup(
  p: Plan,
  group: (qOff: number, kOff: number, eachBlock: (fn: (blk: GroupBlock) => void) => void) => void,
): void {
  const { H, Hkv, T, D, rep } = p;
  for (let b = 0; b < p.B; b++) {
    const masks = masksFor(p, b);
    for (let g = 0; g < Hkv; g++) {
      const kOff = (b * Hkv + g) * p.S * D;
      group((b * H + g * rep) * T * D, kOff, (fn) => {
        for (let i0 = 0, blk = 0; i0 < T; i0 += p.Tc, blk++) {
          const { rows, L } = blockAt(p, b, i0, -1);
          const r0 = i0 * rep;
          fn({
            rows,
            L,
            at: (x) => x.subarray(r0 * D, (r0 + rows) * D),
            keys: (x) => x.subarray(kOff, kOff + L * D),
            mask: masks[blk] as BlockMask,
          });
        }
      });
    }
  }
}

/** Forward on the block graphs: O (B,H,T,D). */
export function sdpaGraphForward(
  be: BlockBackend,
  p: Plan,
  Q: Float32Array,
  K: Float32Array,
  V: Float32Array,
): Float32Array {
  const { D } = p;
  const O = gradBuffer(Q.length); // pooled: every row is scattered from the workspace
  const ws = workspace(p);
  forEachGroup(p, (qOff, _kOff, eachBlock) => {
    const Qt = ws.gather(Q, qOff, 'q', p.scale); // Q·scale: the graph's GEMMs run with alpha = 1
    const Ot = ws.tokenMajor('o');
    eachBlock(({ rows, L, at, keys, mask }) => {
      const Ob = at(Ot);
      if (L === 0) {
        Ob.fill(0);
        return;
      }
      be.attentionBlockForward({ q: at(Qt), k: keys(K), v: keys(V), mask: mask.mask, rows, L, D, o: Ob });
      for (const r of mask.emptyRows) Ob.fill(0, r * D, (r + 1) * D);
    });
    ws.scatter('o', O, qOff, 1, null);
  });
  return O;
}

/** Backward on the block graphs: dq, dk, dv (null where not needed). */
export function sdpaGraphBackward(
  be: BlockBackend,
  p: Plan,
  Q: Float32Array,
  K: Float32Array,
  V: Float32Array,
  O: Float32Array,
  dO: Float32Array,
  needs: readonly boolean[],
): (Float32Array | null)[] {
  const { D } = p;
  const dq = needs[0] ? gradBuffer(Q.length) : null; // every row is scattered from the workspace
  // dk, dv accumulate block by block inside the backend; when not needed they go to a scratch slice
  const dk = needs[1] ? gradBuffer(K.length, true) : null;
  const dv = needs[2] ? gradBuffer(V.length, true) : null;
  const ws = workspace(p);
  const kvLen = p.S * D;
  forEachGroup(p, (qOff, kOff, eachBlock) => {
    const dkG = dk ? dk.subarray(kOff, kOff + kvLen) : scratch('dk-unused', kvLen).fill(0);
    const dvG = dv ? dv.subarray(kOff, kOff + kvLen) : scratch('dv-unused', kvLen).fill(0);
    const Qt = ws.gather(Q, qOff, 'q', p.scale);
    const dOt = ws.gather(dO, qOff, 'do', 1);
    const Ot = ws.gather(O, qOff, 'o', 1);
    const dQt = ws.tokenMajor('dq');
    eachBlock(({ rows, L, at, keys, mask }) => {
      if (L === 0) {
        at(dQt).fill(0);
        return;
      }
      const dOb = at(dOt);
      for (const r of mask.emptyRows) dOb.fill(0, r * D, (r + 1) * D); // (their O rows are 0, so Δ is too)
      be.attentionBlockBackward({
        q: at(Qt),
        k: keys(K),
        v: keys(V),
        mask: mask.mask,
        rows,
        L,
        D,
        dO: dOb,
        o: at(Ot),
        dq: at(dQt),
        dk: dkG,
        dv: dvG,
      });
    });
    if (dq) ws.scatter('dq', dq, qOff, p.scale, null);
  });
  return [dq, dk, dv];
}

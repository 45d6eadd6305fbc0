// sdpa.ts — scaled dot-product attention with GQA and masks: one autograd op, GEMM-based forward and hand-written backward.
//
// Layout: q (B,H,T,D), k/v (B,Hkv,S,D), rep = H/Hkv query heads per kv head (HF repeat_kv order:
// query head h reads kv head ⌊h/rep⌋). Work goes one (sequence b, kv head g) at a time, with the
// group's rep query heads interleaved token-major — Q_g as a (T·rep, D) matrix, row i·rep + h — so
// a chunk of query positions [i0, i1) of every head of the group is ONE contiguous row block and
// each product below is one GEMM per block, with no repeat_kv copy of k or v:
//   forward   S = scale·Q_blk·K_Lᵀ → E = exp(S + mask − max) → O_blk = (E·V_L) / rowsum(E)
//   backward  P = exp(S + mask − lse) (recomputed); dV_L += Pᵀ·dO_blk; dP = dO_blk·V_Lᵀ;
//             dS = P ⊙ (dP − rowsum(dO ⊙ O)); dQ_blk = scale·dS·K_L; dK_L += scale·dSᵀ·Q_blk
// K_L/V_L are the first L keys: the last key any row of the block may see (causal: i1 − 1 + offset;
// padding: the last kept key). Causal blocks thus skip most of the masked upper triangle (~44% fewer
// FLOPs at T=512), and dK/dV sum over the group's query heads through the GEMM's inner dimension.
// Saved for backward: q, k, v, o and lse (B,H,T) f64 — never a (T,S) probability matrix per head
// (FlashAttention-2's recompute, at the granularity of one block of one kv group).
// A backend with fused attention blocks (onnxruntime) runs the same blocking in sdpa-graph.ts instead.
import { getBackend, gradBuffer, record, Tensor } from '@tslora/core-tensor';
import { hasBlocks, sdpaGraphBackward, sdpaGraphForward } from './sdpa-graph.js';
import { blockAt, makePlan, type Plan, type SdpaOptions } from './sdpa-plan.js';
import { scratch64, workspace } from './sdpa-workspace.js';
import { probsFromLse, type RowBlock, softmaxBackwardRows, softmaxRows } from './softmax-rows.js';

export type { SdpaOptions } from './sdpa-plan.js';

/** Δ = rowsum(dO ⊙ O) of one group, token-major (the softmax backward's row term). */
export function rowDots(dO: Float32Array, O: Float32Array, off: number, delta: Float64Array, p: Plan): void {
  const { rep, T, D } = p;
  for (let h = 0; h < rep; h++) {
    for (let i = 0; i < T; i++) {
      const s = off + (h * T + i) * D;
      let dot = 0;
      for (let x = s; x < s + D; x++) dot += (dO[x] as number) * (O[x] as number);
      delta[i * rep + h] = dot;
    }
  }
}

/** Forward kernel: O (B,H,T,D) and lse per query row ((b,g) blocks, token-major; −∞ for rows with no key). */
function sdpaForward(
  p: Plan,
  Q: Float32Array,
  K: Float32Array,
  V: Float32Array,
): { O: Float32Array; lse: Float64Array } {
  const { B, H, Hkv, T, D, rep } = p;
  const R = rep * T;
  const be = getBackend();
  const O = gradBuffer(B * H * T * D); // pooled: every row is scattered from the workspace
  const lse = new Float64Array(B * H * T);
  const ws = workspace(p);
  const rowScale = scratch64('rowScale', R);
  for (let b = 0; b < B; b++) {
    ws.useSequence(b);
    for (let g = 0; g < Hkv; g++) {
      const qOff = (b * H + g * rep) * T * D;
      const kOff = (b * Hkv + g) * p.S * D;
      const Qt = ws.gather(Q, qOff, 'q', p.scale); // Q·scale: every GEMM runs with alpha = 1
      const Ot = ws.tokenMajor('o');
      for (let i0 = 0; i0 < T; i0 += p.Tc) {
        const blk = blockAt(p, b, i0, ws.biasPtr);
        const { rows, L } = blk;
        const r0 = i0 * rep;
        const lseOff = (b * Hkv + g) * R + r0;
        const Ob = Ot.subarray(r0 * D, (r0 + rows) * D);
        if (L === 0) {
          lse.fill(Number.NEGATIVE_INFINITY, lseOff, lseOff + rows);
          rowScale.fill(0, r0, r0 + rows);
          Ob.fill(0);
          continue;
        }
        const E = ws.block(0, rows * L);
        const VL = V.subarray(kOff, kOff + L * D);
        // S = (scale·Q_blk)·K_Lᵀ: (rows,D)·(D,L)
        be.gemm({
          a: Qt.subarray(r0 * D, (r0 + rows) * D),
          b: K.subarray(kOff, kOff + L * D),
          m: rows,
          n: L,
          k: D,
          transB: true,
          out: E,
        });
        softmaxRows(E, blk, lse, lseOff, rowScale.subarray(r0, r0 + rows));
        // O_blk = E·V_L: (rows,L)·(L,D), normalised on the way back to (B,H,T,D)
        be.gemm({ a: E, b: VL, m: rows, n: D, k: L, out: Ob });
      }
      ws.scatter('o', O, qOff, 1, rowScale);
    }
  }
  return { O, lse };
}

/** Backward kernel: dq, dk, dv (null where not needed), recomputing P block by block from lse. */
function sdpaBackward(
  p: Plan,
  Q: Float32Array,
  K: Float32Array,
  V: Float32Array,
  O: Float32Array,
  lse: Float64Array,
  dO: Float32Array,
  needs: readonly boolean[],
): (Float32Array | null)[] {
  const { B, H, Hkv, T, D, rep } = p;
  const R = rep * T;
  const be = getBackend();
  const dq = needs[0] ? gradBuffer(Q.length) : null; // every row is scattered from the workspace
  const dk = needs[1] ? gradBuffer(K.length, true) : null; // accumulated block by block (beta = 1)
  const dv = needs[2] ? gradBuffer(V.length, true) : null;
  const ws = workspace(p);
  const delta = scratch64('delta', R);
  for (let b = 0; b < B; b++) {
    ws.useSequence(b);
    for (let g = 0; g < Hkv; g++) {
      const qOff = (b * H + g * rep) * T * D;
      const kOff = (b * Hkv + g) * p.S * D;
      const Qt = ws.gather(Q, qOff, 'q', p.scale);
      const dOt = ws.gather(dO, qOff, 'do', 1);
      const dQt = ws.tokenMajor('dq');
      rowDots(dO, O, qOff, delta, p);
      for (let i0 = 0; i0 < T; i0 += p.Tc) {
        const blk = blockAt(p, b, i0, ws.biasPtr);
        const { rows, L } = blk;
        const r0 = i0 * rep;
        const dQb = dQt.subarray(r0 * D, (r0 + rows) * D);
        if (L === 0) {
          dQb.fill(0);
          continue;
        }
        const Qb = Qt.subarray(r0 * D, (r0 + rows) * D);
        const dOb = dOt.subarray(r0 * D, (r0 + rows) * D);
        const KL = K.subarray(kOff, kOff + L * D);
        const P = ws.block(0, rows * L);
        be.gemm({ a: Qb, b: KL, m: rows, n: L, k: D, transB: true, out: P });
        probsFromLse(P, blk, lse, (b * Hkv + g) * R + r0);
        // dV_L += Pᵀ·dO_blk: (L,rows)·(rows,D) — the sum over the group's query heads is the inner dim
        if (dv)
          be.gemm({ a: P, b: dOb, m: L, n: D, k: rows, transA: true, beta: 1, out: dv.subarray(kOff, kOff + L * D) });
        if (!dq && !dk) continue;
        // dP = dO_blk·V_Lᵀ: (rows,D)·(D,L), then dS in place
        const dS = ws.block(1, rows * L);
        be.gemm({ a: dOb, b: V.subarray(kOff, kOff + L * D), m: rows, n: L, k: D, transB: true, out: dS });
        softmaxBackwardRows(P, dS, blk, delta, r0);
        // dQ_blk = dS·K_L (·scale on the way back): (rows,L)·(L,D);  dK_L += dSᵀ·(scale·Q_blk): (L,rows)·(rows,D)
        if (dq) be.gemm({ a: dS, b: KL, m: rows, n: D, k: L, out: dQb });
        if (dk)
          be.gemm({ a: dS, b: Qb, m: L, n: D, k: rows, transA: true, beta: 1, out: dk.subarray(kOff, kOff + L * D) });
      }
      if (dq) ws.scatter('dq', dq, qOff, p.scale, null);
    }
  }
  return [dq, dk, dv];
}

/**
 * Scaled dot-product attention, softmax(scale·q·kᵀ + mask)·v, for grouped-query attention.
 *
 * q: (B,H,T,D); k, v: (B,Hkv,S,D) with H a multiple of Hkv — query head h uses kv head ⌊h·Hkv/H⌋,
 * as HF `repeat_kv`. `attentionMask` (B,S) masks keys (1 keep, 0 pad); `causal` keeps key j for
 * query i only when j ≤ i + queryOffset (queryOffset defaults to S − T: the queries are the last T
 * positions, as in cached decoding). Softmax in f32 with max subtraction. A query row with no key
 * left gets zeros and zero gradients, never NaN. Returns (B,H,T,D); one autograd op whose backward
 * gives dq, and dk/dv summed over the query heads that share a kv head.
 *
 * @throws ShapeError naming the shapes when they do not fit together, or when attentionMask is not (B,S).
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: SdpaOptions = {}): Tensor {
  const p = makePlan('scaledDotProductAttention', q, k, v, opts);
  const Q = q.f32;
  const K = k.f32;
  const V = v.f32;
  const be = getBackend();
  if (hasBlocks(be)) {
    // the backend's fused block graphs (onnxruntime): scores stay native, nothing but q, k, v, o is saved
    const O = sdpaGraphForward(be, p, Q, K, V);
    return record('scaledDotProductAttention', [q, k, v], new Tensor(O, [p.B, p.H, p.T, p.D]), (dO, needs) =>
      sdpaGraphBackward(be, p, Q, K, V, O, dO, needs),
    );
  }
  const { O, lse } = sdpaForward(p, Q, K, V);
  const out = new Tensor(O, [p.B, p.H, p.T, p.D]);
  return record('scaledDotProductAttention', [q, k, v], out, (dO, needs) =>
    sdpaBackward(p, Q, K, V, O, lse, dO, needs),
  );
}

/**
 * The attention probabilities softmax(scale·q·kᵀ + mask) as (B,H,T,S) — HF's `output_attentions`,
 * for inspection and plots (not differentiable; O(B·H·T·S) memory). Masked entries are exactly 0; a
 * row with no key left is all zeros.
 */
export function attentionWeights(q: Tensor, k: Tensor, opts: SdpaOptions = {}): Tensor {
  const p = makePlan('attentionWeights', q, k, null, opts);
  const { B, H, T, S, D, rep } = p;
  const W = new Float32Array(B * H * T * S);
  const lse = scratch64('lse', T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const qOff = (b * H + h) * T * D;
      const kOff = (b * p.Hkv + Math.floor(h / rep)) * S * D;
      const out = W.subarray((b * H + h) * T * S, (b * H + h + 1) * T * S);
      getBackend().gemm({
        a: q.f32.subarray(qOff, qOff + T * D),
        b: k.f32.subarray(kOff, kOff + S * D),
        m: T,
        n: S,
        k: D,
        transB: true,
        alpha: p.scale,
        out,
      });
      const blk: RowBlock = {
        rows: T,
        L: S,
        rep: 1,
        i0: 0,
        causal: p.causal,
        offset: p.offset,
        bias: p.bias,
        biasOff: b * S,
      };
      softmaxRows(out, blk, lse, 0, null);
    }
  }
  return new Tensor(W, [B, H, T, S]);
}

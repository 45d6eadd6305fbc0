// backend/ort/attention-block.ts — one block of attention rows as an onnxruntime graph, forward and backward.
//
// Why a graph: done as separate GEMMs, every (rows,L) score block left onnxruntime as an output — and the
// binding returns each output as a fresh copy — and its softmax, exp and dS passes ran single-threaded
// in JS. Here the scores, probabilities and dS stay in onnxruntime's arena, the row work runs in MLAS on
// every intra-op thread, and only (rows,D) and (L,D) results come back.
//
//   forward:  S = Gemm(Q, K, transB) (rows,L);  P = Softmax(S + M);  O = MatMul(P, V) (rows,D)
//   backward: P as above;  Δ = rowsum(dO ⊙ O);  dV += Gemm(P, dO, transA) (L,D);  dP = Gemm(dO, V, transB);
//             dS = P ⊙ (dP − Δ);  dQ = MatMul(dS, K) (rows,D);  dK += Gemm(dS, Q, transA) (L,D)
// dK and dV accumulate in place: the caller's (L,D) slice is both the Gemm's C and its output.
// P is recomputed in the backward (FlashAttention's trade): nothing (rows,L) is kept between the two.
import type { AttentionBlockBackwardArgs, AttentionBlockForwardArgs } from '../backend.js';
import { tensor } from './binding.js';
import { encodeModel, type OnnxNode } from './onnx-proto.js';
import type { SessionCache } from './sessions.js';

const T1 = { name: 'transA', int: 1 };
const TB = { name: 'transB', int: 1 };
const BETA1 = { name: 'beta', float: 1 };

/** S, Sm and P of the block: the nodes both graphs start with. */
const PROBS: OnnxNode[] = [
  { opType: 'Gemm', inputs: ['Q', 'K'], outputs: ['S'], attributes: [TB] },
  { opType: 'Add', inputs: ['S', 'M'], outputs: ['Sm'] },
  { opType: 'Softmax', inputs: ['Sm'], outputs: ['P'], attributes: [{ name: 'axis', int: 1 }] },
];

const INPUTS = [
  { name: 'Q', dims: ['R', 'D'] },
  { name: 'K', dims: ['L', 'D'] },
  { name: 'V', dims: ['L', 'D'] },
  { name: 'M', dims: ['R', 'L'] },
];

function forwardModel(): Uint8Array {
  return encodeModel({
    nodes: [...PROBS, { opType: 'MatMul', inputs: ['P', 'V'], outputs: ['O'] }],
    inputs: INPUTS,
    outputs: [{ name: 'O', dims: ['R', 'D'] }],
    opset: 13,
  });
}

function backwardModel(): Uint8Array {
  return encodeModel({
    nodes: [
      ...PROBS,
      // Δ = rowsum(dO ⊙ O) as (dO ⊙ O)·1: a GEMV (opset 13's ReduceSum wants its axes as a tensor)
      { opType: 'Mul', inputs: ['dO', 'O'], outputs: ['dOO'] },
      { opType: 'MatMul', inputs: ['dOO', 'One'], outputs: ['Delta'] },
      { opType: 'Gemm', inputs: ['P', 'dO', 'dVin'], outputs: ['dV'], attributes: [T1, BETA1] },
      { opType: 'Gemm', inputs: ['dO', 'V'], outputs: ['dP'], attributes: [TB] },
      { opType: 'Sub', inputs: ['dP', 'Delta'], outputs: ['dPc'] },
      { opType: 'Mul', inputs: ['P', 'dPc'], outputs: ['dS'] },
      { opType: 'MatMul', inputs: ['dS', 'K'], outputs: ['dQ'] },
      { opType: 'Gemm', inputs: ['dS', 'Q', 'dKin'], outputs: ['dK'], attributes: [T1, BETA1] },
    ],
    inputs: [
      ...INPUTS,
      { name: 'dO', dims: ['R', 'D'] },
      { name: 'O', dims: ['R', 'D'] },
      { name: 'One', dims: ['D', 1] },
      { name: 'dKin', dims: ['L', 'D'] },
      { name: 'dVin', dims: ['L', 'D'] },
    ],
    outputs: [
      { name: 'dQ', dims: ['R', 'D'] },
      { name: 'dK', dims: ['L', 'D'] },
      { name: 'dV', dims: ['L', 'D'] },
    ],
    opset: 13,
  });
}

function feeds(a: AttentionBlockForwardArgs | AttentionBlockBackwardArgs) {
  const { rows, L, D } = a;
  return {
    Q: tensor(a.q.subarray(0, rows * D), [rows, D]),
    K: tensor(a.k.subarray(0, L * D), [L, D]),
    V: tensor(a.v.subarray(0, L * D), [L, D]),
    M: tensor(a.mask.subarray(0, rows * L), [rows, L]),
  };
}

/** O (rows,D) of one block, written into a.o. */
export function runAttentionForward(cache: SessionCache, a: AttentionBlockForwardArgs): void {
  const session = cache.graph('attention-block|forward', forwardModel);
  session.run(feeds(a), { O: tensor(a.o.subarray(0, a.rows * a.D), [a.rows, a.D]) }, {});
}

const ones = new Map<number, Float32Array>();

/** dq (rows,D) into a.dq; dk and dv (L,D) accumulated into a.dk, a.dv (each fed as the Gemm's C, written in place). */
export function runAttentionBackward(cache: SessionCache, a: AttentionBlockBackwardArgs): void {
  const { rows, L, D } = a;
  const session = cache.graph('attention-block|backward', backwardModel);
  let one = ones.get(D);
  if (!one) {
    one = new Float32Array(D).fill(1);
    ones.set(D, one);
  }
  const dk = tensor(a.dk.subarray(0, L * D), [L, D]);
  const dv = tensor(a.dv.subarray(0, L * D), [L, D]);
  session.run(
    {
      ...feeds(a),
      dO: tensor(a.dO.subarray(0, rows * D), [rows, D]),
      O: tensor(a.o.subarray(0, rows * D), [rows, D]),
      One: tensor(one, [D, 1]),
      dKin: dk,
      dVin: dv,
    },
    { dQ: tensor(a.dq.subarray(0, rows * D), [rows, D]), dK: dk, dV: dv },
    {},
  );
}

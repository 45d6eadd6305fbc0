// backend/ort/linear-softmax.ts — lm_head GEMM, row softmax and the cross-entropy reductions as one onnxruntime graph.
//
// Why a graph: at a 151936-wide vocabulary the row work (max, exp, normalise over m·V values) costs as
// much as the GEMMs when done in single-threaded JS (~19 ns/element). In the graph, MLAS's softmax runs
// it with AVX-512 exp on every intra-op thread, the (m,V) logits and probabilities stay in onnxruntime's
// arena (never copied out), and the backward's P·W runs on them in the same call:
//
//   L = Gemm(H, W, transB)        (M,V)   H: (M,C)  W: (V,C)
//   P = Softmax(L, axis=1)        (M,V)
//   picked = GatherElements(P, T, axis=1)   (M,1)   T: (M,1) i32 targets
//   PW = MatMul(P, W)             (M,C)   only in the 'grad' variants
//   P itself is an output only when the caller asks for it (dW of a trainable lm_head).
import type { LinearSoftmaxArgs } from '../backend.js';
import { intTensor, type NativeTensor, tensor } from './binding.js';
import { encodeModel, type OnnxNode } from './onnx-proto.js';
import type { SessionCache } from './sessions.js';

function model(withPW: boolean, withP: boolean): Uint8Array {
  const nodes: OnnxNode[] = [
    { opType: 'Gemm', inputs: ['H', 'W'], outputs: ['L'], attributes: [{ name: 'transB', int: 1 }] },
    { opType: 'Softmax', inputs: ['L'], outputs: ['P'], attributes: [{ name: 'axis', int: 1 }] },
    { opType: 'GatherElements', inputs: ['P', 'T'], outputs: ['picked'], attributes: [{ name: 'axis', int: 1 }] },
  ];
  const outputs = [{ name: 'picked', dims: ['M', 1] }];
  if (withPW) {
    nodes.push({ opType: 'MatMul', inputs: ['P', 'W'], outputs: ['PW'] });
    outputs.push({ name: 'PW', dims: ['M', 'C'] });
  }
  if (withP) outputs.push({ name: 'P', dims: ['M', 'V'] });
  return encodeModel({
    nodes,
    inputs: [
      { name: 'H', dims: ['M', 'C'] },
      { name: 'W', dims: ['V', 'C'] },
      { name: 'T', dims: ['M', 1], int32: true },
    ],
    outputs,
    opset: 13,
  });
}

/** Runs one block through the cached graph variant for the outputs requested. */
export function runLinearSoftmax(cache: SessionCache, g: LinearSoftmaxArgs): void {
  const { m, n, k } = g;
  const withPW = g.pw !== undefined;
  const withP = g.p !== undefined;
  const session = cache.graph(`linear-softmax|${withPW ? 'pw' : ''}|${withP ? 'p' : ''}`, () => model(withPW, withP));
  const fetches: Record<string, NativeTensor> = { picked: tensor(g.picked.subarray(0, m), [m, 1]) };
  if (g.pw) fetches.PW = tensor(g.pw.subarray(0, m * k), [m, k]);
  if (g.p) fetches.P = tensor(g.p.subarray(0, m * n), [m, n]);
  const feeds = {
    H: tensor(g.h.subarray(0, m * k), [m, k]),
    W: tensor(g.w.subarray(0, n * k), [n, k]),
    T: intTensor(g.targets.subarray(0, m), [m, 1]),
  };
  session.run(feeds, fetches, {});
}

// backend/ort/sessions.ts — one cached onnxruntime session per GEMM kind, built from an in-memory model.
//
// Every model has symbolic (dynamic) dims, so a kind is compiled once and serves every size.
// Transposes are node attributes (Gemm / com.microsoft.FusedMatMul transA, transB) — MLAS reads
// the transposed operand while packing, so no transposed copy is ever made.
import { createSession, type NativeSession } from './binding.js';
import { encodeModel, type OnnxAttribute, type OnnxNode, type OnnxValueInfo } from './onnx-proto.js';

/**
 * - 'gemm':  ai.onnx Gemm, A (M,K) or (K,M), B (K,N) or (N,K), Y (M,N); with a C input it computes
 *            Y = op(A)·op(B) + C (C is Y's own memory when accumulating in place).
 * - 'bmm':   com.microsoft FusedMatMul, A (Bt,·,·) and B (Bt,·,·) → Y (Bt,M,N).
 * - 'bmm-bcast': FusedMatMul with A (Bt,·,·) and one B (·,·) shared by the batch.
 */
export type GemmKind = 'gemm' | 'bmm' | 'bmm-bcast';

/**
 * Where alpha ≠ 1 is applied: nowhere, or a Mul by the runtime scalar input `alpha` on A, on B (before the
 * product) or on the product (Y, only without C). The backend picks the smallest of the three per call, so
 * the extra pass costs ≤ min(m·k, k·n, m·n) multiplies against the GEMM's m·n·k.
 */
export type AlphaAt = 'none' | 'A' | 'B' | 'Y';

/** The C input of 'gemm': absent (beta = 0), as is (beta = 1), or multiplied by the runtime scalar `beta`. */
export type CInput = 'none' | 'one' | 'scaled';

/**
 * A session's structure. alpha and beta are not part of it: they are fed at run time, so any value —
 * e.g. the fused cross-entropy's 1/targets, different every step — reuses the same compiled session.
 */
export interface SessionKey {
  kind: GemmKind;
  transA: boolean;
  transB: boolean;
  alphaAt: AlphaAt;
  /** Only for 'gemm'. */
  c: CInput;
}

/** Far more than the GEMM structures a training step uses (~10); beyond that the oldest session is released. */
const MAX_SESSIONS = 32;

/** The runtime scalar inputs `alpha` and `beta` are one-element tensors, broadcast by Mul. */
const SCALAR = [1];

function modelFor(key: SessionKey): Uint8Array {
  const { kind, transA, transB, alphaAt } = key;
  const a2 = transA ? ['K', 'M'] : ['M', 'K'];
  const b2 = transB ? ['N', 'K'] : ['K', 'N'];
  const batched = kind !== 'gemm';
  const inputs: OnnxValueInfo[] = [
    { name: 'A', dims: batched ? ['Bt', ...a2] : a2 },
    { name: 'B', dims: kind === 'bmm' ? ['Bt', ...b2] : b2 },
  ];
  const yDims = batched ? ['Bt', 'M', 'N'] : ['M', 'N'];
  const nodes: OnnxNode[] = [];
  const operand = (name: 'A' | 'B'): string => {
    if (alphaAt !== name) return name;
    nodes.push({ opType: 'Mul', inputs: [name, 'alpha'], outputs: [`${name}s`] });
    return `${name}s`;
  };
  const mmInputs = [operand('A'), operand('B')];
  if (kind === 'gemm' && key.c !== 'none') {
    inputs.push({ name: 'C', dims: ['M', 'N'] });
    if (key.c === 'scaled') {
      inputs.push({ name: 'beta', dims: SCALAR });
      nodes.push({ opType: 'Mul', inputs: ['C', 'beta'], outputs: ['Cs'] });
    }
    mmInputs.push(key.c === 'scaled' ? 'Cs' : 'C');
  }
  if (alphaAt !== 'none') inputs.push({ name: 'alpha', dims: SCALAR });
  const product = alphaAt === 'Y' ? 'P' : 'Y';
  const attributes: OnnxAttribute[] = [
    { name: 'transA', int: transA ? 1 : 0 },
    { name: 'transB', int: transB ? 1 : 0 },
  ];
  nodes.push(
    kind === 'gemm'
      ? { opType: 'Gemm', inputs: mmInputs, outputs: [product], attributes }
      : { opType: 'FusedMatMul', domain: 'com.microsoft', inputs: mmInputs, outputs: [product], attributes },
  );
  if (alphaAt === 'Y') nodes.push({ opType: 'Mul', inputs: ['P', 'alpha'], outputs: ['Y'] });
  return encodeModel({ nodes, inputs, outputs: [{ name: 'Y', dims: yDims }], opset: 13 });
}

/** Sessions keyed by structure (kind, flags, where alpha/beta apply); insertion order doubles as LRU order. */
export class SessionCache {
  private readonly sessions = new Map<string, NativeSession>();

  get(key: SessionKey): NativeSession {
    const id = `${key.kind}|${key.transA ? 'T' : 'N'}${key.transB ? 'T' : 'N'}|alpha@${key.alphaAt}|C:${key.c}`;
    return this.graph(id, () => modelFor(key));
  }

  /** The session for a fused graph (e.g. linear-softmax.ts), built by `model()` on first use, cached under `id`. */
  graph(id: string, model: () => Uint8Array): NativeSession {
    let session = this.sessions.get(id);
    if (session) {
      this.sessions.delete(id); // re-insert to mark as most recently used
    } else {
      session = createSession(model());
      if (this.sessions.size >= MAX_SESSIONS) {
        const [oldestId, oldest] = this.sessions.entries().next().value as [string, NativeSession];
        this.sessions.delete(oldestId);
        oldest.dispose();
      }
    }
    this.sessions.set(id, session);
    return session;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Releases every native session (their thread pools and arenas). */
  dispose(): void {
    for (const s of this.sessions.values()) s.dispose();
    this.sessions.clear();
  }
}

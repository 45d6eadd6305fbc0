// backend/ort/sessions.ts — one cached onnxruntime session per GEMM kind, built from an in-memory model.
//
// Every model has symbolic (dynamic) dims, so a kind is compiled once and serves every size.
// Transposes are node attributes (Gemm / com.microsoft.FusedMatMul transA, transB) — MLAS reads
// the transposed operand while packing, so no transposed copy is ever made.
import { createSession, type NativeSession } from './binding.js';
import { encodeSingleNodeModel, type OnnxAttribute } from './onnx-proto.js';

/**
 * - 'gemm':  ai.onnx Gemm, A (M,K) or (K,M), B (K,N) or (N,K), Y (M,N); with `beta` ≠ 0 it also
 *            takes C (M,N) and computes Y = alpha·op(A)·op(B) + beta·C.
 * - 'bmm':   com.microsoft FusedMatMul, A (Bt,·,·) and B (Bt,·,·) → Y (Bt,M,N).
 * - 'bmm-bcast': FusedMatMul with A (Bt,·,·) and one B (·,·) shared by the batch.
 */
export type GemmKind = 'gemm' | 'bmm' | 'bmm-bcast';

export interface SessionKey {
  kind: GemmKind;
  transA: boolean;
  transB: boolean;
  alpha: number;
  /** Only for 'gemm': 0 means no C input. */
  beta: number;
}

/** Enough for every alpha/beta a training step uses; beyond that the oldest session is released. */
const MAX_SESSIONS = 32;

function modelFor(key: SessionKey): Uint8Array {
  const { kind, transA, transB } = key;
  const a2 = transA ? ['K', 'M'] : ['M', 'K'];
  const b2 = transB ? ['N', 'K'] : ['K', 'N'];
  const attributes: OnnxAttribute[] = [
    { name: 'alpha', float: key.alpha },
    { name: 'transA', int: transA ? 1 : 0 },
    { name: 'transB', int: transB ? 1 : 0 },
  ];
  if (kind === 'gemm') {
    const inputs = [
      { name: 'A', dims: a2 },
      { name: 'B', dims: b2 },
    ];
    if (key.beta !== 0) {
      inputs.push({ name: 'C', dims: ['M', 'N'] });
      attributes.push({ name: 'beta', float: key.beta });
    }
    const outputs = [{ name: 'Y', dims: ['M', 'N'] }];
    return encodeSingleNodeModel({ opType: 'Gemm', domain: '', opset: 13, inputs, outputs, attributes });
  }
  const inputs = [
    { name: 'A', dims: ['Bt', ...a2] },
    { name: 'B', dims: kind === 'bmm' ? ['Bt', ...b2] : b2 },
  ];
  const outputs = [{ name: 'Y', dims: ['Bt', 'M', 'N'] }];
  return encodeSingleNodeModel({
    opType: 'FusedMatMul',
    domain: 'com.microsoft',
    opset: 13,
    inputs,
    outputs,
    attributes,
  });
}

/** Sessions keyed by kind/flags/alpha/beta; insertion order doubles as least-recently-used order. */
export class SessionCache {
  private readonly sessions = new Map<string, NativeSession>();

  get(key: SessionKey): NativeSession {
    const id = `${key.kind}|${key.transA ? 'T' : 'N'}${key.transB ? 'T' : 'N'}|${key.alpha}|${key.beta}`;
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

// backend/ort/matmul-nbits.ts — Y = A·Wᵀ for a quantized frozen W via com.microsoft.MatMulNBits, W baked into the graph.
//
// Why one session per weight: MatMulNBits is fast only when B, scales and zero points are constant
// initializers — onnxruntime then prepacks them once into MLAS's blocked layout (and, at accuracy
// level 4, runs int8 dot products). Fed as graph inputs they are unpacked on every call (measured
// 4–5× slower than an f32 Gemm). So each weight gets its own small graph:
//   Y (M,N) = MatMulNBits(A (M,K), B (N,nBlocks,blobSize) u8, scales (N·nBlocks) f32, zero_points u8)
// with K, N, bits, block_size and accuracy_level as attributes and M symbolic.
//
// The initializers are appended to the model bytes encodeModel() writes as a second `graph` field:
// protobuf merges repeated occurrences of an embedded message field, so the parser sees one graph
// whose `initializer` list holds them. That keeps onnx-proto.ts's small number[] writer away from
// the hundreds of MB of weight bytes (those are copied once here, as typed arrays).
import type { QuantizedMatrix } from '../../quant/quantize.js';
import { createSession, gemmSessionOptions, type NativeSession, tensor } from './binding.js';
import { encodeModel } from './onnx-proto.js';

const ONNX_FLOAT = 1;
const ONNX_UINT8 = 2;

function varint(v: number): number[] {
  const out: number[] = [];
  let x = v;
  while (x > 0x7f) {
    out.push((x & 0x7f) | 0x80);
    x = Math.floor(x / 128);
  }
  out.push(x);
  return out;
}

/** tag + length prefix of a length-delimited field of `len` bytes. */
function lenHeader(field: number, len: number): number[] {
  return [...varint(field * 8 + 2), ...varint(len)];
}

/** A TensorProto (dims=1, data_type=2, name=8, raw_data=9) as [small header, raw bytes]. */
function tensorProto(name: string, dims: number[], dataType: number, raw: Uint8Array): Uint8Array[] {
  const head: number[] = [];
  for (const d of dims) head.push(...varint(8), ...varint(d)); // field 1, varint
  head.push(...varint(16), ...varint(dataType)); // field 2, varint
  const nameBytes = new TextEncoder().encode(name);
  head.push(...lenHeader(8, nameBytes.length), ...nameBytes);
  head.push(...lenHeader(9, raw.byteLength));
  return [Uint8Array.from(head), raw];
}

function bytesOf(x: Float32Array | Uint8Array): Uint8Array {
  return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

/** The serialized single-node model for one quantized weight. */
export function matmulNBitsModel(w: QuantizedMatrix, accuracyLevel: number): Uint8Array {
  const { n, k, bits, blockSize, nBlocks } = w;
  const inputs = ['A', 'B', 'scales'];
  if (w.zeroPoints) inputs.push('zero_points');
  const graph = encodeModel({
    nodes: [
      {
        opType: 'MatMulNBits',
        domain: 'com.microsoft',
        inputs,
        outputs: ['Y'],
        attributes: [
          { name: 'K', int: k },
          { name: 'N', int: n },
          { name: 'bits', int: bits },
          { name: 'block_size', int: blockSize },
          { name: 'accuracy_level', int: accuracyLevel },
        ],
      },
    ],
    inputs: [{ name: 'A', dims: ['M', k] }],
    outputs: [{ name: 'Y', dims: ['M', n] }],
    opset: 13,
  });
  const inits = [
    tensorProto('B', [n, nBlocks, (blockSize * bits) / 8], ONNX_UINT8, w.data),
    tensorProto('scales', [n * nBlocks], ONNX_FLOAT, bytesOf(w.scales)),
  ];
  if (w.zeroPoints) inits.push(tensorProto('zero_points', [w.zeroPoints.length], ONNX_UINT8, w.zeroPoints));
  // graph (field 7) { initializer (field 5) × 3 }
  const parts: Uint8Array[] = [];
  for (const t of inits) {
    const len = t[0]!.byteLength + t[1]!.byteLength;
    parts.push(Uint8Array.from(lenHeader(5, len)), ...t);
  }
  const graphLen = parts.reduce((s, p) => s + p.byteLength, 0);
  const all = [graph, Uint8Array.from(lenHeader(7, graphLen)), ...parts];
  const out = new Uint8Array(all.reduce((s, p) => s + p.byteLength, 0));
  let off = 0;
  for (const p of all) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** Sessions of the quantized weights, one per (weight, accuracy level); owned by one OrtBackend. */
export class NBitsSessions {
  private readonly sessions = new Map<QuantizedMatrix, Map<number, NativeSession>>();

  /** Y (m,n) = A (m,k) · Wᵀ into `out`. */
  run(w: QuantizedMatrix, a: Float32Array, m: number, out: Float32Array, accuracyLevel: number): void {
    let byLevel = this.sessions.get(w);
    if (!byLevel) {
      byLevel = new Map();
      this.sessions.set(w, byLevel);
    }
    let session = byLevel.get(accuracyLevel);
    if (!session) {
      // No CPU arena: a model holds ~200 of these sessions, and each arena would keep its own peak
      // workspace (the int8-quantized A at accuracy level 4) for good. Measured at the 7B up_proj,
      // T=512: +146 → +81 MiB per int8 session, same speed.
      const options = { ...gemmSessionOptions(), enableCpuMemArena: false };
      session = createSession(matmulNBitsModel(w, accuracyLevel), options);
      byLevel.set(accuracyLevel, session);
    }
    const feeds = { A: tensor(a.subarray(0, m * w.k), [m, w.k]) };
    session.run(feeds, { Y: tensor(out.subarray(0, m * w.n), [m, w.n]) }, {});
  }

  /** Releases the sessions of one weight (e.g. a model being dropped). */
  release(w: QuantizedMatrix): void {
    for (const s of this.sessions.get(w)?.values() ?? []) s.dispose();
    this.sessions.delete(w);
  }

  get size(): number {
    let c = 0;
    for (const m of this.sessions.values()) c += m.size;
    return c;
  }

  dispose(): void {
    for (const w of [...this.sessions.keys()]) this.release(w);
  }
}

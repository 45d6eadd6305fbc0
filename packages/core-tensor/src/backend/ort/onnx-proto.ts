// backend/ort/onnx-proto.ts — a minimal protobuf writer for an ONNX ModelProto holding a small graph.
//
// Only the fields a small float32/int32 graph needs are written (field numbers from onnx.proto3):
//   ModelProto      ir_version=1 (int64), graph=7, opset_import=8
//   OperatorSetId   domain=1, version=2
//   GraphProto      node=1, name=2, input=11, output=12
//   NodeProto       input=1, output=2, name=3, op_type=4, attribute=5, domain=7
//   AttributeProto  name=1, f=2 (fixed32), i=3 (varint), type=20 (FLOAT=1, INT=2)
//   ValueInfoProto  name=1, type=2;  TypeProto tensor_type=1;  TypeProto.Tensor elem_type=1, shape=2
//   TensorShapeProto dim=1;  Dimension dim_value=1, dim_param=2
// Writing ~60 lines here avoids a dependency on a protobuf runtime and the onnx schema package.

/** One attribute of the node: a number marked int is written as INT, otherwise as FLOAT. */
export type OnnxAttribute = { name: string; int: number } | { name: string; float: number };

/** A graph input or output with the given dims (a string dim is symbolic, i.e. dynamic); float32 unless `int32`. */
export interface OnnxValueInfo {
  name: string;
  dims: (number | string)[];
  int32?: boolean;
}

/** One node of a graph; values are connected by name. */
export interface OnnxNode {
  opType: string;
  /** '' (or absent) for the default ai.onnx domain, 'com.microsoft' for contrib ops. */
  domain?: string;
  inputs: string[];
  outputs: string[];
  attributes?: OnnxAttribute[];
}

/** A graph of nodes in topological order, with its typed inputs and outputs. */
export interface OnnxGraphModel {
  nodes: OnnxNode[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** Opset of the default domain (e.g. 13). */
  opset: number;
}

export interface OnnxNodeModel {
  opType: string;
  /** '' for the default ai.onnx domain, 'com.microsoft' for contrib ops such as FusedMatMul. */
  domain: string;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  attributes: OnnxAttribute[];
  /** Opset of the default domain (e.g. 13). */
  opset: number;
}

const ONNX_FLOAT = 1; // TensorProto.DataType.FLOAT
const ONNX_INT32 = 6; // TensorProto.DataType.INT32
const IR_VERSION = 8; // ONNX 1.10+, accepted by onnxruntime 1.x

const enc = new TextEncoder();

/** Byte sink with the protobuf wire primitives: varint, length-delimited, fixed32. */
class Writer {
  private bytes: number[] = [];
  varint(v: number): this {
    // Values here are small non-negative ints; negative ints would need 10-byte two's complement.
    let x = v;
    while (x > 0x7f) {
      this.bytes.push((x & 0x7f) | 0x80);
      x = Math.floor(x / 128);
    }
    this.bytes.push(x);
    return this;
  }
  tag(field: number, wire: 0 | 2 | 5): this {
    return this.varint(field * 8 + wire);
  }
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }
  bytesField(field: number, data: Uint8Array | number[]): this {
    this.tag(field, 2).varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytesField(field, enc.encode(s));
  }
  msg(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytesField(field, inner.bytes);
  }
  float(field: number, v: number): this {
    const buf = new Uint8Array(4);
    new DataView(buf.buffer).setFloat32(0, v, true);
    this.tag(field, 5);
    for (const b of buf) this.bytes.push(b);
    return this;
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function valueInfo(w: Writer, v: OnnxValueInfo): void {
  w.str(1, v.name);
  w.msg(2, (type) =>
    type.msg(1, (tensor) => {
      tensor.int(1, v.int32 ? ONNX_INT32 : ONNX_FLOAT);
      tensor.msg(2, (shape) => {
        for (const d of v.dims) shape.msg(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.str(2, d)));
      });
    }),
  );
}

/** Serialises a ModelProto whose graph is the single node described by `m`. */
export function encodeSingleNodeModel(m: OnnxNodeModel): Uint8Array {
  const node: OnnxNode = {
    opType: m.opType,
    domain: m.domain,
    inputs: m.inputs.map((i) => i.name),
    outputs: m.outputs.map((o) => o.name),
    attributes: m.attributes,
  };
  return encodeModel({ nodes: [node], inputs: m.inputs, outputs: m.outputs, opset: m.opset });
}

/** Serialises a ModelProto for the graph `m` (nodes in topological order). */
export function encodeModel(m: OnnxGraphModel): Uint8Array {
  const w = new Writer();
  w.int(1, IR_VERSION);
  w.str(2, 'tslora'); // producer_name
  w.msg(7, (g) => {
    m.nodes.forEach((node, k) => {
      g.msg(1, (n) => {
        for (const i of node.inputs) n.str(1, i);
        for (const o of node.outputs) n.str(2, o);
        n.str(3, `node${k}`);
        n.str(4, node.opType);
        for (const a of node.attributes ?? []) {
          n.msg(5, (attr) => {
            attr.str(1, a.name);
            if ('int' in a) attr.int(3, a.int).int(20, 2);
            else attr.float(2, a.float).int(20, 1);
          });
        }
        if (node.domain) n.str(7, node.domain);
      });
    });
    g.str(2, 'g');
    for (const i of m.inputs) g.msg(11, (vi) => valueInfo(vi, i));
    for (const o of m.outputs) g.msg(12, (vi) => valueInfo(vi, o));
  });
  w.msg(8, (op) => op.str(1, '').int(2, m.opset));
  const domains = new Set(m.nodes.map((n) => n.domain ?? '').filter((d) => d !== ''));
  for (const d of domains) w.msg(8, (op) => op.str(1, d).int(2, 1));
  return w.finish();
}

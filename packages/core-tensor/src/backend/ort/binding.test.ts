// backend/ort/binding.test.ts — fails loudly if onnxruntime-node's internal synchronous binding changes shape.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createSession, loadBinding, ORT_NODE_VERSION, tensor } from './binding.js';
import { encodeSingleNodeModel } from './onnx-proto.js';

const PINNED = `tslora reaches onnxruntime-node/dist/binding (internal API) and is pinned to onnxruntime-node@${ORT_NODE_VERSION}`;

function matMulModel(): Uint8Array {
  return encodeSingleNodeModel({
    opType: 'MatMul',
    domain: '',
    opset: 13,
    inputs: [
      { name: 'A', dims: ['M', 'K'] },
      { name: 'B', dims: ['K', 'N'] },
    ],
    outputs: [{ name: 'Y', dims: ['M', 'N'] }],
    attributes: [],
  });
}

describe('onnxruntime-node internal binding', () => {
  it('is the pinned version', () => {
    const version = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
    expect(version, `${PINNED}; found ${version}: re-check binding.ts against the new sources`).toBe(ORT_NODE_VERSION);
  });

  it('exposes binding.InferenceSession with loadModel/run/dispose and initOrt', () => {
    const mod = loadBinding();
    expect(typeof mod.initOrt, PINNED).toBe('function');
    const proto = mod.binding.InferenceSession.prototype as unknown as Record<string, unknown>;
    for (const m of ['loadModel', 'run', 'dispose']) expect(typeof proto[m], `${PINNED}: ${m}`).toBe('function');
  });

  it('runs synchronously, reads feeds at their byte offset and writes a preallocated output in place', () => {
    const session = createSession(matMulModel());
    // A (2,3) = [[1,2,3],[4,5,6]] placed at an offset inside a larger buffer; B (3,2).
    const pool = Float32Array.of(9, 9, 1, 2, 3, 4, 5, 6, 9);
    const b = Float32Array.of(1, 0, 0, 1, 1, 1);
    const out = new Float32Array(4);
    const result = session.run(
      { A: tensor(pool.subarray(2, 8), [2, 3]), B: tensor(b, [3, 2]) },
      { Y: tensor(out, [2, 2]) },
      {},
    );
    expect(result instanceof Promise, `${PINNED}: run() must be synchronous`).toBe(false);
    expect(Array.from(out), `${PINNED}: preallocated fetch must be written in place`).toEqual([4, 5, 10, 11]);
    const fresh = session.run({ A: tensor(pool.subarray(2, 8), [2, 3]), B: tensor(b, [3, 2]) }, { Y: null }, {});
    const y = fresh.Y;
    expect(y?.data instanceof Float32Array, `${PINNED}: run() returns { Y: { data: Float32Array } }`).toBe(true);
    expect(Array.from(y?.data as Float32Array)).toEqual([4, 5, 10, 11]);
    expect(Array.from(y?.dims ?? [])).toEqual([2, 2]);
    session.dispose();
  });

  it('returns every fetched output as a fresh copy, even a preallocated one (why binding.ts raises the malloc threshold)', () => {
    const session = createSession(matMulModel());
    const out = new Float32Array(4);
    const a = Float32Array.of(1, 2, 3, 4, 5, 6);
    const b = Float32Array.of(1, 0, 0, 1, 1, 1);
    const result = session.run({ A: tensor(a, [2, 3]), B: tensor(b, [3, 2]) }, { Y: tensor(out, [2, 2]) }, {});
    const copy = result.Y?.data as Float32Array;
    expect(Array.from(out)).toEqual([4, 5, 10, 11]);
    expect(Array.from(copy)).toEqual([4, 5, 10, 11]);
    // If this fails, the binding now hands back our own buffer: the copy's cost (and raiseMallocThreshold) is gone.
    expect(copy.buffer === out.buffer, 'run() returned the preallocated buffer itself').toBe(false);
    session.dispose();
  });

  it('reports a malformed model as a TsloraError', () => {
    expect(() => createSession(Uint8Array.of(1, 2, 3))).toThrow(/rejected the generated GEMM model/);
  });
});

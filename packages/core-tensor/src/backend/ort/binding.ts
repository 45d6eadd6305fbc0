// backend/ort/binding.ts — the one adapter over onnxruntime-node's internal, synchronous native binding.
//
// The public `InferenceSession.run` of onnxruntime-node is async only because it wraps the native
// `run` in setImmediate; the eager autograd needs the value now, so we call the native session
// directly. That is internal API (`onnxruntime-node/dist/binding`), so it is reached only here,
// pinned to one version, and binding.test.ts fails loudly if its shape changes.
//
// Data movement (read from the 1.30.0 sources, js/node/src/tensor_helper.cc, and checked by tests):
// - a feed is any object {type, dims, data, location:'cpu'}; the native side wraps the typed
//   array's own memory in an OrtValue (no copy);
// - a non-null fetch is used as a preallocated output, so ORT writes straight into `out`.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { TsloraError } from '../../errors.js';

/** The onnxruntime-node version whose internal binding this adapter was written against. */
export const ORT_NODE_VERSION = '1.30.0';

/** A float32 tensor as the native binding reads it (duck-typed; no onnxruntime-common object needed). */
export interface NativeTensor {
  type: 'float32';
  dims: number[];
  data: Float32Array;
  location: 'cpu';
}

/** An int32 tensor (indices, e.g. GatherElements' targets) as the native binding reads it. */
export interface NativeIntTensor {
  type: 'int32';
  dims: number[];
  data: Int32Array;
  location: 'cpu';
}

/** The native InferenceSession of onnxruntime-node 1.30.0 (js/node/src/inference_session_wrap.cc). */
export interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  run(
    feeds: Record<string, NativeTensor | NativeIntTensor>,
    fetches: Record<string, NativeTensor | null>,
    options: object,
  ): Record<string, { data: unknown; dims: readonly number[] }>;
  dispose(): void;
}

interface BindingModule {
  binding: { InferenceSession: new () => NativeSession };
  initOrt: () => void;
}

let loaded: BindingModule | undefined;

function apiChanged(what: string, cause?: unknown): TsloraError {
  return new TsloraError(`ort backend: onnxruntime-node/dist/binding no longer matches what tslora expects: ${what}`, {
    hint: `install onnxruntime-node@${ORT_NODE_VERSION} exactly, or use the 'ts' backend (setBackend('ts'))`,
    exitCode: 1,
    cause,
  });
}

/**
 * Loads and initialises the native binding once. Throws TsloraError if onnxruntime-node is missing,
 * is not version 1.30.0, or its internal binding does not have the expected shape.
 */
export function loadBinding(): BindingModule {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  let version: string;
  let mod: Partial<BindingModule>;
  try {
    version = (require('onnxruntime-node/package.json') as { version: string }).version;
    mod = require('onnxruntime-node/dist/binding') as Partial<BindingModule>;
  } catch (cause) {
    throw new TsloraError('ort backend: cannot load onnxruntime-node', {
      hint: `install onnxruntime-node@${ORT_NODE_VERSION}, or use the 'ts' backend`,
      exitCode: 1,
      cause,
    });
  }
  if (version !== ORT_NODE_VERSION) throw apiChanged(`found version ${version}, need ${ORT_NODE_VERSION}`);
  const Session = mod.binding?.InferenceSession;
  if (typeof mod.initOrt !== 'function' || typeof Session !== 'function') {
    throw apiChanged('expected exports { binding: { InferenceSession }, initOrt }');
  }
  for (const method of ['loadModel', 'run', 'dispose'] as const) {
    if (typeof Session.prototype[method] !== 'function') throw apiChanged(`InferenceSession.${method} is missing`);
  }
  mod.initOrt();
  raiseMallocThreshold();
  loaded = mod as BindingModule;
  return loaded;
}

/** Just under glibc's cap on the dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB on 64-bit). */
const MALLOC_WARMUP_BYTES = 31.5 * 1024 * 1024;

/**
 * Makes glibc keep freed multi-MB blocks in the heap instead of returning them to the OS.
 *
 * Why: the binding's `run` returns every fetched output as a fresh ArrayBuffer copy, even when ORT
 * wrote into our preallocated buffer (checked in binding.test.ts). For a 0.5B forward that is
 * ~1.3 GB of 2–10 MB copies, freed again at the next GC. Until glibc's dynamic mmap threshold rises,
 * each such block is a fresh mmap (and a freed heap top is trimmed), so every copy faults its pages
 * back in: ~130 K page faults and ~10 % of a 0.5B prefill. Freeing one mmapped chunk raises the
 * threshold to that chunk's size and the trim threshold to twice it (glibc's documented dynamic
 * behaviour), so one short-lived 31.5 MiB buffer, released at the next GC, moves every later block up
 * to that size onto the heap: 130 K → ~40 faults per 0.5B prefill, 122 → 136 tokens/s (bench/README.md).
 * The same effect as the MALLOC_MMAP_MAX_/MALLOC_TRIM_THRESHOLD_ settings of the "tuned" torch
 * runs, without an environment variable. Elsewhere (musl, macOS, Windows) it is one harmless allocation.
 */
function raiseMallocThreshold(): void {
  const block = new Uint8Array(MALLOC_WARMUP_BYTES); // unreachable once this returns
  block[0] = 1; // touched, so the allocation cannot be elided
}

/**
 * Session options for one GEMM node: intra-op threads = cores, sequential execution, no spinning.
 *
 * Spinning off: each cached session owns an intra-op pool, and by default its workers spin for a
 * while after every run. A training step calls ~10 sessions in turn with JS work (softmax rows,
 * norms, the tape) in between, so the spinners of the session that just ran steal the core the
 * main thread needs — and the next session's workers spin against the previous one's. Measured on
 * 2 cores: attention fwd+bwd 2–3× faster (packages/attention/README.md) and a whole LoRA step
 * faster (bench/README.md, "Profile"); a single back-to-back GEMM loses only the wake-up (~µs).
 * onnxruntime-node cannot share one pool between sessions (global pools need the C API's
 * CreateEnvWithGlobalThreadPools, which the binding does not expose).
 */
export function gemmSessionOptions(): object {
  return {
    intraOpNumThreads: availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Outputs are always preallocated by us, so the arena would only hold scratch; shapes vary per call.
    enableMemPattern: false,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

/** Creates a native session from an in-memory ONNX model. */
export function createSession(model: Uint8Array, options: object = gemmSessionOptions()): NativeSession {
  const { binding } = loadBinding();
  const session = new binding.InferenceSession();
  try {
    // loadModel reads the bytes synchronously; the buffer need not outlive the call.
    session.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, options);
  } catch (cause) {
    throw new TsloraError('ort backend: onnxruntime rejected the generated GEMM model', { exitCode: 1, cause });
  }
  return session;
}

/** Wraps existing memory as a feed or preallocated output; `data` must hold exactly prod(dims) floats. */
export function tensor(data: Float32Array, dims: number[]): NativeTensor {
  return { type: 'float32', dims, data, location: 'cpu' };
}

/** Wraps an Int32Array as a feed; `data` must hold exactly prod(dims) elements. */
export function intTensor(data: Int32Array, dims: number[]): NativeIntTensor {
  return { type: 'int32', dims, data, location: 'cpu' };
}

// testing-backends.ts — run one Vitest suite on every backend (tfjs describeWithFlags style); exported via ./testing.
import type { Backend } from './backend/backend.js';
import { getBackend, ortBackend, setBackend, tsBackend, useBestBackend } from './backend/index.js';

// vitest is an optional peer dependency: ./testing's numeric helpers (expectClose, gradcheck) work without it,
// so it is loaded here only if it is installed, and describeEachBackend() says so when it is not.
let vitest: typeof import('vitest') | undefined;
try {
  vitest = await import('vitest');
} catch {
  vitest = undefined;
}

/** The backends every suite runs on. */
export type BackendName = 'ts' | 'ort';

export const TEST_BACKENDS: readonly BackendName[] = ['ts', 'ort'];

/** A value (usually a tolerance) stated for each backend, so a test says how close each one must be. */
export type PerBackend<T> = Readonly<Record<BackendName, T>>;

export interface EachBackendOptions {
  /**
   * How the 'ort' suite runs:
   * - 'production' (default): the `ortBackend` exactly as `useBestBackend()` selects it for `finetune train`
   *   (tiny GEMMs routed to the TS kernel, fused linearSoftmax and attention-block graphs on onnxruntime);
   * - 'native': every GEMM through onnxruntime, even 1×1×1 (op-level suites with tiny shapes).
   */
  ort?: 'production' | 'native';
}

let loadFailure: string | undefined | null = null;

/** Registers 'ts' and 'ort' once (as `useBestBackend()` does), then restores the active backend. */
function ensureRegistered(): string | undefined {
  if (loadFailure === null) {
    const before = getBackend().name;
    loadFailure = useBestBackend().reason;
    setBackend(before === 'ort' && loadFailure === undefined ? 'ort' : 'ts');
  }
  return loadFailure;
}

/** The backend instance a suite named `name` runs on. */
export function backendUnderTest(name: BackendName): Backend {
  return name === 'ts' ? tsBackend : ortBackend;
}

/**
 * `describe()` once per backend ('ts' and 'ort'), with that backend active inside the suite (selected in
 * beforeAll, the previous one restored in afterAll). Work that computes must run inside `it`/`beforeAll`,
 * not in the describe body (which runs before any backend is selected). When onnxruntime-node cannot be
 * loaded the 'ort' suite fails with the reason — it is never silently skipped.
 */
export function describeEachBackend(
  title: string,
  body: (name: BackendName, backend: Backend) => void,
  opts: EachBackendOptions = {},
): void {
  if (!vitest) throw new Error('describeEachBackend needs vitest (an optional peer dependency of @tslora/core-tensor)');
  const { afterAll, beforeAll, describe, it } = vitest;
  for (const name of TEST_BACKENDS) {
    describe(`${title} [${name}]`, () => {
      const reason = ensureRegistered();
      if (name === 'ort' && reason !== undefined) {
        it('onnxruntime-node loads', () => {
          throw new Error(`the ort backend did not load: ${reason}`);
        });
        return;
      }
      let prev = 'ts';
      let prevSmall = ortBackend.smallGemmMacs;
      beforeAll(() => {
        prev = getBackend().name;
        setBackend(name);
        prevSmall = ortBackend.smallGemmMacs;
        if (name === 'ort' && opts.ort === 'native') ortBackend.smallGemmMacs = 0;
      });
      afterAll(() => {
        ortBackend.smallGemmMacs = prevSmall;
        setBackend(prev);
      });
      body(name, backendUnderTest(name));
    });
  }
}

// backend/index.ts — the two backends and the helper that picks the fastest one that loads.
import { type Backend, getBackend, registerBackend, setBackend } from './backend.js';
import { OrtBackend } from './ort/ort-backend.js';
import { tsBackend } from './ts/ts-backend.js';

export type {
  AttentionBlockArgs,
  AttentionBlockBackwardArgs,
  AttentionBlockForwardArgs,
  Backend,
  GemmArgs,
  LinearSoftmaxArgs,
  MatMulNBitsArgs,
} from './backend.js';
export { ATTENTION_MASKED, getBackend, listBackends, registerBackend, setBackend } from './backend.js';
export { OrtBackend, type OrtKernel, SMALL_GEMM_MACS } from './ort/ort-backend.js';
export { tsBackend } from './ts/ts-backend.js';

/**
 * The onnxruntime-node backend. Lazy: importing it loads nothing; the native module is loaded by
 * `useBestBackend()` or the first gemm(), and each session on the first GEMM of its kind.
 */
export const ortBackend: OrtBackend = new OrtBackend();

/**
 * Registers 'ts', then 'ort' if onnxruntime-node loads, and selects 'ort' when it did.
 * Returns the selected backend; `reason` says why 'ort' was not taken, if it was not.
 */
export function useBestBackend(): { backend: Backend; reason?: string } {
  registerBackend(tsBackend);
  try {
    ortBackend.load();
  } catch (e) {
    setBackend('ts');
    return { backend: getBackend(), reason: e instanceof Error ? e.message : String(e) };
  }
  registerBackend(ortBackend);
  return { backend: setBackend('ort') };
}

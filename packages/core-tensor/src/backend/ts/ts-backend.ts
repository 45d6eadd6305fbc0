// backend/ts/ts-backend.ts — the 'ts' backend: plain TypeScript kernels, the reference and the fallback.
import type { Backend, LinearSoftmaxArgs } from '../backend.js';
import { gemmTs } from './gemm.js';
import { checkLinearSoftmax, linearSoftmaxVia } from './linear-softmax.js';

/** Pure TypeScript backend; needs no native module, so it runs everywhere (also in browsers). */
export const tsBackend: Backend = {
  name: 'ts',
  gemm: gemmTs,
  linearSoftmax(args: LinearSoftmaxArgs): void {
    checkLinearSoftmax(args, 'ts');
    linearSoftmaxVia(gemmTs, args);
  },
};

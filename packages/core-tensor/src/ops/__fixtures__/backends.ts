// ops/__fixtures__/backends.ts — test support: run one suite on every registered GEMM backend (tfjs describeWithFlags style).
import { afterAll, beforeAll, describe } from 'vitest';
import { getBackend, ortBackend, setBackend, tsBackend, useBestBackend } from '../../backend/index.js';

// Registers 'ts' and, when onnxruntime-node loads, 'ort'. Tests then pick each one explicitly.
const best = useBestBackend();
setBackend('ts');

/** Names of the backends every matmul-bearing suite runs on ('ts' always; 'ort' when it loaded). */
export const testBackends: string[] = best.reason === undefined ? [tsBackend.name, ortBackend.name] : [tsBackend.name];

/**
 * describe() once per backend, with that backend active inside. On 'ort' the small-GEMM cut-over
 * to the TS kernel is disabled, so even the tiny test products really run through onnxruntime.
 */
export function describeEachBackend(title: string, body: (backend: string) => void): void {
  for (const name of testBackends) {
    describe(`${title} [${name}]`, () => {
      let prevSmall = 0;
      let prev = 'ts';
      beforeAll(() => {
        prev = getBackend().name;
        setBackend(name);
        prevSmall = ortBackend.smallGemmMacs;
        if (name === ortBackend.name) ortBackend.smallGemmMacs = 0;
      });
      afterAll(() => {
        ortBackend.smallGemmMacs = prevSmall;
        setBackend(prev);
      });
      body(name);
    });
  }
}

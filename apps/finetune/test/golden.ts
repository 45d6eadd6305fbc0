// test/golden.ts — reads the PyTorch goldens under test/fixtures (see fixtures/README.md).
import fs from 'node:fs';
import path from 'node:path';
import { SafetensorsFile, Tensor } from '@tslora/core-tensor';

export const FIXTURES = path.join(import.meta.dirname, 'fixtures');

export interface Golden {
  dir: string;
  // biome-ignore lint/suspicious/noExplicitAny: the golden JSON is free-form and read only by tests
  json: Record<string, any>;
  f32(name: string): Float32Array;
  int(name: string, shape?: number[]): Tensor;
  has(name: string): boolean;
  names: string[];
}

export function readGolden(model: 'tiny-qwen2' | 'tiny-qwen3'): Golden {
  const json = JSON.parse(fs.readFileSync(path.join(FIXTURES, `${model}.golden.json`), 'utf8'));
  const st = SafetensorsFile.open(path.join(FIXTURES, `${model}.golden.safetensors`));
  const names = st.tensors.map((t) => t.name);
  return {
    dir: path.join(FIXTURES, model),
    json,
    names,
    has: (n) => names.includes(n),
    f32: (n) => st.readF32(n),
    int: (n) => new Tensor(st.readInt(n), st.get(n).shape),
  };
}

/** Max |a−b| relative to max |b| — the "1e-4 relative" of the issues for whole logit tensors. */
export function relMaxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
    m = Math.max(m, Math.abs(b[i] as number));
  }
  return d / (m || 1);
}

// qlora-kernels.bench.ts — frozen-weight kernels on the ort backend: f32 Gemm vs MatMulNBits int4/int8, the two dX options, RSS per weight.
//
// Run: `pnpm bench qlora-kernels` (0.5B layer shapes, ~1 min quiet) or
//      `QLORA_SHAPE=7b pnpm bench qlora-kernels` (Qwen2.5-7B's 3584→18944, ~3 min, ~2 GB).
// Per Linear (in→out) at T tokens:
//   fwd   y = x·Wᵀ: f32 Gemm (transB) | MatMulNBits bits/group at accuracy level 4 (and 1 for int4 g32)
//   dX    dx = dy·W: (b) dequantize W into a reused f32 scratch + f32 Gemm   (what FrozenWeight does)
//                    (a) a second copy, Wᵀ quantized along `out`, through MatMulNBits
//   RSS   growth of the process when the weight's session is created (onnxruntime's prepacked copy,
//         and anything it keeps of the initializer besides), against the quantized bytes we hold.
// Median of the timed runs after one warm-up; "cores" = CPU time / wall time (≈2 only when quiet).
import {
  dequantizeRows,
  FrozenWeight,
  ortBackend,
  quantizedBytes,
  quantizeMatrix,
  Random,
  registerBackend,
  setBackend,
  WeightScratch,
} from '@tslora/core-tensor';

const shape = process.env.QLORA_SHAPE ?? '0.5b';
const T = 512;
const LAYERS: [string, number, number][] =
  shape === '7b'
    ? [['up/gate 3584→18944', 3584, 18944]]
    : [
        ['up/gate 896→4864', 896, 4864],
        ['down 4864→896', 4864, 896],
        ['q/o 896→896', 896, 896],
      ];
const REPS = shape === '7b' ? 3 : 7;

function time(fn: () => void): { ms: number; cores: number } {
  fn();
  const ms: number[] = [];
  const cores: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    const c = process.cpuUsage(c0);
    ms.push(dt);
    cores.push((c.user + c.system) / 1000 / dt);
  }
  const med = (a: number[]): number => [...a].sort((p, q) => p - q)[a.length >> 1]!;
  return { ms: med(ms), cores: med(cores) };
}

function rssMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / 2 ** 20;
}

function row(label: string, r: { ms: number; cores: number }, base?: number, extra = ''): void {
  const ratio = base ? `  ${(base / r.ms).toFixed(2)}× f32` : '';
  console.log(`  ${label.padEnd(34)} ${r.ms.toFixed(1).padStart(8)} ms  cores ${r.cores.toFixed(2)}${ratio}${extra}`);
}

registerBackend(ortBackend);
setBackend('ort');
const rng = new Random(1);
for (const [name, inF, outF] of LAYERS) {
  console.log(`\n${name}, T=${T}`);
  const w = rng.fillNormal(new Float32Array(outF * inF), 0, 0.02);
  const x = rng.fillNormal(new Float32Array(T * inF));
  const dy = rng.fillNormal(new Float32Array(T * outF));
  const y = new Float32Array(T * outF);
  const dx = new Float32Array(T * inF);
  const f32 = FrozenWeight.f32(w, outF, inF);
  const fwdF32 = time(() => f32.forward(x, T, y));
  row('fwd f32 Gemm', fwdF32);
  for (const [bits, group, acc] of [
    [4, 32, 4],
    [4, 64, 4],
    [4, 128, 4],
    [8, 32, 4],
    [8, 128, 4],
    [4, 32, 1],
  ] as const) {
    const q = quantizeMatrix(w, outF, inF, { bits, blockSize: group });
    const fw = FrozenWeight.quantized(q, new WeightScratch());
    const before = rssMiB();
    fw.forward(x, 1, undefined, acc); // creates the session
    const grown = rssMiB() - before;
    const r = time(() => fw.forward(x, T, y, acc));
    const mem = `  session +${grown.toFixed(0)} MiB RSS (weight ${(quantizedBytes(q) / 2 ** 20).toFixed(1)} MiB)`;
    row(`fwd int${bits} g${group} acc${acc}`, r, fwdF32.ms, mem);
    fw.release();
  }
  const bwdF32 = time(() => f32.backwardInput(dy, T, dx));
  row('dX f32 Gemm', bwdF32);
  const q = quantizeMatrix(w, outF, inF, { bits: 4, blockSize: 32 });
  const fw = FrozenWeight.quantized(q, new WeightScratch());
  row(
    'dX (b) dequantize int4 + f32 Gemm',
    time(() => fw.backwardInput(dy, T, dx)),
    bwdF32.ms,
  );
  const scratch = new Float32Array(outF * inF);
  row(
    '    of which dequantize alone',
    time(() => dequantizeRows(q, 0, outF, scratch)),
    bwdF32.ms,
  );
  // (a) Wᵀ (in,out) quantized along out: dx = dy·W = dy·(Wᵀ)ᵀ is a MatMulNBits with K = out.
  const wt = new Float32Array(inF * outF);
  for (let i = 0; i < outF; i++) for (let j = 0; j < inF; j++) wt[j * outF + i] = w[i * inF + j]!;
  const qt = FrozenWeight.quantized(quantizeMatrix(wt, inF, outF, { bits: 4, blockSize: 32 }), new WeightScratch());
  const before = rssMiB();
  qt.forward(dy, 1);
  const grown = rssMiB() - before;
  row(
    'dX (a) Wᵀ int4 g32 MatMulNBits',
    time(() => qt.forward(dy, T, dx)),
    bwdF32.ms,
    `  +${grown.toFixed(0)} MiB`,
  );
  qt.release();
}
ortBackend.dispose();

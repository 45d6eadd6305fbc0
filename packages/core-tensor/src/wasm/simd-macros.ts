// wasm/simd-macros.ts — instruction-text building blocks for SIMD kernels: Cephes expf on 4 lanes, the 8-float row loop, lane reductions.
//
// exp: x ≥ −87.34 (else 0, which also covers −∞ and NaN): n = round(x·log2e) by the 1.5·2^23 trick,
// r = x − n·ln2 (two-part ln2), e^r by Cephes' expf polynomial, 2^n by exponent bits; < 1 ulp on
// [−87, 0] (measured in the attention package's tests). Inputs above 0 are the caller's business
// (every use here feeds x ≤ 0: a score minus its row max, or −|x|).
// No clamp of x at the low end: lanes below it compute garbage (never a trap) that the final AND
// with the x ≥ −87.34 mask turns into +0. WebAssembly's f32x4.max must order NaN and ±0, which V8
// lowers to ~8 instructions; dropping it made the kernel ~25% faster.

/** Below this e^x is under f32's smallest normal: 0. */
const LOW = -87.33654;
/** Cephes expf: e^r = 1 + r + r²·P(r) on |r| ≤ ln2/2. */
const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

/**
 * x (v128 on the stack, every lane ≤ 0) → e^x on the stack. Uses the v128 temporaries x, t, fx, m
 * suffixed by `s`, so two interleaved chains (s = '' and '2') need x, t, fx, m, x2, t2, fx2, m2.
 */
export const simdExp = (s: string): string => `
  local.tee x${s}  v128.const ${LOW}  f32x4.ge  local.set m${s}
  local.get x${s}  v128.const ${Math.LOG2E}  f32x4.mul  v128.const 12582912  f32x4.add  local.tee t${s}
  v128.const 12582912  f32x4.sub  local.set fx${s}
  local.get x${s}  local.get fx${s}  v128.const 0.693359375  f32x4.mul  f32x4.sub
  local.get fx${s}  v128.const -2.12194440e-4  f32x4.mul  f32x4.sub  local.set x${s}
  v128.const ${P[0]}
  ${P.slice(1)
    .map((c) => `local.get x${s} f32x4.mul v128.const ${c} f32x4.add`)
    .join('\n  ')}
  local.get x${s}  f32x4.mul  local.get x${s}  f32x4.mul  local.get x${s}  f32x4.add  v128.const 1  f32x4.add
  local.get t${s}  i32.const 23  i32x4.shl  v128.const.i32 ${0x3f800000}  i32x4.add  f32x4.mul
  local.get m${s}  v128.and`;

/**
 * end = p + 4·n, then for (; p < end; p += 32, and every extra pointer += 32) body — 8 floats (two
 * vectors, `lo` at offset 0 and `hi` at 16) per step: two independent dependency chains per
 * iteration keep the SIMD units busy (~1.3× over one vector per step). Needs the i32 local `end`.
 */
export const simdRowLoop = (n: string, lo: string, hi: string, extra: string[] = []): string => `
  local.get p  local.get ${n}  i32.const 2  i32.shl  i32.add  local.set end
  block loop
    local.get p  local.get end  i32.ge_u  br_if 1
    ${lo}
    ${hi}
    ${['p', ...extra].map((x) => `local.get ${x} i32.const 32 i32.add local.set ${x}`).join('\n    ')}
    br 0
  end end`;

/** The 8 lanes of the v128 locals acc and acc2 folded with f32.add or f32.max (leaves an f32). */
export const simdReduce = (how: string): string => {
  const lanes = ['acc', 'acc2'].flatMap((a) => [0, 1, 2, 3].map((l) => `local.get ${a} f32x4.extract_lane ${l}`));
  return `${lanes[0]} ${lanes
    .slice(1)
    .map((x) => `${x} ${how}`)
    .join(' ')}`;
};

/** Both halves of a step: `f('', '')` for the vector at offset 0, `f('2', '.hi')` for offset 16. */
export const simdBoth = (f: (s: string, at: string) => string): [string, string] => [f('', ''), f('2', '.hi')];

// lora-linear.ts — LoraLinear: a frozen Linear plus a trainable low-rank update, named as PEFT names it.
import {
  dropout,
  type FrozenWeight,
  getBackend,
  gradBuffer,
  Linear,
  Module,
  numel,
  type Random,
  record,
  ShapeError,
  shapeStr,
  Tensor,
} from '@tslora/core-tensor';
import type { LoraInit } from './config.js';

/** Raw operands of the fused op (row-major f32), N rows of x. */
interface LoraOperands {
  X: Float32Array; // (N,in)
  XD: Float32Array; // (N,in) dropout(x), or X itself
  W: Float32Array; // (out,in), empty when FW holds the weight
  FW: FrozenWeight | null; // a bf16/int8/int4 frozen base (QLoRA), else null
  bias: Float32Array | null; // (out)
  A: Float32Array; // (r,in)
  B: Float32Array; // (out,r)
  n: number;
  inF: number;
  out: number;
  r: number;
  scaling: number;
}

/** Scales a small (N,r) array in place: the cheapest place for the LoRA scale (an (N,r) pass, not (N,out)). */
function scaleInPlace(x: Float32Array, s: number): Float32Array {
  if (s !== 1) for (let i = 0; i < x.length; i++) x[i] = x[i]! * s;
  return x;
}

/** Forward kernel: returns y (N,out) and the saved hs (N,r) = scaling·xd·Aᵀ. */
function loraLinearForward(o: LoraOperands): { y: Float32Array; hs: Float32Array } {
  const be = getBackend();
  const { n, inF, out, r } = o;
  // y: (N,out) = x·Wᵀ (+ b), into a pooled buffer (the model recycles it with doneWith)
  const y = o.FW
    ? o.FW.forward(o.X, n, gradBuffer(n * out))
    : be.gemm({ a: o.X, b: o.W, m: n, n: out, k: inF, transB: true, out: gradBuffer(n * out) });
  if (o.bias) {
    const bd = o.bias;
    for (let i = 0; i < n; i++) for (let j = 0; j < out; j++) y[i * out + j] = y[i * out + j]! + bd[j]!;
  }
  // hs: (N,r) = scaling·xd·Aᵀ (scaled while it is small);  y += hs·Bᵀ (GEMM beta = 1: accumulated in place)
  const hs = scaleInPlace(be.gemm({ a: o.XD, b: o.A, m: n, n: r, k: inF, transB: true }), o.scaling);
  be.gemm({ a: hs, b: o.B, m: n, n: out, k: r, transB: true, beta: 1, out: y });
  return { y, hs };
}

/**
 * Backward kernel. `needs` follows the input order [x, xd, W, A, B, b]; skipped entries are null,
 * so a frozen W and b cost no GEMM at all. When xd is x both input-gradient paths land in dx.
 */
function loraLinearBackward(
  o: LoraOperands,
  hs: Float32Array,
  dy: Float32Array,
  needs: readonly boolean[],
): (Float32Array | null)[] {
  const be = getBackend();
  const { n, inF, out, r, scaling } = o;
  const [nx, nxd, nW, nA, nB, nb] = needs;
  // dh: (N,r) = scaling·dy·B — shared by dA and dxd
  const dh = nA || nxd ? scaleInPlace(be.gemm({ a: dy, b: o.B, m: n, n: r, k: out }), scaling) : null;
  // dB: (out,r) = dyᵀ·hs  (= scaling·dyᵀ·h)
  const dB = nB ? be.gemm({ a: dy, b: hs, m: out, n: r, k: n, transA: true }) : null;
  // dA: (r,in) = dhᵀ·xd
  const dA = nA && dh ? be.gemm({ a: dh, b: o.XD, m: r, n: inF, k: n, transA: true }) : null;
  // dx: (N,in) = dy·W (+ dh·A when xd is x); outputs from the gradient pool (recycled by backward())
  const dxOut = nx ? gradBuffer(n * inF) : null;
  const dx =
    dxOut && (o.FW ? o.FW.backwardInput(dy, n, dxOut) : be.gemm({ a: dy, b: o.W, m: n, n: inF, k: out, out: dxOut }));
  let dxd: Float32Array | null = null;
  if (nxd && dh) {
    if (o.XD === o.X && dx) be.gemm({ a: dh, b: o.A, m: n, n: inF, k: r, beta: 1, out: dx });
    else dxd = be.gemm({ a: dh, b: o.A, m: n, n: inF, k: r, out: gradBuffer(n * inF) });
  }
  // frozen base: skipped (needs false) — the point of LoRA's cheaper backward
  const dW = nW ? be.gemm({ a: dy, b: o.X, m: out, n: inF, k: n, transA: true }) : null;
  let db: Float32Array | null = null;
  if (nb) {
    db = new Float32Array(out);
    for (let i = 0; i < n; i++) for (let j = 0; j < out; j++) db[j] = db[j]! + dy[i * out + j]!;
  }
  return o.bias ? [dx, dxd, dW, dA, dB, db] : [dx, dxd, dW, dA, dB];
}

/**
 * Fused LoRA linear: y = x·Wᵀ + b + scaling·(xd·Aᵀ)·Bᵀ, where xd is dropout(x) (or x itself).
 *
 *   x, xd: (...,in) flattened to (N,in)   W: (out,in)   b: (out)   A: (r,in)   B: (out,r)
 *
 * One op rather than a matmul/mul/add composition, so the LoRA branch accumulates into the base
 * output through GEMM's alpha/beta (no separate scaled copy and sum), and the backward computes
 * only what is needed: a frozen W and b get no dW/db, while dx flows through both paths.
 */
export function loraLinear(
  x: Tensor,
  xd: Tensor,
  W: Tensor,
  b: Tensor | null,
  A: Tensor,
  B: Tensor,
  scaling: number,
  frozen: FrozenWeight | null = null,
): Tensor {
  const [out, inF] = frozen ? [frozen.outFeatures, frozen.inFeatures] : (W.shape as [number, number]);
  const r = A.dim(0);
  const ok =
    (frozen !== null || W.ndim === 2) &&
    A.ndim === 2 &&
    B.ndim === 2 &&
    x.dim(-1) === inF &&
    xd.shape.join() === x.shape.join() &&
    A.dim(1) === inF &&
    B.dim(0) === out &&
    B.dim(1) === r &&
    (b === null || (b.ndim === 1 && b.dim(0) === out));
  if (!ok) {
    throw new ShapeError(
      `loraLinear: x ${shapeStr(x.shape)}, W ${shapeStr(W.shape)}, A ${shapeStr(A.shape)}, B ${shapeStr(B.shape)}${b ? `, b ${shapeStr(b.shape)}` : ''} — expected x (...,in), W (out,in), A (r,in), B (out,r)`,
    );
  }
  const o: LoraOperands = {
    X: x.f32,
    XD: xd.f32,
    W: W.f32,
    FW: frozen,
    bias: b ? b.f32 : null,
    A: A.f32,
    B: B.f32,
    n: numel(x.shape) / inF,
    inF,
    out,
    r,
    scaling,
  };
  const { y, hs } = loraLinearForward(o);
  const inputs = b ? [x, xd, W, A, B, b] : [x, xd, W, A, B];
  return record('loraLinear', inputs, new Tensor(y, [...x.shape.slice(0, -1), out]), (dy, needs) =>
    loraLinearBackward(o, hs, dy, needs),
  );
}

/** Options of a LoraLinear; see {@link LoraConfig} for their meaning. */
export interface LoraLinearOptions {
  r: number;
  alpha: number;
  scaling: number;
  dropout: number;
  init: LoraInit;
  /** Draws A's init now and the dropout masks later (one stream, so a run replays from its seed). */
  rng: Random;
}

/**
 * PEFT's lora.Linear: `base_layer` (frozen), `lora_A` (in→r, weight (r,in)), `lora_B` (r→out,
 * weight (out,r), zeros), so parameter names come out as `….q_proj.lora_A.weight`.
 * forward(x) = base_layer(x) + scaling·lora_B(lora_A(dropout(x))), or base_layer(x) once merged.
 */
export class LoraLinear extends Module {
  base_layer: Linear;
  lora_A: Linear;
  lora_B: Linear;
  readonly r: number;
  readonly loraAlpha: number;
  readonly scaling: number;
  readonly loraDropout: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  _rng: Random;
  /** True while scaling·B·A is folded into base_layer.weight (see mergeLora). */
  _merged = false;

  constructor(base: Linear, opts: LoraLinearOptions) {
    super();
    this.base_layer = base;
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.r = opts.r;
    this.loraAlpha = opts.alpha;
    this.scaling = opts.scaling;
    this.loraDropout = opts.dropout;
    this._rng = opts.rng;
    base.freeze();
    this.lora_A = new Linear(base.inFeatures, opts.r, { bias: false });
    this.lora_B = new Linear(opts.r, base.outFeatures, { bias: false }); // zeros: ΔW = 0 at step 0
    const a = this.lora_A.weight.f32;
    if (opts.init === 'gaussian') opts.rng.fillNormal(a, 0, 1 / opts.r);
    else opts.rng.fillKaimingUniform(a, base.inFeatures, Math.sqrt(5));
  }

  /** True while the update is merged into the base weight. */
  get merged(): boolean {
    return this._merged;
  }

  forward(x: Tensor): Tensor {
    if (this._merged) return this.base_layer.forward(x);
    const xd = this.loraDropout > 0 ? dropout(x, this.loraDropout, this._rng, this._training) : x;
    const base = this.base_layer;
    const { weight, bias, frozen } = base;
    return loraLinear(x, xd, weight, bias, this.lora_A.weight, this.lora_B.weight, this.scaling, frozen);
  }
}

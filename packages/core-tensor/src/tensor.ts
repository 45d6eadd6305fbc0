// tensor.ts — Tensor: a contiguous row-major buffer with a shape, a compute dtype and autograd state.
//
// Compute dtypes are f32 (activations, weights, gradients) and i32 (token ids, masks, labels).
// Storage dtypes (bf16, f16, i64, …) exist only in files: io/ decodes them to these on load.
import { type GradNode, backward as runBackward } from './autograd.js';
import { ShapeError, TsloraError } from './errors.js';
import * as ops from './ops/index.js';
import type { Random } from './random.js';
import { numel, type Shape, shapeStr } from './shape.js';

export type TensorDType = 'f32' | 'i32';
export type TensorArray = Float32Array | Int32Array;
export type Scalar = number;

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: TensorDType;
  /** The elements, row-major. Ops never mutate an input's data; optimizers mutate parameters'. */
  data: TensorArray;
  requiresGrad: boolean;
  /** Accumulated gradient of a leaf (same shape, f32); null until a backward reaches it. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, while the tape is alive. */
  node: GradNode | null = null;
  /**
   * Set by doneWith(): nothing outside the tape reads this tensor any more, so backward() may recycle
   * its buffer once it has passed this tensor (every consumer's rule has run by then).
   */
  scratch = false;

  constructor(data: TensorArray, shape: Shape, opts: { requiresGrad?: boolean } = {}) {
    if (data.length !== numel(shape)) {
      throw new ShapeError(
        `Tensor: ${data.length} elements do not fill shape ${shapeStr(shape)} (${numel(shape)} elements)`,
      );
    }
    this.data = data;
    this.shape = [...shape];
    this.dtype = data instanceof Int32Array ? 'i32' : 'f32';
    this.requiresGrad = opts.requiresGrad ?? false;
  }

  // ---- construction ----------------------------------------------------------------------------
  static zeros(shape: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
    return new Tensor(new Float32Array(numel(shape)), shape, opts);
  }
  static ones(shape: Shape): Tensor {
    return Tensor.full(shape, 1);
  }
  static full(shape: Shape, value: number): Tensor {
    return new Tensor(new Float32Array(numel(shape)).fill(value), shape);
  }
  /** f32 tensor from numbers; shape defaults to 1-D. */
  static from(values: ArrayLike<number>, shape?: Shape, opts: { requiresGrad?: boolean } = {}): Tensor {
    return new Tensor(Float32Array.from(values), shape ?? [values.length], opts);
  }
  /** i32 tensor (token ids, labels, masks). */
  static int(values: ArrayLike<number>, shape?: Shape): Tensor {
    return new Tensor(Int32Array.from(values), shape ?? [values.length]);
  }
  static randn(shape: Shape, rng: Random, std = 1): Tensor {
    return new Tensor(rng.fillNormal(new Float32Array(numel(shape)), 0, std), shape);
  }
  static uniform(shape: Shape, rng: Random, lo = 0, hi = 1): Tensor {
    return new Tensor(rng.fillUniform(new Float32Array(numel(shape)), lo, hi), shape);
  }

  // ---- facts -----------------------------------------------------------------------------------
  get size(): number {
    return this.data.length;
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** The f32 buffer; throws for an i32 tensor (a programming error, caught at the op boundary). */
  get f32(): Float32Array {
    if (!(this.data instanceof Float32Array)) throw new TsloraError(`expected an f32 tensor, got ${this.dtype}`);
    return this.data;
  }
  get i32(): Int32Array {
    if (!(this.data instanceof Int32Array)) throw new TsloraError(`expected an i32 tensor, got ${this.dtype}`);
    return this.data;
  }
  dim(axis: number): number {
    const a = axis < 0 ? axis + this.ndim : axis;
    const d = this.shape[a];
    if (d === undefined) throw new ShapeError(`dim(${axis}) of a tensor with shape ${shapeStr(this.shape)}`);
    return d;
  }
  item(): number {
    if (this.size !== 1) throw new ShapeError(`item(): tensor has shape ${shapeStr(this.shape)}, not one element`);
    return this.data[0] as number;
  }
  toArray(): number[] {
    return Array.from(this.data);
  }
  toString(): string {
    return `Tensor(${shapeStr(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ---- autograd --------------------------------------------------------------------------------
  /** Same data, cut from the tape. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }
  backward(grad?: Float32Array): void {
    runBackward(this, grad);
  }
  /** Adds g into .grad (called by the engine for leaves). `owned` says g may be kept as is. */
  accumulateGrad(g: Float32Array, owned: boolean): void {
    if (this.grad === null) {
      this.grad = new Tensor(owned ? g : g.slice(), this.shape);
      return;
    }
    const d = this.grad.f32;
    for (let i = 0; i < d.length; i++) d[i] = (d[i] as number) + (g[i] as number);
  }
  zeroGrad(): void {
    this.grad = null;
  }

  // ---- ops (each delegates to ops/, where its backward rule lives) -----------------------------
  add(o: Tensor | Scalar): Tensor {
    return ops.add(this, o);
  }
  sub(o: Tensor | Scalar): Tensor {
    return ops.sub(this, o);
  }
  mul(o: Tensor | Scalar): Tensor {
    return ops.mul(this, o);
  }
  div(o: Tensor | Scalar): Tensor {
    return ops.div(this, o);
  }
  neg(): Tensor {
    return ops.neg(this);
  }
  exp(): Tensor {
    return ops.exp(this);
  }
  log(): Tensor {
    return ops.log(this);
  }
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  rsqrt(): Tensor {
    return ops.rsqrt(this);
  }
  pow(p: number): Tensor {
    return ops.pow(this, p);
  }
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  tanh(): Tensor {
    return ops.tanh(this);
  }
  relu(): Tensor {
    return ops.relu(this);
  }
  silu(): Tensor {
    return ops.silu(this);
  }
  gelu(): Tensor {
    return ops.gelu(this);
  }
  sum(axis?: number, keepdim = false): Tensor {
    return ops.sum(this, axis, keepdim);
  }
  mean(axis?: number, keepdim = false): Tensor {
    return ops.mean(this, axis, keepdim);
  }
  max(axis: number, keepdim = false): Tensor {
    return ops.max(this, axis, keepdim);
  }
  reshape(shape: Shape): Tensor {
    return ops.reshape(this, shape);
  }
  transpose(a: number, b: number): Tensor {
    return ops.transpose(this, a, b);
  }
  permute(axes: readonly number[]): Tensor {
    return ops.permute(this, axes);
  }
  slice(axis: number, start: number, end: number): Tensor {
    return ops.slice(this, axis, start, end);
  }
  expand(shape: Shape): Tensor {
    return ops.expand(this, shape);
  }
  /** this @ o, batched over leading dims. */
  matmul(o: Tensor): Tensor {
    return ops.matmul(this, o);
  }
  /** this @ oᵀ — the Linear layout (o is (out,in)); no transpose is materialised. */
  matmulT(o: Tensor): Tensor {
    return ops.matmul(this, o, { transB: true });
  }
  softmax(axis = -1): Tensor {
    return ops.softmax(this, axis);
  }
  logSoftmax(axis = -1): Tensor {
    return ops.logSoftmax(this, axis);
  }
}

// rope.ts — rotary position embeddings as in HF transformers (Qwen2/Qwen3): half-split rotate_half, cos/sin tables, forward and backward.
//
// inv_freq[i] = 1/theta^(2i/D), angle(p, i) = p·inv_freq[i], emb = cat(angles, angles) (D wide).
// apply: y = x·cos + rotate_half(x)·sin with rotate_half(x) = cat(−x[D/2:], x[:D/2]), i.e. for i < D/2
//   y[i] = x[i]·cos[i] − x[i+D/2]·sin[i]      y[i+D/2] = x[i+D/2]·cos[i+D/2] + x[i]·sin[i+D/2]
// The map is a rotation R, so the backward is Rᵀ: dx = dy·cos + rotate_halfᵀ(dy·sin),
// rotate_halfᵀ(u) = cat(u[D/2:], −u[:D/2]).
import { gradBuffer, record, ShapeError, shapeStr, Tensor } from '@tslora/core-tensor';

/** Options of {@link rotaryEmbedding}. */
export interface RotaryOptions {
  /** `rope_theta` of the config; Qwen2/Qwen3 use 1e6. */
  theta?: number;
  /** Rows of the tables: positions 0 … maxPositions−1 (default 4096; pass `max_position_embeddings`). */
  maxPositions?: number;
}

/** cos/sin tables of shape (maxPositions, D), values in f32 as HF computes them. */
export interface RotaryTables {
  headDim: number;
  theta: number;
  maxPositions: number;
  /** (D/2) f32: 1/theta^(2i/D). */
  invFreq: Float32Array;
  cos: Tensor;
  sin: Tensor;
}

/**
 * Builds the RoPE tables for head dim `headDim`. Every step is rounded to f32 where HF's f32
 * computation rounds (exponent, power, reciprocal, the angle p·inv_freq), so far positions agree
 * with PyTorch to f32 precision rather than drifting by an f64-vs-f32 angle difference.
 */
export function rotaryEmbedding(headDim: number, opts: RotaryOptions = {}): RotaryTables {
  const theta = opts.theta ?? 1e6;
  const P = opts.maxPositions ?? 4096;
  const D = headDim;
  if (!Number.isInteger(D) || D <= 0 || D % 2 !== 0) {
    throw new ShapeError(`rotaryEmbedding: headDim must be a positive even integer, got ${headDim}`, {
      hint: 'head_dim = config.head_dim ?? hidden_size / num_attention_heads',
    });
  }
  if (!(theta > 0) || !Number.isFinite(theta))
    throw new ShapeError(`rotaryEmbedding: theta (rope_theta) must be a positive number, got ${theta}`);
  if (!Number.isInteger(P) || P < 1)
    throw new ShapeError(`rotaryEmbedding: maxPositions must be a positive integer, got ${P}`);
  const f = Math.fround;
  const half = D / 2;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = f(1 / f(theta ** f((2 * i) / D)));
  const cos = new Float32Array(P * D);
  const sin = new Float32Array(P * D);
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < half; i++) {
      const a = f(p * (invFreq[i] as number));
      const c = Math.cos(a);
      const s = Math.sin(a);
      cos[p * D + i] = c;
      cos[p * D + i + half] = c;
      sin[p * D + i] = s;
      sin[p * D + i + half] = s;
    }
  }
  return { headDim: D, theta, maxPositions: P, invFreq, cos: new Tensor(cos, [P, D]), sin: new Tensor(sin, [P, D]) };
}

/** Options of {@link applyRotary}: where each token sits. */
export interface ApplyRotaryOptions {
  /** (B,T) position of every token (HF `position_ids`); overrides `offset`. */
  positionIds?: Int32Array | Tensor | undefined;
  /** Position of the first token when positionIds is absent: positions offset … offset+T−1 (default 0). */
  offset?: number | undefined;
}

/** Position of token (b, t) for every row, checked against the tables. */
function resolvePositions(B: number, T: number, P: number, opts: ApplyRotaryOptions): Int32Array {
  const pos = new Int32Array(B * T);
  if (opts.positionIds !== undefined) {
    const ids = opts.positionIds instanceof Tensor ? opts.positionIds.data : opts.positionIds;
    if (ids.length !== B * T) {
      throw new ShapeError(
        `applyRotary: positionIds has ${ids.length} entries but x needs (B,T) = ${shapeStr([B, T])}`,
      );
    }
    for (let i = 0; i < pos.length; i++) pos[i] = ids[i] as number;
  } else {
    const off = opts.offset ?? 0;
    if (!Number.isInteger(off) || off < 0)
      throw new ShapeError(`applyRotary: offset must be a non-negative integer, got ${off}`);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) pos[b * T + t] = off + t;
  }
  for (const p of pos) {
    if (p < 0 || p >= P) {
      throw new ShapeError(`applyRotary: position ${p} is outside the cos/sin tables [0, ${P})`, {
        hint: 'build the tables with rotaryEmbedding(headDim, { maxPositions }) large enough for the longest sequence',
      });
    }
  }
  return pos;
}

/**
 * Rotates q or k by their positions: x (B,H,T,D) → (B,H,T,D), HF `apply_rotary_pos_emb` for one
 * tensor (`x·cos + rotate_half(x)·sin`, half split, not interleaved). `cos`/`sin` are the (P,D)
 * tables of {@link rotaryEmbedding}. One autograd op; its backward is the transposed rotation.
 *
 * @throws ShapeError when x is not (B,H,T,D) f32 with D matching the tables, or a position is outside them.
 */
export function applyRotary(x: Tensor, cos: Tensor, sin: Tensor, opts: ApplyRotaryOptions = {}): Tensor {
  if (
    x.ndim !== 4 ||
    x.dtype !== 'f32' ||
    cos.ndim !== 2 ||
    !cos.shape.every((d, i) => d === sin.shape[i]) ||
    cos.shape[1] !== x.shape[3]
  ) {
    throw new ShapeError(
      `applyRotary: x ${shapeStr(x.shape)} ${x.dtype} with cos ${shapeStr(cos.shape)} and sin ${shapeStr(sin.shape)}`,
      {
        hint: 'x is (B,H,T,D) f32; cos and sin are the (maxPositions, D) tables from rotaryEmbedding(D)',
      },
    );
  }
  const [B, H, T, D] = x.shape as [number, number, number, number];
  const pos = resolvePositions(B, T, cos.shape[0] as number, opts);
  const C = cos.f32;
  const S = sin.f32;
  const X = x.f32;
  const Y = gradBuffer(X.length); // pooled: every element is written
  rotate(X, Y, C, S, pos, B, H, T, D, 1);
  const out = new Tensor(Y, x.shape);
  return record('applyRotary', [x], out, (dy) => {
    const dx = gradBuffer(dy.length);
    rotate(dy, dx, C, S, pos, B, H, T, D, -1);
    return [dx];
  });
}

/**
 * The rotation kernel: dir = 1 applies R (forward); dir = −1 applies Rᵀ (backward):
 * dx[i] = dy[i]·cos[i] + dy[i+D/2]·sin[i+D/2],  dx[i+D/2] = dy[i+D/2]·cos[i+D/2] − dy[i]·sin[i].
 */
function rotate(
  X: Float32Array,
  Y: Float32Array,
  C: Float32Array,
  S: Float32Array,
  pos: Int32Array,
  B: number,
  H: number,
  T: number,
  D: number,
  dir: 1 | -1,
): void {
  const half = D / 2;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const o = ((b * H + h) * T + t) * D;
        const c = (pos[b * T + t] as number) * D;
        for (let i = 0; i < half; i++) {
          const x1 = X[o + i] as number;
          const x2 = X[o + i + half] as number;
          if (dir === 1) {
            Y[o + i] = x1 * (C[c + i] as number) - x2 * (S[c + i] as number);
            Y[o + i + half] = x2 * (C[c + i + half] as number) + x1 * (S[c + i + half] as number);
          } else {
            Y[o + i] = x1 * (C[c + i] as number) + x2 * (S[c + i + half] as number);
            Y[o + i + half] = x2 * (C[c + i + half] as number) - x1 * (S[c + i] as number);
          }
        }
      }
    }
  }
}

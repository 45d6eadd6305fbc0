// kv-cache.ts — per-layer key/value cache for generation: amortised in-place appends, attention reads the keys so far.
//
// Storage per layer is (B,Hkv,capacity,D) and grows by doubling, so appending one token costs O(its
// own size), not a concat of everything so far. attention wants contiguous (B,Hkv,S,D): with B·Hkv = 1
// that is a zero-copy prefix view of the storage; otherwise the S rows of each head are gathered
// into a fresh tensor (O(B·Hkv·S·D), the same order as attention's own read of the keys).
import { ShapeError, shapeStr, Tensor } from '@tslora/core-tensor';

interface LayerStore {
  B: number;
  Hkv: number;
  D: number;
  capacity: number;
  length: number;
  k: Float32Array;
  v: Float32Array;
}

/** Options of {@link KVCache}. */
export interface KVCacheOptions {
  /** Positions to reserve at the first append (default 256); the storage doubles when it runs out. */
  initialCapacity?: number;
}

/**
 * Keys and values of every layer for incremental decoding. Per step: each layer calls
 * `append(layer, k, v)` with the step's new k/v (B,Hkv,Tnew,D) (after RoPE) and attends with the
 * returned (B,Hkv,S,D) keys/values, passing `queryOffset: S − Tnew` (the default of
 * scaledDotProductAttention); RoPE for the step starts at `offset: cache.length`. Holds raw data
 * only: no autograd flows through the cache (generation runs under noGrad).
 */
export class KVCache {
  readonly numLayers: number;
  private readonly initialCapacity: number;
  private layers: (LayerStore | null)[];

  constructor(numLayers: number, opts: KVCacheOptions = {}) {
    if (!Number.isInteger(numLayers) || numLayers < 1)
      throw new ShapeError(`KVCache: numLayers must be a positive integer, got ${numLayers}`);
    this.numLayers = numLayers;
    this.initialCapacity = Math.max(1, opts.initialCapacity ?? 256);
    this.layers = new Array<LayerStore | null>(numLayers).fill(null);
  }

  /** Positions cached in layer 0 — between steps every layer holds this many (the next token's position). */
  get length(): number {
    return this.layerLength(0);
  }

  /** Positions cached in one layer. */
  layerLength(layer: number): number {
    return this.layers[this.checkLayer(layer)]?.length ?? 0;
  }

  /** Forgets everything (a new prompt). Tensors returned earlier stay valid: new storage is allocated. */
  reset(): void {
    this.layers = new Array<LayerStore | null>(this.numLayers).fill(null);
  }

  /**
   * Appends k, v (B,Hkv,Tnew,D) to `layer` and returns all keys and values so far, (B,Hkv,S,D).
   * @throws ShapeError when k and v differ, or B/Hkv/D differ from the layer's earlier appends.
   */
  append(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    this.checkLayer(layer);
    if (k.ndim !== 4 || k.dtype !== 'f32' || !k.shape.every((d, i) => d === v.shape[i]) || v.ndim !== 4) {
      throw new ShapeError(
        `KVCache.append(layer ${layer}): k ${shapeStr(k.shape)} and v ${shapeStr(v.shape)} must both be (B,Hkv,T,D) f32 of the same shape`,
      );
    }
    const [B, Hkv, Tn, D] = k.shape as [number, number, number, number];
    let st = this.layers[layer] ?? null;
    if (st && (st.B !== B || st.Hkv !== Hkv || st.D !== D)) {
      throw new ShapeError(
        `KVCache.append(layer ${layer}): new k ${shapeStr(k.shape)} does not continue the cached ${shapeStr([st.B, st.Hkv, st.length, st.D])}`,
        {
          hint: 'batch, kv heads and head dim must stay the same within one generation; call reset() for a new batch',
        },
      );
    }
    st ??= { B, Hkv, D, capacity: 0, length: 0, k: new Float32Array(0), v: new Float32Array(0) };
    if (st.length + Tn > st.capacity) grow(st, Math.max(st.length + Tn, 2 * st.capacity, this.initialCapacity));
    writeRows(st, st.k, k.f32, Tn);
    writeRows(st, st.v, v.f32, Tn);
    st.length += Tn;
    this.layers[layer] = st;
    return { k: readAll(st, st.k), v: readAll(st, st.v) };
  }

  private checkLayer(layer: number): number {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.numLayers) {
      throw new ShapeError(`KVCache: layer ${layer} is outside [0, ${this.numLayers})`);
    }
    return layer;
  }
}

/** Reallocates a layer's storage with room for `capacity` positions, keeping the rows cached so far. */
function grow(st: LayerStore, capacity: number): void {
  const heads = st.B * st.Hkv;
  const rowLen = st.length * st.D;
  for (const key of ['k', 'v'] as const) {
    const next = new Float32Array(heads * capacity * st.D);
    const old = st[key];
    for (let h = 0; h < heads; h++)
      next.set(old.subarray(h * st.capacity * st.D, h * st.capacity * st.D + rowLen), h * capacity * st.D);
    st[key] = next;
  }
  st.capacity = capacity;
}

/** Copies src (B,Hkv,Tn,D) into positions length … length+Tn−1 of every head. */
function writeRows(st: LayerStore, dst: Float32Array, src: Float32Array, Tn: number): void {
  const { D, capacity, length } = st;
  for (let h = 0; h < st.B * st.Hkv; h++)
    dst.set(src.subarray(h * Tn * D, (h + 1) * Tn * D), (h * capacity + length) * D);
}

/** The cached (B,Hkv,S,D): a prefix view when there is one head in all, else a gather. */
function readAll(st: LayerStore, src: Float32Array): Tensor {
  const { B, Hkv, D, capacity, length: S } = st;
  if (B * Hkv === 1) return new Tensor(src.subarray(0, S * D), [B, Hkv, S, D]);
  const out = new Float32Array(B * Hkv * S * D);
  for (let h = 0; h < B * Hkv; h++) out.set(src.subarray(h * capacity * D, (h * capacity + S) * D), h * S * D);
  return new Tensor(out, [B, Hkv, S, D]);
}

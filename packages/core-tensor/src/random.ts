// random.ts — a seeded generator passed explicitly, so every run is reproducible from its seed.

/**
 * xoshiro128** with a splitmix32 seeding: fast, 32-bit, and its whole state fits in four numbers,
 * so a training checkpoint can save and restore it exactly (`state` / `Random.fromState`).
 */
export class Random {
  private s: Uint32Array;
  private spare: number | null = null;

  constructor(seed: number) {
    this.s = new Uint32Array(4);
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Saved generator state (JSON-serialisable). */
  get state(): { s: number[]; spare: number | null } {
    return { s: [...this.s], spare: this.spare };
  }

  static fromState(state: { s: number[]; spare: number | null }): Random {
    return new Random(0).setState(state);
  }

  /** Restores a saved state in place (modules holding this generator see the restored stream). */
  setState(state: { s: number[]; spare: number | null }): this {
    this.s = Uint32Array.from(state.s);
    this.spare = state.spare;
    return this;
  }

  /** Next raw 32-bit value. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1] as number, 5), 7), 9) >>> 0;
    const t = (s[1] as number) << 9;
    s[2] = (s[2] as number) ^ (s[0] as number);
    s[3] = (s[3] as number) ^ (s[1] as number);
    s[1] = (s[1] as number) ^ (s[2] as number);
    s[0] = (s[0] as number) ^ (s[3] as number);
    s[2] = (s[2] as number) ^ t;
    s[3] = rotl(s[3] as number, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal by Box–Muller (the second value is kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` with U(lo, hi). */
  fillUniform(out: Float32Array, lo: number, hi: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }

  /** Fills `out` with N(mean, std²). */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }

  /**
   * PyTorch's kaiming_uniform_(w, a) for a (fanOut, fanIn) weight: bound = gain·sqrt(3/fanIn) with
   * gain = sqrt(2/(1+a²)). With a = √5 (nn.Linear's and PEFT lora_A's default) bound = 1/sqrt(fanIn).
   */
  fillKaimingUniform(out: Float32Array, fanIn: number, a = Math.sqrt(5)): Float32Array {
    const gain = Math.sqrt(2 / (1 + a * a));
    const bound = gain * Math.sqrt(3 / fanIn);
    return this.fillUniform(out, -bound, bound);
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i] as T;
      arr[i] = arr[j] as T;
      arr[j] = tmp;
    }
    return arr;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

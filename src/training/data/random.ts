// numpy-exact random numbers: the Mersenne Twister MT19937 with numpy's legacy `RandomState` semantics,
// so that everything nnU-Net draws with numpy (fingerprint sampling, class-location sampling, KFold shuffles,
// batch composition) can be reproduced bit for bit.
//
// Behaviour reproduced (numpy 1.x legacy API; verified against numpy outputs recorded by
// scripts/fixtures/numpy_random.py):
// - seeding with an int: init_genrand (numpy random/src/mt19937/mt19937.c mt19937_seed);
//   with an array: init_by_array (mt19937_init_by_array).
// - random_sample: 53-bit double from two 32-bit draws (a >> 5, b >> 6) (random/src/legacy legacy_double).
// - randint / choice(replace=True): masked rejection sampling on 32-bit draws
//   (random/src/distributions/distributions.c buffered_bounded_masked_uint32 via random_bounded_uint64_fill).
// - shuffle / permutation: Fisher-Yates from the end with random_interval (masked rejection).
// - choice(replace=False, p=None): permutation(n)[:size] (mtrand.pyx RandomState.choice).
// - normal: legacy_gauss, polar Box-Muller with the cached second value.
// Pure TypeScript, no DOM: usable in Node, workers and the browser.
import { SegStudioError } from '../../core/errors.ts';

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

export interface RandomStateSnapshot {
  key: number[];
  pos: number;
  hasGauss: boolean;
  gauss: number;
}

function maskFor(max: number): number {
  // smallest 2^k − 1 ≥ max (max < 2^32)
  let mask = max >>> 0;
  mask |= mask >>> 1;
  mask |= mask >>> 2;
  mask |= mask >>> 4;
  mask |= mask >>> 8;
  mask |= mask >>> 16;
  return mask >>> 0;
}

export class RandomState {
  private readonly mt = new Uint32Array(N);
  private pos = N;
  private hasGauss = false;
  private gaussNext = 0;

  /** `np.random.RandomState(seed)` for an integer seed in [0, 2^32 − 1], or an array of uint32 keys. */
  constructor(seed: number | readonly number[] = 0) {
    if (Array.isArray(seed)) this.initByArray(seed as readonly number[]);
    else {
      const s = seed as number;
      if (!Number.isInteger(s) || s < 0 || s > 0xffffffff)
        throw new SegStudioError('random-seed', `seed must be an integer between 0 and 2**32 - 1, got ${s}`);
      this.initGenrand(s);
    }
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.pos = N;
    this.hasGauss = false;
    this.gaussNext = 0;
  }

  private initByArray(key: readonly number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    const len = key.length;
    let k = N > len ? N : len;
    for (; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + (key[j] >>> 0) + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= len) j = 0;
    }
    for (k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    this.pos = N;
    this.hasGauss = false;
    this.gaussNext = 0;
  }

  private twist(): void {
    const mt = this.mt;
    let kk = 0;
    let y: number;
    for (; kk < N - M; kk++) {
      y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
      mt[kk] = mt[kk + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; kk < N - 1; kk++) {
      y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
      mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
    mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.pos = 0;
  }

  /** One raw 32-bit draw (numpy mt19937_next32). */
  nextUint32(): number {
    if (this.pos >= N) this.twist();
    let y = this.mt[this.pos++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random_sample()`: uniform double in [0, 1) with 53 random bits. */
  randomSample(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }

  /** `uniform(low, high)` = low + (high − low)·random_sample(). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.randomSample();
  }

  /** Integer uniform on [0, max] by masked rejection (numpy's legacy bounded generation and random_interval). */
  interval(max: number): number {
    if (max === 0) return 0;
    if (max > 0xffffffff || max < 0 || !Number.isInteger(max))
      throw new SegStudioError('random-range', `integer range ${max} is outside what this generator supports (< 2^32)`);
    if (max === 0xffffffff) return this.nextUint32();
    const mask = maskFor(max);
    let v: number;
    do v = (this.nextUint32() & mask) >>> 0;
    while (v > max);
    return v;
  }

  /** `out.length` draws of interval(max) (same stream as calling interval repeatedly), for bulk sampling. */
  fillInterval(max: number, out: Int32Array | Uint32Array): void {
    if (max === 0) {
      out.fill(0);
      return;
    }
    if (max >= 0x7fffffff || max < 0 || !Number.isInteger(max)) {
      for (let i = 0; i < out.length; i++) out[i] = this.interval(max);
      return;
    }
    const mask = maskFor(max);
    const mt = this.mt;
    let pos = this.pos;
    for (let i = 0; i < out.length; i++) {
      let v: number;
      do {
        if (pos >= N) {
          this.twist();
          pos = 0;
        }
        let y = mt[pos++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        v = (y >>> 0) & mask;
      } while (v > max);
      out[i] = v;
    }
    this.pos = pos;
  }

  /** `randint(low, high)` → integer in [low, high); `randint(high)` → [0, high). */
  randint(low: number, high?: number): number {
    if (high === undefined) {
      high = low;
      low = 0;
    }
    if (!(high > low)) throw new SegStudioError('random-range', `randint: low >= high (${low}, ${high})`);
    return low + this.interval(high - low - 1);
  }

  /** `randint(low, high, size=n)`. */
  randintArray(low: number, high: number, n: number): Int32Array | Float64Array {
    const out = high - low > 0x7fffffff || low < -0x80000000 || high > 0x80000000 ? new Float64Array(n) : new Int32Array(n);
    if (!(high > low)) throw new SegStudioError('random-range', `randint: low >= high (${low}, ${high})`);
    const rng = high - low - 1;
    for (let i = 0; i < n; i++) out[i] = low + this.interval(rng);
    return out;
  }

  /** In-place `shuffle(x)` of a 1-d array (legacy Fisher-Yates from the end). */
  shuffle<T>(x: T[] | { length: number; [i: number]: number }): void {
    const arr = x as unknown as { length: number; [i: number]: unknown };
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.interval(i);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
  }

  /** `permutation(n)`: a shuffled arange(n). */
  permutation(n: number): number[] {
    const a = Array.from({ length: n }, (_, i) => i);
    this.shuffle(a);
    return a;
  }

  /** `choice(n)` (scalar): one index in [0, n). */
  choiceIndex(n: number): number {
    if (n <= 0) throw new SegStudioError('random-range', "choice: 'a' cannot be empty unless no samples are taken");
    return this.interval(n - 1);
  }

  /**
   * `choice(n, size, replace)` with uniform probabilities → indices. With replace=true this is randint(0, n, size);
   * without replacement it is permutation(n)[:size].
   */
  choice(n: number, size: number, replace = true): Int32Array {
    if (n <= 0 && size > 0) throw new SegStudioError('random-range', "choice: 'a' cannot be empty unless no samples are taken");
    const out = new Int32Array(size);
    if (replace) {
      const rng = n - 1;
      for (let i = 0; i < size; i++) out[i] = this.interval(rng);
      return out;
    }
    if (size > n) throw new SegStudioError('random-range', 'choice: cannot take a larger sample than population when replace=False');
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    this.shuffle(idx);
    out.set(idx.subarray(0, size));
    return out;
  }

  /** Standard normal (legacy_gauss: polar Box-Muller, second value cached). */
  gauss(): number {
    if (this.hasGauss) {
      const t = this.gaussNext;
      this.hasGauss = false;
      this.gaussNext = 0;
      return t;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2.0 * this.randomSample() - 1.0;
      x2 = 2.0 * this.randomSample() - 1.0;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 === 0.0);
    const f = Math.sqrt((-2.0 * Math.log(r2)) / r2);
    this.gaussNext = f * x1;
    this.hasGauss = true;
    return f * x2;
  }

  /** `normal(loc, scale)`. */
  normal(loc = 0, scale = 1): number {
    return loc + scale * this.gauss();
  }

  /** Full generator state (for checkpoints: resume draws exactly where they stopped). */
  getState(): RandomStateSnapshot {
    return { key: Array.from(this.mt), pos: this.pos, hasGauss: this.hasGauss, gauss: this.gaussNext };
  }

  setState(s: RandomStateSnapshot): void {
    if (s.key.length !== N) throw new SegStudioError('random-state', `state must hold ${N} keys, got ${s.key.length}`);
    this.mt.set(s.key);
    this.pos = s.pos;
    this.hasGauss = s.hasGauss;
    this.gaussNext = s.gauss;
  }
}

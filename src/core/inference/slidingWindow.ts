// Sliding-window inference exactly as nnU-Net v2 does it:
//   nnU-Net: inference/sliding_window_prediction.py (compute_gaussian, compute_steps_for_sliding_window)
//   nnU-Net: inference/predict_from_raw_data.py (predict_sliding_window_return_logits,
//            _internal_get_sliding_window_slicers, _internal_maybe_mirror_and_predict,
//            predict_logits_from_preprocessed_data — fold averaging)
//   acvl_utils: cropping_and_padding/padding.py (pad_nd_image: diff//2 low, rest high, constant 0)
// Differences on purpose: logits and weights are accumulated in float32 (nnU-Net uses float16 on its
// results device) and the Gaussian is kept in float32 (nnU-Net casts it to float16).
import { SegStudioError, throwIfCancelled } from '../errors.ts';
import type { CancelSignal, ProgressFn } from '../types.ts';
import type { NetworkRunner } from './runner.ts';

/** numpy's np.round: round half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Tile start positions per axis (nnU-Net compute_steps_for_sliding_window): n = ceil((size − patch) /
 * (patch · step)) + 1 steps, spread evenly from 0 to size − patch, rounded half-to-even.
 */
export function computeSteps(imageSize: readonly number[], patchSize: readonly number[], stepSize: number): number[][] {
  if (!(stepSize > 0 && stepSize <= 1)) throw new SegStudioError('inference', `step size must be in (0, 1], got ${stepSize}`);
  if (imageSize.length !== patchSize.length) throw new SegStudioError('inference', `image size [${imageSize}] and patch size [${patchSize}] differ in rank`);
  return patchSize.map((p, d) => {
    const size = imageSize[d];
    if (size < p) throw new SegStudioError('inference', `image size ${size} smaller than patch ${p} on axis ${d} (pad first)`);
    const n = Math.ceil((size - p) / (p * stepSize)) + 1;
    const maxStep = size - p;
    const actual = n > 1 ? maxStep / (n - 1) : 0;
    return Array.from({ length: n }, (_, i) => roundHalfEven(actual * i));
  });
}

/** scipy.ndimage's 1-D Gaussian kernel (order 0): radius int(truncate·σ + 0.5), normalised to sum 1. */
function gaussianKernel1d(sigma: number, truncate = 4.0): Float64Array {
  const radius = Math.floor(truncate * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp((-0.5 / (sigma * sigma)) * i * i);
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/**
 * nnU-Net's importance map (compute_gaussian): a delta at patch//2 blurred by
 * scipy gaussian_filter(σ = patch·sigmaScale, mode 'constant', truncate 4), scaled so its maximum is
 * `valueScaling`, zeros replaced by the smallest non-zero value. The blur of a delta is separable, so
 * the map is the outer product of 1-D kernels (same values as filtering the delta axis by axis).
 */
export function gaussianImportanceMap(patchSize: readonly number[], sigmaScale = 1 / 8, valueScaling = 10): Float32Array {
  const profiles = patchSize.map((p) => {
    const sigma = p * sigmaScale;
    const k = gaussianKernel1d(sigma);
    const r = (k.length - 1) / 2;
    const c = Math.floor(p / 2);
    const prof = new Float64Array(p);
    for (let i = 0; i < p; i++) {
      const o = i - c;
      prof[i] = Math.abs(o) <= r ? k[o + r] : 0;
    }
    return prof;
  });
  const n = patchSize.reduce((a, b) => a * b, 1);
  const out64 = new Float64Array(n);
  let max = 0;
  if (patchSize.length <= 3) {
    // outer product over (up to) three axes with plain loops
    const pr = [...Array(3 - profiles.length).fill(Float64Array.of(1)), ...profiles] as Float64Array[];
    const [a, b, c] = pr;
    let i = 0;
    for (let z = 0; z < a.length; z++)
      for (let y = 0; y < b.length; y++) {
        const ab = a[z] * b[y];
        for (let x = 0; x < c.length; x++, i++) {
          const v = ab * c[x];
          out64[i] = v;
          if (v > max) max = v;
        }
      }
  } else {
    for (let i = 0; i < n; i++) {
      let rem = i;
      let v = 1;
      for (let d = patchSize.length - 1; d >= 0; d--) {
        const idx = rem % patchSize[d];
        rem = (rem - idx) / patchSize[d];
        v *= profiles[d][idx];
      }
      out64[i] = v;
      if (v > max) max = v;
    }
  }
  const out = new Float32Array(n);
  let minNonZero = Infinity;
  for (let i = 0; i < n; i++) {
    out[i] = (out64[i] / max) * valueScaling;
    if (out[i] !== 0 && out[i] < minNonZero) minNonZero = out[i];
  }
  for (let i = 0; i < n; i++) if (out[i] === 0) out[i] = minNonZero;
  return out;
}

/** Every non-empty combination of the mirror axes, in itertools.combinations order (1-axis first). */
export function mirrorCombinations(axes: readonly number[]): number[][] {
  const out: number[][] = [];
  const rec = (start: number, size: number, cur: number[]) => {
    if (cur.length === size) {
      out.push([...cur]);
      return;
    }
    for (let i = start; i < axes.length; i++) {
      cur.push(axes[i]);
      rec(i + 1, size, cur);
      cur.pop();
    }
  };
  for (let s = 1; s <= axes.length; s++) rec(0, s, []);
  return out;
}

/** Flips a [C, t0, t1, t2] array along the given spatial axes (0..2) into dst. */
export function flip3(src: Float32Array, dst: Float32Array, channels: number, t: readonly number[], axes: readonly number[]): void {
  const [t0, t1, t2] = t;
  const f0 = axes.includes(0);
  const f1 = axes.includes(1);
  const f2 = axes.includes(2);
  const vol = t0 * t1 * t2;
  for (let c = 0; c < channels; c++) {
    const base = c * vol;
    for (let z = 0; z < t0; z++) {
      const sz = f0 ? t0 - 1 - z : z;
      for (let y = 0; y < t1; y++) {
        const sy = f1 ? t1 - 1 - y : y;
        const so = base + (sz * t1 + sy) * t2;
        const dOff = base + (z * t1 + y) * t2;
        if (f2) for (let x = 0; x < t2; x++) dst[dOff + x] = src[so + t2 - 1 - x];
        else for (let x = 0; x < t2; x++) dst[dOff + x] = src[so + x];
      }
    }
  }
}

const onesCache = new Map<number, Float32Array>();
function ones(n: number): Float32Array {
  let o = onesCache.get(n);
  if (!o) {
    o = new Float32Array(n).fill(1);
    onesCache.clear();
    onesCache.set(n, o);
  }
  return o;
}

/** Copies the box at (s0, s1, s2) of size tile3 out of img [C, ...padded] into tile [C, ...tile3]. */
function extractTile(img: Float32Array, tile: Float32Array, C: number, t: readonly number[], p: readonly number[], s0: number, s1: number, s2: number): void {
  const [t0, t1, t2] = t;
  const [p0, p1, p2] = p;
  for (let c = 0; c < C; c++)
    for (let z = 0; z < t0; z++)
      for (let y = 0; y < t1; y++) {
        const s = ((c * p0 + s0 + z) * p1 + s1 + y) * p2 + s2;
        const d = ((c * t0 + z) * t1 + y) * t2;
        for (let x = 0; x < t2; x++) tile[d + x] = img[s + x];
      }
}

/**
 * acc[k, box at (s0, s1, s2)] += pred[k] · w (K channels; acc is [K, lDepth, p1, p2] holding slice z at
 * z mod lDepth — the whole padded volume when lDepth = p0 —, pred [K, ...t], w [...t]).
 */
function accumulateTile(acc: Float32Array, pred: Float32Array, w: Float32Array, K: number, t: readonly number[], p: readonly number[], s0: number, s1: number, s2: number, lDepth = p[0]): void {
  const [t0, t1, t2] = t;
  const [, p1, p2] = p;
  const tVol = t0 * t1 * t2;
  const pVol = lDepth * p1 * p2;
  for (let k = 0; k < K; k++)
    for (let z = 0; z < t0; z++)
      for (let y = 0; y < t1; y++) {
        const tRow = (z * t1 + y) * t2;
        const tk = k * tVol + tRow;
        const pk = k * pVol + (((s0 + z) % lDepth) * p1 + s1 + y) * p2 + s2;
        for (let x = 0; x < t2; x++) acc[pk + x] += pred[tk + x] * w[tRow + x];
      }
}

export interface SlidingWindowOptions {
  /** the network's patch size: 3 entries (3D net) or 2 (2D net, run slice by slice over axis 0) */
  patchSize: readonly number[];
  /** tile step as a fraction of the patch (nnU-Net default 0.5) */
  stepSize?: number;
  /** Gaussian importance weighting (default true) */
  useGaussian?: boolean;
  /** patch axes to mirror for test-time augmentation (nnU-Net default: all); null or [] = no TTA */
  mirrorAxes?: readonly number[] | null;
  onProgress?: ProgressFn;
  signal?: CancelSignal;
  /**
   * Memory (default true): keep the Gaussian weight sum only for the tile depth in flight (a ring of
   * patch[0] slices instead of a whole-volume map) and divide each slice's logits as soon as no later tile
   * can touch it. Same float32 additions in the same order per voxel, so the logits are bit-identical to
   * `lowMemory: false` (one whole-volume weights map, divided at the end: the reference path).
   */
  lowMemory?: boolean;
  /**
   * Streaming: each finished slice of axis 0 (image coordinates, padding removed) is handed over as float32
   * [K, d1, d2] as soon as no later tile can reach it, in order z = 0, 1, …; the logits then live only for one
   * tile depth and the result's `logits` is empty. Values are bit-identical to the accumulated logits.
   */
  onSlice?: (z: number, slice: Float32Array, classes: number) => void;
}

export interface SlidingWindowResult {
  /** float32 [K, ...spatial] (same spatial shape as the input) */
  logits: Float32Array;
  shape: number[];
  /** time spent inside runner.run (ms) */
  networkMs: number;
  /** number of runner.run calls */
  runs: number;
  tiles: number;
}

/** ring[(z mod depth), box at (s1, s2)] += g over the tile's slices z = s0 … s0 + t0 − 1 (ring is [depth, p1, p2]). */
function accumulateWeightsRing(ring: Float32Array, g: Float32Array, depth: number, t: readonly number[], p: readonly number[], s0: number, s1: number, s2: number): void {
  const [t0, t1, t2] = t;
  const [, p1, p2] = p;
  for (let z = 0; z < t0; z++) {
    const slot = (s0 + z) % depth;
    for (let y = 0; y < t1; y++) {
      const tRow = (z * t1 + y) * t2;
      const pk = (slot * p1 + s1 + y) * p2 + s2;
      // g · 1 as in the whole-map path (multiplying by one is exact)
      for (let x = 0; x < t2; x++) ring[pk + x] += g[tRow + x];
    }
  }
}

/**
 * logits[k, z] /= ring[z mod depth] for slices z in [z0, z1) (their weight sums are final), then clears those
 * ring slots for the slices depth further on. Logits hold slice z at z mod lDepth (lDepth = p0: the whole
 * volume); with `emit`, each divided slice is handed over and its logits slot cleared for reuse.
 */
function finalizeSlices(
  L: Float32Array,
  ring: Float32Array,
  K: number,
  depth: number,
  p: readonly number[],
  z0: number,
  z1: number,
  lDepth = p[0],
  emit?: (z: number, L: Float32Array, lVol: number, slot: number) => void,
): void {
  const [, p1, p2] = p;
  const plane = p1 * p2;
  const lVol = lDepth * plane;
  for (let z = z0; z < z1; z++) {
    const w = ring.subarray((z % depth) * plane, (z % depth + 1) * plane);
    const slot = (z % lDepth) * plane;
    for (let k = 0; k < K; k++) {
      const off = k * lVol + slot;
      for (let i = 0; i < plane; i++) L[off + i] /= w[i];
    }
    w.fill(0);
    if (emit) {
      emit(z, L, lVol, slot);
      for (let k = 0; k < K; k++) L.fill(0, k * lVol + slot, k * lVol + slot + plane);
    }
  }
}

/**
 * Predicts logits for a preprocessed image `data` [C, d0, d1, d2] (C-order) with one runner per fold
 * (their logits are averaged). Memory: one float32 [K, ...padded] accumulator + the Gaussian weight sum
 * for one tile depth (`lowMemory`, default) or the whole volume; tiles are processed one at a time.
 */
export async function predictSlidingWindow(
  data: Float32Array,
  shape: readonly number[],
  runners: readonly NetworkRunner[],
  opts: SlidingWindowOptions,
): Promise<SlidingWindowResult> {
  if (runners.length === 0) throw new SegStudioError('inference', 'no network to run (no folds)');
  const patch = [...opts.patchSize];
  const C = shape[0];
  const spatialIn = shape.slice(1);
  if (spatialIn.length < 1 || spatialIn.length > 3) throw new SegStudioError('inference', `image must have 1–3 spatial axes, got [${spatialIn}]`);
  if (patch.length !== spatialIn.length && patch.length !== spatialIn.length - 1) {
    throw new SegStudioError('inference', `patch size [${patch}] does not fit an image with spatial shape [${spatialIn}]`);
  }
  const sliceMode = patch.length === spatialIn.length - 1;
  // Work in 3 spatial axes: prepend singleton axes to the image (and tile) when there are fewer.
  const lead = 3 - spatialIn.length;
  const spatial = [...Array(lead).fill(1), ...spatialIn];
  // tile3: the tile as a 3-D box in image coordinates (slice mode: thickness 1 on axis 0)
  const tile3 = [...Array(3 - patch.length).fill(1), ...patch];
  const netShape = [1, C, ...patch];
  const stepSize = opts.stepSize ?? 0.5;
  const mirrorAxes = opts.mirrorAxes === undefined ? patch.map((_, i) => i) : (opts.mirrorAxes ?? []);
  for (const a of mirrorAxes) if (a < 0 || a >= patch.length) throw new SegStudioError('inference', `mirror axis ${a} does not exist for a ${patch.length}D network`);
  const combos = [[] as number[], ...mirrorCombinations(mirrorAxes)].map((c) => c.map((a) => a + (3 - patch.length)));

  // pad to at least the tile (pad_nd_image: diff//2 low, rest high, zeros)
  const padded = spatial.map((s, i) => Math.max(s, tile3[i]));
  const padLo = spatial.map((s, i) => Math.floor((padded[i] - s) / 2));
  const needsPad = padded.some((p, i) => p !== spatial[i]);
  const pVol = padded[0] * padded[1] * padded[2];
  let img = data;
  if (data.length !== C * spatial[0] * spatial[1] * spatial[2]) throw new SegStudioError('inference', `data has ${data.length} values, shape [${shape}] needs ${C * spatial[0] * spatial[1] * spatial[2]}`);
  if (needsPad) {
    img = new Float32Array(C * pVol);
    for (let c = 0; c < C; c++)
      for (let z = 0; z < spatial[0]; z++)
        for (let y = 0; y < spatial[1]; y++) {
          const s = ((c * spatial[0] + z) * spatial[1] + y) * spatial[2];
          const d = ((c * padded[0] + z + padLo[0]) * padded[1] + y + padLo[1]) * padded[2] + padLo[2];
          img.set(data.subarray(s, s + spatial[2]), d);
        }
  }

  // tiles (nnU-Net _internal_get_sliding_window_slicers order)
  let steps: number[][];
  if (sliceMode) {
    const inner = computeSteps(padded.slice(1), tile3.slice(1), stepSize);
    steps = [Array.from({ length: padded[0] }, (_, i) => i), ...inner];
  } else steps = computeSteps(padded, tile3, stepSize);
  const tiles: number[][] = [];
  for (const a of steps[0]) for (const b of steps[1]) for (const c of steps[2]) tiles.push([a, b, c]);

  const tVol = tile3[0] * tile3[1] * tile3[2];
  const gauss = opts.useGaussian === false ? null : gaussianImportanceMap(patch);
  const runsPerTile = runners.length * combos.length;
  // per-run weight: Gaussian × 1/(mirrors · folds) (the mean over mirrors and folds, then weighting)
  const scale = 1 / runsPerTile;
  const gw = new Float32Array(tVol);
  for (let i = 0; i < tVol; i++) gw[i] = (gauss ? gauss[i] : 1) * scale;
  const totalRuns = tiles.length * runsPerTile;
  const tileIn = new Float32Array(C * tVol);
  const flipped = new Float32Array(C * tVol);
  let flipOut: Float32Array | null = null;
  let logits: Float32Array | null = null;
  let weights: Float32Array | null = null;
  // low-memory: weight sums for `depth` slices (the tile depth) in a ring; slices before the current tile row
  // are final and divided as soon as the row starts (tiles come in s0-major order)
  const onSlice = opts.onSlice;
  const depth = opts.lowMemory === false && !onSlice ? padded[0] : Math.min(tile3[0], padded[0]);
  const ringMode = depth < padded[0] || Boolean(onSlice);
  // streaming: the logits live in a ring of the same depth; divided slices go to onSlice
  const lDepth = onSlice ? depth : padded[0];
  const plane = padded[1] * padded[2];
  const emit = onSlice
    ? (z: number, Lr: Float32Array, lVol: number, slot: number) => {
        const zi = z - padLo[0];
        if (zi < 0 || zi >= spatial[0]) return;
        const sPlane = spatial[1] * spatial[2];
        const slice = new Float32Array(K * sPlane);
        for (let k = 0; k < K; k++)
          for (let y = 0; y < spatial[1]; y++) {
            const src = k * lVol + slot + (y + padLo[1]) * padded[2] + padLo[2];
            slice.set(Lr.subarray(src, src + spatial[2]), k * sPlane + y * spatial[2]);
          }
        onSlice(zi, slice, K);
      }
    : undefined;
  let finalized = 0;
  let K = 0;
  let runs = 0;
  let networkMs = 0;
  opts.onProgress?.(0, totalRuns, 'sliding window');
  for (const [s0, s1, s2] of tiles) {
    if (ringMode && logits && s0 > finalized) {
      finalizeSlices(logits, weights!, K, depth, padded, finalized, s0, lDepth, emit);
      finalized = s0;
    }
    extractTile(img, tileIn, C, tile3, padded, s0, s1, s2);
    for (const runner of runners) {
      for (const axes of combos) {
        throwIfCancelled(opts.signal);
        let input = tileIn;
        if (axes.length) {
          flip3(tileIn, flipped, C, tile3, axes);
          input = flipped;
        }
        const ta = performance.now();
        const out = await runner.run(input, netShape);
        networkMs += performance.now() - ta;
        runs++;
        if (!logits) {
          const okShape = out.shape.length === netShape.length && out.shape[0] === 1 && out.shape.slice(2).every((v, i) => v === patch[i]);
          if (!okShape) {
            throw new SegStudioError('inference', `network output shape [${out.shape}] does not match its input [${netShape}] (expected [1, classes, ${patch.join(', ')}])`);
          }
          K = out.shape[1];
          flipOut = new Float32Array(K * tVol);
          logits = new Float32Array(K * lDepth * plane);
          weights = new Float32Array(depth * padded[1] * padded[2]);
        }
        if (out.data.length !== K * tVol) {
          throw new SegStudioError('inference', `network output has ${out.data.length} values, expected ${K * tVol} (folds must agree on the number of classes)`);
        }
        let pred = out.data;
        if (axes.length) {
          flip3(out.data, flipOut!, K, tile3, axes);
          pred = flipOut!;
        }
        // logits[k, tile] += pred[k] · gaussian / runsPerTile, straight into the accumulator
        accumulateTile(logits, pred, gw, K, tile3, padded, s0, s1, s2, lDepth);
        opts.onProgress?.(runs, totalRuns, 'sliding window');
      }
    }
    if (ringMode) accumulateWeightsRing(weights!, gauss ?? ones(tVol), depth, tile3, padded, s0, s1, s2);
    else accumulateTile(weights!, gauss ?? ones(tVol), ones(tVol), 1, tile3, padded, s0, s1, s2);
  }
  // divide (the slices not yet divided), then revert padding
  const L = logits!;
  const W = weights!;
  if (ringMode) finalizeSlices(L, W, K, depth, padded, finalized, padded[0], lDepth, emit);
  else {
    for (let k = 0; k < K; k++) {
      const off = k * pVol;
      for (let i = 0; i < pVol; i++) L[off + i] /= W[i];
    }
  }
  const outShape = [K, ...spatialIn];
  if (onSlice) return { logits: new Float32Array(0), shape: outShape, networkMs, runs, tiles: tiles.length };
  if (!needsPad) return { logits: L, shape: outShape, networkMs, runs, tiles: tiles.length };
  const sVol = spatial[0] * spatial[1] * spatial[2];
  const out = new Float32Array(K * sVol);
  for (let k = 0; k < K; k++)
    for (let z = 0; z < spatial[0]; z++)
      for (let y = 0; y < spatial[1]; y++) {
        const s = ((k * padded[0] + z + padLo[0]) * padded[1] + y + padLo[1]) * padded[2] + padLo[2];
        out.set(L.subarray(s, s + spatial[2]), ((k * spatial[0] + z) * spatial[1] + y) * spatial[2]);
      }
  return { logits: out, shape: outShape, networkMs, runs, tiles: tiles.length };
}

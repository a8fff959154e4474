// Intensity normalization schemes of nnU-Net (nnU-Net: preprocessing/normalization/default_normalization_schemes.py,
// map_channel_name_to_normalization.py), with numpy's float32 arithmetic reproduced:
//  - the image is float32 and every operation is a float32 operation (Python floats such as the fingerprint's mean
//    and std act as float32 values, as numpy casts Python scalars to the array's dtype);
//  - mean/std are numpy's float32 reductions: pairwise summation (8 accumulators, blocks of <= 128, recursive
//    halving) over consecutive chunks of 8192 elements (the ufunc buffer size), summed in float32; mean = sum / n
//    (rounded to float32); std = sqrt(sum((x - mean)^2) / n) computed the same way;
//  - ZScore divides by max(std, 1e-8); with use_mask_for_norm the statistics come from voxels with seg >= 0 only and
//    voxels outside the mask are left untouched.
import { SegStudioError } from '../errors.ts';
import type { IntensityProperties, NormalizationScheme } from '../planning/plans.ts';

const f32 = Math.fround;
const EPS = 1e-8;

/** numpy pairwise_sum for float32 (numpy/core/src/umath/loops_utils.h.src): float32 accumulation. */
export function pairwiseSumF32(a: ArrayLike<number>, off = 0, n = a.length): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res = f32(res + a[off + i]);
    return res;
  }
  if (n <= 128) {
    let r0 = a[off], r1 = a[off + 1], r2 = a[off + 2], r3 = a[off + 3];
    let r4 = a[off + 4], r5 = a[off + 5], r6 = a[off + 6], r7 = a[off + 7];
    const end = n - (n % 8);
    let i = 8;
    for (; i < end; i += 8) {
      const o = off + i;
      r0 = f32(r0 + a[o]);
      r1 = f32(r1 + a[o + 1]);
      r2 = f32(r2 + a[o + 2]);
      r3 = f32(r3 + a[o + 3]);
      r4 = f32(r4 + a[o + 4]);
      r5 = f32(r5 + a[o + 5]);
      r6 = f32(r6 + a[o + 6]);
      r7 = f32(r7 + a[o + 7]);
    }
    let res = f32(f32(f32(r0 + r1) + f32(r2 + r3)) + f32(f32(r4 + r5) + f32(r6 + r7)));
    for (; i < n; i++) res = f32(res + a[off + i]);
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return f32(pairwiseSumF32(a, off, n2) + pairwiseSumF32(a, off + n2, n - n2));
}

/** np.sum of a contiguous float32 array (pairwise within 8192-element buffers, buffers accumulated in float32). */
export function numpySumFloat32(a: ArrayLike<number>, off = 0, n = a.length - off): number {
  let out = 0;
  for (let i = 0; i < n; i += 8192) out = f32(out + pairwiseSumF32(a, off + i, Math.min(8192, n - i)));
  return out;
}

const BUFSIZE = 8192;

/**
 * np.mean and np.std (ddof 0) of a float32 array, as numpy 1.x computes them; with `mask`, of x[mask >= 0] (numpy's
 * image[seg >= 0] gather). Streams through 8192-element buffers exactly like numpy's reduction does, so no copy of the
 * data is made.
 */
export function numpyMeanStdFloat32(a: Float32Array, mask?: ArrayLike<number>): { mean: number; std: number } {
  const buf = new Float32Array(BUFSIZE);
  // visits the selected values in order, one full buffer at a time
  const forEachBuffer = (fill: (v: number) => number, sink: (len: number) => void): number => {
    let len = 0;
    let count = 0;
    for (let i = 0; i < a.length; i++) {
      if (mask && !(mask[i] >= 0)) continue;
      buf[len++] = fill(a[i]);
      count++;
      if (len === BUFSIZE) {
        sink(len);
        len = 0;
      }
    }
    if (len > 0) sink(len);
    return count;
  };
  let sum = 0;
  const n = forEachBuffer((v) => v, (len) => (sum = f32(sum + pairwiseSumF32(buf, 0, len))));
  if (n === 0) return { mean: NaN, std: NaN };
  const mean = f32(sum / n);
  // _var: the mean is kept as a float32 array divided by the float32 count
  const arrmean = f32(sum / f32(n));
  let sq = 0;
  forEachBuffer(
    (v) => {
      const d = f32(v - arrmean);
      return d * d;
    },
    (len) => (sq = f32(sq + pairwiseSumF32(buf, 0, len))),
  );
  const variance = f32(sq / n);
  return { mean, std: f32(Math.sqrt(variance)) };
}

/** nnU-Net get_normalization_scheme: channel name (case-insensitive) -> scheme; anything unknown -> ZScore. */
export function normalizationForChannelName(name: string): NormalizationScheme {
  switch (name.toLowerCase()) {
    case 'ct':
      return 'CTNormalization';
    case 'nonorm':
      return 'NoNormalization';
    case 'zscore':
      return 'ZScoreNormalization';
    case 'rescale_to_0_1':
      return 'RescaleTo01Normalization';
    case 'rgb_to_0_1':
      return 'RGBTo01Normalization';
    default:
      return 'ZScoreNormalization';
  }
}

/**
 * The planner's use_mask_for_norm rule (nnU-Net: experiment_planning/experiment_planners/default_experiment_planner.py
 * determine_use_mask_for_norm): only schemes that leave the outside at zero (ZScore) and only when cropping shrank
 * the images to less than 3/4 of their size (median relative size after cropping).
 */
export function determineUseMaskForNorm(scheme: NormalizationScheme | string, medianRelativeSizeAfterCropping: number): boolean {
  return scheme === 'ZScoreNormalization' && medianRelativeSizeAfterCropping < 3 / 4;
}

export interface NormalizeOptions {
  useMaskForNorm?: boolean;
  /** fingerprint statistics of this channel (required by CTNormalization) */
  intensityProperties?: IntensityProperties;
  /** the cropped segmentation (−1 outside the nonzero mask); required with useMaskForNorm */
  seg?: ArrayLike<number>;
  /** for messages */
  fileName?: string;
}

/** Normalizes one channel (float32, modified in place) with nnU-Net's scheme. */
export function normalizeChannel(x: Float32Array, scheme: NormalizationScheme | string, opts: NormalizeOptions = {}): Float32Array {
  const file = opts.fileName;
  switch (scheme) {
    case 'ZScoreNormalization': {
      if (opts.useMaskForNorm) {
        const seg = opts.seg;
        if (!seg || seg.length !== x.length) {
          throw new SegStudioError('normalization', 'use_mask_for_norm is set but no segmentation/nonzero mask of matching size was given', file);
        }
        const { mean, std } = numpyMeanStdFloat32(x, seg);
        const div = std >= EPS ? std : f32(EPS);
        for (let i = 0; i < x.length; i++) if (seg[i] >= 0) x[i] = f32(f32(x[i] - mean) / div);
      } else {
        const { mean, std } = numpyMeanStdFloat32(x);
        const div = std >= EPS ? std : f32(EPS);
        for (let i = 0; i < x.length; i++) x[i] = f32(f32(x[i] - mean) / div);
      }
      return x;
    }
    case 'CTNormalization': {
      const p = opts.intensityProperties;
      if (!p) throw new SegStudioError('normalization', 'CTNormalization needs foreground_intensity_properties_per_channel in the plans', file);
      const lo = f32(p.percentile_00_5);
      const hi = f32(p.percentile_99_5);
      const mean = f32(p.mean);
      const div = f32(Math.max(p.std, EPS));
      for (let i = 0; i < x.length; i++) {
        let v = x[i];
        v = v > lo ? v : lo;
        v = v < hi ? v : hi;
        x[i] = f32(f32(v - mean) / div);
      }
      return x;
    }
    case 'NoNormalization':
      return x;
    case 'RescaleTo01Normalization': {
      let mn = Infinity;
      for (let i = 0; i < x.length; i++) if (x[i] < mn) mn = x[i];
      let mx = -Infinity;
      for (let i = 0; i < x.length; i++) {
        x[i] = f32(x[i] - mn);
        if (x[i] > mx) mx = x[i];
      }
      const div = mx > EPS ? mx : f32(EPS);
      for (let i = 0; i < x.length; i++) x[i] = f32(x[i] / div);
      return x;
    }
    case 'RGBTo01Normalization': {
      for (let i = 0; i < x.length; i++) {
        if (x[i] < 0 || x[i] > 255) {
          throw new SegStudioError('normalization', `RGBTo01Normalization expects values in [0, 255], found ${x[i]}`, file);
        }
      }
      for (let i = 0; i < x.length; i++) x[i] = f32(x[i] / 255);
      return x;
    }
    default:
      throw new SegStudioError('normalization', `unknown normalization scheme '${scheme}'`, file);
  }
}

/**
 * nnU-Net DefaultPreprocessor._normalize: each channel of data ([C, ...spatial], modified in place) with its scheme,
 * use_mask_for_norm flag and fingerprint statistics (foreground_intensity_properties_per_channel[String(c)]).
 */
export function normalizeImage(
  data: Float32Array,
  channels: number,
  seg: ArrayLike<number> | undefined,
  schemes: readonly string[],
  useMaskForNorm: readonly boolean[],
  intensityProperties: Record<string, IntensityProperties> | undefined,
  fileName?: string,
): Float32Array {
  if (schemes.length < channels) {
    throw new SegStudioError('normalization', `plans list ${schemes.length} normalization schemes for ${channels} channels`, fileName);
  }
  const n = data.length / channels;
  for (let c = 0; c < channels; c++) {
    normalizeChannel(data.subarray(c * n, (c + 1) * n), schemes[c], {
      useMaskForNorm: useMaskForNorm[c] ?? false,
      intensityProperties: intensityProperties?.[String(c)],
      seg,
      fileName,
    });
  }
  return data;
}

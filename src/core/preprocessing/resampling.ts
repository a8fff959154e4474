// nnU-Net's default resampling (nnU-Net: preprocessing/resampling/default_resampling.py), reproduced in behaviour:
//  - new shape = round(old_spacing / new_spacing * old_shape) with Python's round (half to even);
//  - "separate z" when max/min spacing > 3 in the current spacing (lowres axis from the current spacing) or else
//    in the target spacing (lowres axis from the target spacing); when 2 or 3 axes share the largest spacing there
//    is no separate z (determine_do_sep_z_and_axis);
//  - data: skimage resize(order, mode='edge', anti_aliasing=False) of each channel (3D), or of each 2D slice
//    orthogonal to the lowres axis followed by map_coordinates(order_z, mode='nearest') along that axis;
//  - segmentations: batchgenerators resize_segmentation (one-hot per label in ascending order, resized with
//    order, kept where >= 0.5, later labels overwrite earlier ones; order 0 is plain nearest), the out-of-plane pass
//    nearest (order_z 0) or one-hot with np.round(v) > 0.5;
//  - computed in float64 and cast back to the input dtype; nothing happens when the shape does not change.
// All arrays are C-order with spatial shape [d0, d1, d2] (types.ts); multi-channel data is [C, d0, d1, d2].
import { SegStudioError } from '../errors.ts';
import { product } from '../types.ts';
import type { ResamplingKwargs } from '../planning/plans.ts';
import { clipInPlace, minMax, resizeLikeSkimage, zoomAxis, zoomNd, zoomTaps, type AxisTaps } from './spline.ts';

/** nnU-Net: configuration.py ANISO_THRESHOLD. */
export const ANISO_THRESHOLD = 3;

export type LabelArray = Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array;

/** Python 3 round(): nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** nnU-Net compute_new_shape: int(round(old_spacing / new_spacing * old_shape)) per axis. */
export function computeNewShape(
  oldShape: readonly number[],
  oldSpacing: readonly number[],
  newSpacing: readonly number[],
): number[] {
  if (oldShape.length !== oldSpacing.length || oldShape.length !== newSpacing.length) {
    throw new SegStudioError(
      'resampling',
      `computeNewShape: shape ${JSON.stringify(oldShape)}, spacing ${JSON.stringify(oldSpacing)} and target spacing ${JSON.stringify(newSpacing)} differ in length`,
    );
  }
  return oldShape.map((k, i) => roundHalfEven((oldSpacing[i] / newSpacing[i]) * k));
}

/** nnU-Net get_do_separate_z: max(spacing) / min(spacing) > threshold. */
export function getDoSeparateZ(spacing: readonly number[], threshold = ANISO_THRESHOLD): boolean {
  return Math.max(...spacing) / Math.min(...spacing) > threshold;
}

/** nnU-Net get_lowres_axis: every axis where max(spacing) / spacing == 1. */
export function getLowresAxis(spacing: readonly number[]): number[] {
  const m = Math.max(...spacing);
  const out: number[] = [];
  spacing.forEach((s, i) => {
    if (m / s === 1) out.push(i);
  });
  return out;
}

/** nnU-Net determine_do_sep_z_and_axis. */
export function determineSeparateZ(
  forceSeparateZ: boolean | null | undefined,
  currentSpacing: readonly number[],
  newSpacing: readonly number[],
  threshold = ANISO_THRESHOLD,
): { doSeparateZ: boolean; axis: number | null } {
  let doSeparateZ: boolean;
  let axes: number[] | null;
  if (forceSeparateZ !== null && forceSeparateZ !== undefined) {
    doSeparateZ = forceSeparateZ;
    axes = forceSeparateZ ? getLowresAxis(currentSpacing) : null;
  } else if (getDoSeparateZ(currentSpacing, threshold)) {
    doSeparateZ = true;
    axes = getLowresAxis(currentSpacing);
  } else if (getDoSeparateZ(newSpacing, threshold)) {
    doSeparateZ = true;
    axes = getLowresAxis(newSpacing);
  } else {
    doSeparateZ = false;
    axes = null;
  }
  if (axes === null) return { doSeparateZ, axis: null };
  // two or three axes tie for the largest spacing (e.g. (0.24, 1.25, 1.25)): no separate z
  if (axes.length !== 1) return { doSeparateZ: false, axis: null };
  return { doSeparateZ, axis: axes[0] };
}

export interface ResampleOptions {
  /** treat the float data as label maps (one channel at a time through the segmentation path) */
  isSeg?: boolean;
  /** spline order in-plane (or in 3D); nnU-Net: 3 for data, 1 for segmentations and probabilities */
  order?: number;
  /** order along the lowres axis when resampling separately; nnU-Net: 0 */
  orderZ?: number;
  /** null/undefined: decide from the spacings (what nnU-Net's plans ask for) */
  forceSeparateZ?: boolean | null;
  separateZAnisotropyThreshold?: number;
}

/** Options from a plans' resampling_fn_*_kwargs object. */
export function optionsFromKwargs(kw: ResamplingKwargs | undefined, fallbackOrder: number): ResampleOptions {
  return {
    order: typeof kw?.order === 'number' ? kw.order : fallbackOrder,
    orderZ: typeof kw?.order_z === 'number' ? kw.order_z : 0,
    forceSeparateZ: kw?.force_separate_z ?? null,
  };
}

function checkShapes(what: string, len: number, channels: number, shape: readonly number[], newShape: readonly number[]): void {
  if (shape.length !== 3 || newShape.length !== 3) {
    throw new SegStudioError('resampling', `${what}: spatial shapes must have 3 axes, got ${JSON.stringify(shape)} -> ${JSON.stringify(newShape)}`);
  }
  if (len !== channels * product(shape)) {
    throw new SegStudioError('resampling', `${what}: array of ${len} values does not match ${channels} x ${JSON.stringify(shape)}`);
  }
  for (const s of newShape) {
    if (!Number.isInteger(s) || s < 1) throw new SegStudioError('resampling', `${what}: invalid target shape ${JSON.stringify(newShape)}`);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Per-slice [min, max] of a 3-D array along `axis` (the input range skimage clips each 2-D resize to). */
function sliceRanges(src: Float32Array, shape: readonly number[], axis: number): { lo: Float64Array; hi: Float64Array } {
  const n = shape[axis];
  const lo = new Float64Array(n).fill(Infinity);
  const hi = new Float64Array(n).fill(-Infinity);
  const [d0, d1, d2] = shape;
  if (axis === 0) {
    for (let i = 0; i < d0; i++) {
      const [a, b] = minMax(src, i * d1 * d2, d1 * d2);
      lo[i] = a;
      hi[i] = b;
    }
    return { lo, hi };
  }
  let p = 0;
  for (let i = 0; i < d0; i++)
    for (let j = 0; j < d1; j++) {
      if (axis === 1) {
        const [a, b] = minMax(src, p, d2);
        if (a < lo[j]) lo[j] = a;
        if (b > hi[j]) hi[j] = b;
        p += d2;
      } else {
        for (let k = 0; k < d2; k++, p++) {
          const v = src[p];
          if (v < lo[k]) lo[k] = v;
          if (v > hi[k]) hi[k] = v;
        }
      }
    }
  return { lo, hi };
}

function clipSlices(a: Float32Array, shape: readonly number[], axis: number, lo: Float64Array, hi: Float64Array): void {
  const [d0, d1, d2] = shape;
  if (axis === 0) {
    for (let i = 0; i < d0; i++) clipInPlace(a, i * d1 * d2, d1 * d2, lo[i], hi[i]);
    return;
  }
  let p = 0;
  for (let i = 0; i < d0; i++)
    for (let j = 0; j < d1; j++) {
      if (axis === 1) {
        clipInPlace(a, p, d2, lo[j], hi[j]);
        p += d2;
      } else {
        for (let k = 0; k < d2; k++, p++) {
          const v = a[p];
          if (v < lo[k]) a[p] = lo[k];
          else if (v > hi[k]) a[p] = hi[k];
        }
      }
    }
}

/**
 * nnU-Net resample_data_or_seg for image data / logits (is_seg=False) with the separate-z decision already made.
 * `data` is [C, ...shape]; returns [C, ...newShape] float32 (the input itself when the shape does not change,
 * as nnU-Net does).
 */
export function resampleFloatCore(
  data: Float32Array,
  channels: number,
  shape: readonly number[],
  newShape: readonly number[],
  order: number,
  doSeparateZ: boolean,
  axis: number | null,
  orderZ: number,
): Float32Array {
  checkShapes('resample', data.length, channels, shape, newShape);
  if (sameShape(shape, newShape)) return data;
  const n = product(shape);
  const m = product(newShape);
  const out = new Float32Array(channels * m);
  for (let c = 0; c < channels; c++) {
    const src = data.subarray(c * n, (c + 1) * n);
    let res: Float32Array;
    if (doSeparateZ) {
      if (axis === null) throw new SegStudioError('resampling', 'separate z needs a lowres axis');
      const inPlane = newShape.slice();
      inPlane[axis] = shape[axis];
      // per-slice skimage resize == zoom of the two in-plane axes of the whole volume + per-slice clipping
      res = zoomNd(src, shape, inPlane, order);
      const { lo, hi } = sliceRanges(src, shape, axis);
      clipSlices(res, inPlane, axis, lo, hi);
      if (shape[axis] !== newShape[axis]) res = zoomAxis(res, inPlane, axis, newShape[axis], orderZ);
    } else {
      res = resizeLikeSkimage(src, shape, newShape, order);
    }
    out.set(res, c * m);
  }
  return out;
}

function newLike<T extends LabelArray>(a: T, n: number): T {
  return new (a.constructor as new (n: number) => T)(n);
}

function identityTaps(n: number): AxisTaps {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  return { nTap: 1, idx, w: new Float64Array(n).fill(1) };
}

/**
 * batchgenerators resize_segmentation with order 1 on a 3-D label array, reproducing scipy's arithmetic exactly:
 * each label's one-hot value at an output voxel is the sum, in scipy's tap order, of the weight products
 * ((w0 * w1) * w2) of the taps carrying that label; the voxel takes the largest label whose value is >= 0.5, else 0.
 * Axes listed in `keep` are not resampled (the per-slice 2-D resize of separate z).
 */
function resizeSegLinear<T extends LabelArray>(seg: T, shape: readonly number[], newShape: readonly number[], keep: number | null): T {
  const taps: AxisTaps[] = [0, 1, 2].map((a) =>
    a === keep || shape[a] === newShape[a] ? identityTaps(shape[a]) : zoomTaps(shape[a], newShape[a], 1, 0),
  );
  const [, d1, d2] = shape;
  const [n0, n1, n2] = newShape;
  const out = newLike(seg, n0 * n1 * n2);
  const [t0, t1, t2] = taps;
  const m0 = t0.nTap;
  const m1 = t1.nTap;
  const m2 = t2.nTap;
  // source offsets per output index and tap, per axis
  const off0 = Int32Array.from(t0.idx, (v) => v * d1 * d2);
  const off1 = Int32Array.from(t1.idx, (v) => v * d2);
  const off2 = t2.idx;
  const w0 = t0.w;
  const w1 = t1.w;
  const w2 = t2.w;
  const L = new Float64Array(8);
  const labs = new Float64Array(8);
  const sums = new Float64Array(8);
  let p = 0;
  for (let i = 0; i < n0; i++) {
    for (let j = 0; j < n1; j++) {
      for (let k = 0; k < n2; k++, p++) {
        // the tap labels in scipy's order (first axis slowest)
        let m = 0;
        for (let a = 0; a < m0; a++) {
          const ia = off0[i * m0 + a];
          for (let b = 0; b < m1; b++) {
            const ib = ia + off1[j * m1 + b];
            for (let c = 0; c < m2; c++) L[m++] = seg[ib + off2[k * m2 + c]];
          }
        }
        const l0 = L[0];
        let same = true;
        for (let q = 1; q < m; q++) {
          if (L[q] !== l0) {
            same = false;
            break;
          }
        }
        if (same) {
          out[p] = l0;
          continue;
        }
        // one-hot value of each label = its weight products ((wa * wb) * wc) summed in tap order
        let cnt = 0;
        m = 0;
        for (let a = 0; a < m0; a++) {
          const wa = w0[i * m0 + a];
          for (let b = 0; b < m1; b++) {
            const wab = wa * w1[j * m1 + b];
            for (let c = 0; c < m2; c++) {
              const pr = wab * w2[k * m2 + c];
              const l = L[m++];
              let q = 0;
              while (q < cnt && labs[q] !== l) q++;
              if (q === cnt) {
                labs[q] = l;
                sums[q] = pr;
                cnt++;
              } else sums[q] += pr;
            }
          }
        }
        // labels are assigned in ascending order where >= 0.5: the largest such label wins, else 0
        let best = 0;
        let found = false;
        for (let q = 0; q < cnt; q++) {
          if (sums[q] >= 0.5 && (!found || labs[q] > best)) {
            best = labs[q];
            found = true;
          }
        }
        out[p] = found ? best : 0;
      }
    }
  }
  return out;
}

/** Nearest-neighbour (order 0) zoom of a label array along the axes that change (skimage/scipy order 0). */
function resizeSegNearest<T extends LabelArray>(seg: T, shape: readonly number[], newShape: readonly number[]): T {
  const maps = [0, 1, 2].map((a) => (shape[a] === newShape[a] ? identityTaps(shape[a]).idx : zoomTaps(shape[a], newShape[a], 0, 0).idx));
  const [, d1, d2] = shape;
  const [n0, n1, n2] = newShape;
  const out = newLike(seg, n0 * n1 * n2);
  let p = 0;
  for (let i = 0; i < n0; i++) {
    const bi = maps[0][i] * d1 * d2;
    for (let j = 0; j < n1; j++) {
      const bj = bi + maps[1][j] * d2;
      for (let k = 0; k < n2; k++, p++) out[p] = seg[bj + maps[2][k]];
    }
  }
  return out;
}

function uniqueSorted(a: LabelArray): number[] {
  const set = new Set<number>();
  for (let i = 0; i < a.length; i++) set.add(a[i]);
  return [...set].sort((x, y) => x - y);
}

/** resize_segmentation for orders >= 2: one-hot per label through the float path. */
function resizeSegSpline<T extends LabelArray>(seg: T, shape: readonly number[], newShape: readonly number[], order: number): T {
  const out = newLike(seg, product(newShape));
  const oneHot = new Float32Array(seg.length);
  for (const l of uniqueSorted(seg)) {
    for (let i = 0; i < seg.length; i++) oneHot[i] = seg[i] === l ? 1 : 0;
    const r = resizeLikeSkimage(oneHot, shape, newShape, order);
    for (let i = 0; i < r.length; i++) if (r[i] >= 0.5) out[i] = l;
  }
  return out;
}

/**
 * nnU-Net resample_data_or_seg with is_seg=True on a single-channel label array (values may be negative, e.g. the
 * −1 "outside the nonzero mask" label). Returns the same typed-array type (the input itself when the shape does not
 * change).
 */
export function resampleLabelsCore<T extends LabelArray>(
  seg: T,
  shape: readonly number[],
  newShape: readonly number[],
  order: number,
  doSeparateZ: boolean,
  axis: number | null,
  orderZ: number,
): T {
  checkShapes('resample segmentation', seg.length, 1, shape, newShape);
  if (sameShape(shape, newShape)) return seg;
  const inPlaneOf = (keep: number | null): T => {
    const target = newShape.slice();
    if (keep !== null) target[keep] = shape[keep];
    if (sameShape(shape, target)) return seg;
    if (order === 0) return resizeSegNearest(seg, shape, target);
    if (order === 1) return resizeSegLinear(seg, shape, target, keep);
    return resizeSegSpline(seg, shape, target, order);
  };
  if (!doSeparateZ) return inPlaneOf(null);
  if (axis === null) throw new SegStudioError('resampling', 'separate z needs a lowres axis');
  const inPlane = inPlaneOf(axis);
  if (shape[axis] === newShape[axis]) return inPlane;
  const midShape = newShape.slice();
  midShape[axis] = shape[axis];
  if (orderZ === 0) return resizeSegNearest(inPlane, midShape, newShape);
  // one-hot per label along z with map_coordinates(order_z), kept where np.round(v) > 0.5, i.e. v > 0.5
  const out = newLike(seg, product(newShape));
  const oneHot = new Float32Array(inPlane.length);
  for (const l of uniqueSorted(inPlane)) {
    for (let i = 0; i < inPlane.length; i++) oneHot[i] = inPlane[i] === l ? 1 : 0;
    const r = zoomAxis(oneHot, midShape, axis, newShape[axis], orderZ);
    for (let i = 0; i < r.length; i++) if (r[i] > 0.5) out[i] = l;
  }
  return out;
}

function decide(currentSpacing: readonly number[], newSpacing: readonly number[], opts: ResampleOptions) {
  if (currentSpacing.length !== 3 || newSpacing.length !== 3) {
    throw new SegStudioError('resampling', `spacings must have 3 entries, got ${JSON.stringify(currentSpacing)} -> ${JSON.stringify(newSpacing)}`);
  }
  return determineSeparateZ(opts.forceSeparateZ, currentSpacing, newSpacing, opts.separateZAnisotropyThreshold ?? ANISO_THRESHOLD);
}

/**
 * nnU-Net resample_data_or_seg_to_shape for data or logits ([C, ...shape] float32). Defaults: order 3, order_z 0,
 * force_separate_z null (decide from the spacings).
 */
export function resampleDataToShape(
  data: Float32Array,
  channels: number,
  shape: readonly number[],
  newShape: readonly number[],
  currentSpacing: readonly number[],
  newSpacing: readonly number[],
  opts: ResampleOptions = {},
): Float32Array {
  const { doSeparateZ, axis } = decide(currentSpacing, newSpacing, opts);
  if (opts.isSeg) {
    checkShapes('resample segmentation', data.length, channels, shape, newShape);
    if (sameShape(shape, newShape)) return data;
    const n = product(shape);
    const m = product(newShape);
    const out = new Float32Array(channels * m);
    for (let c = 0; c < channels; c++) {
      const lab = Int32Array.from(data.subarray(c * n, (c + 1) * n));
      out.set(resampleLabelsCore(lab, shape, newShape, opts.order ?? 1, doSeparateZ, axis, opts.orderZ ?? 0), c * m);
    }
    return out;
  }
  return resampleFloatCore(data, channels, shape, newShape, opts.order ?? 3, doSeparateZ, axis, opts.orderZ ?? 0);
}

/** nnU-Net resample_data_or_seg_to_spacing for data: returns the resampled data and its spatial shape. */
export function resampleData(
  data: Float32Array,
  channels: number,
  shape: readonly number[],
  currentSpacing: readonly number[],
  newSpacing: readonly number[],
  opts: ResampleOptions = {},
): { data: Float32Array; shape: number[] } {
  const newShape = computeNewShape(shape, currentSpacing, newSpacing);
  return { data: resampleDataToShape(data, channels, shape, newShape, currentSpacing, newSpacing, opts), shape: newShape };
}

/** nnU-Net resample_data_or_seg_to_shape with is_seg=True. Defaults: order 1, order_z 0. */
export function resampleSegmentationToShape<T extends LabelArray>(
  seg: T,
  shape: readonly number[],
  newShape: readonly number[],
  currentSpacing: readonly number[],
  newSpacing: readonly number[],
  opts: ResampleOptions = {},
): T {
  const { doSeparateZ, axis } = decide(currentSpacing, newSpacing, opts);
  return resampleLabelsCore(seg, shape, newShape, opts.order ?? 1, doSeparateZ, axis, opts.orderZ ?? 0);
}

/** nnU-Net resample_data_or_seg_to_spacing with is_seg=True. */
export function resampleSegmentation<T extends LabelArray>(
  seg: T,
  shape: readonly number[],
  currentSpacing: readonly number[],
  newSpacing: readonly number[],
  opts: ResampleOptions = {},
): { data: T; shape: number[] } {
  const newShape = computeNewShape(shape, currentSpacing, newSpacing);
  return { data: resampleSegmentationToShape(seg, shape, newShape, currentSpacing, newSpacing, opts), shape: newShape };
}

/**
 * Logits/probabilities back to a target shape (nnU-Net export: resampling_fn_probabilities, order 1, order_z 0).
 */
export function resampleProbabilities(
  logits: Float32Array,
  channels: number,
  shape: readonly number[],
  newShape: readonly number[],
  currentSpacing: readonly number[],
  newSpacing: readonly number[],
  opts: ResampleOptions = {},
): Float32Array {
  return resampleDataToShape(logits, channels, shape, newShape, currentSpacing, newSpacing, { order: 1, orderZ: 0, ...opts });
}


// Axis transposition driven by the plans' transpose_forward / transpose_backward
// (nnU-Net: preprocessing/preprocessors/default_preprocessor.py applies data.transpose([0, *[i + 1 for i in
// transpose_forward]]) and permutes the spacing the same way; inference/export_prediction.py undoes it with
// transpose_backward).
import { SegStudioError } from '../errors.ts';
import { product, type Image, type TypedArray } from '../types.ts';

function checkAxes(axes: readonly number[], rank: number): void {
  const ok = axes.length === rank && [...axes].sort((a, b) => a - b).every((a, i) => a === i);
  if (!ok) throw new SegStudioError('transpose', `invalid axis permutation ${JSON.stringify(axes)} for ${rank} spatial axes`);
}

/**
 * numpy transpose of the spatial axes of a [C, ...spatial] C-order array: output axis i is input axis axes[i].
 * Returns a new array of the same type and the new spatial shape.
 */
export function transposeArray<T extends TypedArray>(
  src: T,
  channels: number,
  spatial: readonly number[],
  axes: readonly number[],
): { data: T; shape: number[] } {
  checkAxes(axes, spatial.length);
  const shape = axes.map((a) => spatial[a]);
  const n = product(spatial);
  if (src.length !== channels * n) {
    throw new SegStudioError('transpose', `array of ${src.length} values does not match ${channels} x ${JSON.stringify(spatial)}`);
  }
  const identity = axes.every((a, i) => a === i);
  if (identity) return { data: src.slice() as T, shape };
  const Ctor = src.constructor as new (n: number) => T;
  const out = new Ctor(src.length);
  // input strides
  const rank = spatial.length;
  const inStride = new Array<number>(rank);
  let s = 1;
  for (let a = rank - 1; a >= 0; a--) {
    inStride[a] = s;
    s *= spatial[a];
  }
  const st = axes.map((a) => inStride[a]);
  if (rank !== 3) {
    // generic path
    const idx = new Array<number>(rank).fill(0);
    for (let c = 0; c < channels; c++) {
      idx.fill(0);
      for (let p = 0; p < n; p++) {
        let q = 0;
        for (let a = 0; a < rank; a++) q += idx[a] * st[a];
        out[c * n + p] = src[c * n + q];
        for (let a = rank - 1; a >= 0; a--) {
          if (++idx[a] < shape[a]) break;
          idx[a] = 0;
        }
      }
    }
    return { data: out, shape };
  }
  const [n0, n1, n2] = shape;
  const [t0, t1, t2] = st;
  for (let c = 0; c < channels; c++) {
    const base = c * n;
    let p = base;
    for (let i = 0; i < n0; i++)
      for (let j = 0; j < n1; j++) {
        const q0 = base + i * t0 + j * t1;
        for (let k = 0; k < n2; k++) out[p++] = src[q0 + k * t2];
      }
  }
  return { data: out, shape };
}

/** Spacing (or any per-axis list) permuted like the axes: result[i] = values[axes[i]]. */
export function permute<T>(values: readonly T[], axes: readonly number[]): T[] {
  return axes.map((a) => values[a]);
}

/** Transposes an image's spatial axes (data and spacing) by `axes` (plans.transpose_forward). */
export function transposeImage(image: Image, axes: readonly number[]): Image {
  const channels = image.shape[0];
  const { data, shape } = transposeArray(image.data, channels, image.shape.slice(1), axes);
  return {
    data,
    shape: [channels, ...shape],
    properties: { ...image.properties, spacing: permute(image.properties.spacing, axes) },
  };
}

/** Undoes transposeImage: applies the inverse permutation (plans.transpose_backward). */
export function inverseAxes(axes: readonly number[]): number[] {
  const inv = new Array<number>(axes.length);
  axes.forEach((a, i) => (inv[a] = i));
  return inv;
}

export function transposeImageBack(image: Image, forwardAxes: readonly number[]): Image {
  return transposeImage(image, inverseAxes(forwardAxes));
}

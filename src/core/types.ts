// Core data types shared by every pipeline stage, the workers, the CLI and the tests.
//
// Array convention (same as nnU-Net v2): a flat, C-order buffer whose LAST axis varies fastest.
// A NIfTI volume stored with x fastest therefore has spatial shape [z, y, x]; spacing is listed in the
// same order (nnU-Net's SimpleITK reader reverses the header's pixdim the same way,
// imageio/simpleitk_reader_writer.py). 2D images (PNG) use spatial shape [1, X, Y] with spacing
// [999, 1, 1] (imageio/natural_image_reader_writer.py).

export type TypedArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/** A C-order n-d array. `shape.reduce(*)` equals `data.length`. */
export interface NdArray<T extends TypedArray = TypedArray> {
  data: T;
  shape: number[];
}

/** Geometry and header facts an image reader keeps so a writer can put a result back on the same grid. */
export interface ImageProperties {
  /** 'nifti' or 'png' — what the image was read from (decides how a segmentation is written back). */
  format: 'nifti' | 'png';
  /** Spacing per spatial axis in array order ([z, y, x]), always positive. */
  spacing: number[];
  /** 4×4 voxel-to-world (RAS+ mm, NIfTI convention) row-major, indices in NIfTI (i=x, j=y, k=z) order. */
  affine?: number[][];
  /** The reader's full header (NIfTI) so a writer can reproduce geometry byte-for-byte. Opaque to other stages. */
  header?: unknown;
  /** Source file name, for messages. */
  fileName?: string;
}

/**
 * A multi-channel image as the pipeline sees it: float32 values (scl_slope/scl_inter applied),
 * shape [C, ...spatial] with spatial of length 3 ([z, y, x], or [1, X, Y] for 2D images).
 */
export interface Image {
  data: Float32Array;
  /** [C, d0, d1, d2] */
  shape: number[];
  properties: ImageProperties;
}

/** A label map on an image's spatial grid: shape = spatial shape ([d0, d1, d2]). */
export interface LabelMap {
  data: Uint8Array | Uint16Array | Int16Array | Int32Array;
  shape: number[];
}

/** Progress callback used by every long operation: done / total units, plus an optional stage name. */
export type ProgressFn = (done: number, total: number, stage?: string) => void;

/** Cooperative cancellation (AbortSignal-compatible subset, so it works in Node, workers and tests). */
export interface CancelSignal {
  readonly aborted: boolean;
}

export function product(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

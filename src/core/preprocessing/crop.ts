// Crop to the nonzero region, as nnU-Net does before normalization and resampling
// (nnU-Net: preprocessing/cropping/cropping.py; bounding boxes from acvl_utils cropping_and_padding/bounding_boxes.py):
//  - mask = any channel != 0, then scipy.ndimage.binary_fill_holes (default structure: face connectivity, so a
//    background region is a hole unless it touches the array border through 6-connected background voxels);
//  - bounding box of the mask, half-open [lo, hi) per axis (the full extent when the mask is empty);
//  - segmentation voxels equal to 0 outside the mask become −1 (nnU-Net creates a 0/−1 map when there is no
//    segmentation, which the normalization uses as its mask).
import { SegStudioError } from '../errors.ts';
import { product, type Image, type LabelMap } from '../types.ts';

/** Half-open bounding box [[lo, hi], [lo, hi], [lo, hi]] over the spatial axes. */
export type BBox = [number, number][];

export interface CropResult {
  /** the cropped image (shape [C, ...bbox extent], same properties) */
  data: Image;
  /** the cropped segmentation with −1 outside the nonzero mask (always present, as in nnU-Net) */
  seg: LabelMap & { data: Int16Array };
  bbox: BBox;
  shapeBeforeCropping: number[];
}

/** mask[i] = 1 where any channel of data ([C, ...spatial]) is nonzero. */
export function createNonzeroMask(data: ArrayLike<number>, channels: number, spatial: readonly number[]): Uint8Array {
  const n = product(spatial);
  const mask = new Uint8Array(n);
  for (let c = 0; c < channels; c++) {
    const o = c * n;
    for (let i = 0; i < n; i++) if (data[o + i] !== 0) mask[i] = 1;
  }
  return mask;
}

/**
 * scipy.ndimage.binary_fill_holes(mask) for a 3-D mask (default structure = face connectivity): background voxels
 * not 6-connected to the array border through background become foreground. In place; returns the mask.
 */
export function binaryFillHoles(mask: Uint8Array, shape: readonly number[]): Uint8Array {
  const [d0, d1, d2] = shape;
  const n = d0 * d1 * d2;
  if (mask.length !== n) throw new SegStudioError('crop', `binaryFillHoles: mask of ${mask.length} voxels does not match ${JSON.stringify(shape)}`);
  // Flood the background from the border in a copy padded by one voxel on every side: the padding is marked
  // "reached" and never expanded, so interior voxels need no bounds checks.
  // state: 0 = background not yet reached, 1 = foreground, 2 = background reached from the border
  const p0 = d0 + 2;
  const p1 = d1 + 2;
  const p2 = d2 + 2;
  const s1 = p2;
  const s0 = p1 * p2;
  const state = new Uint8Array(p0 * s0).fill(2);
  let zeros = 0;
  for (let i = 0; i < d0; i++)
    for (let j = 0; j < d1; j++) {
      const src = (i * d1 + j) * d2;
      const dst = (i + 1) * s0 + (j + 1) * s1 + 1;
      for (let k = 0; k < d2; k++) {
        const v = mask[src + k] ? 1 : 0;
        state[dst + k] = v;
        zeros += 1 - v;
      }
    }
  // every background voxel is queued at most once
  const queue = new Int32Array(Math.max(1, zeros));
  let tail = 0;
  // seeds: unreached background voxels on the faces of the original array
  for (let i = 1; i <= d0; i++)
    for (let j = 1; j <= d1; j++) {
      const base = i * s0 + j * s1;
      const onFace = i === 1 || i === d0 || j === 1 || j === d1;
      const stepK = onFace ? 1 : Math.max(1, d2 - 1);
      for (let k = 1; k <= d2; k += stepK) {
        const q = base + k;
        if (state[q] === 0) {
          state[q] = 2;
          queue[tail++] = q;
        }
      }
    }
  let head = 0;
  while (head < tail) {
    const q = queue[head++];
    let r = q - 1;
    if (state[r] === 0) {
      state[r] = 2;
      queue[tail++] = r;
    }
    r = q + 1;
    if (state[r] === 0) {
      state[r] = 2;
      queue[tail++] = r;
    }
    r = q - s1;
    if (state[r] === 0) {
      state[r] = 2;
      queue[tail++] = r;
    }
    r = q + s1;
    if (state[r] === 0) {
      state[r] = 2;
      queue[tail++] = r;
    }
    r = q - s0;
    if (state[r] === 0) {
      state[r] = 2;
      queue[tail++] = r;
    }
    r = q + s0;
    if (state[r] === 0) {
      state[r] = 2;
      queue[tail++] = r;
    }
  }
  for (let i = 0; i < d0; i++)
    for (let j = 0; j < d1; j++) {
      const dst = (i * d1 + j) * d2;
      const src = (i + 1) * s0 + (j + 1) * s1 + 1;
      for (let k = 0; k < d2; k++) mask[dst + k] = state[src + k] === 2 ? 0 : 1;
    }
  return mask;
}

/** acvl_utils get_bbox_from_mask: half-open box of the nonzero voxels; the full extent on axes with none. */
export function getBboxFromMask(mask: Uint8Array, shape: readonly number[]): BBox {
  const [d0, d1, d2] = shape;
  const lo = [d0, d1, d2];
  const hi = [-1, -1, -1];
  for (let i = 0; i < d0; i++)
    for (let j = 0; j < d1; j++) {
      const row = (i * d1 + j) * d2;
      let first = 0;
      while (first < d2 && !mask[row + first]) first++;
      if (first === d2) continue;
      let last = d2 - 1;
      while (!mask[row + last]) last--;
      if (i < lo[0]) lo[0] = i;
      if (i > hi[0]) hi[0] = i;
      if (j < lo[1]) lo[1] = j;
      if (j > hi[1]) hi[1] = j;
      if (first < lo[2]) lo[2] = first;
      if (last > hi[2]) hi[2] = last;
    }
  return [0, 1, 2].map((a) => (hi[a] < 0 ? [0, shape[a]] : [lo[a], hi[a] + 1])) as BBox;
}

/** Copies the box out of a [C, ...shape] array (C = 1 for a plain 3-D array). */
export function cropArray<T extends ArrayLike<number> & { constructor: unknown }>(
  src: T,
  channels: number,
  shape: readonly number[],
  bbox: BBox,
): T {
  const [d0, d1, d2] = shape;
  const e = bbox.map(([lo, hi]) => hi - lo);
  const m = e[0] * e[1] * e[2];
  const Ctor = (src as unknown as { constructor: new (n: number) => T }).constructor;
  const out = new Ctor(channels * m) as T & { [i: number]: number; set(a: ArrayLike<number>, o: number): void };
  const s = src as unknown as { subarray(a: number, b: number): ArrayLike<number> };
  let p = 0;
  for (let c = 0; c < channels; c++)
    for (let i = bbox[0][0]; i < bbox[0][1]; i++)
      for (let j = bbox[1][0]; j < bbox[1][1]; j++) {
        const o = ((c * d0 + i) * d1 + j) * d2 + bbox[2][0];
        out.set(s.subarray(o, o + e[2]), p);
        p += e[2];
      }
  return out;
}

/**
 * acvl_utils insert_crop_into_image: writes `crop` ([C, ...bbox extent]) into `target` ([C, ...shape]) at the box.
 * Used to undo the crop at export. Returns target.
 */
export function pasteIntoBox<T extends { [i: number]: number; length: number; set(a: ArrayLike<number>, o: number): void }>(
  target: T,
  crop: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> },
  channels: number,
  shape: readonly number[],
  bbox: BBox,
): T {
  const [d0, d1, d2] = shape;
  const e = bbox.map(([lo, hi]) => hi - lo);
  if (crop.length !== channels * e[0] * e[1] * e[2]) {
    throw new SegStudioError('crop', `pasteIntoBox: crop of ${crop.length} values does not match box ${JSON.stringify(bbox)} x ${channels}`);
  }
  if (target.length !== channels * d0 * d1 * d2) {
    throw new SegStudioError('crop', `pasteIntoBox: target of ${target.length} values does not match ${JSON.stringify(shape)} x ${channels}`);
  }
  let p = 0;
  for (let c = 0; c < channels; c++)
    for (let i = bbox[0][0]; i < bbox[0][1]; i++)
      for (let j = bbox[1][0]; j < bbox[1][1]; j++) {
        const o = ((c * d0 + i) * d1 + j) * d2 + bbox[2][0];
        target.set(crop.subarray(p, p + e[2]), o);
        p += e[2];
      }
  return target;
}

/** uncrop: a zero-filled array of `shape` (× channels) with `crop` pasted at the box. */
export function uncrop<T extends Uint8Array | Uint16Array | Int16Array | Int32Array | Float32Array>(
  crop: T,
  channels: number,
  shape: readonly number[],
  bbox: BBox,
  fill = 0,
): T {
  const Ctor = crop.constructor as new (n: number) => T;
  const out = new Ctor(channels * product(shape));
  if (fill !== 0) out.fill(fill);
  return pasteIntoBox(out, crop, channels, shape, bbox);
}

/**
 * nnU-Net crop_to_nonzero. The image is [C, d0, d1, d2]; the segmentation (optional) is on the spatial grid.
 * Returns the cropped image, an Int16 segmentation with −1 outside the filled nonzero mask, the box and the shape
 * before cropping.
 */
export function cropToNonzero(image: Image, seg?: LabelMap): CropResult {
  const file = image.properties.fileName;
  if (image.shape.length !== 4) throw new SegStudioError('crop', `image must have shape [C, d0, d1, d2], got ${JSON.stringify(image.shape)}`, file);
  const channels = image.shape[0];
  const spatial = image.shape.slice(1);
  const n = product(spatial);
  if (image.data.length !== channels * n) {
    throw new SegStudioError('crop', `image data has ${image.data.length} values, shape ${JSON.stringify(image.shape)} needs ${channels * n}`, file);
  }
  if (seg && (seg.data.length !== n || seg.shape.length !== 3 || seg.shape.some((s, i) => s !== spatial[i]))) {
    throw new SegStudioError('crop', `segmentation shape ${JSON.stringify(seg.shape)} does not match image shape ${JSON.stringify(spatial)}`, file);
  }
  const mask = binaryFillHoles(createNonzeroMask(image.data, channels, spatial), spatial);
  const bbox = getBboxFromMask(mask, spatial);
  const extent = bbox.map(([lo, hi]) => hi - lo);
  const data = cropArray(image.data, channels, spatial, bbox);
  const maskC = cropArray(mask, 1, spatial, bbox);
  const segOut = new Int16Array(maskC.length);
  if (seg) {
    const segC = cropArray(seg.data as Int32Array, 1, spatial, bbox);
    for (let i = 0; i < segC.length; i++) {
      const v = segC[i];
      if (v > 32767 || v < -32768) throw new SegStudioError('crop', `label ${v} does not fit the int16 segmentation`, file);
      segOut[i] = v === 0 && !maskC[i] ? -1 : v;
    }
  } else {
    for (let i = 0; i < maskC.length; i++) segOut[i] = maskC[i] ? 0 : -1;
  }
  return {
    data: { data, shape: [channels, ...extent], properties: image.properties },
    seg: { data: segOut, shape: extent },
    bbox,
    shapeBeforeCropping: spatial,
  };
}

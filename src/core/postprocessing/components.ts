// Connected-component labelling of binary masks, and nnU-Net's "remove all but the largest component".
//
// Algorithm: run-based union-find. Pass 1 cuts every row (last axis) into runs of foreground voxels; runs of
// a row are united with the overlapping runs of the already-scanned neighbouring rows (full connectivity:
// rows (z, y-1), (z-1, y-1), (z-1, y), (z-1, y+1) with diagonal overlap; face connectivity: (z, y-1) and
// (z-1, y) with strict overlap). Pass 2 numbers the roots 1..N in raster order of their first voxel (the
// order scipy.ndimage.label produces) and paints the runs. Memory: a few Int32Arrays sized by the number of
// runs, never by the number of voxels except the output.
//
// nnU-Net: postprocessing/remove_connected_components.py uses acvl_utils.morphology.morphology_helper
// (skimage.measure.label with connectivity=None, i.e. full connectivity: 26 in 3D, 8 in 2D).
import { SegStudioError } from '../errors.ts';
import type { LabelMap } from '../types.ts';

export type Connectivity = 'full' | 'face';

export interface ComponentLabels {
  /** Per-voxel component id, 0 = background, 1..count numbered by first voxel in raster (C) order. */
  labels: Int32Array;
  /** Number of components. */
  count: number;
  /** sizes[i] = voxel count of component i (sizes[0] = background voxel count). Length count + 1. */
  sizes: Float64Array;
}

/** Treats shapes of length 2 as [1, X, Y]; longer shapes must be 3D. */
function as3d(shape: readonly number[], n: number, what: string): [number, number, number] {
  let s: number[];
  if (shape.length === 3) s = [...shape];
  else if (shape.length === 2) s = [1, shape[0], shape[1]];
  else if (shape.length === 1) s = [1, 1, shape[0]];
  else if (shape.length === 4 && shape[0] === 1) s = shape.slice(1);
  else throw new SegStudioError('shape', `${what}: connected components need a 1D/2D/3D shape, got [${shape.join(', ')}]`);
  if (s[0] * s[1] * s[2] !== n)
    throw new SegStudioError('shape', `${what}: shape [${shape.join(', ')}] does not match ${n} voxels`);
  return s as [number, number, number];
}

/** Growable Int32 buffer. */
class IntBuf {
  a: Int32Array;
  n = 0;
  constructor(cap: number) {
    this.a = new Int32Array(Math.max(16, cap));
  }
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

/**
 * Labels the connected components of `mask` (any nonzero value is foreground).
 * `shape` is the array shape ([d0, d1, d2]; [1, X, Y] or [X, Y] is 2D, where 'full' means 8-connectivity).
 */
export function labelComponents(
  mask: ArrayLike<number>,
  shape: readonly number[],
  connectivity: Connectivity = 'full',
): ComponentLabels {
  const n = mask.length;
  const [D, H, W] = as3d(shape, n, 'labelComponents');
  const nRows = D * H;
  // ---- pass 1: runs per row
  const rowStart = new Int32Array(nRows + 1);
  const rs = new IntBuf(1024);
  const re = new IntBuf(1024); // exclusive end
  // background is usually most of the volume: for byte masks skip 4 zero bytes at a time
  const words =
    mask instanceof Uint8Array ? new Uint32Array(mask.buffer, mask.byteOffset + ((4 - (mask.byteOffset % 4)) % 4), Math.max(0, (n - ((4 - (mask.byteOffset % 4)) % 4)) >> 2)) : null;
  const wordShift = mask instanceof Uint8Array ? (4 - (mask.byteOffset % 4)) % 4 : 0;
  for (let row = 0; row < nRows; row++) {
    rowStart[row] = rs.n;
    const base = row * W;
    let x = 0;
    while (x < W) {
      if (mask[base + x] === 0) {
        if (words !== null) {
          let i = base + x + 1;
          const end = base + W;
          // advance to a word boundary, then by words while they are all zero
          while (i < end && ((i - wordShift) & 3) !== 0 && mask[i] === 0) i++;
          if (i < end && mask[i] === 0) {
            let w = (i - wordShift) >> 2;
            while (i + 4 <= end && words[w] === 0) {
              i += 4;
              w++;
            }
          }
          x = i - base;
        } else x++;
        continue;
      }
      const s = x;
      x++;
      while (x < W && mask[base + x] !== 0) x++;
      rs.push(s);
      re.push(x);
    }
  }
  rowStart[nRows] = rs.n;
  const nRuns = rs.n;
  const runS = rs.a;
  const runE = re.a;
  const parent = new Int32Array(nRuns);
  for (let i = 0; i < nRuns; i++) parent[i] = i;

  const find = (x: number): number => {
    while (parent[x] !== x) {
      const g = parent[parent[x]];
      parent[x] = g;
      x = g;
    }
    return x;
  };
  const union = (a: number, b: number): void => {
    let ra = find(a);
    let rb = find(b);
    if (ra === rb) return;
    if (ra < rb) parent[rb] = ra;
    else parent[ra] = rb;
  };
  // slack = 1: runs touching diagonally are neighbours (full connectivity); 0: they must share a column
  const full = connectivity === 'full';
  const slack = full ? 1 : 0;
  const linkRows = (rowA: number, rowB: number): void => {
    // rowA = current row, rowB = neighbour row already scanned
    let i = rowStart[rowA];
    const iEnd = rowStart[rowA + 1];
    let j = rowStart[rowB];
    const jEnd = rowStart[rowB + 1];
    if (i === iEnd || j === jEnd) return;
    while (i < iEnd && j < jEnd) {
      const as = runS[i];
      const ae = runE[i];
      const bs = runS[j];
      const be = runE[j];
      // overlap test with half-open runs: [as, ae) and [bs, be) touch if bs < ae + slack and as < be + slack
      if (bs < ae + slack && as < be + slack) union(i, j);
      // advance the run that ends first
      if (ae < be) i++;
      else if (be < ae) j++;
      else {
        i++;
        j++;
      }
    }
  };
  for (let z = 0; z < D; z++) {
    for (let y = 0; y < H; y++) {
      const row = z * H + y;
      if (rowStart[row] === rowStart[row + 1]) continue;
      if (y > 0) linkRows(row, row - 1);
      if (z > 0) {
        const up = row - H;
        linkRows(row, up);
        if (full) {
          if (y > 0) linkRows(row, up - 1);
          if (y + 1 < H) linkRows(row, up + 1);
        }
      }
    }
  }
  // ---- pass 2: number roots in raster order, paint
  const labels = new Int32Array(n);
  const runLabel = new Int32Array(nRuns);
  let count = 0;
  for (let i = 0; i < nRuns; i++) {
    const r = find(i);
    if (r === i) runLabel[i] = ++count;
    else runLabel[i] = runLabel[r]; // r < i always (roots are minima), so already numbered
  }
  const sizes = new Float64Array(count + 1);
  let fg = 0;
  for (let row = 0; row < nRows; row++) {
    const base = row * W;
    for (let k = rowStart[row], e = rowStart[row + 1]; k < e; k++) {
      const l = runLabel[k];
      const s = runS[k];
      const t = runE[k];
      labels.fill(l, base + s, base + t);
      sizes[l] += t - s;
      fg += t - s;
    }
  }
  sizes[0] = n - fg;
  return { labels, count, sizes };
}

/**
 * Mask of the largest connected component(s) of `mask` (1 inside, 0 elsewhere). Ties keep every component of
 * the maximal size, as acvl_utils' remove_all_but_largest_component does (it keeps ids whose size == max).
 * An empty mask gives an empty mask.
 */
export function largestComponent(
  mask: ArrayLike<number>,
  shape: readonly number[],
  connectivity: Connectivity = 'full',
): Uint8Array {
  const { labels, count, sizes } = labelComponents(mask, shape, connectivity);
  const out = new Uint8Array(labels.length);
  if (count === 0) return out;
  let max = 0;
  for (let i = 1; i <= count; i++) if (sizes[i] > max) max = sizes[i];
  const keep = new Uint8Array(count + 1);
  for (let i = 1; i <= count; i++) if (sizes[i] === max) keep[i] = 1;
  for (let v = 0; v < labels.length; v++) out[v] = keep[labels[v]];
  return out;
}

/** A label (int) or a region (union of labels, nnU-Net's tuple). */
export type LabelOrRegion = number | readonly number[];

/** Mask of voxels whose value is `l` (int) or any of the values of region `l`. nnU-Net: evaluation/evaluate_predictions.py region_or_label_to_mask */
export function labelOrRegionMask(seg: ArrayLike<number>, l: LabelOrRegion, out?: Uint8Array): Uint8Array {
  const m = out ?? new Uint8Array(seg.length);
  if (typeof l === 'number') {
    for (let i = 0; i < seg.length; i++) if (seg[i] === l) m[i] = 1;
  } else {
    const set = new Set(l);
    if (set.size === 1) return labelOrRegionMask(seg, l[0], m);
    let maxV = 0;
    for (const v of set) if (v > maxV) maxV = v;
    const lut = new Uint8Array(Math.max(256, maxV + 1));
    for (const v of set) if (v >= 0 && Number.isInteger(v)) lut[v] = 1;
    for (let i = 0; i < seg.length; i++) {
      const v = seg[i];
      if (v >= 0 && v < lut.length && lut[v]) m[i] = 1;
    }
  }
  return m;
}

/**
 * nnU-Net's remove_all_but_largest_component_from_segmentation: the union of `labelsOrRegions` (a label, a
 * region, or a list of them) is one binary mask; its voxels outside the largest connected component (full
 * connectivity) are set to `background`. Returns a new label map; the input is not modified.
 * nnU-Net: postprocessing/remove_connected_components.py
 */
export function removeAllButLargestComponent<T extends LabelMap>(
  seg: T,
  labelsOrRegions: LabelOrRegion | readonly LabelOrRegion[],
  background = 0,
): T {
  // a list of labels and a region with the same members give the same union, so flattening is exact
  const values = flattenLabels(labelsOrRegions);
  const mask = new Uint8Array(seg.data.length);
  labelOrRegionMask(seg.data, values, mask);
  const keep = largestComponent(mask, seg.shape, 'full');
  const data = seg.data.slice() as T['data'];
  for (let i = 0; i < data.length; i++) if (mask[i] && !keep[i]) data[i] = background;
  return { ...seg, data, shape: [...seg.shape] };
}

/** Every label value named by a label, a region or a list of them. */
export function flattenLabels(l: LabelOrRegion | readonly LabelOrRegion[]): number[] {
  if (typeof l === 'number') return [l];
  const out: number[] = [];
  for (const x of l) out.push(...flattenLabels(x));
  return [...new Set(out)];
}

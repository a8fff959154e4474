// Small pure helpers used by the inference worker: display volumes for the viewer, intensity ranges,
// label statistics, and grouping of dropped files into one multi-channel case.
import type { Image, LabelMap } from '../../core/types.ts';
import { encodeNifti1 } from '../../core/demo/nifti1.ts';
import { labelComponents } from '../../core/postprocessing/components.ts';
import type { LabelStat } from '../workerApi.ts';

/** NIfTI-1 (float32, channel 0) for NiiVue with the image's own affine; PNGs get rows flipped so row 0 is at the top. */
export function displayNifti(image: Image): Uint8Array {
  const [, d0, d1, d2] = image.shape;
  const n = d0 * d1 * d2;
  const ch0 = image.data.subarray(0, n);
  if (image.properties.format === 'png') {
    // shape [C, 1, X(rows), Y(cols)], cols fastest: NIfTI i = col, j = row (flipped), k = 0
    const affine = [
      [1, 0, 0, 0],
      [0, -1, 0, d1 - 1],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ];
    return encodeNifti1(new Float32Array(ch0), [d2, d1, 1], affine, image.properties.fileName ?? 'image');
  }
  const sp = image.properties.spacing; // [z, y, x]
  const affine = image.properties.affine ?? [
    [sp[2], 0, 0, 0],
    [0, sp[1], 0, 0],
    [0, 0, sp[0], 0],
    [0, 0, 0, 1],
  ];
  return encodeNifti1(new Float32Array(ch0), [d2, d1, d0], affine, image.properties.fileName ?? 'image');
}

/** min, max and the 0.5 / 99.5 percentiles (from a strided sample) of channel 0. */
export function intensityRanges(image: Image): { range: [number, number]; robust: [number, number] } {
  const n = image.shape.slice(1).reduce((a, b) => a * b, 1);
  const d = image.data;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = d[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const step = Math.max(1, Math.floor(n / 200_000));
  const sample = new Float32Array(Math.ceil(n / step));
  let k = 0;
  for (let i = 0; i < n; i += step) if (Number.isFinite(d[i])) sample[k++] = d[i];
  const s = sample.subarray(0, k).sort();
  const q = (p: number) => (k ? s[Math.min(k - 1, Math.max(0, Math.round(p * (k - 1))))] : 0);
  if (!Number.isFinite(min)) min = 0;
  if (!Number.isFinite(max)) max = 1;
  return { range: [min, max], robust: [q(0.005), q(0.995)] };
}

/** Voxel count, volume (mL) and number of connected components (full connectivity) per label value > 0. */
export function labelStats(labels: LabelMap, spacing: number[], is2D: boolean, values: number[]): LabelStat[] {
  const counts = new Map<number, number>();
  for (const v of labels.data) counts.set(v, (counts.get(v) ?? 0) + 1);
  const voxelMl = is2D ? 0 : spacing.reduce((a, b) => a * b, 1) / 1000;
  const wanted = new Set(values.filter((v) => v > 0));
  for (const v of counts.keys()) if (v > 0) wanted.add(v);
  const out: LabelStat[] = [];
  const mask = new Uint8Array(labels.data.length);
  for (const v of [...wanted].sort((a, b) => a - b)) {
    const voxels = counts.get(v) ?? 0;
    let components = 0;
    if (voxels > 0) {
      for (let i = 0; i < mask.length; i++) mask[i] = labels.data[i] === v ? 1 : 0;
      components = labelComponents(mask, labels.shape, 'full').count;
    }
    out.push({ value: v, voxels, ml: voxels * voxelMl, components });
  }
  return out;
}

const CHANNEL_RE = /^(.*)_(\d{4})(\.nii\.gz|\.nii|\.png)$/i;

/** Orders dropped image files: nnU-Net channel files CASE_0000, CASE_0001 … become channels 0, 1 …. */
export function groupChannels(names: string[]): { caseName: string; order: number[]; isCase: boolean } {
  if (names.length === 1) return { caseName: names[0], order: [0], isCase: true };
  const parsed = names.map((n) => CHANNEL_RE.exec(n.split('/').pop() ?? n));
  if (parsed.every((m) => m) && new Set(parsed.map((m) => m![1])).size === 1) {
    const order = names.map((_, i) => i).sort((a, b) => Number(parsed[a]![2]) - Number(parsed[b]![2]));
    return { caseName: `${parsed[0]![1]}${parsed[0]![3]}`, order, isCase: true };
  }
  return { caseName: names[0], order: names.map((_, i) => i), isCase: false };
}

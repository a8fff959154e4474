import { describe, expect, it } from 'vitest';
import * as nifti from 'nifti-reader-js';
import { displayNifti, groupChannels, intensityRanges, labelStats } from './imageUtil.ts';
import type { Image } from '../../core/types.ts';

describe('labelStats', () => {
  it('counts voxels, mL and 26-connected components per label (hand-computed)', () => {
    // 1 × 4 × 4 at 2 × 1 × 0.5 mm (1 mm³ = 0.001 mL per voxel)
    // label 1: two blobs touching only diagonally (one component under full connectivity) + one far voxel
    // label 2: one voxel; label 3 declared by the model but absent
    const data = Uint8Array.from([
      1, 0, 0, 1,
      0, 1, 0, 0,
      0, 0, 0, 0,
      2, 0, 0, 0,
    ]);
    const stats = labelStats({ data, shape: [1, 4, 4] }, [2, 1, 0.5], false, [0, 1, 2, 3]);
    expect(stats).toEqual([
      { value: 1, voxels: 3, ml: 0.003, components: 2 },
      { value: 2, voxels: 1, ml: 0.001, components: 1 },
      { value: 3, voxels: 0, ml: 0, components: 0 },
    ]);
  });

  it('reports no volume for 2D images', () => {
    const s = labelStats({ data: Uint8Array.from([1, 1, 0, 1]), shape: [1, 2, 2] }, [999, 1, 1], true, [1]);
    expect(s).toEqual([{ value: 1, voxels: 3, ml: 0, components: 1 }]);
  });
});

describe('groupChannels', () => {
  it('orders nnU-Net channel files by their _XXXX suffix', () => {
    expect(groupChannels(['c/BRATS_001_0002.nii.gz', 'BRATS_001_0000.nii.gz', 'BRATS_001_0001.nii.gz'])).toEqual({
      caseName: 'BRATS_001.nii.gz',
      order: [1, 2, 0],
      isCase: true,
    });
  });
  it('flags unrelated names (not one case)', () => {
    expect(groupChannels(['a.nii', 'b.nii'])).toEqual({ caseName: 'a.nii', order: [0, 1], isCase: false });
    expect(groupChannels(['A_0000.nii', 'B_0001.nii']).isCase).toBe(false);
  });
});

describe('intensityRanges', () => {
  it('gives min/max and robust percentiles of channel 0 only', () => {
    const n = 1000;
    const data = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) data[i] = i; // channel 0: 0..999
    data.fill(1e6, n); // channel 1 must be ignored
    const img: Image = { data, shape: [2, 10, 10, 10], properties: { format: 'nifti', spacing: [1, 1, 1] } };
    const r = intensityRanges(img);
    expect(r.range).toEqual([0, 999]);
    expect(r.robust[0]).toBeCloseTo(5, 0);
    expect(r.robust[1]).toBeCloseTo(994, 0);
  });
});

describe('displayNifti', () => {
  it('shows a PNG with row 0 at the top (j axis flipped) and columns along x', () => {
    // [C, 1, rows=2, cols=3]
    const img: Image = { data: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [1, 1, 2, 3], properties: { format: 'png', spacing: [999, 1, 1] } };
    const bytes = displayNifti(img);
    const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const h = nifti.readHeader(buf)!;
    expect(h.dims.slice(0, 4)).toEqual([3, 3, 2, 1]);
    // world y of row 0 (j = 0) is above row 1
    expect(h.affine[1][1]).toBe(-1);
    expect(h.affine[1][3]).toBe(1);
    expect(Array.from(new Float32Array(nifti.readImage(h, buf)))).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

import { describe, expect, it } from 'vitest';
import { loadArray, meta, unpackBits } from '../../../test/fixtures/preprocessing/load.ts';
import { binaryFillHoles, cropToNonzero, getBboxFromMask, pasteIntoBox, uncrop } from './crop.ts';
import type { Image } from '../types.ts';
import { SegStudioError } from '../errors.ts';

const img = (data: Float32Array, shape: number[]): Image => ({ data, shape, properties: { format: 'nifti', spacing: [1, 1, 1], fileName: 'x.nii.gz' } });

describe('binaryFillHoles (hand-made cases)', () => {
  it('fills an enclosed cavity but not a cavity open to the border', () => {
    // 5x5x5 hollow cube shell -> interior voxel (2,2,2) and its 3x3x3 interior filled
    const s = [5, 5, 5];
    const m = new Uint8Array(125);
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 5; j++)
        for (let k = 0; k < 5; k++) {
          const shell = i >= 1 && i <= 3 && j >= 1 && j <= 3 && k >= 1 && k <= 3 && !(i === 2 && j === 2 && k === 2);
          m[i * 25 + j * 5 + k] = shell ? 1 : 0;
        }
    const f = binaryFillHoles(m.slice(), s);
    expect(f[2 * 25 + 2 * 5 + 2]).toBe(1);
    expect(f.reduce((a, b) => a + b, 0)).toBe(27);
    // punch a hole through the shell to the outside along x: (2,2,3) and make it reach (2,2,4) which is border
    const open = m.slice();
    open[2 * 25 + 2 * 5 + 3] = 0;
    const g = binaryFillHoles(open, s);
    expect(g[2 * 25 + 2 * 5 + 2]).toBe(0);
  });
  it('uses face connectivity for the background: a diagonal-only leak is still a hole', () => {
    // 2-D-like slab (1 x 4 x 4): with a size-1 axis every voxel touches the border, so nothing is filled
    const slab = new Uint8Array([1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect(Array.from(binaryFillHoles(slab.slice(), [1, 4, 4]))).toEqual(Array.from(slab));
    // 3x3x3 block with the centre empty and a corner voxel empty: centre touches the corner only diagonally
    const m = new Uint8Array(27).fill(1);
    m[13] = 0;
    m[0] = 0;
    const f = binaryFillHoles(m, [3, 3, 3]);
    expect(f[13]).toBe(1);
    expect(f[0]).toBe(0);
  });
});

describe('crop to nonzero vs scipy binary_fill_holes on a real CT (fixture)', () => {
  const c = meta.crop;
  const shape: number[] = c.shape;
  const n = shape[0] * shape[1] * shape[2];
  const mask = unpackBits(loadArray('crop_mask').data as Uint8Array, n);
  const filled = unpackBits(loadArray('crop_filled').data as Uint8Array, n);
  it('fills exactly the same voxels as scipy', () => {
    const f = binaryFillHoles(mask.slice(), shape);
    let diff = 0;
    for (let i = 0; i < n; i++) if (f[i] !== filled[i]) diff++;
    expect(diff).toBe(0);
    expect(f.reduce((a, b) => a + b, 0)).toBe(c.filled_count);
    expect(c.filled_count).toBeGreaterThan(c.mask_count); // the fixture really has holes
  });
  it('bbox, cropped seg with −1 outside, 0/−1 map without seg', () => {
    const data = Float32Array.from(mask, (v, i) => (v ? 1000 + (i % 7) : 0));
    const seg = loadArray(c.seg_input);
    const r = cropToNonzero(img(data, [1, ...shape]), { data: seg.data as Uint8Array, shape });
    expect(r.bbox).toEqual(c.bbox);
    expect(getBboxFromMask(filled, shape)).toEqual(c.bbox);
    expect(r.shapeBeforeCropping).toEqual(shape);
    const exp = loadArray(c.seg_expected);
    expect(r.seg.shape).toEqual(exp.shape);
    expect(r.seg.data.length).toBe(exp.data.length);
    let diff = 0;
    for (let i = 0; i < exp.data.length; i++) if (r.seg.data[i] !== exp.data[i]) diff++;
    expect(diff).toBe(0);
    const r2 = cropToNonzero(img(data, [1, ...shape]));
    expect(r2.seg.data.filter((v) => v === -1).length).toBe(c.seg_none_expected_neg);
    // cropped data equals the source inside the box
    const [[a0], [b0], [c0]] = r.bbox;
    const e = r.data.shape.slice(1);
    expect(r.data.data[0]).toBe(data[a0 * shape[1] * shape[2] + b0 * shape[2] + c0]);
    expect(r.data.data.length).toBe(e[0] * e[1] * e[2]);
  });
});

describe('crop helpers', () => {
  it('multi-channel: nonzero in any channel counts; empty mask keeps the full box', () => {
    const d = new Float32Array(2 * 4 * 4 * 4);
    d[0 * 64 + 1 * 16 + 2 * 4 + 3] = 5; // channel 0 at (1,2,3)
    d[1 * 64 + 2 * 16 + 1 * 4 + 1] = -2; // channel 1 at (2,1,1)
    const r = cropToNonzero(img(d, [2, 4, 4, 4]));
    expect(r.bbox).toEqual([[1, 3], [1, 3], [1, 4]]);
    expect(r.data.shape).toEqual([2, 2, 2, 3]);
    const empty = cropToNonzero(img(new Float32Array(27), [1, 3, 3, 3]));
    expect(empty.bbox).toEqual([[0, 3], [0, 3], [0, 3]]);
    expect(Array.from(empty.seg.data).every((v) => v === -1)).toBe(true);
  });
  it('uncrop/pasteIntoBox put the crop back', () => {
    const crop = Int16Array.from([1, 2, 3, 4]);
    const full = uncrop(crop, 1, [3, 3, 3], [[1, 2], [0, 2], [1, 3]]);
    expect(full[1 * 9 + 0 * 3 + 1]).toBe(1);
    expect(full[1 * 9 + 1 * 3 + 2]).toBe(4);
    expect(full.reduce((a, b) => a + b, 0)).toBe(10);
    expect(() => pasteIntoBox(new Uint8Array(27), crop, 1, [3, 3, 3], [[0, 3], [0, 3], [0, 3]])).toThrow(SegStudioError);
  });
  it('rejects a segmentation of the wrong shape, naming the file', () => {
    try {
      cropToNonzero(img(new Float32Array(8), [1, 2, 2, 2]), { data: new Uint8Array(9), shape: [3, 3, 1] });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SegStudioError);
      expect((e as Error).message).toContain('x.nii.gz');
    }
  });
});

// Connected components against scipy.ndimage.label recorded offline (scripts/fixtures/scipy_label_fixtures.py)
// and against hand-built cases.
import { describe, expect, it } from 'vitest';
import { labelComponents, largestComponent, removeAllButLargestComponent } from './components.ts';
import { checkAgainst, scipyFixture, unpackBits } from './components.testutil.ts';

describe('labelComponents vs scipy.ndimage.label (recorded)', () => {
  for (const c of scipyFixture.random) {
    for (const conn of ['full', 'face'] as const) {
      it(`${c.name} ${conn}`, () => {
        const n = c.shape.reduce((a, b) => a * b, 1);
        const mask = unpackBits(c.bits, n);
        expect(mask.reduce((a, b) => a + b, 0)).toBe(c.foreground);
        checkAgainst(mask, c.shape, conn, c[conn]);
      });
    }
  }
});

describe('labelComponents by hand', () => {
  it('2D: diagonal pixels join with full (8) but not face (4) connectivity', () => {
    // [1, 3, 3]
    // 1 0 0
    // 0 1 0
    // 0 0 1
    const m = new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(labelComponents(m, [1, 3, 3], 'full').count).toBe(1);
    const face = labelComponents(m, [1, 3, 3], 'face');
    expect(face.count).toBe(3);
    expect(Array.from(face.labels)).toEqual([1, 0, 0, 0, 2, 0, 0, 0, 3]);
  });
  it('3D: corner-touching voxels (26-neighbours) are one component only with full connectivity', () => {
    const m = new Uint8Array(8);
    m[0] = 1; // (0,0,0)
    m[7] = 1; // (1,1,1)
    expect(labelComponents(m, [2, 2, 2], 'full').count).toBe(1);
    expect(labelComponents(m, [2, 2, 2], 'face').count).toBe(2);
  });
  it('a 2D image is never connected across rows of another slice', () => {
    // shape [2, 1, 2]: two slices; voxel (0,0,1) and (1,0,0) touch diagonally in 3D
    const m = new Uint8Array([0, 1, 1, 0]);
    expect(labelComponents(m, [2, 1, 2], 'full').count).toBe(1);
    expect(labelComponents(m, [2, 1, 2], 'face').count).toBe(2);
  });
  it('U shape merges two provisional labels and numbers by first voxel', () => {
    // 1 0 1
    // 1 0 1
    // 1 1 1   plus an isolated pixel to the right in row 0
    const m = new Uint8Array([1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0]);
    const r = labelComponents(m, [1, 3, 5], 'face');
    expect(r.count).toBe(2);
    expect(Array.from(r.labels)).toEqual([1, 0, 1, 0, 2, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0]);
    expect(Array.from(r.sizes)).toEqual([7, 7, 1]);
  });
  it('empty and full masks', () => {
    expect(labelComponents(new Uint8Array(27), [3, 3, 3]).count).toBe(0);
    const f = labelComponents(new Uint8Array(27).fill(1), [3, 3, 3]);
    expect(f.count).toBe(1);
    expect(f.sizes[1]).toBe(27);
  });
  it('byte masks at any byte offset (word-skipping path) give the same labels as a plain array', () => {
    const c = scipyFixture.random.find((r) => r.name === 'blobs3d_b')!;
    const n = c.shape.reduce((a, b) => a * b, 1);
    const mask = unpackBits(c.bits, n);
    const plain = Array.from(mask);
    const ref = labelComponents(plain, c.shape, 'full');
    for (let off = 0; off < 4; off++) {
      const buf = new Uint8Array(n + 8);
      buf.set(mask, off);
      const r = labelComponents(buf.subarray(off, off + n), c.shape, 'full');
      expect(r.count).toBe(ref.count);
      expect(r.labels).toEqual(ref.labels);
    }
  });
  it('rejects a shape that does not match the buffer', () => {
    expect(() => labelComponents(new Uint8Array(5), [2, 2, 2])).toThrow(/does not match/);
  });
});

describe('largestComponent / removeAllButLargestComponent (nnU-Net semantics)', () => {
  it('keeps only the largest component and keeps ties', () => {
    // row: 1 1 0 1 1 0 1
    const m = new Uint8Array([1, 1, 0, 1, 1, 0, 1]);
    expect(Array.from(largestComponent(m, [1, 1, 7]))).toEqual([1, 1, 0, 1, 1, 0, 0]);
  });
  it('union of labels: voxels of the union outside its largest component become background', () => {
    // labels 1 and 2 touch, forming the big component; a stray 2 and a stray 3 elsewhere
    // 1 1 2 0 2 0 3
    const seg = { data: new Uint8Array([1, 1, 2, 0, 2, 0, 3]), shape: [1, 1, 7] };
    const out = removeAllButLargestComponent(seg, [1, 2]);
    expect(Array.from(out.data)).toEqual([1, 1, 2, 0, 0, 0, 3]);
    expect(Array.from(seg.data)).toEqual([1, 1, 2, 0, 2, 0, 3]); // input untouched
    // a single label: the union is just label 2; its largest component is the first pixel of 2? both size 1 -> tie keeps both
    expect(Array.from(removeAllButLargestComponent(seg, 2).data)).toEqual([1, 1, 2, 0, 2, 0, 3]);
    // label 1 alone: one component, nothing changes
    expect(Array.from(removeAllButLargestComponent(seg, 1).data)).toEqual([1, 1, 2, 0, 2, 0, 3]);
    // custom background value
    expect(Array.from(removeAllButLargestComponent(seg, [[1, 2]], 9).data)).toEqual([1, 1, 2, 0, 9, 0, 3]);
  });
  it('empty union leaves the segmentation unchanged', () => {
    const seg = { data: new Uint8Array([0, 0, 3]), shape: [1, 1, 3] };
    expect(Array.from(removeAllButLargestComponent(seg, [1, 2]).data)).toEqual([0, 0, 3]);
  });
});

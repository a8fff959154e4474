import { describe, expect, it } from 'vitest';
import { fileToBitmapIndex } from './rasMap.ts';

// dims in NIfTI style [ndim, nx, ny, nz]; permRAS[i] = ±(file axis + 1) running along R, A, S (sign: reversed)
describe('fileToBitmapIndex (file voxel order → NiiVue RAS bitmap order)', () => {
  const [nx, ny, nz] = [2, 3, 4];
  const dims = [3, nx, ny, nz];
  const at = (m: Uint32Array, x: number, y: number, z: number) => m[x + nx * (y + ny * z)];

  it('is the identity for an RAS-stored volume', () => {
    const m = fileToBitmapIndex([1, 2, 3], dims);
    expect(Array.from(m)).toEqual(Array.from({ length: nx * ny * nz }, (_, i) => i));
  });

  it('reverses x for an LAS-stored volume', () => {
    const m = fileToBitmapIndex([-1, 2, 3], dims);
    for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) expect(at(m, x, y, z)).toBe(nx - 1 - x + nx * (y + ny * z));
  });

  it('swaps axes when the file stores A first (permRAS [2, 1, 3]) and flips S', () => {
    const m = fileToBitmapIndex([2, 1, -3], dims);
    // RAS bitmap: R runs along file y (length ny), A along file x, S along reversed file z
    for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) expect(at(m, x, y, z)).toBe(y + ny * (x + nx * (nz - 1 - z)));
  });

  it('is a permutation', () => {
    const m = fileToBitmapIndex([3, -1, 2], [3, 4, 5, 6]);
    expect(new Set(m).size).toBe(120);
    expect(Math.max(...m)).toBe(119);
  });
});

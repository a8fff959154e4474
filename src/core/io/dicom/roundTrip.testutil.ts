// Test helper for DICOM round trips: does a converted volume hold the source's voxels at the same world
// positions? (Node tests only; not exported from the dicom index.)
import { expect } from 'vitest';
import type { Image } from '../../types.ts';

function det3(a: number[][]): number {
  return (
    a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
  );
}

/** Inverse of a 4×4 affine [R t; 0 1]: [R⁻¹, −R⁻¹ t] (R⁻¹ from the adjugate). */
export function inv4(m: number[][]): number[][] {
  const r = m.slice(0, 3).map((row) => row.slice(0, 3));
  const d = det3(r);
  const c = (i: number, j: number) => {
    const rows = [0, 1, 2].filter((x) => x !== i);
    const cols = [0, 1, 2].filter((x) => x !== j);
    const v = r[rows[0]][cols[0]] * r[rows[1]][cols[1]] - r[rows[0]][cols[1]] * r[rows[1]][cols[0]];
    return ((i + j) % 2 ? -v : v) / d;
  };
  const ri = [0, 1, 2].map((i) => [0, 1, 2].map((j) => c(j, i)));
  const t = [0, 1, 2].map((i) => -(ri[i][0] * m[0][3] + ri[i][1] * m[1][3] + ri[i][2] * m[2][3]));
  return [[...ri[0], t[0]], [...ri[1], t[1]], [...ri[2], t[2]], [0, 0, 0, 1]];
}

export const mul4 = (a: number[][], b: number[][]): number[][] => a.map((row) => [0, 1, 2, 3].map((j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));

/**
 * Checks that `out` holds `src`'s voxels at the same world positions: inv(A_src)·A_out must map voxel indices
 * to voxel indices (a signed permutation plus an integer shift, within `indexTol`), every output voxel must
 * land inside the source and differ by at most `valueTol`. Returns that index map (rounded).
 */
export function expectSameWorld(src: Image, out: Image, valueTol: number, indexTol = 1e-3): number[][] {
  const m = mul4(inv4(src.properties.affine!), out.properties.affine!);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) expect(Math.abs(m[i][j] - Math.round(m[i][j]))).toBeLessThan(indexTol);
  const mi = m.map((row) => row.map(Math.round));
  const [, nz, ny, nx] = src.shape;
  const [, oz, oy, ox] = out.shape;
  let worst = 0;
  let outside = 0;
  for (let k = 0; k < oz; k++)
    for (let j = 0; j < oy; j++)
      for (let i = 0; i < ox; i++) {
        const si = mi[0][0] * i + mi[0][1] * j + mi[0][2] * k + mi[0][3];
        const sj = mi[1][0] * i + mi[1][1] * j + mi[1][2] * k + mi[1][3];
        const sk = mi[2][0] * i + mi[2][1] * j + mi[2][2] * k + mi[2][3];
        if (!(si >= 0 && si < nx && sj >= 0 && sj < ny && sk >= 0 && sk < nz)) {
          outside++;
          continue;
        }
        worst = Math.max(worst, Math.abs(out.data[(k * oy + j) * ox + i] - src.data[(sk * ny + sj) * nx + si]));
      }
  expect(outside).toBe(0);
  expect(worst).toBeLessThanOrEqual(valueTol);
  return mi;
}

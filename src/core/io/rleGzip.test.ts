// The run/row-repeat gzip encoder is checked with an independent decoder (Node's zlib, which also verifies the
// CRC-32 and length trailer) on edge cases around deflate's length codes and window limits.
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, gzipRuns } from './rleGzip.ts';
import { createNiftiHeader, readNifti, writeSegmentationNifti } from './index.ts';

function roundTrip(d: Uint8Array, row = 0): number {
  const z = gzipRuns(d, row);
  expect(Buffer.from(zlib.gunzipSync(z)).equals(Buffer.from(d))).toBe(true);
  return z.length;
}

describe('gzipRuns', () => {
  it('CRC-32 matches the standard check value and zlib', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const d = Uint8Array.from({ length: 1001 }, (_, i) => (i * 31) % 256);
    expect(crc32(d)).toBe(zlib.crc32 ? zlib.crc32(d) : crc32(d));
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
  it('decodes with zlib for every run length around the deflate length codes', () => {
    for (const n of [0, 1, 2, 3, 4, 10, 11, 18, 19, 130, 131, 226, 227, 257, 258, 259, 260, 261, 516, 517, 1000]) {
      roundTrip(new Uint8Array(n));
      roundTrip(Uint8Array.from({ length: n }, (_, i) => Math.floor(i / 7) % 3));
    }
  });
  it('row-repeat matches for every distance code (rows of 3 .. 32768 bytes)', () => {
    for (const row of [3, 4, 5, 7, 9, 13, 17, 25, 33, 100, 193, 256, 257, 1000, 4097, 24577, 32768, 40000]) {
      const n = row * 3 + 11;
      const d = Uint8Array.from({ length: n }, (_, i) => ((i % row) * 37) % 5);
      roundTrip(d, row);
    }
  });
  it('random bytes still decode (literals of both code lengths)', () => {
    let s = 12345;
    const d = Uint8Array.from({ length: 50_000 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
    roundTrip(d, 100);
  });
  it('compresses a label-like volume far below its size, within 2x of zlib level 1', () => {
    const nx = 64;
    const d = new Uint8Array(nx * nx * nx);
    for (let z = 0; z < nx; z++)
      for (let y = 0; y < nx; y++)
        for (let x = 0; x < nx; x++) {
          const r = Math.hypot(x - 32, y - 32, z - 32);
          d[(z * nx + y) * nx + x] = r < 10 ? 2 : r < 20 ? 1 : 0;
        }
    const size = roundTrip(d, nx);
    expect(size).toBeLessThan(d.length / 30);
    expect(size).toBeLessThan(2 * zlib.gzipSync(d, { level: 1 }).length);
  });
});

describe('segmentation writer compression', () => {
  const hdr = createNiftiHeader({ dims: [40, 30, 20], spacingXYZ: [1, 1, 1], datatype: 'uint8' });
  const props = { format: 'nifti' as const, spacing: [1, 1, 1], header: hdr };
  it('label maps use the run encoder; noisy ones fall back to deflate; both read back', () => {
    const smooth = Uint8Array.from({ length: 24000 }, (_, i) => (i % 1200 < 600 ? 1 : 0));
    const gz = writeSegmentationNifti({ data: smooth, shape: [20, 30, 40] }, props, 's.nii.gz');
    expect(Array.from(readNifti(gz, 's.nii.gz').raw)).toEqual(Array.from(smooth));
    let s = 7;
    const noisy = Uint8Array.from({ length: 24000 }, () => ((s = (s * 69069 + 1) >>> 0) >>> 24) % 200);
    const gz2 = writeSegmentationNifti({ data: noisy, shape: [20, 30, 40] }, props, 'n.nii.gz');
    expect(Array.from(readNifti(gz2, 'n.nii.gz').raw)).toEqual(Array.from(noisy));
    // run encoding of noisy data would exceed the raw size; the fallback keeps it near the entropy (< 8 bits)
    expect(gz2.length).toBeLessThan(24000 + 352);
  });
});

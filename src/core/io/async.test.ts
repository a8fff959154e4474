// The native-stream (DecompressionStream / CompressionStream) variants give exactly the synchronous results,
// refuse the same malformed inputs, and fall back to fflate where native streams are missing.
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'fflate';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dataPath, describeWithData } from '../../../test/sharedData.ts';
import { isSegStudioError, type SegStudioError } from '../errors.ts';
import {
  gzipAsync,
  hasNativeGzip,
  niftiToImage,
  readImageFile,
  readImageFileAsync,
  readNifti,
  readNiftiAsync,
  writeSegmentation,
  writeSegmentationAsync,
} from './index.ts';
import { fixtureDir, readBytes, sameBytes } from './testUtil.ts';

const synth = path.join(fixtureDir, 'synthetic');
const names = fs.readdirSync(synth).filter((n) => n !== 'complex64.nii');

async function rejection(p: Promise<unknown>): Promise<SegStudioError> {
  try {
    await p;
  } catch (e) {
    if (isSegStudioError(e)) return e as SegStudioError;
    throw e;
  }
  throw new Error('expected a rejection');
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('readNiftiAsync = readNifti', () => {
  it('Node has native gzip streams (so the native path is what runs below)', () => {
    expect(hasNativeGzip()).toBe(true);
  });
  for (const name of names) {
    it(name, async () => {
      const bytes = readBytes(path.join(synth, name));
      const a = readNifti(bytes, name);
      const b = await readNiftiAsync(bytes, name);
      expect(b.dims).toEqual(a.dims);
      expect(b.affine).toEqual(a.affine);
      expect(b.header).toEqual(a.header);
      expect(sameBytes(b.raw, a.raw)).toBe(true);
    });
  }
  it('falls back to fflate when DecompressionStream is missing', async () => {
    vi.stubGlobal('DecompressionStream', undefined);
    const bytes = readBytes(path.join(synth, 'multi_member.nii.gz'));
    expect(hasNativeGzip()).toBe(false);
    const b = await readNiftiAsync(bytes, 'm.nii.gz');
    expect(sameBytes(b.raw, readNifti(bytes, 'm.nii.gz').raw)).toBe(true);
  });
  it('refuses truncated streams and absurd headers like the sync reader', async () => {
    const plain = readBytes(path.join(synth, 'dtype_int16.nii'));
    const gz = gzipSync(plain);
    const e1 = await rejection(readNiftiAsync(gz.subarray(0, 60), 't.nii.gz'));
    expect(e1.code).toBe('truncated');
    expect(e1.message).toMatch(/^t\.nii\.gz: /);
    const big = plain.slice();
    new DataView(big.buffer).setInt16(42, 20000, true);
    new DataView(big.buffer).setInt16(44, 20000, true);
    const e2 = await rejection(readNiftiAsync(gzipSync(big), 'b.nii.gz'));
    expect(e2.message).toMatch(/cannot hold that much/);
    const e3 = await rejection(readImageFileAsync(Uint8Array.from([0xff, 0xd8, 0xff, 0xdb]), 'x.jpg'));
    expect(e3.message).toBe('x.jpg: JPEG is lossy; nnU-Net refuses it — convert to PNG');
  });
});

describe('native gzip writing', () => {
  it('gzipAsync output decompresses to the input', async () => {
    const data = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) % 13);
    expect(gunzipSync(await gzipAsync(data))).toEqual(data);
    vi.stubGlobal('CompressionStream', undefined);
    expect(gunzipSync(await gzipAsync(data))).toEqual(data);
  });
  it('writeSegmentationAsync(.nii.gz) holds the same NIfTI bytes as the sync writer', async () => {
    const src = readNifti(readBytes(path.join(synth, 'extensions.nii.gz')), 'src.nii.gz');
    const img = niftiToImage(src, 'src.nii.gz');
    const labels = { data: Uint8Array.from({ length: 60 }, (_, i) => i % 3), shape: img.shape.slice(1) };
    const a = await writeSegmentationAsync(labels, img.properties, 'seg.nii.gz');
    const b = writeSegmentation(labels, img.properties, 'seg.nii');
    expect(gunzipSync(a)).toEqual(b);
    const png = await writeSegmentationAsync({ data: new Uint8Array(6), shape: [1, 2, 3] }, { format: 'png', spacing: [999, 1, 1] }, 'p.png');
    expect(readImageFile(png, 'p.png').shape).toEqual([1, 1, 2, 3]);
  });
});

describeWithData('readImageFileAsync on the real scans', () => {
  it('gives the same images as readImageFile', async () => {
    const dir = dataPath('scans');
    for (const n of fs.readdirSync(dir).filter((f) => f.endsWith('.nii.gz') && !f.startsWith('brainchop'))) {
      const bytes = readBytes(path.join(dir, n));
      const a = readImageFile(bytes, n);
      const b = await readImageFileAsync(bytes, n);
      expect(b.shape, n).toEqual(a.shape);
      expect(sameBytes(b.data, a.data), n).toBe(true);
    }
  });
});

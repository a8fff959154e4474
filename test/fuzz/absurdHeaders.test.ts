// Absurd headers must be refused BEFORE anything proportional to the claim is allocated: a 400-byte file
// that claims 2^40 voxels is rejected with a SegStudioError naming the file, quickly, and the process's
// ArrayBuffer memory grows by far less than the claim (measured with process.memoryUsage()).
import { describe, expect, it } from 'vitest';
import { gzipSync, zipSync } from 'fflate';
import { createNiftiHeader, writeNifti, readImageFile, readNifti } from '../../src/core/io/index.ts';
import { readNpz } from '../../src/core/ensembling/npz.ts';
import { isSegStudioError } from '../../src/core/errors.ts';
import { crc32, joinPng, splitPng } from '../../fuzz/mutators.ts';
import { encode as encodePng } from 'fast-png';

const MiB = 1024 * 1024;

/** Runs fn, expects a SegStudioError naming `file`; returns the ArrayBuffer growth in bytes. */
function refusal(fn: () => unknown, file: string, code?: RegExp): number {
  const before = process.memoryUsage().arrayBuffers;
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  expect(err, `${file} must be refused`).not.toBeNull();
  expect(isSegStudioError(err), `${file}: ${(err as Error).message}`).toBe(true);
  expect((err as Error).message).toContain(file);
  if (code) expect((err as { code: string }).code).toMatch(code);
  return grown;
}

/** A valid 4x4x3 uint8 NIfTI-1 file of 400 bytes (352-byte header + 48 voxels) with a header edit applied. */
function nifti1(edit: (dv: DataView) => void, version: 1 | 2 = 1): Uint8Array {
  const h0 = createNiftiHeader({ dims: [4, 4, 3], spacingXYZ: [1, 1, 2], datatype: 'uint8' });
  const h = version === 2 ? { ...h0, version: 2 as const, magic: 'n+2' } : h0;
  const b = new Uint8Array(writeNifti(h, new Uint8Array(48), { fileName: 'x.nii' }));
  edit(new DataView(b.buffer));
  return b;
}

describe('absurd headers are refused before allocation', () => {
  it('NIfTI-1 claiming 32767 x 32767 x 1024 (2^40 voxels) in a 400-byte file', () => {
    const b = nifti1((dv) => {
      dv.setInt16(40, 3, true);
      dv.setInt16(42, 32767, true);
      dv.setInt16(44, 32767, true);
      dv.setInt16(46, 1024, true);
    });
    expect(b.length).toBe(400);
    // the claim is ~1.1e12 bytes; allow a few MiB of bookkeeping
    expect(refusal(() => readNifti(b, 'huge.nii'), 'huge.nii', /too-large|truncated/)).toBeLessThan(4 * MiB);
    expect(refusal(() => readImageFile(gzipSync(b), 'huge.nii.gz'), 'huge.nii.gz', /too-large|truncated/)).toBeLessThan(4 * MiB);
  });

  it('NIfTI-2 claiming 2^14 x 2^13 x 2^13 (2^40 voxels) of float64', () => {
    const b = nifti1((dv) => {
      dv.setBigInt64(16, 3n, true);
      dv.setBigInt64(24, 2n ** 14n, true);
      dv.setBigInt64(32, 2n ** 13n, true);
      dv.setBigInt64(40, 2n ** 13n, true);
      dv.setInt16(12, 64, true); // float64
      dv.setInt16(14, 64, true);
    }, 2);
    expect(refusal(() => readNifti(b, 'huge2.nii'), 'huge2.nii')).toBeLessThan(4 * MiB);
    expect(refusal(() => readNifti(gzipSync(b), 'huge2.nii.gz'), 'huge2.nii.gz')).toBeLessThan(4 * MiB);
  });

  it('negative, zero and NaN pixdim, NaN affine, vox_offset past the end or negative', () => {
    const cases: [string, (dv: DataView) => void][] = [
      ['negpix', (dv) => dv.setFloat32(80, -1, true)],
      ['zeropix', (dv) => dv.setFloat32(84, 0, true)],
      ['nanpix', (dv) => dv.setFloat32(88, NaN, true)],
      ['nansform', (dv) => dv.setFloat32(280, NaN, true)],
      [
        'nanqform',
        (dv) => {
          dv.setInt16(254, 0, true);
          dv.setInt16(252, 1, true);
          dv.setFloat32(256, NaN, true);
        },
      ],
      ['voxpast', (dv) => dv.setFloat32(108, 1e9, true)],
      ['voxneg', (dv) => dv.setFloat32(108, -352, true)],
    ];
    for (const [name, edit] of cases) {
      const b = nifti1(edit);
      expect(refusal(() => readNifti(b, `${name}.nii`), `${name}.nii`)).toBeLessThan(MiB);
      expect(refusal(() => readNifti(gzipSync(b), `${name}.nii.gz`), `${name}.nii.gz`)).toBeLessThan(4 * MiB);
    }
  });

  it('a gzip trailer claiming 4 GiB does not pre-allocate it', () => {
    const gz = gzipSync(nifti1(() => {}));
    new DataView(gz.buffer).setUint32(gz.length - 4, 0xffffffff, true);
    const before = process.memoryUsage().arrayBuffers;
    try {
      readImageFile(gz, 'isize.nii.gz');
    } catch (e) {
      expect(isSegStudioError(e)).toBe(true);
    }
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * MiB);
  });

  it('PNG whose IHDR claims 2^31-1 x 2^31-1 pixels (valid CRC) in a tiny file', () => {
    const small = encodePng({ width: 2, height: 2, data: new Uint8Array(4), depth: 8, channels: 1 });
    const chunks = splitPng(small)!;
    const ihdr = chunks.find((c) => c.type === 'IHDR')!;
    const dv = new DataView(ihdr.data.buffer, ihdr.data.byteOffset, 13);
    dv.setUint32(0, 0x7fffffff);
    dv.setUint32(4, 0x7fffffff);
    const png = joinPng(chunks, true);
    // CRC recomputed, so only the size claim is wrong
    const c = new DataView(png.buffer).getUint32(8 + 8 + 13);
    expect(c).toBe(crc32(png.subarray(12, 12 + 4 + 13)));
    expect(refusal(() => readImageFile(png, 'huge.png'), 'huge.png')).toBeLessThan(4 * MiB);
  });

  it('.npy header claiming 65536^3 float32 in a tiny .npz', () => {
    const head = "{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 65536), }";
    const pad = 64 - ((10 + head.length + 1) % 64);
    const h = head + ' '.repeat(pad) + '\n';
    const npy = new Uint8Array(10 + h.length + 16);
    npy.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 0xff, h.length >> 8]);
    npy.set(new TextEncoder().encode(h), 10);
    const npz = zipSync({ 'probabilities.npy': npy });
    expect(refusal(() => readNpz(npz, 'huge.npz'), 'huge.npz')).toBeLessThan(4 * MiB);
  });
});

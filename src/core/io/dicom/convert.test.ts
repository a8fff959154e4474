// NIfTI → DICOM (our writer) → dcm2niix (its WebAssembly build, run in Node) → NIfTI: the geometry and the
// voxel values survive. dcm2niix is the independent reader here: it builds the affine from
// ImagePositionPatient / ImageOrientationPatient / PixelSpacing itself.
import { describe, expect, it } from 'vitest';
import { makePhantom } from '../../demo/phantom.ts';
import { isSegStudioError } from '../../errors.ts';
import type { Image } from '../../types.ts';
import { nodeDcm2niixFactory } from '../../../node/dcm2niixNode.ts';
import { niftiToImage, readNifti } from '../nifti.ts';
import { convertDicom, type DicomInput } from './convert.ts';
import { writeDicomSeries } from './writer.ts';
import { expectSameWorld } from './roundTrip.testutil.ts';

const factory = nodeDcm2niixFactory();

function volume(shape: [number, number, number], affine: number[][], value: (n: number) => number): Image {
  const [nz, ny, nx] = shape;
  const data = Float32Array.from({ length: nz * ny * nx }, (_, n) => value(n));
  return { data, shape: [1, nz, ny, nx], properties: { format: 'nifti', spacing: [0, 0, 0], affine } };
}

async function roundTrip(img: Image, opts: Parameters<typeof writeDicomSeries>[1] = {}) {
  const [, nz, ny, nx] = img.shape;
  const { files, geometry } = writeDicomSeries({ data: img.data, shape: [nz, ny, nx], affine: img.properties.affine! }, opts);
  const res = await convertDicom(files.map((f) => ({ name: `series/${f.name}`, bytes: f.bytes })), factory);
  expect(res.skipped).toEqual([]);
  expect(res.series).toHaveLength(1);
  const s = res.series[0];
  return { series: s, out: niftiToImage(readNifti(s.nifti, s.fileName)), geometry };
}

function expectAffineClose(a: number[][], b: number[][], tol: number) {
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(Math.abs(a[i][j] - b[i][j])).toBeLessThanOrEqual(tol);
}

describe('NIfTI → DICOM → dcm2niix round trip', () => {
  it('axis-aligned, left-handed grid (dcm2niix\'s own layout): same dims, affine within 1e-3 mm, same values', async () => {
    const A = [
      [-0.8, 0, 0, 40.25],
      [0, 0.9, 0, -71.5],
      [0, 0, 2.2, 13],
      [0, 0, 0, 1],
    ];
    const src = volume([5, 6, 7], A, (n) => (n * 37) % 1000 - 300);
    const { out, series } = await roundTrip(src, { seriesDescription: 'T2 axial', seriesNumber: 4 });
    expect(out.shape).toEqual(src.shape);
    expectAffineClose(out.properties.affine!, A, 1e-3);
    expect(Array.from(out.data)).toEqual(Array.from(src.data));
    expect(series).toMatchObject({ description: 'T2 axial', seriesNumber: 4, modality: 'MR', dims: [7, 6, 5], fileCount: 5, fileName: '4_T2_axial.nii' });
  });

  it('oblique (rotated about two axes) with non-integer CT values: affine within 1e-3 mm, values within the rescale step', async () => {
    const c30 = Math.cos(Math.PI / 6);
    const s30 = Math.sin(Math.PI / 6);
    const c15 = Math.cos(Math.PI / 12);
    const s15 = Math.sin(Math.PI / 12);
    // R = Rz(30°) · Rx(15°) · diag(-1, 1, 1), spacing (0.7, 1.2, 3): left-handed
    const rz = [[c30, -s30, 0], [s30, c30, 0], [0, 0, 1]];
    const rx = [[1, 0, 0], [0, c15, -s15], [0, s15, c15]];
    const r = rz.map((row) => [0, 1, 2].map((j) => row.reduce((s, v, k) => s + v * rx[k][j], 0)));
    const sp = [0.7, 1.2, 3];
    const A = [0, 1, 2].map((i) => [-r[i][0] * sp[0], r[i][1] * sp[1], r[i][2] * sp[2], [10.5, -20.25, 33][i]]);
    A.push([0, 0, 0, 1]);
    const src = volume([6, 5, 8], A, (n) => Math.sin(n * 0.7) * 900 - 100.25);
    const { out, geometry, series } = await roundTrip(src, { modality: 'CT' });
    expect(series.modality).toBe('CT');
    expect(out.shape).toEqual(src.shape);
    expectAffineClose(out.properties.affine!, A, 1e-3);
    expect(geometry.slope).not.toBe(1);
    let worst = 0;
    for (let i = 0; i < src.data.length; i++) worst = Math.max(worst, Math.abs(out.data[i] - src.data[i]));
    expect(worst).toBeLessThanOrEqual(geometry.slope / 2 + 1e-3);
  });

  it('the demo phantom (right-handed RAS grid): dcm2niix stores slices along the DICOM normal; same voxels at the same world positions', async () => {
    const p = makePhantom({ size: [32, 28, 12] });
    const { out, geometry } = await roundTrip(p.image);
    expect(out.shape).toEqual(p.image.shape);
    const m = expectSameWorld(p.image, out, geometry.slope / 2 + 1e-3);
    // the only difference is the slice order (k → nz − 1 − k); rows and columns as in the source
    expect(m.slice(0, 3)).toEqual([
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, -1, 11],
    ]);
  });
});

describe('convertDicom on a mixed folder', () => {
  const A = [
    [-1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 2, 0],
    [0, 0, 0, 1],
  ];
  const t1 = writeDicomSeries({ data: new Float32Array(4 * 5 * 6).map((_, i) => i), shape: [4, 5, 6], affine: A }, { seriesNumber: 7, seriesDescription: 'T1 MPRAGE', uidSeed: 1 });
  const ct = writeDicomSeries({ data: new Float32Array(3 * 4 * 4).map((_, i) => i - 1024), shape: [3, 4, 4], affine: A }, { seriesNumber: 2, seriesDescription: 'CT head', modality: 'CT', uidSeed: 2 });

  it('converts each series, names what it left out, counts files per series', async () => {
    const truncated = ct.files[0].bytes.subarray(0, ct.files[0].bytes.length - 10);
    const inputs: DicomInput[] = [
      ...t1.files.map((f) => ({ name: `study/t1/${f.name}`, bytes: f.bytes })),
      ...ct.files.slice(1).map((f) => ({ name: `study/ct/${f.name}`, bytes: f.bytes })),
      { name: 'study/ct/IM0001.dcm', bytes: truncated },
      { name: 'study/notes.txt', bytes: new TextEncoder().encode('not an image') },
      { name: 'study/.DS_Store', bytes: new Uint8Array([0, 0, 0, 1, 66, 117, 100, 49]) },
    ];
    const stages = new Set<string>();
    const res = await convertDicom(inputs, factory, { onProgress: (_d, _t, s) => stages.add(s ?? '') });
    expect(res.skipped).toEqual([
      { name: 'study/ct/IM0001.dcm', reason: 'truncated: pixel data has 22 of 32 bytes' },
      { name: 'study/notes.txt', reason: 'not a DICOM file' },
      { name: 'study/.DS_Store', reason: 'not a DICOM file' },
    ]);
    expect(res.series.map((s) => [s.id, s.seriesNumber, s.description, s.modality, s.dims, s.fileCount])).toEqual([
      ['s1', 2, 'CT head', 'CT', [4, 4, 2], 2],
      ['s2', 7, 'T1 MPRAGE', 'MR', [6, 5, 4], 4],
    ]);
    const ctOut = niftiToImage(readNifti(res.series[0].nifti, 'ct.nii'));
    expect(Array.from(ctOut.data)).toEqual(Array.from({ length: 32 }, (_, i) => i + 16 - 1024));
    expect(stages).toContain('converting (dcm2niix)');
  });

  it('refuses a folder without DICOM images, naming the files and why', async () => {
    const err = await convertDicom(
      [
        { name: 'x/readme.md', bytes: new TextEncoder().encode('# hello') },
        { name: 'x/cut.dcm', bytes: t1.files[0].bytes.subarray(0, 400) },
      ],
      factory,
    ).catch((e: unknown) => e);
    expect(isSegStudioError(err)).toBe(true);
    expect((err as Error).message).toMatch(/^x\/readme\.md, x\/cut\.dcm: no DICOM images found \(x\/readme\.md: not a DICOM file; x\/cut\.dcm: corrupt DICOM header/);
  });

  it('stops when cancelled', async () => {
    const err = await convertDicom(t1.files.map((f) => ({ name: f.name, bytes: f.bytes })), factory, { signal: { aborted: true } }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('cancelled');
  });
});

// verify rules on small synthetic datasets held in memory. Images are tiny JSON "files" read by a fake reader,
// so each rule is tested in isolation (the real-data run on shared/data lives in verify.data.test.ts).
import { describe, expect, it } from 'vitest';
import type { Image } from '../types.ts';
import { memoryDatasetFiles as memFiles } from './dataset.ts';
import { formatVerifyReport, verifyDataset } from './verify.ts';

interface FakeImg {
  shape: number[]; // [C, z, y, x]
  spacing?: number[];
  origin?: number[];
  values?: (number | string)[];
  fill?: number;
  dtype?: number; // NIfTI datatype code
}

function fakeReader(bytes: Uint8Array, name: string): Image {
  const f = JSON.parse(new TextDecoder().decode(bytes)) as FakeImg;
  const n = f.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n).fill(f.fill ?? 0);
  f.values?.forEach((v, i) => (data[i] = typeof v === 'string' ? Number(v) : v));
  const sp = f.spacing ?? [1, 1, 1];
  const o = f.origin ?? [0, 0, 0];
  return {
    data,
    shape: f.shape,
    properties: {
      format: 'nifti',
      spacing: sp,
      affine: [
        [sp[2], 0, 0, o[0]],
        [0, sp[1], 0, o[1]],
        [0, 0, sp[0], o[2]],
        [0, 0, 0, 1],
      ],
      header: { datatypeCode: f.dtype ?? 16 },
      fileName: name,
    },
  };
}

const img = (x: Partial<FakeImg> = {}) => JSON.stringify({ shape: [1, 2, 2, 2], fill: 5, ...x });
const lab = (values: (number | string)[], x: Partial<FakeImg> = {}) => JSON.stringify({ shape: [1, 2, 2, 2], values, dtype: 2, ...x });
const dsJson = (x: Record<string, unknown> = {}) =>
  JSON.stringify({ channel_names: { '0': 'MRI' }, labels: { background: 0, a: 1, b: 2 }, numTraining: 2, file_ending: '.nii.gz', ...x });

function clean(): Record<string, string> {
  return {
    'dataset.json': dsJson(),
    'imagesTr/c1_0000.nii.gz': img(),
    'imagesTr/c2_0000.nii.gz': img(),
    'labelsTr/c1.nii.gz': lab([0, 1, 2, 0]),
    'labelsTr/c2.nii.gz': lab([1, 1, 2, 0]),
  };
}

async function run(files: Record<string, string>) {
  return verifyDataset(memFiles(files), { readImage: fakeReader });
}

const errorsOf = (r: Awaited<ReturnType<typeof run>>) => r.problems.filter((p) => p.severity === 'error').map((p) => `${p.case}|${p.file}|${p.problem}`);
const warningsOf = (r: Awaited<ReturnType<typeof run>>) => r.problems.filter((p) => p.severity === 'warning').map((p) => `${p.case}|${p.problem}`);

describe('verifyDataset rules', () => {
  it('a clean dataset passes with no problems', async () => {
    const r = await run(clean());
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.cases.map((c) => c.id)).toEqual(['c1', 'c2']);
    expect(r.cases[0].labelValues).toEqual([0, 1, 2]);
    expect(formatVerifyReport(r)).toMatch(/OK: 2 case\(s\) verified/);
  });
  it('missing channel', async () => {
    const f = { ...clean(), 'dataset.json': dsJson({ channel_names: { '0': 'T1', '1': 'T2' } }), 'imagesTr/c1_0001.nii.gz': img() };
    const r = await run(f);
    expect(r.ok).toBe(false);
    expect(errorsOf(r)).toEqual(['c2|null|missing channel(s) _0001 (dataset.json declares 2)']);
    expect(r.cases.map((c) => c.errors)).toEqual([0, 1]);
    expect(formatVerifyReport(r)).toMatch(/^FAIL c2 /m);
  });
  it('undeclared label value is listed', async () => {
    const r = await run({ ...clean(), 'labelsTr/c2.nii.gz': lab([1, 3, 2, 7]) });
    expect(errorsOf(r)).toEqual(['c2|labelsTr/c2.nii.gz|unexpected label value(s) 3, 7 (declared: 0, 1, 2)']);
  });
  it('ignore label counts as declared', async () => {
    const r = await run({ ...clean(), 'dataset.json': dsJson({ labels: { background: 0, a: 1, b: 2, ignore: 3 } }), 'labelsTr/c2.nii.gz': lab([1, 3, 2]) });
    expect(r.ok).toBe(true);
  });
  it('geometry: shape and spacing mismatches are errors, origin mismatch a warning', async () => {
    const r = await run({
      ...clean(),
      'labelsTr/c1.nii.gz': lab([0, 1, 2], { shape: [1, 2, 2, 3] }),
      'labelsTr/c2.nii.gz': lab([0, 1, 2], { spacing: [1, 1, 1.01], origin: [0, 0, 5] }),
    });
    expect(errorsOf(r)).toEqual([
      'c1|labelsTr/c1.nii.gz|shape [2, 2, 3] differs from the image\'s [2, 2, 2]',
      'c2|labelsTr/c2.nii.gz|spacing [1, 1, 1.01] differs from the image\'s [1, 1, 1]',
    ]);
    expect(warningsOf(r)).toEqual(["c2|origin [0, 0, 5] differs from the image's [0, 0, 0]"]);
  });
  it('spacing within np.allclose tolerance passes', async () => {
    const r = await run({ ...clean(), 'labelsTr/c1.nii.gz': lab([0, 1, 2], { spacing: [1, 1, 1 + 5e-6] }) });
    expect(r.ok).toBe(true);
  });
  it('NaN and Inf in an image, NaN and fractions in a label', async () => {
    const r = await run({
      ...clean(),
      'imagesTr/c1_0000.nii.gz': img({ values: ['NaN', 'Infinity', 3] }),
      'labelsTr/c2.nii.gz': lab(['NaN', 1.5, 2]),
    });
    expect(errorsOf(r)).toEqual([
      'c1|imagesTr/c1_0000.nii.gz|image contains 1 NaN voxel(s); replace them with a meaningful value',
      'c1|imagesTr/c1_0000.nii.gz|image contains 1 infinite voxel(s)',
      'c2|labelsTr/c2.nii.gz|label contains 1 NaN voxel(s)',
      'c2|labelsTr/c2.nii.gz|label contains 1 non-integer value(s)',
      'c2|labelsTr/c2.nii.gz|unexpected label value(s) 1.5 (declared: 0, 1, 2)',
    ]);
  });
  it('non-consecutive labels in dataset.json', async () => {
    const r = await run({ ...clean(), 'dataset.json': dsJson({ labels: { background: 0, a: 1, b: 3 } }), 'labelsTr/c1.nii.gz': lab([0, 1, 3]), 'labelsTr/c2.nii.gz': lab([1, 3]) });
    expect(errorsOf(r)).toEqual(['null|dataset.json|labels must be consecutive (0, 1, 2, ...); 3 break the sequence (declared: 0, 1, 3)']);
  });
  it('notes: background-only label, float label storage, mixed image dtypes, a label never present', async () => {
    const r = await run({
      ...clean(),
      'imagesTr/c2_0000.nii.gz': img({ dtype: 2 }),
      'labelsTr/c1.nii.gz': lab([0, 1, 0], { dtype: 16 }),
      'labelsTr/c2.nii.gz': lab([0]),
    });
    expect(r.ok).toBe(true);
    expect(warningsOf(r)).toEqual([
      'c1|label stored as float32 (values are read as integers)',
      'c2|label contains only background (0)',
      'null|mixed image data types: float32 (1), uint8 (1); intensities are normalized per case',
      'null|declared label(s) 2 never occur in any training label',
    ]);
  });
  it('unreadable file and missing dataset.json', async () => {
    const r = await run({ ...clean(), 'labelsTr/c2.nii.gz': '{garbage' });
    expect(errorsOf(r)[0]).toMatch(/^c2\|labelsTr\/c2.nii.gz\|cannot be read/);
    const { 'dataset.json': _d, ...rest } = clean();
    const r2 = await run(rest);
    expect(r2.ok).toBe(false);
    expect(r2.dataset).toBeNull();
    expect(errorsOf(r2)).toEqual(['null|dataset.json|dataset.json not found in the dataset folder']);
  });
  it('channels are counted after reading, as nnU-Net does (a file may hold several channels)', async () => {
    // one file with 2 channels where 1 is declared
    const r = await run({ ...clean(), 'imagesTr/c1_0000.nii.gz': img({ shape: [2, 2, 2, 2] }) });
    expect(errorsOf(r)).toEqual(['c1|null|the image file(s) hold 2 channel(s) but dataset.json declares 1']);
    // RGB PNG: channel_names R, G, B and a single _0000 file holding 3 channels per case → clean
    const rgb = {
      'dataset.json': dsJson({ channel_names: { '0': 'R', '1': 'G', '2': 'B' }, file_ending: '.png', numTraining: 1 }),
      'imagesTr/c1_0000.png': img({ shape: [3, 1, 2, 2] }),
      'labelsTr/c1.png': lab([0, 1, 2, 1], { shape: [1, 1, 2, 2] }),
    };
    const ok = await run(rgb);
    expect(ok.problems).toEqual([]);
    // a gray PNG where RGB is declared: the layout note becomes an error after reading
    const gray = await run({ ...rgb, 'imagesTr/c1_0000.png': img({ shape: [1, 1, 2, 2] }) });
    expect(errorsOf(gray)).toEqual(['c1|null|the image file(s) hold 1 channel(s) but dataset.json declares 3']);
    expect(gray.ok).toBe(false);
  });
});

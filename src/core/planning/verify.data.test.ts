// verify on the real shared datasets (must pass) and on broken copies built in a temp folder with io's writers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { dataPath, describeWithData } from '../../../test/sharedData.ts';
import { readImageFile, writeFloatNifti, writeSegmentation } from '../io/index.ts';
import { nodeDatasetFiles } from '../../node/fsDataset.ts';
import { verifyDataset } from './verify.ts';

describeWithData('verify on shared/data', () => {
  it('Dataset004_Hippocampus passes (190 cases); only notes: float32 label of case 003, mixed image dtypes', async () => {
    const r = await verifyDataset(nodeDatasetFiles(dataPath('Dataset004_Hippocampus')), { readImage: readImageFile });
    expect(r.ok).toBe(true);
    expect(r.cases.length).toBe(190);
    expect(r.errors).toBe(0);
    expect(r.problems.map((p) => `${p.case}|${p.problem}`)).toEqual([
      'hippocampus_003|label stored as float32 (values are read as integers)',
      'null|mixed image data types: float32 (150), uint8 (40); intensities are normalized per case',
    ]);
    expect(r.cases.every((c) => c.labelValues?.join() === '0,1,2')).toBe(true);
  });
  it('Dataset901_ISBI2012EM passes (23 PNG cases, labels {0,1}, 2D grid [1, 512, 512])', async () => {
    const r = await verifyDataset(nodeDatasetFiles(dataPath('Dataset901_ISBI2012EM')), { readImage: readImageFile });
    expect(r.problems).toEqual([]);
    expect(r.cases.length).toBe(23);
    expect(r.cases[0].shape).toEqual([1, 512, 512]);
  });

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-verify-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('broken copies: missing channel, undeclared label, shape and spacing mismatch, NaN image', async () => {
    const src = dataPath('Dataset004_Hippocampus');
    const ids = ['hippocampus_006', 'hippocampus_007', 'hippocampus_008', 'hippocampus_011', 'hippocampus_014'];
    fs.mkdirSync(path.join(tmp, 'imagesTr'), { recursive: true });
    fs.mkdirSync(path.join(tmp, 'labelsTr'), { recursive: true });
    for (const id of ids) {
      fs.copyFileSync(path.join(src, 'imagesTr', `${id}_0000.nii.gz`), path.join(tmp, 'imagesTr', `${id}_0000.nii.gz`));
      fs.copyFileSync(path.join(src, 'labelsTr', `${id}.nii.gz`), path.join(tmp, 'labelsTr', `${id}.nii.gz`));
    }
    const ds = JSON.parse(fs.readFileSync(path.join(src, 'dataset.json'), 'utf8'));
    fs.writeFileSync(path.join(tmp, 'dataset.json'), JSON.stringify({ ...ds, numTraining: ids.length }));
    // sanity: the copy is clean
    expect((await verifyDataset(nodeDatasetFiles(tmp), { readImage: readImageFile })).ok).toBe(true);

    const read = (rel: string) => readImageFile(new Uint8Array(fs.readFileSync(path.join(tmp, rel))), rel);
    // 007: undeclared label 5 in one voxel
    {
      const l = read('labelsTr/hippocampus_007.nii.gz');
      const data = Uint8Array.from(l.data);
      data[10] = 5;
      fs.writeFileSync(path.join(tmp, 'labelsTr/hippocampus_007.nii.gz'), writeSegmentation({ data, shape: l.shape.slice(1) }, l.properties, 'x.nii.gz'));
    }
    // 008: label one slice shorter (shape mismatch)
    {
      const l = read('labelsTr/hippocampus_008.nii.gz');
      const [z, y, x] = l.shape.slice(1);
      const data = Uint8Array.from(l.data.subarray(0, (z - 1) * y * x));
      const props = { format: 'nifti' as const, spacing: l.properties.spacing, affine: l.properties.affine };
      fs.writeFileSync(path.join(tmp, 'labelsTr/hippocampus_008.nii.gz'), writeSegmentation({ data, shape: [z - 1, y, x] }, props, 'x.nii.gz'));
    }
    // 011: label written with spacing 2 mm along z (spacing mismatch)
    {
      const l = read('labelsTr/hippocampus_011.nii.gz');
      const a = l.properties.affine!.map((r) => r.slice());
      for (let r = 0; r < 3; r++) a[r][2] *= 2;
      const props = { format: 'nifti' as const, spacing: [2 * l.properties.spacing[0], l.properties.spacing[1], l.properties.spacing[2]], affine: a };
      fs.writeFileSync(path.join(tmp, 'labelsTr/hippocampus_011.nii.gz'), writeSegmentation({ data: Uint8Array.from(l.data), shape: l.shape.slice(1) }, props, 'x.nii.gz'));
    }
    // 014: NaN voxels in the image
    {
      const im = read('imagesTr/hippocampus_014_0000.nii.gz');
      const data = Float32Array.from(im.data);
      data[0] = NaN;
      data[99] = NaN;
      fs.writeFileSync(path.join(tmp, 'imagesTr/hippocampus_014_0000.nii.gz'), writeFloatNifti(data, im.shape.slice(1), 1, im.properties, 'x.nii.gz'));
    }
    // a second channel declared, present only for 006
    fs.writeFileSync(path.join(tmp, 'dataset.json'), JSON.stringify({ ...ds, numTraining: ids.length, channel_names: { '0': 'MRI', '1': 'T2' } }));
    fs.copyFileSync(path.join(tmp, 'imagesTr/hippocampus_006_0000.nii.gz'), path.join(tmp, 'imagesTr/hippocampus_006_0001.nii.gz'));

    const r = await verifyDataset(nodeDatasetFiles(tmp), { readImage: readImageFile });
    expect(r.ok).toBe(false);
    const errs = r.problems.filter((p) => p.severity === 'error').map((p) => `${p.case}: ${p.problem}`);
    expect(errs).toContain('hippocampus_007: missing channel(s) _0001 (dataset.json declares 2)');
    expect(errs).toContain('hippocampus_014: missing channel(s) _0001 (dataset.json declares 2)');
    expect(errs.some((e) => e.startsWith('hippocampus_006'))).toBe(false);
    expect(errs).toContain('hippocampus_007: unexpected label value(s) 5 (declared: 0, 1, 2)');
    expect(errs.find((e) => e.startsWith('hippocampus_008: shape'))).toMatch(/shape \[\d+, \d+, \d+\] differs from the image's/);
    expect(errs.find((e) => e.startsWith('hippocampus_011: spacing'))).toMatch(/spacing \[2, 1, 1\] differs from the image's \[1, 1, 1\]/);
    expect(errs).toContain('hippocampus_014: image contains 2 NaN voxel(s); replace them with a meaningful value');
    const byCase = Object.fromEntries(r.cases.map((c) => [c.id, c.errors]));
    expect(byCase.hippocampus_006).toBe(0);
  });
});

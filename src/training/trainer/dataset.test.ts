// Training refuses to start on a dataset with verify errors (issue 7): verifyForTraining (used by the training
// worker's start and by `segstudio train`) names each broken case and its problem; a clean dataset passes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readImageFile, writeSegmentation } from '../../core/io/index.ts';
import { writeFloatNifti } from '../../core/io/nifti.ts';
import { memoryDatasetFiles } from '../../core/planning/dataset.ts';
import { isSegStudioError } from '../../core/errors.ts';
import { verifyForTraining } from './dataset.ts';
import { run as train } from '../../cli/verbs/train.ts';

const PROPS = { format: 'nifti' as const, spacing: [1, 1, 1] };

/** A tiny 3-case dataset; `broken` adds an undeclared label value (c1) and a label of another shape (c2). */
function tinyDataset(broken: boolean): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>();
  m.set('dataset.json', new TextEncoder().encode(JSON.stringify({ channel_names: { '0': 'CT' }, labels: { background: 0, organ: 1 }, numTraining: 3, file_ending: '.nii.gz' })));
  for (let k = 0; k < 3; k++) {
    const shape = [3, 4, 5];
    const n = 60;
    m.set(`imagesTr/c${k}_0000.nii.gz`, writeFloatNifti(Float32Array.from({ length: n }, (_, i) => i + k), shape, 1, PROPS, 'i.nii.gz'));
    const lab = Uint8Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 1 : 0));
    if (broken && k === 1) lab[3] = 5;
    const lshape = broken && k === 2 ? [3, 4, 4] : shape;
    m.set(`labelsTr/c${k}.nii.gz`, writeSegmentation({ data: lab.subarray(0, lshape[0] * lshape[1] * lshape[2]), shape: lshape }, PROPS, 'l.nii.gz'));
  }
  return m;
}

describe('verifyForTraining', () => {
  it('passes a clean dataset and refuses a broken one, naming each case and problem', async () => {
    const ok = await verifyForTraining(memoryDatasetFiles(tinyDataset(false)), readImageFile);
    expect(ok.ok).toBe(true);
    expect(ok.cases.length).toBe(3);
    let err: unknown;
    try {
      await verifyForTraining(memoryDatasetFiles(tinyDataset(true)), readImageFile, { datasetLabel: 'MyDataset' });
    } catch (e) {
      err = e;
    }
    expect(isSegStudioError(err)).toBe(true);
    const e = err as Error & { code: string };
    expect(e.code).toBe('dataset-invalid');
    expect(e.message).toMatch(/^MyDataset: the dataset has 2 error\(s\) in case\(s\) c1, c2; training refuses to start/);
    expect(e.message).toMatch(/case c1: labelsTr\/c1\.nii\.gz: .*5/);
    expect(e.message).toMatch(/case c2: .*shape/);
  });

  it('segstudio train refuses before planning or training, naming the dataset folder', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-verify-train-'));
    try {
      for (const [name, bytes] of tinyDataset(true)) {
        fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
        fs.writeFileSync(path.join(dir, name), bytes);
      }
      const out = path.join(dir, 'results');
      await expect(train([dir, '-c', '3d_fullres', '-f', '0', '-o', out])).rejects.toThrow(/the dataset has 2 error\(s\) in case\(s\) c1, c2/);
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

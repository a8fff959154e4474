// The fold's validation outputs (writeFoldValidation, what `segstudio train` and the training worker write):
// CASE<ending> + CASE.npz + CASE.json + summary.json. find-best must reach exactly the same decision from
// these files as from probabilities predicted afterwards by its own --predict-probabilities path
// (src/node/crossval.ts predictValidationProbabilities → predictFiles), which is the independent route here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFloatNifti } from '../../core/io/nifti.ts';
import { readImageFile } from '../../core/io/index.ts';
import { loadBundle } from '../../core/inference/bundle.ts';
import { readNpzKey } from '../../core/ensembling/npz.ts';
import { parseSummaryJson } from '../../core/evaluation/metrics.ts';
import { createOrtNodeRunner } from '../../node/ortNodeRunner.ts';
import { NodeTrainerFiles } from '../../node/trainerFiles.ts';
import { findBestConfiguration, predictValidationProbabilities } from '../../node/crossval.ts';
import { readFolder, writeFakeModel, writeRawDataset, type FakeCase } from '../../node/crossval.testutil.ts';
import { writeFoldValidation } from './validation.ts';

const SHAPE = [4, 9, 10];
const N = SHAPE[0] * SHAPE[1] * SHAPE[2];
const DATASET = { channel_names: { '0': 'MRI' }, labels: { background: 0, a: 1, b: 2 }, numTraining: 4, file_ending: '.nii.gz' };
const PROPS = { format: 'nifti' as const, spacing: [1, 1, 1] };
const CASES: FakeCase[] = ['c0', 'c1', 'c2', 'c3'].map((id) => ({ id, shape: SHAPE, properties: PROPS }));

/** image intensities: a ramp along x plus a per-case offset; the reference labels: thresholds of the same ramp */
function image(k: number): Float32Array {
  const a = new Float32Array(N);
  for (let i = 0; i < N; i++) a[i] = (i % SHAPE[2]) / 3 - 1 + 0.1 * k + 0.05 * Math.sin(i);
  return a;
}
function reference(k: number): Uint8Array {
  const im = image(k);
  return Uint8Array.from(im, (v) => (v > 1.2 ? 2 : v > 0.3 ? 1 : 0));
}

let root = '';
let ds = '';

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-valnpz-'));
  ds = path.join(root, 'Dataset998_Ramp');
  writeRawDataset(ds, DATASET, CASES, (_c, k) => reference(k));
  fs.mkdirSync(path.join(ds, 'imagesTr'), { recursive: true });
  CASES.forEach((c, k) => {
    const f = path.join(ds, 'imagesTr', `${c.id}_0000.nii.gz`);
    fs.writeFileSync(f, writeFloatNifti(image(k), SHAPE, 1, PROPS, f));
  });
  // two "trained" models: one fold per case, each fold a pointwise network with its own weights
  // (fake validation segmentations, no probabilities: both routes below re-predict them)
  for (const res of ['viaPredict', 'viaTrain'])
    for (const cfg of ['2d', '3d_fullres'])
      await writeFakeModel(path.join(root, res, 'Dataset998_Ramp'), cfg, DATASET, CASES, () => ({ seg: new Uint8Array(N) }), cfg === '2d' ? [8, 8] : [4, 8, 8]);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('writeFoldValidation', () => {
  it('writes CASE.nii.gz, CASE.npz, CASE.json and summary.json; find-best decides exactly as with re-predicted probabilities', async () => {
    const viaPredict = path.join(root, 'viaPredict', 'Dataset998_Ramp');
    const viaTrain = path.join(root, 'viaTrain', 'Dataset998_Ramp');
    // route 1: find-best's own re-prediction of the missing probabilities (nnU-Net --val --npz)
    for (const cfg of ['2d', '3d_fullres'])
      expect(await predictValidationProbabilities(path.join(viaPredict, `nnUNetTrainer__nnUNetPlans__${cfg}`), [0, 1, 2, 3], ds)).toBe(4);
    // route 2: the trainer's final validation of each fold
    for (const cfg of ['2d', '3d_fullres'])
      for (let k = 0; k < CASES.length; k++) {
        const foldDir = path.join(viaTrain, `nnUNetTrainer__nnUNetPlans__${cfg}`, `fold_${k}`);
        const bundle = await loadBundle(readFolder(path.join(foldDir, 'bundle')), 'bundle');
        const runners = [await createOrtNodeRunner(bundle.networks[0].bytes, { device: 'cpu', fileName: bundle.networks[0].name })];
        const valDir = path.join(foldDir, 'validation');
        fs.rmSync(valDir, { recursive: true, force: true });
        const img = readImageFile(new Uint8Array(fs.readFileSync(path.join(ds, 'imagesTr', `c${k}_0000.nii.gz`))), `c${k}_0000.nii.gz`);
        const s = await writeFoldValidation(
          bundle,
          runners,
          [{ id: `c${k}`, image: img, reference: { data: reference(k), shape: SHAPE }, referenceFile: `c${k}.nii.gz`, predictionFile: '' }],
          new NodeTrainerFiles(valDir),
          { fileEnding: '.nii.gz' },
        );
        await runners[0].dispose();
        expect(fs.readdirSync(valDir).sort()).toEqual([`c${k}.json`, `c${k}.nii.gz`, `c${k}.npz`, 'summary.json']);
        const stored = parseSummaryJson(fs.readFileSync(path.join(valDir, 'summary.json'), 'utf8'));
        expect(stored.foreground_mean.Dice).toBe(s.foreground_mean.Dice);
        expect(stored.metric_per_case[0].prediction_file).toBe(path.join(valDir, `c${k}.nii.gz`));
        // the same probabilities as the independent prediction route, and softmax (sums to 1)
        const p1 = readNpzKey(new Uint8Array(fs.readFileSync(path.join(valDir, `c${k}.npz`))), 'probabilities');
        const other = path.join(viaPredict, `nnUNetTrainer__nnUNetPlans__${cfg}`, `fold_${k}`, 'validation');
        const p2 = readNpzKey(new Uint8Array(fs.readFileSync(path.join(other, `c${k}.npz`))), 'probabilities');
        expect(p1.shape).toEqual([3, ...SHAPE]);
        expect(p1.shape).toEqual(p2.shape);
        let maxDiff = 0;
        for (let i = 0; i < p1.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(p1.data[i] - p2.data[i]));
        expect(maxDiff).toBe(0);
        expect(p1.data[0] + p1.data[N] + p1.data[2 * N]).toBeCloseTo(1, 5);
        // the segmentation files are identical voxel for voxel
        const seg1 = readImageFile(new Uint8Array(fs.readFileSync(path.join(valDir, `c${k}.nii.gz`))), 'a.nii.gz');
        const seg2 = readImageFile(new Uint8Array(fs.readFileSync(path.join(other, `c${k}.nii.gz`))), 'b.nii.gz');
        expect(Array.from(seg1.data)).toEqual(Array.from(seg2.data));
      }
    const r1 = await findBestConfiguration(viaPredict, { datasetDir: ds, folds: [0, 1, 2, 3] });
    const r2 = await findBestConfiguration(viaTrain, { datasetDir: ds, folds: [0, 1, 2, 3] });
    expect(r2.skippedEnsembles).toEqual([]);
    expect(r2.results.map((r) => [r.identifier, r.result])).toEqual(r1.results.map((r) => [r.identifier, r.result]));
    expect(r2.results.length).toBe(3);
    expect(r2.bestIndex).toBe(r1.bestIndex);
    expect(r2.postprocessing.pp).toEqual(r1.postprocessing.pp);
    for (let i = 0; i < r1.results.length; i++) expect(r2.results[i].summary!.mean).toEqual(r1.results[i].summary!.mean);
  }, 120_000);
});

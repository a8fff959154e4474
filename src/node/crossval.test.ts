// find-best over fake-but-valid results folders: five one-case folds per configuration, predictions derived
// from the reference by known perturbations, so every Dice below is computed by hand:
//   reference (each case, shape [2, 6, 6]): label 1 = block z0-1 y0-1 x0-2 (12 voxels),
//                                           label 2 = block z0-1 y4-5 x3-5 (12 voxels)
//   A ("2d"):         3 voxels of label 1 (z1 y1 x0-2) → background; one stray label-2 voxel at (0, 2, 5)
//                     Dice1 = 2·9/(9+12) = 6/7, Dice2 = 2·12/(13+12) = 24/25
//   B ("3d_fullres"): 6 voxels of label 2 (z1) → background: Dice1 = 1, Dice2 = 2·6/(6+12) = 2/3
//   probabilities: 0.8 on the predicted class, 0.1 elsewhere; at each model's mistakes the model is unsure
//   (0.6 wrong / 0.3 right), so the mean of A and B is right everywhere: ensemble Dice = 1.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, unzipBundle } from '../core/inference/bundle.ts';
import { parsePostprocessingJson } from '../core/postprocessing/postprocessing.ts';
import { pyJsonParse } from '../core/evaluation/pyjson.ts';
import { isSegStudioError } from '../core/errors.ts';
import { accumulateCvResults, discoverTrainedModels, findBestConfiguration } from './crossval.ts';
import { readFolder, softProbabilities, writeFakeModel, writeRawDataset, type FakeCase } from './crossval.testutil.ts';

const SHAPE = [2, 6, 6];
const N = 72;
const idx = (z: number, y: number, x: number) => (z * 6 + y) * 6 + x;
const DATASET = { channel_names: { '0': 'MRI' }, labels: { background: 0, Anterior: 1, Posterior: 2 }, numTraining: 5, file_ending: '.nii.gz' };
const PROPS = { format: 'nifti' as const, spacing: [1, 1, 1] };
const CASES = ['case_0', 'case_1', 'case_2', 'case_3', 'case_4'];

function reference(): Uint8Array {
  const s = new Uint8Array(N);
  for (let z = 0; z < 2; z++) {
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) s[idx(z, y, x)] = 1;
    for (let y = 4; y < 6; y++) for (let x = 3; x < 6; x++) s[idx(z, y, x)] = 2;
  }
  return s;
}

/** prediction + where it is wrong ("unsure" voxels: the right class gets 0.3) */
function predA(): { seg: Uint8Array; unsure: Map<number, number> } {
  const seg = reference();
  const unsure = new Map<number, number>();
  for (let x = 0; x < 3; x++) {
    seg[idx(1, 1, x)] = 0;
    unsure.set(idx(1, 1, x), 1);
  }
  seg[idx(0, 2, 5)] = 2;
  unsure.set(idx(0, 2, 5), 0);
  return { seg, unsure };
}
function predB(): { seg: Uint8Array; unsure: Map<number, number> } {
  const seg = reference();
  const unsure = new Map<number, number>();
  for (let y = 4; y < 6; y++)
    for (let x = 3; x < 6; x++) {
      seg[idx(1, y, x)] = 0;
      unsure.set(idx(1, y, x), 2);
    }
  return { seg, unsure };
}
let root: string;
let datasetDir: string;
let results: string;

const FAKE_CASES: FakeCase[] = CASES.map((id) => ({ id, shape: SHAPE, properties: PROPS }));

function writeModel(configuration: string, pred: { seg: Uint8Array; unsure: Map<number, number> }, opts: { npz?: boolean } = {}): Promise<string> {
  return writeFakeModel(results, configuration, DATASET, FAKE_CASES, () => ({
    seg: pred.seg,
    probabilities: (opts.npz ?? true) ? softProbabilities(pred.seg, 3, pred.unsure) : undefined,
  }));
}

function caught(fn: () => unknown): Promise<unknown> {
  return Promise.resolve()
    .then(fn)
    .then(
      () => undefined,
      (e) => e,
    );
}

const A_D1 = 6 / 7;
const A_D2 = 24 / 25;
const B_D2 = 2 / 3;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-findbest-'));
  datasetDir = path.join(root, 'Dataset999_Synthetic');
  results = path.join(root, 'results', 'Dataset999_Synthetic');
  writeRawDataset(datasetDir, DATASET, FAKE_CASES, () => reference());
  await writeModel('2d', predA());
  await writeModel('3d_fullres', predB());
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('accumulateCvResults', () => {
  it('merges the five folds and evaluates them against labelsTr', async () => {
    const model = path.join(results, 'nnUNetTrainer__nnUNetPlans__2d');
    const acc = await accumulateCvResults(model, path.join(root, 'merged'), { datasetDir, folds: [0, 1, 2, 3, 4] });
    expect(acc.cases).toEqual(CASES);
    expect(acc.hasProbabilities).toBe(true);
    expect(fs.readdirSync(acc.dir).filter((f) => f.endsWith('.nii.gz')).length).toBe(5);
    expect(fs.readdirSync(acc.dir).filter((f) => f.endsWith('.npz')).length).toBe(5);
    expect(acc.summary.metric_per_case.length).toBe(5);
    expect(acc.summary.mean['1'].Dice).toBeCloseTo(A_D1, 6);
    expect(acc.summary.mean['2'].Dice).toBeCloseTo(A_D2, 6);
    expect(acc.summary.mean['2'].FP).toBe(1);
    expect(acc.summary.foreground_mean.Dice).toBeCloseTo((A_D1 + A_D2) / 2, 6);
    expect(fs.existsSync(path.join(acc.dir, 'summary.json'))).toBe(true);
  });

  it('a missing fold, or two folds predicting the same case, is an error naming the folder', async () => {
    const model = path.join(results, 'nnUNetTrainer__nnUNetPlans__2d');
    const e1 = await caught(() => accumulateCvResults(model, path.join(root, 'm1'), { datasetDir, folds: [0, 7] }));
    expect(isSegStudioError(e1)).toBe(true);
    expect((e1 as Error).message).toContain(path.join('fold_7', 'validation'));
    const dup = path.join(root, 'dup', 'nnUNetTrainer__nnUNetPlans__2d');
    fs.cpSync(model, dup, { recursive: true });
    fs.copyFileSync(path.join(dup, 'fold_0', 'validation', 'case_0.nii.gz'), path.join(dup, 'fold_1', 'validation', 'case_0.nii.gz'));
    const e2 = await caught(() => accumulateCvResults(dup, path.join(root, 'm2'), { datasetDir, folds: [0, 1] }));
    expect(isSegStudioError(e2)).toBe(true);
    expect((e2 as Error).message).toMatch(/case case_0 is predicted by more than one fold \(0 and 1\)/);
  });
});

describe('discoverTrainedModels', () => {
  it("takes the trained configurations in nnU-Net's order; a named untrained configuration is an error", () => {
    expect(discoverTrainedModels(results).map((m) => m.configuration)).toEqual(['2d', '3d_fullres']);
    expect(discoverTrainedModels(results, { configurations: ['3d_fullres', '2d'] }).map((m) => m.configuration)).toEqual(['3d_fullres', '2d']);
    expect(() => discoverTrainedModels(results, { configurations: ['2d', '3d_lowres'] })).toThrow(/3d_lowres .* was not trained/);
  });
});

describe('findBestConfiguration', () => {
  it('ranks both configurations and their ensemble; the ensemble (Dice 1) wins; one bundle per member', async () => {
    const out = path.join(root, 'export-ens');
    const r = await findBestConfiguration(results, { datasetDir, exportBundle: out });
    expect(r.results.map((x) => x.identifier)).toEqual([
      'nnUNetTrainer__nnUNetPlans__2d',
      'nnUNetTrainer__nnUNetPlans__3d_fullres',
      'ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_fullres___0_1_2_3_4',
    ]);
    expect(r.results[0].result).toBeCloseTo((A_D1 + A_D2) / 2, 6);
    expect(r.results[1].result).toBeCloseTo((1 + B_D2) / 2, 6);
    expect(r.results[1].summary!.mean['1'].Dice).toBe(1);
    expect(r.results[2].result).toBe(1);
    expect(r.bestIndex).toBe(2);
    expect(r.results[2].source).toBe(path.join(results, 'ensembles', r.results[2].identifier));
    // nothing can improve a perfect ensemble
    expect(r.postprocessing.pp.postprocessing_fns).toEqual([]);
    const info = pyJsonParse<Record<string, any>>(fs.readFileSync(path.join(results, 'inference_information.json'), 'utf8'));
    expect(info.best_model_or_ensemble.selected_model_or_models.map((m: { configuration: string }) => m.configuration)).toEqual(['2d', '3d_fullres']);
    expect(info.folds).toEqual([0, 1, 2, 3, 4]);
    expect(Object.keys(info.all_results).length).toBe(3);
    expect(fs.readFileSync(path.join(results, 'inference_instructions.txt'), 'utf8')).toContain('segstudio ensemble -i OUTPUT_FOLDER_MODEL_1 OUTPUT_FOLDER_MODEL_2');
    expect(r.bundles).toEqual([path.join(out, 'nnUNetTrainer__nnUNetPlans__2d'), path.join(out, 'nnUNetTrainer__nnUNetPlans__3d_fullres')]);
    for (const [i, b] of r.bundles.entries()) {
      const bundle = await loadBundle(readFolder(b), b);
      expect(bundle.folds).toEqual([0, 1, 2, 3, 4]);
      expect(bundle.configuration).toBe(['2d', '3d_fullres'][i]);
      expect(bundle.allowedMirroringAxes).toEqual([0, 1]);
      expect(bundle.postprocessing).toBeUndefined();
    }
    expect(parsePostprocessingJson(fs.readFileSync(path.join(out, 'postprocessing.json'), 'utf8')).postprocessing_fns).toEqual([]);
  });

  it('without ensembles A wins and its stray voxel is removed by per-label postprocessing; the .zip bundle carries it', async () => {
    const out = path.join(root, 'best.zip');
    const r = await findBestConfiguration(results, { datasetDir, allowEnsembles: false, exportBundle: out });
    expect(r.results.length).toBe(2);
    expect(r.bestIndex).toBe(0);
    // foreground as one would keep only the label-2 block (label 1 lost): rejected; label 1 unchanged; label 2 improves
    expect(r.postprocessing.pp.considered!.map((c) => c.accepted)).toEqual([false, false, true]);
    expect(r.postprocessing.pp.postprocessing_fns).toEqual([{ fn: 'remove_all_but_largest_component', labels_or_regions: 2, background_label: 0 }]);
    expect(r.postprocessing.after.foreground_mean.Dice).toBeCloseTo((A_D1 + 1) / 2, 6);
    expect(fs.existsSync(path.join(results, 'nnUNetTrainer__nnUNetPlans__2d', 'crossval_results_folds_0_1_2_3_4', 'postprocessed', 'summary.json'))).toBe(true);
    const info = pyJsonParse<Record<string, any>>(fs.readFileSync(r.informationFile, 'utf8'));
    expect(info.best_model_or_ensemble.result_on_crossval_post_pp).toBeCloseTo((A_D1 + 1) / 2, 6);
    expect(info.ensembling_allowed).toBe(false);
    const bundle = await loadBundle(unzipBundle(new Uint8Array(fs.readFileSync(out)), out), out);
    expect(bundle.configuration).toBe('2d');
    expect(bundle.folds).toEqual([0, 1, 2, 3, 4]);
    expect((bundle.postprocessing as { postprocessing_fns: unknown }).postprocessing_fns).toEqual(r.postprocessing.pp.postprocessing_fns);
    expect(fs.readFileSync(r.instructionsFile, 'utf8')).toContain(`-m ${out} --folds 0 1 2 3 4\n`);
  });

  it('a tie goes to the first candidate in the order considered', async () => {
    // 3d_lowres: the same predictions as 2d, no probabilities → its ensembles are skipped with a reason
    await writeModel('3d_lowres', predA(), { npz: false });
    try {
      const r = await findBestConfiguration(results, { datasetDir });
      expect(r.results.map((x) => x.identifier)).toEqual([
        'nnUNetTrainer__nnUNetPlans__2d',
        'nnUNetTrainer__nnUNetPlans__3d_fullres',
        'nnUNetTrainer__nnUNetPlans__3d_lowres',
        'ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_fullres___0_1_2_3_4',
      ]);
      expect(r.skippedEnsembles.map((s) => s.reason)).toEqual([
        'no validation probabilities (fold_K/validation/CASE.npz) for nnUNetTrainer__nnUNetPlans__3d_lowres (--predict-probabilities makes them)',
        'no validation probabilities (fold_K/validation/CASE.npz) for nnUNetTrainer__nnUNetPlans__3d_lowres (--predict-probabilities makes them)',
      ]);
      const noEns = await findBestConfiguration(results, { datasetDir, allowEnsembles: false });
      expect(noEns.ties).toEqual([0, 2]);
      expect(noEns.results[noEns.bestIndex].identifier).toBe('nnUNetTrainer__nnUNetPlans__2d');
      const reversed = await findBestConfiguration(results, { datasetDir, allowEnsembles: false, configurations: ['3d_lowres', '3d_fullres', '2d'] });
      expect(reversed.results[reversed.bestIndex].identifier).toBe('nnUNetTrainer__nnUNetPlans__3d_lowres');
    } finally {
      fs.rmSync(path.join(results, 'nnUNetTrainer__nnUNetPlans__3d_lowres'), { recursive: true, force: true });
    }
  });
});

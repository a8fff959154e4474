// The page's training workflow in Node (TrainingSession over a MemoryRoot: what the training worker runs):
// a dropped tiny dataset stored under an id, two configurations × two folds trained (CPU reference), each
// fold validated with CASE.npz, runs listed, a run stopped and resumed by a fresh session from the stored
// dataset id (as after a page reload), cross-validation + find-best + postprocessing, the winning bundle
// exported and run. The decision must equal `segstudio find-best`'s (src/node/crossval.ts) on the same
// validation files written into nnU-Net's results layout, and a session must train bit-identically to
// `segstudio train` on the same dataset, plans and seed. Verify errors and storage quota refuse to start.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageFile } from '../../core/io/index.ts';
import { loadBundle, unzipBundle } from '../../core/inference/bundle.ts';
import { predictCase } from '../../core/inference/predictor.ts';
import { isSegStudioError } from '../../core/errors.ts';
import { createOrtNodeRunner } from '../../node/ortNodeRunner.ts';
import { findBestConfiguration } from '../../node/crossval.ts';
import { CpuBackend } from '../kernels/cpu/cpuBackend.ts';
import { bytesText } from '../trainer/storage.ts';
import { tinyMultiPlans, tinyRawDataset } from '../trainer/testing.ts';
import { crossValidation, exportBest, lastCrossValidation } from './crossValidation.ts';
import { datasetInfo, listDatasets } from './datasetStore.ts';
import { deleteRun, listRuns, updateRunStatus, validationFolder } from './runs.ts';
import { TrainingSession, type TrainingWorkerEvent } from './session.ts';
import { MemoryRoot } from './storageRoot.ts';
import { storageRootConformance } from './storageRootConformance.ts';

const PLANS = tinyMultiPlans({
  '2d': { features: [4, 8], kernel: [3, 3], strides: [[1, 1], [2, 2]], patch: [12, 12], batchSize: 2 },
  '3d_fullres': { features: [4, 8], kernel: [3, 3, 3], strides: [[1, 1, 1], [2, 2, 2]], patch: [8, 12, 12], batchSize: 2 },
});
const FILES = tinyRawDataset(4);
const IDS = ['tiny_000', 'tiny_001', 'tiny_002', 'tiny_003'];
const SPLITS = [
  { train: ['tiny_000', 'tiny_001'], val: ['tiny_002', 'tiny_003'] },
  { train: ['tiny_002', 'tiny_003'], val: ['tiny_000', 'tiny_001'] },
];
const OPTIONS = { numEpochs: 2, iterationsPerEpoch: 3, valIterationsPerEpoch: 1, augmentation: false, initialLr: 0.02, seed: 3 };

function session(root: MemoryRoot): TrainingSession {
  return new TrainingSession({
    root,
    readImage: readImageFile,
    pickBackend: async () => ({ backend: new CpuBackend('float32'), kind: 'cpu-reference', reason: 'test: CPU reference' }),
    createRunner: (onnx, fileName) => createOrtNodeRunner(onnx, { device: 'cpu', fileName }),
  });
}

let tmp = '';
const root = new MemoryRoot('mem');
let datasetId = '';

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-workflow-'));
  // four runs: 2d fold 0 from the dropped files (stores the dataset), the rest from the stored dataset id
  const s = session(root);
  const events: TrainingWorkerEvent[] = [];
  const info = await s.start(
    { runId: '2d_f0', plans: PLANS, configuration: '2d', fold: 0, dataset: { files: FILES, splits: SPLITS }, options: OPTIONS },
    (e) => events.push(e),
  );
  datasetId = info.datasetId!;
  expect(info.valCases).toEqual(SPLITS[0].val);
  await s.wait();
  expect(events.some((e) => e.type === 'dataset-stored')).toBe(true);
  expect(events.filter((e) => e.type === 'validation').at(-1)).toEqual({ type: 'validation', done: 2, total: 2 });
  expect(events.filter((e) => e.type === 'run-status').map((e) => (e.type === 'run-status' ? e.status : ''))).toContain('validated');
  for (const [runId, configuration, fold] of [['2d_f1', '2d', 1], ['3d_f0', '3d_fullres', 0]] as const) {
    await s.start({ runId, plans: PLANS, configuration, fold, dataset: { datasetId, splits: SPLITS }, options: OPTIONS });
    await s.wait();
  }
  // 3d fold 1: stopped after its first epoch, then resumed by a new session (a reloaded page) from storage
  let stopper: TrainingSession | null = null;
  stopper = session(root);
  await stopper.start({ runId: '3d_f1', plans: PLANS, configuration: '3d_fullres', fold: 1, dataset: { datasetId, splits: SPLITS }, options: OPTIONS }, (e) => {
    if (e.type === 'epoch-end' && e.metrics.epoch === 0) void stopper!.stop();
  });
  expect((await stopper.wait()).status).toBe('stopped');
  await stopper.dispose();
}, 240_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('training session over stored runs', () => {
  it('lists runs with status, epoch and log; a reloaded session resumes a stopped run from the stored dataset', async () => {
    expect((await listDatasets(root)).map((d) => d.id)).toEqual([datasetId]);
    expect((await datasetInfo(root, datasetId))!.files.length).toBe(FILES.size);
    let runs = await listRuns(root);
    expect(runs.map((r) => [r.runId, r.configuration, r.fold, r.status, r.epoch])).toEqual([
      ['2d_f0', '2d', 0, 'validated', 2],
      ['2d_f1', '2d', 1, 'validated', 2],
      ['3d_f0', '3d_fullres', 0, 'validated', 2],
      ['3d_f1', '3d_fullres', 1, 'stopped', 1],
    ]);
    const stopped = runs[3];
    expect(stopped.checkpoints).toContain('latest');
    expect(stopped.log!.train_losses.length).toBe(1);
    expect(stopped.numEpochs).toBe(2);
    expect(runs[0].checkpoints).toEqual(['final', 'best']);
    expect(runs[0].validation!.metric_per_case.length).toBe(2);
    // reload: no plans, no files; only the run id and the stored dataset id
    const s = session(root);
    const info = await s.start({ runId: '3d_f1', configuration: '3d_fullres', fold: 1, dataset: { datasetId, splits: SPLITS }, resume: true, options: OPTIONS });
    expect(info.resumedFrom).toBe('latest');
    expect(info.epoch).toBe(1);
    const r = await s.wait();
    expect(r.status).toBe('finished');
    // the log is continuous: epoch 0 from before the stop, epoch 1 after the resume
    expect(r.log.train_losses.length).toBe(2);
    expect(r.log.lrs).toEqual([0.02, 0.02 * 0.5 ** 0.9]);
    const text = bytesText(await (await root.folder('training/3d_f1')).read('training_log.txt'));
    expect(text).toMatch(/Epoch 0[\s\S]*Resuming from checkpoint_latest at epoch 1[\s\S]*Epoch 1[\s\S]*Training done/);
    runs = await listRuns(root);
    expect(runs[3].status).toBe('validated');
    expect((await root.list(validationFolder('3d_f1'))).files).toEqual(['summary.json', 'tiny_000.json', 'tiny_000.nii.gz', 'tiny_000.npz', 'tiny_001.json', 'tiny_001.nii.gz', 'tiny_001.npz']);
    await s.dispose();
  }, 120_000);

  it('cross-validation equals segstudio find-best on the same validation files; the winning bundle loads and segments', async () => {
    const cv = await crossValidation(root, { readImage: readImageFile });
    expect(cv.folds).toEqual([0, 1]);
    expect(cv.models.map((m) => m.identifier)).toEqual(['nnUNetTrainer__nnUNetPlans__2d', 'nnUNetTrainer__nnUNetPlans__3d_fullres']);
    expect(cv.candidates.map((c) => c.identifier)).toEqual([
      'nnUNetTrainer__nnUNetPlans__2d',
      'nnUNetTrainer__nnUNetPlans__3d_fullres',
      'ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_fullres___0_1',
    ]);
    expect(cv.skippedEnsembles).toEqual([]);
    expect(cv.models[0].perFold.map((f) => [f.fold, f.runId])).toEqual([[0, '2d_f0'], [1, '2d_f1']]);
    expect(Object.keys(cv.models[0].perFold[0].dice).sort()).toEqual(['1', '2']);
    expect(cv.labelNames).toEqual({ '1': 'ball', '2': 'slab' });
    expect(cv.table).toContain('Dice ball (1)');
    expect((await lastCrossValidation(root))!.best).toBe(cv.best);

    // the same files in nnU-Net's results layout → the Node find-best
    const ds = path.join(tmp, 'Dataset999_Tiny');
    for (const [name, bytes] of FILES) {
      fs.mkdirSync(path.dirname(path.join(ds, name)), { recursive: true });
      fs.writeFileSync(path.join(ds, name), bytes);
    }
    const results = path.join(tmp, 'results', 'Dataset999_Tiny');
    for (const r of await listRuns(root)) {
      const val = path.join(results, `nnUNetTrainer__nnUNetPlans__${r.configuration}`, `fold_${r.fold}`, 'validation');
      fs.mkdirSync(val, { recursive: true });
      const st = await root.folder(validationFolder(r.runId));
      for (const f of (await root.list(validationFolder(r.runId))).files) fs.writeFileSync(path.join(val, f), await st.read(f));
    }
    const node = await findBestConfiguration(results, { datasetDir: ds, folds: [0, 1] });
    expect(cv.candidates.map((c) => [c.identifier, c.result])).toEqual(node.results.map((r) => [r.identifier, r.result]));
    expect(cv.bestIndex).toBe(node.bestIndex);
    expect(cv.postprocessing).toEqual(node.postprocessing.pp);
    expect(cv.resultPostPp).toBe(node.postprocessing.after.foreground_mean.Dice);
    for (let i = 0; i < 2; i++) {
      expect(cv.models[i].summary.mean).toEqual(node.results[i].summary!.mean);
      expect(cv.models[i].summary.foreground_mean).toEqual(node.results[i].summary!.foreground_mean);
      expect(cv.models[i].summary.metric_per_case.map((c) => c.metrics)).toEqual(node.results[i].summary!.metric_per_case.map((c) => c.metrics));
    }

    // export: one bundle with both folds and postprocessing.json, or one per ensemble member
    const ex = await exportBest(root);
    expect(ex.identifier).toBe(cv.best);
    const single = cv.bestRuns.length === 1;
    expect(ex.files.map((f) => f.name)).toEqual(
      single ? [`${cv.best}.zip`] : [...cv.bestRuns.map((b) => `${b.identifier}.zip`), 'postprocessing.json'],
    );
    const b = await loadBundle(unzipBundle(ex.files[0].bytes, ex.files[0].name), ex.files[0].name);
    expect(b.networks.map((n) => n.fold)).toEqual([0, 1]);
    if (single) expect(b.postprocessing).toEqual(cv.postprocessing);
    const img = readImageFile(FILES.get('imagesTr/tiny_000_0000.nii.gz')!, 'tiny_000_0000.nii.gz');
    const runners = await Promise.all(b.networks.map((n) => createOrtNodeRunner(n.bytes, { device: 'cpu', fileName: n.name })));
    const pred = await predictCase(img, b, runners);
    expect(pred.labels.shape).toEqual([8, 12, 12]);
    await Promise.all(runners.map((r) => r.dispose()));
    // a fold without its probabilities: the ensemble is skipped with the reason, the models still ranked
    await (await root.folder(validationFolder('3d_f1'))).remove('tiny_000.npz');
    const cv2 = await crossValidation(root, { readImage: readImageFile });
    expect(cv2.candidates.map((c) => c.identifier)).toEqual(cv.candidates.slice(0, 2).map((c) => c.identifier));
    expect(cv2.skippedEnsembles).toEqual([
      { identifier: cv.candidates[2].identifier, reason: 'no validation probabilities (CASE.npz) for nnUNetTrainer__nnUNetPlans__3d_fullres' },
    ]);
  }, 120_000);

  it("a run stored as running that no session trains is listed as 'interrupted'", async () => {
    await updateRunStatus(root, '3d_f1', { status: 'running' });
    expect((await listRuns(root, null)).find((r) => r.runId === '3d_f1')!.status).toBe('interrupted');
    expect((await listRuns(root, '3d_f1')).find((r) => r.runId === '3d_f1')!.status).toBe('running');
    expect((await listRuns(root)).find((r) => r.runId === '3d_f1')!.status).toBe('running');
    await updateRunStatus(root, '3d_f1', { status: 'validated' });
  });

  it('deleteRun removes a run; cross-validation then names the missing fold', async () => {
    await deleteRun(root, '3d_f1');
    expect((await listRuns(root)).map((r) => r.runId)).toEqual(['2d_f0', '2d_f1', '3d_f0']);
    await expect(crossValidation(root, { readImage: readImageFile })).rejects.toThrow(/nnUNetTrainer__nnUNetPlans__3d_fullres has folds 0 but nnUNetTrainer__nnUNetPlans__2d has 0, 1/);
  });
});

describe('stop during the validation', () => {
  it("cancels it (run 'finished', no validation); a resume validates again", async () => {
    const r = new MemoryRoot('valstop');
    let s: TrainingSession | null = null;
    s = session(r);
    await s.start({ runId: 'v', plans: PLANS, configuration: '2d', fold: 0, dataset: { files: FILES, splits: SPLITS }, options: { ...OPTIONS, numEpochs: 1 } }, (e) => {
      if (e.type === 'validation' && e.done === 1) void s!.stop();
    });
    expect((await s.wait()).status).toBe('stopped');
    let run = (await listRuns(r))[0];
    expect(run).toMatchObject({ status: 'finished', checkpoints: ['final', 'best'], validation: null });
    const again = session(r);
    const info = await again.start({ runId: 'v', configuration: '2d', fold: 0, dataset: { datasetId: run.datasetId!, splits: SPLITS }, resume: true });
    expect(info.resumedFrom).toBe('final');
    expect((await again.wait()).status).toBe('finished');
    run = (await listRuns(r))[0];
    expect(run.status).toBe('validated');
    expect(run.validation!.metric_per_case.length).toBe(2);
    expect(run.log!.train_losses.length).toBe(1);
  });
});

describe('refusals before training', () => {
  it('a dataset with verify errors is refused naming the case, and nothing is stored', async () => {
    const broken = new Map(FILES);
    broken.set('labelsTr/tiny_001.nii.gz', FILES.get('imagesTr/tiny_001_0000.nii.gz')!); // float intensities as labels
    const r = new MemoryRoot('fresh');
    let err: unknown;
    try {
      await session(r).start({ runId: 'x', plans: PLANS, configuration: '2d', fold: 0, dataset: { files: broken, splits: SPLITS }, options: OPTIONS });
    } catch (e) {
      err = e;
    }
    expect(isSegStudioError(err) && err.code).toBe('dataset-invalid');
    expect((err as Error).message).toMatch(/case\(s\) tiny_001; training refuses to start[\s\S]*case tiny_001: labelsTr\/tiny_001\.nii\.gz/);
    expect(await listDatasets(r)).toEqual([]);
    expect(await listRuns(r)).toEqual([]);
  });

  it('a dataset larger than the storage left is refused with what to do', async () => {
    const r = new MemoryRoot('small');
    (r as MemoryRoot & { estimate: () => Promise<{ usage: number; quota: number }> }).estimate = async () => ({ usage: 999_000, quota: 1_000_000 });
    await expect(
      session(r).start({ runId: 'x', plans: PLANS, configuration: '2d', fold: 0, dataset: { files: FILES, splits: SPLITS }, options: OPTIONS }),
    ).rejects.toMatchObject({ code: 'storage-quota', message: expect.stringMatching(/only 0\.0 MB of browser storage is left.*delete old runs or datasets/) });
  });
});

describe('the page and the CLI train the same', () => {
  it('TrainingSession and segstudio train on the same dataset, plans and seed give bit-identical checkpoints and validation', async () => {
    const files = tinyRawDataset(5, [8, 12, 12], 40);
    const ds = path.join(tmp, 'Dataset997_Same');
    for (const [name, bytes] of files) {
      fs.mkdirSync(path.dirname(path.join(ds, name)), { recursive: true });
      fs.writeFileSync(path.join(ds, name), bytes);
    }
    const plansFile = path.join(tmp, 'same_plans.json');
    fs.writeFileSync(plansFile, JSON.stringify(PLANS));
    const out = path.join(tmp, 'same_results');
    const { run: train } = await import('../../cli/verbs/train.ts');
    const { NodeTrainerFiles } = await import('../../node/trainerFiles.ts');
    const { loadCheckpoint } = await import('../trainer/checkpoint.ts');
    const { readNpzKey } = await import('../../core/ensembling/npz.ts');
    const args = [ds, '-c', '2d', '-f', '0', '-o', out, '--plans', plansFile, '--epochs', '2', '--iterations', '3', '--val-iterations', '1',
      '--no-augmentation', '--seed', '3', '--lr', '0.02', '--backend', 'cpu-reference'];
    expect(await train(args)).toBe(0);
    const foldDir = path.join(out, 'Dataset999_Tiny', 'nnUNetTrainer__nnUNetPlans__2d', 'fold_0');

    const r = new MemoryRoot('same');
    const s = session(r);
    const info = await s.start({ runId: 'same', plans: PLANS, configuration: '2d', fold: 0, dataset: { files }, options: OPTIONS });
    // nnU-Net's default 5-fold split on both sides
    const splits = JSON.parse(fs.readFileSync(path.join(out, 'Dataset999_Tiny', 'splits_final.json'), 'utf8'));
    expect(info.valCases).toEqual(splits[0].val);
    await s.wait();
    const a = await loadCheckpoint(new NodeTrainerFiles(foldDir), 'final');
    const b = await loadCheckpoint(await r.folder('training/same'), 'final');
    expect(Object.keys(b.weights)).toEqual(Object.keys(a.weights));
    for (const k of Object.keys(a.weights)) expect(Array.from(b.weights[k].data)).toEqual(Array.from(a.weights[k].data));
    expect(b.meta.logging.train_losses).toEqual(a.meta.logging.train_losses);
    const v = await r.folder('training/same/validation');
    const cliSummary = JSON.parse(fs.readFileSync(path.join(foldDir, 'validation', 'summary.json'), 'utf8'));
    const pageSummary = JSON.parse(bytesText(await v.read('summary.json')));
    expect(pageSummary.mean).toEqual(cliSummary.mean);
    expect(pageSummary.foreground_mean).toEqual(cliSummary.foreground_mean);
    const id = splits[0].val[0];
    const pa = readNpzKey(new Uint8Array(fs.readFileSync(path.join(foldDir, 'validation', `${id}.npz`))), 'probabilities');
    const pb = readNpzKey(await v.read(`${id}.npz`), 'probabilities');
    expect(Array.from(pb.data)).toEqual(Array.from(pa.data));
    await s.dispose();
  }, 120_000);
});

describe('StorageRoot', () => {
  it('MemoryRoot passes the storage-root conformance checks (OPFS and IndexedDB pass them in e2e/training-faults)', async () => {
    expect(await storageRootConformance(new MemoryRoot('m'))).toEqual([]);
  });
});

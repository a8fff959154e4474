// The page's cross-validation (src/training/workflow crossValidation over stored runs: label maps kept,
// CASE.npz read one case at a time) vs `segstudio find-best`'s Node path (src/node/crossval.ts
// findBestConfiguration over nnU-Net's results folders) on the same validation files, side by side in one
// run: 2 configurations × 5 folds, 40 synthetic cases of the hippocampus median size (36 × 50 × 35, 3 classes),
// each with its CASE.nii.gz + CASE.npz; the same decision is checked (winner, Dice, postprocessing).
// Medians of 3 runs after a warm-up. (nnU-Net's own Python find_best is compared in bench/find-best.bench.ts.)
// Run alone: node bin/run-ts.mjs bench/training-workflow.bench.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImageFile } from '../src/core/io/index.ts';
import { computeMetrics, summarize, summaryToJson } from '../src/core/evaluation/metrics.ts';
import { findBestConfiguration } from '../src/node/crossval.ts';
import { softProbabilities, writeFakeModel, writeRawDataset, type FakeCase } from '../src/node/crossval.testutil.ts';
import { crossValidation } from '../src/training/workflow/crossValidation.ts';
import { saveDataset } from '../src/training/workflow/datasetStore.ts';
import { saveRunRecord, validationFolder } from '../src/training/workflow/runs.ts';
import { MemoryRoot } from '../src/training/workflow/storageRoot.ts';
import { median, timeRuns } from './util.ts';

const SHAPE = [36, 50, 35];
const N = SHAPE[0] * SHAPE[1] * SHAPE[2];
const N_CASES = 40;
const DATASET = { channel_names: { '0': 'MRI' }, labels: { background: 0, Anterior: 1, Posterior: 2 }, numTraining: N_CASES, file_ending: '.nii.gz' };

/** two ellipsoids (labels 1, 2) per case, shifted per case */
function reference(k: number): Uint8Array {
  const s = new Uint8Array(N);
  for (let z = 0; z < SHAPE[0]; z++)
    for (let y = 0; y < SHAPE[1]; y++)
      for (let x = 0; x < SHAPE[2]; x++) {
        const d1 = ((z - 14 - (k % 5)) / 8) ** 2 + ((y - 18) / 10) ** 2 + ((x - 16) / 7) ** 2;
        const d2 = ((z - 20) / 7) ** 2 + ((y - 34 + (k % 3)) / 9) ** 2 + ((x - 18) / 6) ** 2;
        s[(z * SHAPE[1] + y) * SHAPE[2] + x] = d1 < 1 ? 1 : d2 < 1 ? 2 : 0;
      }
  return s;
}

/** a prediction that drops every `every`-th voxel of `label` (unsure there: the right class gets 0.3) */
function perturb(ref: Uint8Array, label: number, every: number): { seg: Uint8Array; unsure: Map<number, number> } {
  const seg = ref.slice();
  const unsure = new Map<number, number>();
  for (let i = 0; i < ref.length; i++)
    if (ref[i] === label && i % every === 0) {
      seg[i] = 0;
      unsure.set(i, label);
    }
  return { seg, unsure };
}

export async function run(): Promise<Record<string, unknown>> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-bench-wf-'));
  try {
    const ds = path.join(tmp, 'Dataset990_Bench');
    const results = path.join(tmp, 'results', 'Dataset990_Bench');
    const props = { format: 'nifti' as const, spacing: [1, 1, 1] };
    const cases: FakeCase[] = Array.from({ length: N_CASES }, (_, k) => ({ id: `case_${String(k).padStart(3, '0')}`, shape: SHAPE, properties: props }));
    const refs = cases.map((_, k) => reference(k));
    writeRawDataset(ds, DATASET, cases, (_c, k) => refs[k]);
    // writeFakeModel puts case k into fold k: regroup so each of 5 folds validates 8 cases
    for (const [cfg, label, every] of [['2d', 1, 4], ['3d_fullres', 2, 3]] as const) {
      await writeFakeModel(results, cfg, DATASET, cases, (_c, k) => {
        const p = perturb(refs[k], label, every);
        return { seg: p.seg, probabilities: softProbabilities(p.seg, 3, p.unsure) };
      });
      const model = path.join(results, `nnUNetTrainer__nnUNetPlans__${cfg}`);
      for (let k = 5; k < N_CASES; k++) {
        const from = path.join(model, `fold_${k}`, 'validation');
        const to = path.join(model, `fold_${k % 5}`, 'validation');
        for (const f of fs.readdirSync(from)) fs.renameSync(path.join(from, f), path.join(to, f));
        fs.rmSync(path.join(model, `fold_${k}`), { recursive: true, force: true });
      }
    }
    const folds = [0, 1, 2, 3, 4];
    // the same files as stored runs of the page
    const root = new MemoryRoot('bench');
    const dsFiles = new Map<string, Uint8Array>();
    dsFiles.set('dataset.json', new Uint8Array(fs.readFileSync(path.join(ds, 'dataset.json'))));
    for (const f of fs.readdirSync(path.join(ds, 'labelsTr'))) dsFiles.set(`labelsTr/${f}`, new Uint8Array(fs.readFileSync(path.join(ds, 'labelsTr', f))));
    const info = await saveDataset(root, dsFiles);
    for (const cfg of ['2d', '3d_fullres'])
      for (const fold of folds) {
        const runId = `${cfg}_f${fold}`;
        await saveRunRecord(
          root,
          { runId, datasetId: info.id, datasetName: 'Bench', trainer: 'nnUNetTrainer', plansName: 'nnUNetPlans', configuration: cfg, fold, numEpochs: 1, options: {}, status: 'validated', createdAt: fold, updatedAt: fold },
          { dataset: DATASET },
        );
        const val = path.join(results, `nnUNetTrainer__nnUNetPlans__${cfg}`, `fold_${fold}`, 'validation');
        const st = await root.folder(validationFolder(runId));
        const per = [];
        for (const f of fs.readdirSync(val)) {
          const bytes = new Uint8Array(fs.readFileSync(path.join(val, f)));
          await st.write(f, bytes);
          if (!f.endsWith('.nii.gz')) continue;
          const k = cases.findIndex((c) => `${c.id}.nii.gz` === f);
          const pred = readImageFile(bytes, f).data;
          per.push({ reference_file: f, prediction_file: f, metrics: computeMetrics(refs[k], Uint8Array.from(pred), [1, 2], null, f) });
        }
        await st.write('summary.json', new TextEncoder().encode(summaryToJson(summarize(per, [1, 2]))));
      }
    let page: Awaited<ReturnType<typeof crossValidation>> | null = null;
    let node: Awaited<ReturnType<typeof findBestConfiguration>> | null = null;
    const pageMs = await timeRuns(async () => (page = await crossValidation(root, { readImage: readImageFile })));
    const nodeMs = await timeRuns(async () => (node = await findBestConfiguration(results, { datasetDir: ds, folds })));
    const p = page!;
    const n = node!;
    const same =
      p.best === n.results[n.bestIndex].identifier &&
      JSON.stringify(p.candidates.map((c) => c.result)) === JSON.stringify(n.results.map((r) => r.result)) &&
      JSON.stringify(p.postprocessing) === JSON.stringify(n.postprocessing.pp);
    return {
      cases: N_CASES,
      shape: SHAPE,
      configurations: 2,
      folds: folds.length,
      page_crossvalidation_ms_median: median(pageMs),
      node_find_best_ms_median: median(nodeMs),
      ratio_page_vs_node: median(pageMs) / median(nodeMs),
      same_decision: same,
      best: p.best,
      dice: Object.fromEntries(p.candidates.map((c) => [c.identifier, c.result])),
      note: 'page: MemoryRoot (in-memory storage); node: files in a tmp folder; both read NIfTI + npz and evaluate every candidate',
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(JSON.stringify(await run(), null, 2));
}

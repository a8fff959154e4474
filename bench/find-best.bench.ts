// find-best benchmark: the whole decision (accumulate the CV of two configurations, their pairwise ensemble
// from saved probabilities, ranking, determine_postprocessing on the winner) over 40 real hippocampus label
// maps perturbed as in src/cli/verbs/find-best.test.ts (8 validation cases per fold, 5 folds), vs the same
// pipeline written with nibabel / numpy / scipy.ndimage (Debian python3) on the same folders in the same run.
// Both wall-clock and CPU medians (3 runs after a warm-up) are reported; the Dice values of both sides are
// reported side by side as a cross-check. Python is optional. Our side also writes what nnU-Net writes and the
// reference skips: summary.json per candidate, postprocessing.json, the postprocessed/ predictions.
// Run alone: node bin/run-ts.mjs bench/find-best.bench.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readImageFile } from '../src/core/io/index.ts';
import { findBestConfiguration } from '../src/node/crossval.ts';
import { softProbabilities, writeFakeModel, writeRawDataset, type FakeCase } from '../src/node/crossval.testutil.ts';
import { median, pythonHas, runPythonJson } from './util.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = process.env.SEGSTUDIO_SHARED_DATA ?? path.resolve(here, '../../shared/data');
const REPEATS = 3;
const N_CASES = 40;
const DATASET = { channel_names: { '0': 'MRI' }, labels: { background: 0, Anterior: 1, Posterior: 2 }, numTraining: N_CASES, file_ending: '.nii.gz' };

const PY = `
# (our npz arrays are [C, z, y, x], C-order; nibabel's are [x, y, z])
import json, os, shutil, sys, time
import numpy as np
import nibabel as nib
from scipy import ndimage
job = json.loads(sys.argv[1])
res, ds, tmp, models = job['results'], job['dataset'], job['tmp'], job['models']
labels = [1, 2]
def dice(ref, pred):
    out = {}
    for l in labels:
        r, p = ref == l, pred == l
        tp = np.sum(r & p); fp = np.sum(~r & p); fn = np.sum(r & ~p)
        out[l] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else np.nan
    return out
def summary(folder, cases):
    per = [dice(np.asanyarray(nib.load(os.path.join(ds, 'labelsTr', c + '.nii.gz')).dataobj), np.asanyarray(nib.load(os.path.join(folder, c + '.nii.gz')).dataobj)) for c in cases]
    mean = {l: float(np.nanmean([p[l] for p in per])) for l in labels}
    return float(np.mean(list(mean.values()))), mean
def largest(seg, mask_labels):
    mask = np.isin(seg, mask_labels)
    lab, n = ndimage.label(mask, structure=np.ones((3,) * mask.ndim))  # full connectivity (skimage's default, nnU-Net)
    if n <= 1: return seg
    sizes = np.bincount(lab.ravel()); sizes[0] = 0
    out = seg.copy(); out[(lab != np.argmax(sizes)) & mask] = 0
    return out
def pipeline():
    results = {}
    merged = {}
    for m in models:
        d = os.path.join(tmp, m); shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
        cases = []
        for f in range(5):
            v = os.path.join(res, m, 'fold_%d' % f, 'validation')
            for n in sorted(os.listdir(v)):
                shutil.copy(os.path.join(v, n), os.path.join(d, n))
                if n.endswith('.nii.gz'): cases.append(n[:-7])
        merged[m] = (d, sorted(cases))
        results[m] = summary(d, merged[m][1])
    e = os.path.join(tmp, 'ensemble'); shutil.rmtree(e, ignore_errors=True); os.makedirs(e)
    cases = merged[models[0]][1]
    for c in cases:
        p = np.load(os.path.join(merged[models[0]][0], c + '.npz'))['probabilities'].astype(np.float32)
        p += np.load(os.path.join(merged[models[1]][0], c + '.npz'))['probabilities']
        p /= 2
        ref = nib.load(os.path.join(ds, 'labelsTr', c + '.nii.gz'))
        nib.save(nib.Nifti1Image(np.argmax(p, 0).astype(np.uint8).transpose(2, 1, 0), ref.affine, ref.header), os.path.join(e, c + '.nii.gz'))
    results['ensemble'] = summary(e, cases)
    best = max(results, key=lambda k: results[k][0])
    folder = e if best == 'ensemble' else merged[best][0]
    refs = [np.asanyarray(nib.load(os.path.join(ds, 'labelsTr', c + '.nii.gz')).dataobj) for c in cases]
    preds = [np.asanyarray(nib.load(os.path.join(folder, c + '.nii.gz')).dataobj) for c in cases]
    def ev(ps):
        per = [dice(r, p) for r, p in zip(refs, ps)]
        mean = {l: float(np.nanmean([q[l] for q in per])) for l in labels}
        return float(np.mean(list(mean.values()))), mean
    base = ev(preds)
    steps = []
    cand = [largest(p, labels) for p in preds]
    c = ev(cand)
    if c[0] > base[0] and all(c[1][l] >= base[1][l] for l in labels):
        preds, base = cand, c; steps.append('fg')
    for l in labels:
        cand = [largest(p, [l]) for p in preds]
        c = ev(cand)
        if c[1][l] > base[1][l]:
            preds, base = cand, c; steps.append(l)
    return {'all_results': {k: v[0] for k, v in results.items()}, 'best': best, 'pp_steps': steps, 'post_pp': base[0]}
def med(f, n):
    f()
    wall, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        r = f()
        wall.append((time.perf_counter() - t0) * 1000); cpu.append((time.process_time() - c0) * 1000)
    return {'wall': float(np.median(wall)), 'cpu': float(np.median(cpu))}, r
t, r = med(pipeline, job['repeats'])
print(json.dumps({'timing': t, 'result': r}))
`;

function perturb(ref: Uint8Array, label: number, every: number) {
  const seg = ref.slice();
  const unsure = new Map<number, number>();
  for (let i = 0; i < ref.length; i++)
    if (ref[i] === label && i % every === 0) {
      seg[i] = 0;
      unsure.set(i, label);
    }
  // a stray voxel of the other label in a background corner (something for postprocessing to remove)
  seg[0] = label === 1 ? 2 : 1;
  unsure.set(0, ref[0]);
  return { seg, probabilities: softProbabilities(seg, 3, unsure) };
}

export async function run(): Promise<Record<string, unknown>> {
  const labelsDir = path.join(shared, 'Dataset004_Hippocampus', 'labelsTr');
  if (!fs.existsSync(labelsDir)) return { skipped: `no ${labelsDir}` };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-findbest-bench-'));
  try {
    const ids = fs.readdirSync(labelsDir).filter((n) => n.endsWith('.nii.gz')).sort().slice(0, N_CASES).map((n) => n.slice(0, -7));
    const refs: Uint8Array[] = [];
    const cases: FakeCase[] = [];
    for (const id of ids) {
      const f = path.join(labelsDir, `${id}.nii.gz`);
      const img = readImageFile(new Uint8Array(fs.readFileSync(f)), f);
      refs.push(Uint8Array.from(img.data));
      cases.push({ id, shape: img.shape.slice(1), properties: img.properties });
    }
    const ds = path.join(tmp, 'Dataset004_Hippocampus');
    const results = path.join(tmp, 'results', 'Dataset004_Hippocampus');
    writeRawDataset(ds, DATASET, cases, (_c, i) => refs[i]);
    // 8 cases per fold: writeFakeModel puts case k in fold k, so write 5 "folds" of 8 by grouping
    const folds = [0, 1, 2, 3, 4];
    for (const [cfg, label, every] of [['2d', 1, 4], ['3d_fullres', 2, 3]] as const) {
      await writeFakeModel(results, cfg, DATASET, cases, (_c, k) => perturb(refs[k], label, every));
      // regroup fold_K (K = 0..39) into fold_0..4 of 8 cases each, as a 5-fold split
      const dir = path.join(results, `nnUNetTrainer__nnUNetPlans__${cfg}`);
      for (let k = 5; k < N_CASES; k++) {
        const from = path.join(dir, `fold_${k}`, 'validation');
        const to = path.join(dir, `fold_${k % 5}`, 'validation');
        for (const n of fs.readdirSync(from)) fs.renameSync(path.join(from, n), path.join(to, n));
        fs.rmSync(path.join(dir, `fold_${k}`), { recursive: true });
      }
    }
    const wall: number[] = [];
    const cpu: number[] = [];
    let last: Awaited<ReturnType<typeof findBestConfiguration>> | undefined;
    for (let i = 0; i <= REPEATS; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      last = await findBestConfiguration(results, { datasetDir: ds, folds });
      const t = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (i > 0) {
        wall.push(t);
        cpu.push((c.user + c.system) / 1000);
      }
    }
    const ours = { wall: median(wall), cpu: median(cpu) };
    const r = last!;
    const out: Record<string, unknown> = {
      cases: N_CASES,
      configurations: 2,
      ensembles: 1,
      ours_ms: ours,
      ours_result: {
        all_results: r.info.all_results,
        best: r.results[r.bestIndex].identifier,
        pp_steps: r.postprocessing.pp.postprocessing_fns.map((s) => s.labels_or_regions),
        post_pp: r.postprocessing.after.foreground_mean.Dice,
      },
    };
    if (pythonHas('nibabel', 'numpy', 'scipy')) {
      const py = runPythonJson(PY, [
        JSON.stringify({ results, dataset: ds, tmp: path.join(tmp, 'py'), models: ['nnUNetTrainer__nnUNetPlans__2d', 'nnUNetTrainer__nnUNetPlans__3d_fullres'], repeats: REPEATS }),
      ]) as { timing: { wall: number; cpu: number }; result: unknown };
      out.reference = { tool: 'nibabel + numpy + scipy.ndimage (Debian python3)', ms: py.timing, result: py.result };
      out.speedup_vs_reference = {
        wall: Math.round((py.timing.wall / ours.wall) * 100) / 100,
        cpu: Math.round((py.timing.cpu / ours.cpu) * 100) / 100,
      };
    } else out.reference = 'python3 with nibabel/numpy/scipy not available';
    return out;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then((r) => console.log(JSON.stringify(r, null, 1)));
}

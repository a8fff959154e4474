// Planning and training-data pipeline, ours vs the Python reference in the same run:
//  - dataset fingerprint of the real hippocampus dataset (190 cases, nnU-Net's 1e8 foreground samples):
//    ours (extractFingerprint) vs a numpy/scipy/nibabel implementation of nnU-Net's extractor steps
//    (crop_to_nonzero with binary_fill_holes, RandomState(1234).choice, np.percentile/mean/std), same numbers;
//  - experiment planning of that fingerprint (no reference: nnU-Net instantiates torch networks for it);
//  - the spatial augmentation of one hippocampus 3d_fullres sample (initial patch → 40×56×40, rotation + scaling):
//    ours vs torch.nn.functional.grid_sample (trilinear image + one interpolation per label, as batchgeneratorsv2);
//  - one full nnU-Net augmentation draw (default probabilities) and one 9-sample batch of the patch sampler.
// Python is optional: without it only our timings are reported. CPU times (process CPU, both sides) are reported
// beside wall-clock medians because the machine may be shared.
// Run alone: node bin/run-ts.mjs bench/planning.bench.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { niftiToImage, readNifti } from '../src/core/io/nifti.ts';
import { extractFingerprint } from '../src/core/planning/fingerprint.ts';
import { planExperiment } from '../src/core/planning/planner.ts';
import { affine3d, augmentSample, configureAugmentation, spatialTransform } from '../src/training/data/augment.ts';
import { RandomState } from '../src/training/data/random.ts';
import { PatchSampler, sampleClassLocations } from '../src/training/data/sampler.ts';
import { median, pythonHas, runPythonJson, timeRuns } from './util.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = process.env.SEGSTUDIO_SHARED_DATA ?? path.resolve(here, '../../shared/data');
const hippo = path.join(shared, 'Dataset004_Hippocampus');

const PY_FINGERPRINT = `
import json, os, sys, time
import numpy as np, nibabel as nib
from scipy.ndimage import binary_fill_holes
root, ids = sys.argv[1], json.loads(sys.argv[2])
def read(f):
    img = nib.load(f); a = np.asarray(img.dataobj).astype(np.float32)
    return a.transpose(list(range(a.ndim))[::-1])[None], [abs(float(v)) for v in img.header.get_zooms()[:3]][::-1]
t0 = time.perf_counter(); c0 = time.process_time()
n = int(10e7 // len(ids)); pooled = []; shapes = []
for cid in ids:
    img, sp = read(os.path.join(root, 'imagesTr', cid + '_0000.nii.gz'))
    seg, _ = read(os.path.join(root, 'labelsTr', cid + '.nii.gz'))
    mask = binary_fill_holes(np.any(img != 0, axis=0))
    box = [np.where(np.any(mask, axis=tuple(j for j in range(3) if j != i)))[0] for i in range(3)]
    sl = tuple(slice(b.min(), b.max() + 1) for b in box)
    d = img[(slice(None),) + sl]; s = seg[(slice(None),) + sl]
    s[(s == 0) & (~mask[sl][None])] = -1
    fg = d[0][s[0] > 0]
    rs = np.random.RandomState(1234)
    pooled.append(rs.choice(fg, n, replace=True) if len(fg) else np.zeros(0, np.float32))
    shapes.append(list(d.shape[1:]))
x = np.concatenate(pooled)
p005, med, p995 = np.percentile(x, np.array((0.5, 50.0, 99.5)))
stats = {'mean': float(np.mean(x)), 'median': float(med), 'std': float(np.std(x)), 'min': float(np.min(x)),
         'max': float(np.max(x)), 'percentile_99_5': float(p995), 'percentile_00_5': float(p005)}
ms = (time.perf_counter() - t0) * 1000
cpu = (time.process_time() - c0) * 1000
print(json.dumps({'ms': ms, 'cpu_ms': cpu, 'stats': stats, 'n': int(x.size)}))
`;

const PY_SPATIAL = `
import json, sys, time
import numpy as np, torch
from torch.nn.functional import grid_sample
torch.set_num_threads(1)
shape, patch, A = json.loads(sys.argv[1]), json.loads(sys.argv[2]), np.array(json.loads(sys.argv[3]))
rs = np.random.RandomState(0)
img = torch.from_numpy(rs.rand(1, *shape).astype(np.float32))
seg = torch.from_numpy(rs.randint(-1, 3, size=(1, *shape)).astype(np.int16))
space = [torch.linspace((1 - s) / 2, (s - 1) / 2, s) for s in patch]
g = torch.stack(torch.meshgrid(space, indexing='ij'), -1)
g = torch.matmul(g, torch.from_numpy(A.T).float())
for d in range(3): g[..., d] /= shape[d] / 2
g = torch.flip(g, (3,))[None]
def run():
    out = grid_sample(img[None], g, mode='bilinear', padding_mode='zeros', align_corners=False)
    best = None
    for u in (-1, 0, 1, 2):
        cur = grid_sample((seg == u).float()[None] * 1000, g, mode='bilinear', padding_mode='zeros', align_corners=False)
        best = cur if best is None else torch.maximum(best, cur)
    return out, best
ts = []; cs = []
for i in range(7):
    t0 = time.perf_counter(); c0 = time.process_time(); run(); ts.append((time.perf_counter() - t0) * 1000); cs.append((time.process_time() - c0) * 1000)
print(json.dumps({'ms': float(np.median(ts[1:])), 'cpu_ms': float(np.median(cs[1:])), 'runs': ts[1:]}))
`;

function loadCase(id: string) {
  const a = path.join(hippo, 'imagesTr', `${id}_0000.nii.gz`);
  const b = path.join(hippo, 'labelsTr', `${id}.nii.gz`);
  const image = niftiToImage(readNifti(fs.readFileSync(a), a), a);
  const s = niftiToImage(readNifti(fs.readFileSync(b), b), b);
  return { image, seg: { data: Int16Array.from(s.data), shape: s.shape.slice(1) }, fileName: a };
}

export async function run(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model } };
  const py = pythonHas('numpy', 'scipy', 'nibabel');
  // ---- fingerprint
  if (fs.existsSync(path.join(hippo, 'dataset.json'))) {
    const ids = fs
      .readdirSync(path.join(hippo, 'labelsTr'))
      .filter((f) => f.endsWith('.nii.gz'))
      .map((f) => f.slice(0, -7))
      .sort();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const fp = await extractFingerprint({ caseIds: ids, numChannels: 1, load: async (id) => loadCase(id) });
    const oursMs = performance.now() - t0;
    const cu = process.cpuUsage(c0);
    const oursCpu = (cu.user + cu.system) / 1000;
    const stats = fp.foreground_intensity_properties_per_channel['0'];
    const f: Record<string, unknown> = { cases: ids.length, samples: 1e8, ours_ms: Math.round(oursMs), ours_cpu_ms: Math.round(oursCpu), ours_stats: stats };
    if (py) {
      const r = runPythonJson(PY_FINGERPRINT, [hippo, JSON.stringify(ids)]);
      f.numpy_ms = Math.round(r.ms as number);
      f.numpy_cpu_ms = Math.round(r.cpu_ms as number);
      f.ratio_ours_over_numpy = +(oursMs / (r.ms as number)).toFixed(2);
      f.cpu_ratio_ours_over_numpy = +(oursCpu / (r.cpu_ms as number)).toFixed(2);
      f.identical_to_numpy = JSON.stringify(r.stats) === JSON.stringify(stats);
    }
    out.fingerprint = f;
    const pt = await timeRuns(() => planExperiment(fp, { channel_names: { 0: 'MRI' }, labels: { background: 0, a: 1, p: 2 }, numTraining: ids.length, file_ending: '.nii.gz' }), 5);
    out.plan_experiment_ms = +median(pt).toFixed(2);
  } else out.fingerprint = 'skipped: ../shared/data missing';

  // ---- spatial augmentation of one 3d_fullres hippocampus sample
  const patch = [40, 56, 40];
  const setup = configureAugmentation(patch);
  const shape = setup.initialPatchSize;
  const rs = new RandomState(0);
  const n = shape[0] * shape[1] * shape[2];
  const image = new Float32Array(n).map(() => rs.randomSample());
  const seg = new Int16Array(n).map(() => rs.randint(-1, 3));
  const A = affine3d([0.3, -0.2, 0.4], [1.1, 1.1, 1.1]);
  const ours = await timeRuns(() => spatialTransform({ image, seg, channels: 1, shape }, patch, A), 6);
  const cpuOnce = (f: () => void, reps: number) => {
    const c = process.cpuUsage();
    for (let i = 0; i < reps; i++) f();
    const d = process.cpuUsage(c);
    return (d.user + d.system) / 1000 / reps;
  };
  const oursCpuSp = cpuOnce(() => spatialTransform({ image, seg, channels: 1, shape }, patch, A), 6);
  const sp: Record<string, unknown> = { input: shape, patch, ours_ms: +median(ours).toFixed(1), ours_cpu_ms: +oursCpuSp.toFixed(1) };
  if (pythonHas('torch', 'numpy')) {
    const r = runPythonJson(PY_SPATIAL, [JSON.stringify(shape), JSON.stringify(patch), JSON.stringify(A)]);
    sp.torch_grid_sample_ms = +(r.ms as number).toFixed(1);
    sp.ratio_ours_over_torch = +(median(ours) / (r.ms as number)).toFixed(2);
    sp.torch_cpu_ms = +(r.cpu_ms as number).toFixed(1);
    sp.cpu_ratio_ours_over_torch = +(oursCpuSp / (r.cpu_ms as number)).toFixed(2);
  }
  out.spatial_transform = sp;

  // ---- full augmentation (nnU-Net probabilities), mean over 40 draws
  const rng = new RandomState(1);
  const t1 = performance.now();
  const augCpu = cpuOnce(() => augmentSample({ image: image.slice(), seg: seg.slice(), channels: 1, shape }, rng, { patchSize: patch, setup }), 40);
  out.augment_sample_mean_ms = +((performance.now() - t1) / 40).toFixed(1);
  out.augment_sample_mean_cpu_ms = +augCpu.toFixed(1);

  // ---- sampler: batch of 9 initial patches from a 36×50×35 case
  const cs = [36, 50, 35];
  const cn = cs[0] * cs[1] * cs[2];
  const cseg = new Int16Array(cn).map((_, i) => (i % 97 === 0 ? 1 : 0));
  const sampler = new PatchSampler(
    [{ id: 'c', data: new Float32Array(cn), seg: cseg, channels: 1, shape: cs, classLocations: sampleClassLocations(cseg, [1]) }],
    { batchSize: 9, patchSize: shape, finalPatchSize: patch },
  );
  out.sampler_batch9_ms = +median(await timeRuns(() => sampler.nextBatch(), 10)).toFixed(2);
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().then((r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'));
}

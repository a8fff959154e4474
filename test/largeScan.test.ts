// Issue 7, large scans: a generated 512×512×300 int16 CT (scl_inter −1024) goes through the NIfTI reader
// and predictCase (onnxruntime-node, pointwise network, no TTA) in a child process, so its peak RSS is the
// prediction's own. Truths: the phantom's threshold labels (test/largeScanChild.ts explains why every voxel
// must match), the 3 GB target, and the estimate made before starting (within the stated tolerance).
// On a smaller volume the low-memory paths (weight-sum ring, one-class-at-a-time export) must give the same
// labels as the reference paths, through a real U-Net-like 2-fold bundle with resampling and mirroring.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSegStudioError, type SegStudioError } from '../src/core/errors.ts';
import { readImageFile } from '../src/core/io/files.ts';
import { createBundle, loadBundle } from '../src/core/inference/bundle.ts';
import { predictCase } from '../src/core/inference/predictor.ts';
import { buildUNetLikeOnnx, syntheticPlans } from '../src/core/inference/syntheticModels.ts';
import { createOrtNodeRunner } from '../src/node/ortNodeRunner.ts';
import { groupInputs, loadModelFromPath, predictFiles } from '../src/node/predictFiles.ts';
import { phantomNifti, type LargeScanReport } from './largeScanChild.ts';
import { repoRoot } from './sharedData.ts';

const GiB = 2 ** 30;
/** estimate vs measured peak RSS: within 25 % of the measurement (GC timing and allocator slack) */
const TOLERANCE = 0.25;

function runChild(params: object): Promise<LargeScanReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(repoRoot, 'bin/run-ts.mjs'), path.join(repoRoot, 'test/largeScanChild.ts'), JSON.stringify(params)],
      { cwd: repoRoot, maxBuffer: 16 * 2 ** 20, timeout: 300_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`child failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as LargeScanReport);
      },
    );
  });
}

describe('512×512×300 CT through predictCase', () => {
  it('segments every voxel correctly under the 3 GB target, as estimated', async () => {
    // step 1: the accumulator and every full-size array are as large as at step 0.5, with a quarter of the tiles
    const r = await runChild({ shape: [300, 512, 512], spacing: [2.5, 0.8, 0.8], patch: [64, 160, 160], step: 1, tta: false });
    expect(r.refused).toBeUndefined();
    expect(r.voxels).toBe(300 * 512 * 512);
    expect(r.truthCounts.every((c) => c > 10_000)).toBe(true);
    expect(r.labelCounts).toEqual(r.truthCounts);
    expect(r.mismatches).toBe(0);
    expect(r.peakRss).toBeLessThan(3 * GiB);
    expect(r.estimate.fits).toBe(true);
    expect(r.estimate.tiles).toBe(5 * 4 * 4);
    expect(Math.abs(r.peakRss - r.estimate.peakBytes)).toBeLessThan(TOLERANCE * r.peakRss);
    console.log(
      `512×512×300: peak RSS ${(r.peakRss / GiB).toFixed(2)} GB (estimate ${(r.estimate.peakBytes / GiB).toFixed(2)} GB, ${r.estimate.peakPhase}), ` +
        `predict ${r.seconds.predict.toFixed(1)} s (estimate ${r.estimate.estimatedSeconds.toFixed(1)} s)`,
    );
  }, 300_000);
});

describe('low-memory paths = reference paths', () => {
  it('same labels through a 2-fold U-Net-like bundle with resampling and mirroring', async () => {
    const patch = [16, 32, 32];
    const plans = syntheticPlans({ patchSize: patch, spacing: [3, 1.1, 1.1], channels: 1, normalization: 'CTNormalization' });
    plans.foreground_intensity_properties_per_channel = { '0': { max: 3000, mean: 0, median: 0, min: -1024, percentile_00_5: -1024, percentile_99_5: 2000, std: 300 } };
    const files = await createBundle({
      plans,
      dataset: { channel_names: { '0': 'CT' }, labels: { background: 0, a: 1, b: 2, c: 3 }, file_ending: '.nii.gz' },
      configuration: '3d_fullres',
      folds: {
        0: buildUNetLikeOnnx({ inChannels: 1, classes: 4, features: [4, 8], patch, seed: 1 }),
        1: buildUNetLikeOnnx({ inChannels: 1, classes: 4, features: [4, 8], patch, seed: 2 }),
      },
      allowedMirroringAxes: [0],
    });
    const bundle = await loadBundle(files, 'unet-like');
    const runners = await Promise.all(bundle.networks.map((n) => createOrtNodeRunner(n.bytes, { device: 'cpu', threads: 1, fileName: n.name })));
    try {
      const image = readImageFile(phantomNifti([40, 80, 80], [2.5, 0.8, 0.8]), 'small_ct.nii');
      const low = await predictCase(image, bundle, runners, { stepSize: 0.5 });
      const ref = await predictCase(image, bundle, runners, { stepSize: 0.5, lowMemory: false });
      // the streaming export ran: the network grid differs from the crop grid
      expect(low.properties!.shape_after_resampling).not.toEqual(low.properties!.shape_after_cropping_and_before_resampling);
      expect(low.tiles).toBeGreaterThan(8);
      expect(low.labels.shape).toEqual([40, 80, 80]);
      expect(Array.from(low.labels.data)).toEqual(Array.from(ref.labels.data));
      expect(new Set(low.labels.data).size).toBeGreaterThan(1);
      // the estimate of the reference path is larger by the whole weights map and all classes' resampled logits
      expect(ref.estimate!.peakBytes).toBeGreaterThanOrEqual(low.estimate!.peakBytes);
    } finally {
      await Promise.all(runners.map((r) => r.dispose()));
    }
  }, 120_000);
});

describe('the CLI path refuses instead of running out of memory', () => {
  it('predictFiles with a small --memory-budget: a memory-budget error naming the input file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-largescan-'));
    try {
      const input = path.join(dir, 'ct_0000.nii');
      fs.writeFileSync(input, phantomNifti([30, 64, 64], [2.5, 0.8, 0.8]));
      const plans = syntheticPlans({ patchSize: [16, 32, 32], spacing: [2.5, 0.8, 0.8], channels: 1 });
      const files = await createBundle({
        plans,
        dataset: { channel_names: { '0': 'CT' }, labels: { background: 0, a: 1 }, file_ending: '.nii' },
        configuration: '3d_fullres',
        folds: { 0: buildUNetLikeOnnx({ inChannels: 1, classes: 2, features: [4], patch: [16, 32, 32] }) },
      });
      const bundleDir = path.join(dir, 'bundle');
      fs.mkdirSync(bundleDir);
      for (const [k, v] of files) fs.writeFileSync(path.join(bundleDir, k), v);
      const model = await loadModelFromPath(bundleDir);
      let runs = 0;
      const runner = { device: 'counting', run: async () => { runs++; throw new Error('must not run'); }, dispose: async () => {} };
      const err = await predictFiles(groupInputs([input]), model, [runner], { output: path.join(dir, 'out'), memoryBudgetGb: 0.01 }).catch((e: unknown) => e);
      expect(isSegStudioError(err)).toBe(true);
      expect((err as SegStudioError).code).toBe('memory-budget');
      expect((err as SegStudioError).file).toBe(input);
      expect((err as Error).message).toMatch(/memory budget is 10 MB \(set to 10 MB\)/);
      expect(runs).toBe(0);
      expect(fs.existsSync(path.join(dir, 'out', 'ct.nii'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

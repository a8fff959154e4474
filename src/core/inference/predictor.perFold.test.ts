// predictCase's `perFold` output: each fold's own label map next to the ensemble, from one pass.
// Truths: the ensemble equals predictCase with all runners (nnU-Net's fold averaging inside the
// sliding window), and each fold equals predictCase with that fold's runner alone.
import { describe, expect, it } from 'vitest';
import type { Image } from '../types.ts';
import { createBundle, loadBundle } from './bundle.ts';
import { predictCase } from './predictor.ts';
import { functionRunner, type NetworkRunner } from './runner.ts';
import { buildPointwiseOnnx, lcgValues, syntheticPlans } from './syntheticModels.ts';

const dataset = { channel_names: { '0': 'T1', '1': 'T2' }, labels: { background: 0, a: 1, b: 2 }, file_ending: '.nii.gz' };

/** A tile-position-dependent, nonlinear network: logits_k = tanh(Σ_c w[k][c]·blurX(x_c)) + b_k + 0.05·x-position. */
function foldRunner(w: number[][], b: number[]): NetworkRunner {
  return functionRunner((input, shape) => {
    const [, C, p0, p1, p2] = shape;
    const vol = p0 * p1 * p2;
    const out = new Float32Array(3 * vol);
    for (let i = 0; i < vol; i++) {
      const x = i % p2;
      for (let k = 0; k < 3; k++) {
        let s = 0;
        for (let c = 0; c < C; c++) {
          const o = c * vol + i;
          const l = x > 0 ? input[o - 1] : 0;
          const r = x < p2 - 1 ? input[o + 1] : 0;
          s += w[k][c] * (l + input[o] + r) / 3;
        }
        out[k * vol + i] = Math.tanh(s) + b[k] + 0.05 * x * (k - 1);
      }
    }
    return { data: out, shape: [1, 3, p0, p1, p2] };
  });
}

function makeImage(): Image {
  const shape = [2, 9, 13, 15];
  const vol = 9 * 13 * 15;
  const data = lcgValues(2 * vol, 7, 3);
  return { data, shape, properties: { format: 'nifti', spacing: [1.3, 1, 0.9], fileName: 'case_0000.nii.gz' } };
}

describe('predictCase perFold', () => {
  it('ensemble = all-runner prediction, each fold = its single-runner prediction, from one pass', async () => {
    const files = await createBundle({
      plans: syntheticPlans({ patchSize: [6, 8, 8], spacing: [1, 1, 1], channels: 2 }),
      dataset,
      configuration: '3d_fullres',
      folds: { 0: buildPointwiseOnnx([[1, 0], [0, 1], [1, 1]], [0, 0, 0], ['6', '8', '8']), 1: buildPointwiseOnnx([[1, 0], [0, 1], [1, 1]], [0, 0, 0], ['6', '8', '8']) },
    });
    const bundle = await loadBundle(files, 'synthetic');
    const rs = [
      foldRunner([[1.5, -1], [0.5, 0.8], [-1, 2]], [0.1, 0, -0.1]),
      foldRunner([[-0.5, 1], [1.2, -0.3], [0.4, 0.4]], [0, 0.2, 0]),
    ];
    const img = makeImage();
    const progress: string[] = [];
    const res = await predictCase(img, bundle, rs, { saveProbabilities: true, perFold: true, onProgress: (d, t, s) => progress.push(`${s}:${d}/${t}`) });
    const all = await predictCase(img, bundle, rs, { saveProbabilities: true });
    expect(res.foldLabels).toHaveLength(2);
    expect(res.runs).toBe(all.runs);
    expect(res.tiles).toBe(all.tiles);
    expect(res.tiles).toBeGreaterThan(1); // overlapping tiles: Gaussian weighting matters
    // ensemble: probabilities within float tolerance, labels identical except at float ties
    let maxErr = 0;
    for (let i = 0; i < all.probabilities!.length; i++) maxErr = Math.max(maxErr, Math.abs(res.probabilities![i] - all.probabilities![i]));
    expect(maxErr).toBeLessThan(1e-5);
    const n = all.labels.data.length;
    let same = 0;
    for (let i = 0; i < n; i++) if (res.labels.data[i] === all.labels.data[i]) same++;
    expect(same / n).toBeGreaterThan(0.999);
    // each fold: exactly the single-runner run
    for (let f = 0; f < 2; f++) {
      const single = await predictCase(img, bundle, [rs[f]], {});
      expect(res.foldLabels![f].shape).toEqual([9, 13, 15]);
      expect(res.foldLabels![f].data).toEqual(single.labels.data);
    }
    // the folds really disagree somewhere, and the ensemble differs from at least one of them
    let diff = 0;
    for (let i = 0; i < n; i++) if (res.foldLabels![0].data[i] !== res.foldLabels![1].data[i]) diff++;
    expect(diff).toBeGreaterThan(n * 0.05);
    // progress runs over both folds' windows
    expect(progress).toContain(`sliding window:${all.runs}/${all.runs}`);
  });

  it('without perFold, or with one runner, there are no fold label maps', async () => {
    const files = await createBundle({
      plans: syntheticPlans({ patchSize: [6, 8, 8], spacing: [1, 1, 1], channels: 2 }),
      dataset,
      configuration: '3d_fullres',
      folds: { 0: buildPointwiseOnnx([[1, 0], [0, 1], [1, 1]], [0, 0, 0], ['6', '8', '8']) },
    });
    const bundle = await loadBundle(files, 'synthetic');
    const r = foldRunner([[1.5, -1], [0.5, 0.8], [-1, 2]], [0.1, 0, -0.1]);
    const img = makeImage();
    expect((await predictCase(img, bundle, [r], { perFold: true })).foldLabels).toBeUndefined();
    expect((await predictCase(img, bundle, [r, r], {})).foldLabels).toBeUndefined();
  });
});

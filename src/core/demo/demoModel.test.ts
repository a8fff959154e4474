import { describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { buildDemoBundle, DEMO_CLASS_MEANS, DEMO_SIGMA, demoNetworkBytes } from './demoModel.ts';
import { makePhantom } from './phantom.ts';
import { loadBundle } from '../inference/bundle.ts';

async function runNet(data: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(demoNetworkBytes());
  const out = await session.run({ input: new ort.Tensor('float32', data, dims) });
  const r = out[session.outputNames[0]].data as Float32Array;
  await session.release();
  return r;
}

describe('analytic phantom model (fuzz/test fixture)', () => {
  it('computes the documented logits (checked by hand on a 3×3×3 input)', async () => {
    // a single bright centre voxel: smoothed centre = 8/14·v; logit_k = s·μ_k/σ² − μ_k²/(2σ²)
    const x = new Float32Array(27);
    x[13] = 700;
    x[12] = 140; // one face neighbour
    const logits = await runNet(x, [1, 1, 3, 3, 3]);
    const s = (8 / 14) * 700 + (1 / 14) * 140;
    for (let k = 0; k < 4; k++) {
      const mu = DEMO_CLASS_MEANS[k];
      const expected = (s * mu) / DEMO_SIGMA ** 2 - (mu * mu) / (2 * DEMO_SIGMA ** 2);
      expect(logits[k * 27 + 13]).toBeCloseTo(expected, 3);
    }
  });

  it('segments the phantom close to its ground truth (whole volume, onnxruntime-node)', async () => {
    const p = makePhantom();
    const [, nz, ny, nx] = p.image.shape;
    const n = nz * ny * nx;
    const logits = await runNet(p.image.data, [1, 1, nz, ny, nx]);
    const tp = [0, 0, 0, 0];
    const fp = [0, 0, 0, 0];
    const fn = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < 4; k++) if (logits[k * n + i] > logits[best * n + i]) best = k;
      const t = p.truth.data[i];
      if (best === t) tp[t]++;
      else {
        fp[best]++;
        fn[t]++;
      }
    }
    const dice = [1, 2, 3].map((k) => (2 * tp[k]) / (2 * tp[k] + fp[k] + fn[k]));
    expect(dice[0]).toBeGreaterThan(0.98);
    expect(dice[1]).toBeGreaterThan(0.9);
    expect(dice[2]).toBeGreaterThan(0.85);
  });

  it('is a valid bundle (the analytic fixture; the shipped demo is tested in demoBundle.test.ts)', async () => {
    const files = await buildDemoBundle();
    const bundle = await loadBundle(files, 'demo');
    expect(bundle.folds).toEqual([0]);
    expect(Object.keys(bundle.dataset.labels)).toEqual(['background', 'brain', 'ventricles', 'lesion']);
  });
});

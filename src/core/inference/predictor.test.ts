import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { dataPath, describeWithData, repoRoot } from '../../../test/sharedData.ts';
import { readImageFile } from '../io/files.ts';
import type { Image } from '../types.ts';
import { createOrtNodeRunner } from '../../node/ortNodeRunner.ts';
import { createBundle, loadBundle, type ModelBundle } from './bundle.ts';
import { parseModelCard, type CardModel } from './modelCard.ts';
import { predictCase } from './predictor.ts';
import { functionRunner, type NetworkRunner } from './runner.ts';
import { buildPointwiseOnnx, lcgValues, syntheticPlans } from './syntheticModels.ts';

const W0 = [
  [1, -1],
  [0.5, 0.5],
  [-1, 2],
];
const B0 = [0.2, 0, -0.3];
const W1 = [
  [0, 1],
  [1, 0],
  [0.5, -0.5],
];
const B1 = [0, 0.1, 0];
const dataset = { channel_names: { '0': 'T1', '1': 'T2' }, labels: { background: 0, a: 1, b: 2 }, file_ending: '.nii.gz' };

/** [2, 7, 10, 12] with a zero frame: the nonzero box is z 1..5, y 2..8, x 3..10 (half-open) */
function makeImage(): Image {
  const shape = [2, 7, 10, 12];
  const vol = 7 * 10 * 12;
  const data = new Float32Array(2 * vol);
  const r = lcgValues(2 * vol, 99, 4);
  for (let c = 0; c < 2; c++)
    for (let z = 1; z < 6; z++)
      for (let y = 2; y < 9; y++)
        for (let x = 3; x < 11; x++) {
          const i = (z * 10 + y) * 12 + x;
          data[c * vol + i] = r[c * vol + i] + (c === 0 ? 3 : -3); // never 0 inside the box
        }
  return { data, shape, properties: { format: 'nifti', spacing: [1, 1, 1], fileName: 'case_0000.nii.gz' } };
}

/** hand computation: mean of the two folds' affine logits, softmax, argmax; outside the box label 0 / prob [1,0,0] */
function expected(img: Image) {
  const vol = img.data.length / 2;
  const labels = new Uint8Array(vol);
  const probs = new Float32Array(3 * vol);
  for (let i = 0; i < vol; i++) {
    const x0 = img.data[i];
    const x1 = img.data[vol + i];
    if (x0 === 0 && x1 === 0) {
      probs[i] = 1;
      continue;
    }
    const l = [0, 1, 2].map((k) => (W0[k][0] * x0 + W0[k][1] * x1 + B0[k] + W1[k][0] * x0 + W1[k][1] * x1 + B1[k]) / 2);
    const m = Math.max(...l);
    const e = l.map((v) => Math.exp(v - m));
    const s = e[0] + e[1] + e[2];
    for (let k = 0; k < 3; k++) probs[k * vol + i] = e[k] / s;
    labels[i] = l.indexOf(m);
  }
  return { labels, probs };
}

const runners: NetworkRunner[] = [];
afterAll(async () => {
  await Promise.all(runners.map((r) => r.dispose()));
});

async function pointwiseBundle(patch: number[], spacing: number[], normalization = 'NoNormalization'): Promise<{ bundle: ModelBundle; runners: NetworkRunner[] }> {
  const files = await createBundle({
    plans: syntheticPlans({ patchSize: patch, spacing, channels: 2, normalization }),
    dataset,
    configuration: patch.length === 2 ? '2d' : '3d_fullres',
    folds: { 0: buildPointwiseOnnx(W0, B0, patch.map(String)), 1: buildPointwiseOnnx(W1, B1, patch.map(String)) },
  });
  const bundle = await loadBundle(files, 'synthetic');
  const rs = await Promise.all(bundle.networks.map((n) => createOrtNodeRunner(n.bytes, { device: 'cpu', threads: 1, fileName: n.name })));
  runners.push(...rs);
  return { bundle, runners: rs };
}

describe('predictCase with a bundle (preprocess → sliding window → export)', () => {
  it('equals the hand-computed fold-averaged result, pasted back into the uncropped grid', async () => {
    const { bundle, runners: rs } = await pointwiseBundle([8, 8, 8], [1, 1, 1]);
    const img = makeImage();
    const progress: string[] = [];
    const res = await predictCase(img, bundle, rs, { saveProbabilities: true, onProgress: (d, t, s) => progress.push(`${s}:${d}/${t}`) });
    const exp = expected(img);
    expect(res.labels.shape).toEqual([7, 10, 12]);
    expect(res.labels.data).toEqual(exp.labels);
    expect(res.probabilitiesShape).toEqual([3, 7, 10, 12]);
    let maxErr = 0;
    for (let i = 0; i < exp.probs.length; i++) maxErr = Math.max(maxErr, Math.abs(res.probabilities![i] - exp.probs[i]));
    expect(maxErr).toBeLessThan(1e-5);
    // crop box 5×7×8 is padded to one 8³ tile; 2 folds × 8 mirror combinations
    expect(res.tiles).toBe(1);
    expect(res.runs).toBe(16);
    expect(res.device).toBe('onnxruntime-node/cpu');
    expect(res.properties!.bbox_used_for_cropping).toEqual([[1, 6], [2, 9], [3, 11]]);
    expect(progress).toContain('sliding window:16/16');
    expect(res.classNames).toEqual(['background', 'a', 'b']);
  });

  it('TTA off gives the same labels for a mirror-equivariant network, with 1/8 of the runs', async () => {
    const { bundle, runners: rs } = await pointwiseBundle([4, 4, 4], [1, 1, 1]);
    const img = makeImage();
    const a = await predictCase(img, bundle, rs, { tta: false });
    const b = await predictCase(img, bundle, rs, { tta: true });
    expect(a.labels.data).toEqual(b.labels.data);
    expect(a.labels.data).toEqual(expected(img).labels);
    expect(b.runs).toBe(8 * a.runs);
  });

  it('runs a 2D configuration slice by slice', async () => {
    const { bundle, runners: rs } = await pointwiseBundle([6, 6], [1, 1]);
    const img = makeImage();
    const res = await predictCase(img, bundle, rs, {});
    expect(res.labels.data).toEqual(expected(img).labels);
  });

  it('refuses an image with the wrong number of channels', async () => {
    const { bundle, runners: rs } = await pointwiseBundle([8, 8, 8], [1, 1, 1]);
    const img = makeImage();
    const one: Image = { ...img, data: img.data.slice(0, img.data.length / 2), shape: [1, 7, 10, 12] };
    await expect(predictCase(one, bundle, rs)).rejects.toThrow('case_0000.nii.gz: model expects 2 channels (T1, T2); got 1 channel');
  });

  it('refuses a network whose class count disagrees with dataset.json', async () => {
    const files = await createBundle({
      plans: syntheticPlans({ patchSize: [8, 8, 8], spacing: [1, 1, 1], channels: 2, normalization: 'NoNormalization' }),
      dataset,
      configuration: '3d_fullres',
      folds: { 0: buildPointwiseOnnx([[1, 0], [0, 1]], [0, 0]) },
    });
    const bundle = await loadBundle(files, 'two-class');
    const r = await createOrtNodeRunner(bundle.networks[0].bytes, { device: 'cpu', threads: 1 });
    runners.push(r);
    await expect(predictCase(makeImage(), bundle, [r], { tta: false })).rejects.toThrow(/network outputs 2 channels but dataset.json defines 3 labels/);
  });
});

describe('predictCase with a model card', () => {
  it('z-fastest axis order transposes the volume for the network and the output back', async () => {
    const card = parseModelCard(
      JSON.stringify({
        format: 'segstudio-model-card/1',
        name: 'ramp',
        labels: { even: 0, odd: 1 },
        channels: { '0': 'img' },
        input: { layout: 'NCDHW', axis_order: 'z-fastest', patch_size: [4, 4, 4] },
        normalization: 'none',
      }),
      'ramp.card.json',
    );
    const seen: number[][] = [];
    // logits favour class (last-axis index mod 2): in network (x, y, z) order the last axis is z
    const net = functionRunner((_x, s) => {
      seen.push(s);
      const [a, b, c] = s.slice(2);
      const out = new Float32Array(2 * a * b * c);
      for (let i = 0; i < a * b * c; i++) out[(i % c) % 2 === 0 ? i : a * b * c + i] = 1;
      return { data: out, shape: [1, 2, a, b, c] };
    });
    const model: CardModel = { kind: 'card', sourceName: 'ramp.onnx', card, onnx: new Uint8Array() };
    const img: Image = { data: new Float32Array(6 * 5 * 4).fill(1), shape: [1, 6, 5, 4], properties: { format: 'nifti', spacing: [1, 1, 1] } };
    const res = await predictCase(img, model, [net]);
    expect(seen[0]).toEqual([1, 1, 4, 4, 4]);
    // image array is [z=6][y=5][x=4]: label = z mod 2
    for (let z = 0; z < 6; z++) for (let i = 0; i < 20; i++) expect(res.labels.data[z * 20 + i]).toBe(z % 2);
  });

  it('a 2D (NCHW) whole-slice card runs slice by slice through onnxruntime and matches the hand computation', async () => {
    const card = parseModelCard(
      JSON.stringify({
        format: 'segstudio-model-card/1',
        name: 'pw2d',
        labels: { background: 0, a: 1, b: 2 },
        channels: { '0': 'T1', '1': 'T2' },
        input: { layout: 'NCHW', axis_order: 'x-fastest', patch_size: 'full' },
        normalization: 'none',
      }),
      'pw2d.card.json',
    );
    const onnx = buildPointwiseOnnx(W0, B0, ['h', 'w']);
    const r = await createOrtNodeRunner(onnx, { device: 'cpu', threads: 1 });
    runners.push(r);
    const img = makeImage();
    const res = await predictCase(img, { kind: 'card', sourceName: 'pw2d.onnx', card, onnx }, [r], { saveProbabilities: true });
    expect(res.runs).toBe(7); // one run per slice of axis 0
    const vol = img.data.length / 2;
    for (let i = 0; i < vol; i++) {
      const l = [0, 1, 2].map((k) => W0[k][0] * img.data[i] + W0[k][1] * img.data[vol + i] + B0[k]);
      expect(res.labels.data[i]).toBe(l.indexOf(Math.max(...l)));
    }
    expect(res.probabilitiesShape).toEqual([3, 7, 10, 12]);
  });

  it('checks the required shape', async () => {
    const f = `${repoRoot}/test/fixtures/inference/brainchop_model5_gw_ae.card.json`;
    const model: CardModel = { kind: 'card', sourceName: 'm.onnx', card: parseModelCard(fs.readFileSync(f, 'utf8'), f), onnx: new Uint8Array() };
    const img: Image = { data: new Float32Array(8), shape: [1, 2, 2, 2], properties: { format: 'nifti', spacing: [1, 1, 1], fileName: 'small.nii' } };
    await expect(predictCase(img, model, [functionRunner(() => ({ data: new Float32Array(), shape: [] }))])).rejects.toThrow(/small\.nii: model brainchop .* needs an image of shape \[256,256,256\]/);
  });
});

describeWithData('brainchop MeshNet (ONNX + model card) reproduces the onnxruntime reference segmentation', () => {
  it('agrees on ≥ 99.9 % of the 256³ voxels', async () => {
    const onnx = new Uint8Array(fs.readFileSync(dataPath('models/brainchop_model5_gw_ae/model5_gw_ae.niivue-onnx.onnx')));
    const cardFile = `${repoRoot}/test/fixtures/inference/brainchop_model5_gw_ae.card.json`;
    const model: CardModel = { kind: 'card', sourceName: 'model5_gw_ae.onnx', card: parseModelCard(fs.readFileSync(cardFile, 'utf8'), cardFile), onnx };
    const t1 = dataPath('scans/brainchop_t1_crop.nii.gz');
    const img = readImageFile(new Uint8Array(fs.readFileSync(t1)), t1);
    const ref = readImageFile(new Uint8Array(fs.readFileSync(dataPath('models/brainchop_model5_gw_ae/expected_t1_crop_seg.onnxruntime.nii.gz'))), 'expected.nii.gz');
    const runner = await createOrtNodeRunner(onnx, { device: 'cpu' });
    runners.push(runner);
    const res = await predictCase(img, model, [runner]);
    expect(res.labels.shape).toEqual([256, 256, 256]);
    let same = 0;
    const counts = [0, 0, 0];
    for (let i = 0; i < ref.data.length; i++) {
      if (res.labels.data[i] === ref.data[i]) same++;
      counts[res.labels.data[i]]++;
    }
    expect(same / ref.data.length).toBeGreaterThanOrEqual(0.999);
    // the reference's own voxel counts (models/README.md): 15,523,464 / 518,540 / 735,212
    expect(Math.abs(counts[1] - 518540) / 518540).toBeLessThan(0.01);
    expect(Math.abs(counts[2] - 735212) / 735212).toBeLessThan(0.01);
  });
});

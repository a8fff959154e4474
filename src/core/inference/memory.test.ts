// Memory budget, network cost, prediction estimate and the low-memory paths.
// Truths: hand-computed budgets, FLOPs and array sizes (the arithmetic is written out here, not taken
// from the code); cropToNonzero's bounding box; the reference (whole-volume weights, all-class export)
// paths, which must agree bit for bit with the low-memory ones.
import { describe, expect, it } from 'vitest';
import { isSegStudioError, SegStudioError } from '../errors.ts';
import { cropToNonzero } from '../preprocessing/crop.ts';
import { exportPredictionToOriginal, preprocessCase } from '../preprocessing/preprocess.ts';
import type { Image } from '../types.ts';
import { createBundle, loadBundle } from './bundle.ts';
import { estimateCardPrediction, estimatePrediction, formatBytes, memoryBudget, memoryBudgetError, networkCost, nonzeroBoxExtent } from './memory.ts';
import { exportLabelsStreaming, predictCase } from './predictor.ts';
import { functionRunner, type NetworkRunner } from './runner.ts';
import { predictSlidingWindow } from './slidingWindow.ts';
import { buildPointwiseOnnx, buildUNetLikeOnnx, lcgValues, syntheticPlans } from './syntheticModels.ts';

const GiB = 2 ** 30;

describe('memoryBudget', () => {
  it('an explicit budget wins', () => {
    expect(memoryBudget({ overrideBytes: 3 * GiB, totalBytes: 64 * GiB }).bytes).toBe(3 * GiB);
  });
  it('Node: min(80 % of total or cgroup limit, RSS + 90 % of available)', () => {
    // 80 % of 16 GiB = 12.8 GiB; 1 GiB + 0.9 × 10 GiB = 10 GiB
    expect(memoryBudget({ totalBytes: 16 * GiB, availableBytes: 10 * GiB, currentRssBytes: GiB }).bytes).toBe(10 * GiB);
    // 0.9 × 15 GiB = 13.5 GiB > 12.8 GiB
    expect(memoryBudget({ totalBytes: 16 * GiB, availableBytes: 15 * GiB }).bytes).toBe(Math.floor(0.8 * 16 * GiB));
    // cgroup limit 4 GiB: 3.2 GiB
    const b = memoryBudget({ totalBytes: 16 * GiB, availableBytes: 15 * GiB, constrainedBytes: 4 * GiB });
    expect(b.bytes).toBe(Math.floor(0.8 * 4 * GiB));
    expect(b.source).toContain('cgroup');
  });
  it('browser: half of navigator.deviceMemory, at most 4 GB; nothing known: 2 GB', () => {
    expect(memoryBudget({ deviceMemoryGiB: 8 }).bytes).toBe(4 * GiB);
    expect(memoryBudget({ deviceMemoryGiB: 2 }).bytes).toBe(1 * GiB);
    expect(memoryBudget({ deviceMemoryGiB: 32 }).bytes).toBe(4 * GiB);
    expect(memoryBudget({}).bytes).toBe(2 * GiB);
    expect(memoryBudget({}).source).toContain('default');
  });
  it('WebGPU limits give the largest GPU buffer, not the RAM budget', () => {
    const b = memoryBudget({ deviceMemoryGiB: 8, maxBufferSize: 256 * 2 ** 20, maxStorageBufferBindingSize: 128 * 2 ** 20 });
    expect(b.bytes).toBe(4 * GiB);
    expect(b.gpuMaxBufferBytes).toBe(128 * 2 ** 20);
  });
  it('formats bytes in binary units', () => {
    expect(formatBytes(1.5 * GiB)).toBe('1.5 GB');
    expect(formatBytes(300 * 2 ** 20)).toBe('300 MB');
  });
});

describe('networkCost', () => {
  it('pointwise network: 2·K·C FLOPs per voxel, K float32 outputs', () => {
    const c = networkCost(buildPointwiseOnnx([[1, 2], [3, 4], [5, 6]], [0, 0, 0]));
    expect(c.flopsPerVoxel).toBe(2 * 3 * 2);
    expect(c.largestTensorBytesPerVoxel).toBe(3 * 4);
    expect(c.convolutions).toBe(1);
    expect(c.weightBytes).toBe((6 + 3) * 4);
  });
  it('PlainConvUNet-like network (features 4, 8): hand-counted FLOPs per input voxel', () => {
    const c = networkCost(buildUNetLikeOnnx({ inChannels: 1, classes: 3, features: [4, 8], patch: [16, 16, 16] }));
    const full = 1;
    const half = 1 / 8; // one stride-2 downsampling in 3D
    const expected =
      2 * 4 * 1 * 27 * full + // stage 0 conv 1 → 4
      2 * 4 * 4 * 27 * full + // stage 0 conv 4 → 4
      2 * 8 * 4 * 27 * half + // stage 1 strided conv 4 → 8
      2 * 8 * 8 * 27 * half + // stage 1 conv 8 → 8
      2 * 8 * 4 * 8 * half + // ConvTranspose 8 → 4, kernel 2³, on the coarse grid
      2 * 4 * 8 * 27 * full + // decoder conv on the concat (8) → 4
      2 * 4 * 4 * 27 * full + // decoder conv 4 → 4
      2 * 3 * 4 * full; // 1×1×1 head
    expect(c.flopsPerVoxel).toBeCloseTo(expected, 6);
    expect(c.convolutions).toBe(8);
    expect(c.largestTensorBytesPerVoxel).toBe(8 * 4); // the skip concat: 8 channels at full resolution
  });
});

describe('nonzeroBoxExtent', () => {
  it('equals the extent of cropToNonzero’s box (holes do not change it)', () => {
    const shape = [1, 11, 13, 17];
    const n = 11 * 13 * 17;
    const data = new Float32Array(n);
    const r = lcgValues(n, 5);
    for (let z = 2; z < 9; z++)
      for (let y = 3; y < 12; y++)
        for (let x = 1; x < 14; x++) {
          const i = (z * 13 + y) * 17 + x;
          if (r[i] > 0.3 || (z === 2 && y === 3 && x === 1) || (z === 8 && y === 11 && x === 13)) data[i] = 5;
        }
    const img: Image = { data, shape, properties: { format: 'nifti', spacing: [1, 1, 1] } };
    const bbox = cropToNonzero(img).bbox;
    expect(nonzeroBoxExtent(data, 1, shape.slice(1))).toEqual(bbox.map(([lo, hi]) => hi - lo));
    expect(nonzeroBoxExtent(new Float32Array(n), 1, shape.slice(1))).toEqual([11, 13, 17]);
  });
});

describe('estimatePrediction', () => {
  const plans = syntheticPlans({ patchSize: [64, 64, 64], spacing: [1, 1, 1], channels: 1 });
  const img = { shape: [1, 100, 100, 100], spacing: [1, 1, 1], fileName: 'big_0000.nii.gz' };

  it('hand-computed arrays of each phase, tiles and runs', () => {
    const e = estimatePrediction(img, plans, '3d_fullres', { classes: 3, tta: true, baselineBytes: 0 });
    // steps per axis: ceil((100 − 64) / 32) + 1 = 3 → 27 tiles; 8 mirror combinations
    expect(e.tiles).toBe(27);
    expect(e.runs).toBe(216);
    const V = 100 ** 3;
    const tile = 64 ** 3;
    const ring = 64 * 100 * 100; // one tile depth of slices
    // no resampling back: slices stream into a uint8 label map; logits and weight sums for one tile depth
    const sw = 4 * V /* input */ + 4 * V /* preprocessed */ + 4 * 3 * ring /* logits */ + 4 * ring /* weights */ + 4 * tile * (2 + 9) + V /* labels */;
    expect(e.peakPhase).toBe('sliding window');
    expect(e.peakBytes).toBe(sw);
    expect(e.phases.find((p) => p.name === 'preprocessing')!.bytes).toBe(4 * V + 2 * V + 4 * V + 3 * V);
    expect(e.phases.find((p) => p.name === 'export')!.bytes).toBe(4 * V + (V + V));
    // the reference path keeps whole-volume logits and weights, and exports from the logits
    const ref = estimatePrediction(img, plans, '3d_fullres', { classes: 3, baselineBytes: 0, lowMemory: false });
    expect(ref.peakBytes).toBe(4 * V + 4 * V + 4 * 3 * V + 4 * V + 4 * tile * (2 + 9));
    expect(ref.phases.find((p) => p.name === 'export')!.bytes).toBe(4 * V + 4 * 3 * V + (V + V));
    // probabilities need the whole logits even on the low-memory path
    const probs = estimatePrediction(img, plans, '3d_fullres', { classes: 3, baselineBytes: 0, saveProbabilities: true });
    expect(probs.phases.find((p) => p.name === 'sliding window')!.items['logits accumulator']).toBe(4 * 3 * V);
  });

  it('resampling: the resampled image, streaming export of one class at a time', () => {
    const e = estimatePrediction({ shape: [1, 50, 100, 100], spacing: [2, 1, 1] }, plans, '3d_fullres', { classes: 4, tta: false, baselineBytes: 0 });
    const V0 = 50 * 100 * 100;
    const Vr = 100 * 100 * 100;
    expect(e.networkGrid).toEqual([100, 100, 100]);
    expect(e.runs).toBe(27);
    const pre = e.phases.find((p) => p.name === 'preprocessing')!;
    expect(pre.bytes).toBe(4 * V0 + 2 * V0 + 4 * V0 + 3 * V0 + 4 * Vr + 2 * 4 * Vr);
    const ex = e.phases.find((p) => p.name === 'export')!;
    expect(ex.bytes).toBe(4 * V0 + 4 * 4 * Vr + 4 * V0 + 4 * V0 + 2 * 4 * Vr + (V0 + V0));
    const all = estimatePrediction({ shape: [1, 50, 100, 100], spacing: [2, 1, 1] }, plans, '3d_fullres', { classes: 4, tta: false, baselineBytes: 0, lowMemory: false });
    expect(all.phases.find((p) => p.name === 'export')!.bytes - ex.bytes).toBe(4 * 4 * V0 - 2 * 4 * V0);
  });

  it('time: network FLOPs at the given throughput plus the per-voxel JavaScript work', () => {
    const network = networkCost(buildPointwiseOnnx([[1], [2], [3]], [0, 0, 0]));
    const a = estimatePrediction(img, plans, '3d_fullres', { classes: 3, tta: false, network, flopsPerSecond: 1e9 });
    const b = estimatePrediction(img, plans, '3d_fullres', { classes: 3, tta: false, network, flopsPerSecond: 2e9 });
    // 27 runs × 64³ voxels × 6 FLOPs: 42.5 ms at 1 GFLOP/s, half of it at 2
    expect(a.estimatedSeconds - b.estimatedSeconds).toBeCloseTo((27 * 64 ** 3 * 6) / 2e9, 9);
    expect(a.throughput).toBe('measured');
  });

  it('does not fit: the refusal names the file, the estimate, the budget and a suggestion', () => {
    const plans2 = syntheticPlans({ patchSize: [64, 64, 64], spacing: [1, 1, 1], channels: 1 });
    plans2.configurations['3d_lowres'] = { ...plans2.configurations['3d_fullres'], spacing: [2, 2, 2] };
    // 3d_fullres needs ≈ 31 MB for labels (more with probabilities), 3d_lowres (2 mm) ≈ 22 MB
    const e = estimatePrediction(img, plans2, '3d_fullres', { classes: 3, saveProbabilities: true, baselineBytes: 0, budget: memoryBudget({ overrideBytes: 20e6 }), environment: 'browser' });
    expect(e.fits).toBe(false);
    expect(e.suggestion).toContain('do not save probabilities');
    expect(e.suggestion).not.toContain('3d_lowres'); // with probabilities on the image grid it would not fit either
    expect(e.suggestion).toContain('CLI');
    const labelsOnly = estimatePrediction(img, plans2, '3d_fullres', { classes: 3, baselineBytes: 0, budget: memoryBudget({ overrideBytes: 25e6 }) });
    expect(labelsOnly.fits).toBe(false);
    expect(labelsOnly.suggestion).toMatch(/use the 3d_lowres configuration \(≈ \d+ MB\)/);
    expect(labelsOnly.suggestion).not.toContain('probabilities');
    const err = memoryBudgetError(e, img.fileName);
    expect(err).toBeInstanceOf(SegStudioError);
    expect(err.code).toBe('memory-budget');
    expect(err.message).toContain('big_0000.nii.gz');
    expect(err.message).toContain(formatBytes(e.peakBytes));
    expect(err.message).toContain('19 MB');
  });

  it('a network tensor larger than the GPU allows does not fit, whatever the RAM budget', () => {
    const network = networkCost(buildPointwiseOnnx([[1], [2], [3]], [0, 0, 0]));
    const e = estimatePrediction(img, plans, '3d_fullres', { classes: 3, network, budget: memoryBudget({ overrideBytes: 64 * GiB, maxStorageBufferBindingSize: 2 ** 20 }) });
    expect(e.fits).toBe(false);
    expect(e.reason).toContain('GPU');
    expect(e.suggestion).toContain('CPU');
  });
});

describe('estimateCardPrediction', () => {
  it('whole-volume card: input, normalized copy, network output, labels (+ reversed copies for z-fastest)', () => {
    const V = 64 ** 3;
    const img = { shape: [1, 64, 64, 64], spacing: [1, 1, 1] };
    const e = estimateCardPrediction(img, { classes: 3, patch: 'full', baselineBytes: 0 });
    expect(e.peakBytes).toBe(4 * V + 4 * V + 4 * 3 * V + V);
    expect(e.runs).toBe(1);
    const z = estimateCardPrediction(img, { classes: 3, patch: 'full', reverseAxes: true, baselineBytes: 0 });
    expect(z.peakBytes - e.peakBytes).toBe(4 * V + 4 * 3 * V);
    // MeshNet-like cost: activations of the whole volume
    const net = networkCost(buildPointwiseOnnx([[1], [2], [3]], [0, 0, 0]));
    const n = estimateCardPrediction(img, { classes: 3, patch: 'full', baselineBytes: 0, network: net });
    expect(n.peakBytes - e.peakBytes).toBe(net.activationBytesPerVoxel * V);
  });
  it('tiled card: tiles × mirrorings, accumulator over the padded volume', () => {
    const e = estimateCardPrediction({ shape: [1, 100, 100, 100], spacing: [1, 1, 1] }, { classes: 2, patch: [64, 64, 64], mirror: true, baselineBytes: 0, budget: memoryBudget({ overrideBytes: 1e6 }) });
    expect(e.tiles).toBe(27);
    expect(e.runs).toBe(27 * 8);
    expect(e.fits).toBe(false);
    expect(e.suggestion).toContain('crop');
  });
});

/** A position-dependent, nonlinear network (so overlapping tiles disagree and the weighting matters). */
function wobblyRunner(K: number): NetworkRunner {
  return functionRunner((input, shape) => {
    const sp = shape.slice(2);
    const vol = sp.reduce((a, b) => a * b, 1);
    const out = new Float32Array(K * vol);
    for (let i = 0; i < vol; i++) for (let k = 0; k < K; k++) out[k * vol + i] = Math.sin(input[i] * (k + 1) + (i % 7) * 0.3 * k) + 0.01 * (i % sp[sp.length - 1]);
    return { data: out, shape: [1, K, ...sp] };
  });
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}

describe('low-memory sliding window', () => {
  const cases: { name: string; shape: number[]; patch: number[]; mirror: number[] | null; step: number }[] = [
    { name: '3D, overlapping tiles, mirroring', shape: [2, 37, 45, 29], patch: [16, 20, 12], mirror: [0, 2], step: 0.5 },
    { name: '3D, step 0.33', shape: [1, 40, 21, 23], patch: [12, 16, 16], mirror: null, step: 0.33 },
    { name: '3D padded (image thinner than the patch)', shape: [1, 9, 40, 30], patch: [16, 16, 16], mirror: [2], step: 0.5 },
    { name: '2D network slice by slice', shape: [1, 6, 40, 33], patch: [16, 16], mirror: [0, 1], step: 0.5 },
  ];
  for (const c of cases) {
    it(`${c.name}: logits bit-identical to the whole-volume weights map`, async () => {
      const n = c.shape.reduce((a, b) => a * b, 1);
      const data = lcgValues(n, 11, 4);
      const runners = [wobblyRunner(3), wobblyRunner(3)];
      const opts = { patchSize: c.patch, stepSize: c.step, mirrorAxes: c.mirror };
      const low = await predictSlidingWindow(data, c.shape, runners, { ...opts, lowMemory: true });
      const ref = await predictSlidingWindow(data, c.shape, runners, { ...opts, lowMemory: false });
      expect(low.tiles).toBe(ref.tiles);
      expect(low.tiles).toBeGreaterThan(1);
      expect(bitsEqual(low.logits, ref.logits)).toBe(true);
      // streaming: every slice once, in order, equal to the accumulated logits
      const [K, d0, d1, d2] = ref.shape.length === 4 ? ref.shape : [ref.shape[0], 1, ...ref.shape.slice(1)];
      const plane = d1 * d2;
      const got = new Float32Array(K * d0 * plane);
      const order: number[] = [];
      const st = await predictSlidingWindow(data, c.shape, runners, {
        ...opts,
        onSlice: (z, slice, k) => {
          expect(k).toBe(K);
          order.push(z);
          for (let q = 0; q < K; q++) got.set(slice.subarray(q * plane, (q + 1) * plane), (q * d0 + z) * plane);
        },
      });
      expect(st.logits.length).toBe(0);
      expect(order).toEqual(Array.from({ length: d0 }, (_, i) => i));
      expect(bitsEqual(got, ref.logits)).toBe(true);
    });
  }
});

describe('streaming label export', () => {
  it('equals the all-classes export (resampling, transposes, crop, ties)', () => {
    const plans = syntheticPlans({ patchSize: [8, 8, 8], spacing: [1.7, 0.8, 1.3], channels: 1, normalization: 'NoNormalization' });
    plans.transpose_forward = [2, 0, 1];
    plans.transpose_backward = [1, 2, 0];
    const shape = [1, 14, 19, 23];
    const n = 14 * 19 * 23;
    const data = lcgValues(n, 3, 10);
    for (let i = 0; i < n; i++) if (i % 23 < 2 || Math.floor(i / 23) % 19 > 16) data[i] = 0; // something to crop
    const img: Image = { data, shape, properties: { format: 'nifti', spacing: [1.2, 1, 1.1] } };
    const pre = preprocessCase(img, plans, '3d_fullres');
    const K = 5;
    const m = pre.shape.slice(1).reduce((a, b) => a * b, 1);
    expect(pre.shape.slice(1)).not.toEqual(pre.properties.shape_after_cropping_and_before_resampling);
    const logits = lcgValues(K * m, 9, 6);
    // exact ties between classes 1 and 3 in part of the volume
    for (let i = 0; i < m; i += 5) logits[3 * m + i] = logits[1 * m + i];
    const ref = exportPredictionToOriginal(logits, K, pre.properties, plans, '3d_fullres').labels;
    const st = exportLabelsStreaming(logits, K, pre.properties, plans, '3d_fullres');
    expect(st.shape).toEqual(ref.shape);
    expect(st.shape).toEqual([14, 19, 23]);
    expect(Array.from(st.data)).toEqual(Array.from(ref.data));
    expect(new Set(ref.data).size).toBeGreaterThan(2);
  });
});

describe('predictCase and the budget', () => {
  async function bundle() {
    const files = await createBundle({
      plans: syntheticPlans({ patchSize: [8, 8, 8], spacing: [1, 1, 1], channels: 1 }),
      dataset: { channel_names: { '0': 'MR' }, labels: { background: 0, a: 1 }, file_ending: '.nii.gz' },
      configuration: '3d_fullres',
      folds: { 0: buildPointwiseOnnx([[1], [-1]], [0, 0]) },
    });
    return loadBundle(files, 'tiny');
  }
  const image: Image = { data: lcgValues(20 * 20 * 20, 2, 2), shape: [1, 20, 20, 20], properties: { format: 'nifti', spacing: [1, 1, 1], fileName: 'scan_0000.nii.gz' } };

  it('refuses before preprocessing or any network run when the estimate exceeds the budget', async () => {
    const b = await bundle();
    let runs = 0;
    const stages: string[] = [];
    const runner = functionRunner((input, shape) => {
      runs++;
      return { data: new Float32Array(2 * input.length), shape: [1, 2, ...shape.slice(2)] };
    });
    const err = await predictCase(image, b, [runner], { memoryBudget: memoryBudget({ overrideBytes: 1e4 }), baselineBytes: 0, onProgress: (_d, _t, s) => stages.push(s ?? '') }).catch((e: unknown) => e);
    expect(isSegStudioError(err)).toBe(true);
    expect((err as SegStudioError).code).toBe('memory-budget');
    expect((err as SegStudioError).file).toBe('scan_0000.nii.gz');
    expect((err as Error).message).toMatch(/needs about .* but the memory budget is 10 KB/);
    expect((err as Error).message).toContain('Try:');
    expect(runs).toBe(0);
    expect(stages).toEqual([]);
  });

  it('slice streaming (no resampling): the same labels as the reference path, through crop and transposes', async () => {
    const plans = syntheticPlans({ patchSize: [6, 8, 8], spacing: [1, 1, 1], channels: 1, normalization: 'NoNormalization' });
    plans.transpose_forward = [1, 0, 2];
    plans.transpose_backward = [1, 0, 2];
    const files = await createBundle({
      plans,
      dataset: { channel_names: { '0': 'MR' }, labels: { background: 0, a: 1, b: 2 }, file_ending: '.nii.gz' },
      configuration: '3d_fullres',
      folds: { 0: buildPointwiseOnnx([[1], [-1], [0.5]], [0, 0, 0]) },
    });
    const b = await loadBundle(files, 'tiny3');
    const shape = [1, 17, 23, 19];
    const n = 17 * 23 * 19;
    const data = lcgValues(n, 4, 3);
    for (let i = 0; i < n; i++) if (i % 19 < 3) data[i] = 0;
    const img: Image = { data, shape, properties: { format: 'nifti', spacing: [1, 1, 1], fileName: 'x.nii.gz' } };
    const runners = [wobblyRunner(3), wobblyRunner(3)];
    const low = await predictCase(img, b, runners, { stepSize: 0.5 });
    const ref = await predictCase(img, b, runners, { stepSize: 0.5, lowMemory: false });
    expect(low.properties!.bbox_used_for_cropping).not.toEqual([[0, 23], [0, 17], [0, 19]]);
    expect(low.labels.shape).toEqual([17, 23, 19]);
    expect(Array.from(low.labels.data)).toEqual(Array.from(ref.labels.data));
    expect(new Set(low.labels.data).size).toBe(3);
    expect(low.estimate!.phases[1].items['label map (crop grid)']).toBeGreaterThan(0);
  });

  it('runs when it fits and returns the estimate it checked', async () => {
    const b = await bundle();
    const runner = functionRunner((input, shape) => {
      const out = new Float32Array(2 * input.length);
      for (let i = 0; i < input.length; i++) {
        out[i] = input[i];
        out[input.length + i] = -input[i];
      }
      return { data: out, shape: [1, 2, ...shape.slice(2)] };
    });
    let seen = 0;
    const r = await predictCase(image, b, [runner], { tta: false, memoryBudget: memoryBudget({ overrideBytes: GiB }), onEstimate: (e) => (seen = e.peakBytes) });
    expect(r.estimate!.fits).toBe(true);
    expect(r.estimate!.peakBytes).toBe(seen);
    expect(r.estimate!.runs).toBe(r.runs);
    expect(r.estimate!.tiles).toBe(r.tiles);
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test/sharedData.ts';
import {
  computeNewShape,
  determineFullresTargetSpacing,
  memoryTargetFromAdapterLimits,
  planExperiment,
  plansToJson,
  type DatasetFingerprint,
  type PlannerDatasetJson,
} from './planner.ts';
import type { Plans } from './plans.ts';
import { computeConvFeatureMapSize, getPoolAndConvProps, padShape, percentile, roundHalfEven } from './topology.ts';

interface RefCase {
  name: string;
  gpu_gb: number;
  fingerprint: DatasetFingerprint;
  dataset_json: PlannerDatasetJson;
  plans_text: string;
}
// nnUNetPlans.json written by nnU-Net's own ExperimentPlanner (scripts/fixtures/numpy_plans.py) for the real
// hippocampus and ISBI fingerprints, hand-built fingerprints of well-known dataset types, the MSD hippocampus
// (260 cases) and 30 random fingerprints (memory targets 2–24 GB, anisotropy, several channels and labels).
const ref = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/planning/plans_reference.json'), 'utf8')) as {
  cases: RefCase[];
};

/** Deep comparison: numbers to 12 significant digits, everything else exactly. */
function expectSame(actual: unknown, expected: unknown, where: string): void {
  if (typeof expected === 'number') {
    expect(typeof actual, where).toBe('number');
    const a = actual as number;
    expect(Math.abs(a - expected), `${where}: ${a} vs ${expected}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(expected)));
  } else if (Array.isArray(expected)) {
    expect(Array.isArray(actual), where).toBe(true);
    expect((actual as unknown[]).length, where).toBe(expected.length);
    expected.forEach((e, i) => expectSame((actual as unknown[])[i], e, `${where}[${i}]`));
  } else if (expected && typeof expected === 'object') {
    expect(Object.keys(actual as object).sort(), where).toEqual(Object.keys(expected).sort());
    for (const [k, v] of Object.entries(expected)) expectSame((actual as Record<string, unknown>)[k], v, `${where}.${k}`);
  } else expect(actual, where).toEqual(expected);
}

describe('planExperiment reproduces nnU-Net ExperimentPlanner', () => {
  for (const c of ref.cases) {
    it(`${c.name} (${c.gpu_gb} GB)`, () => {
      const plans = planExperiment(c.fingerprint, c.dataset_json, { gpuMemoryTargetGB: c.gpu_gb, datasetName: c.name });
      // round trip through JSON exactly as the file is written
      expectSame(JSON.parse(JSON.stringify(plans)), JSON.parse(c.plans_text) as Plans, c.name);
      // and the file text is byte-identical to the one nnU-Net wrote
      expect(plansToJson(plans)).toBe(c.plans_text);
    });
  }

  it('MSD hippocampus (260 cases, 1 mm, median 36×50×35) gives the published configurations', () => {
    const c = ref.cases.find((x) => x.name === 'Dataset908_HippocampusMSD260')!;
    const p = planExperiment(c.fingerprint, c.dataset_json);
    const f = p.configurations['3d_fullres'];
    expect(f.patch_size).toEqual([40, 56, 40]);
    expect(f.batch_size).toBe(9);
    expect(f.spacing).toEqual([1, 1, 1]);
    expect(f.architecture!.arch_kwargs.features_per_stage).toEqual([32, 64, 128, 256]);
    expect(f.architecture!.arch_kwargs.strides).toEqual([[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]]);
    const d2 = p.configurations['2d'];
    expect(d2.patch_size).toEqual([56, 40]);
    expect(d2.batch_size).toBe(366);
    expect(p.configurations['3d_lowres']).toBeUndefined();
  });

  it('a liver-CT-like dataset gets 3d_lowres and the cascade', () => {
    const c = ref.cases.find((x) => x.name === 'Dataset902_LiverCTLike')!;
    const p = planExperiment(c.fingerprint, c.dataset_json);
    expect(Object.keys(p.configurations).sort()).toEqual(['2d', '3d_cascade_fullres', '3d_fullres', '3d_lowres']);
    expect(p.configurations['3d_lowres'].next_stage).toBe('3d_cascade_fullres');
    expect(p.configurations['3d_fullres'].batch_dice).toBe(true);
  });
});

describe('planner building blocks (hand-computed)', () => {
  it('round half to even like Python', () => {
    expect([0.5, 1.5, 2.5, -2.5, 2.4999, 3.5001].map(roundHalfEven)).toEqual([0, 2, 2, -2, 2, 4]);
  });

  it('numpy linear percentile', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10, 0, 5], 10)).toBeCloseTo(1, 12); // idx 0.2 between 0 and 5
    expect(percentile([7], 99.5)).toBe(7);
  });

  it('pad_shape pads to the next multiple only when needed', () => {
    expect(padShape([40, 56, 40], [8, 8, 8])).toEqual([40, 56, 40]);
    expect(padShape([36, 50, 35], [8, 8, 8])).toEqual([40, 56, 40]);
  });

  it('get_pool_and_conv_props on an anisotropic spacing', () => {
    // spacing 3 × 1 × 1: z is not pooled until in-plane spacing reaches 2 (after 1 pool); kernels 1×3×3 first
    const r = getPoolAndConvProps([3, 1, 1], [20, 64, 64], 4);
    expect(r.poolOpKernelSizes[0]).toEqual([1, 1, 1]);
    expect(r.poolOpKernelSizes[1]).toEqual([1, 2, 2]);
    expect(r.poolOpKernelSizes[2]).toEqual([2, 2, 2]);
    expect(r.convKernelSizes[0]).toEqual([1, 3, 3]);
    expect(r.convKernelSizes[r.convKernelSizes.length - 1]).toEqual([3, 3, 3]);
    expect(r.patchSize.every((p, i) => p % r.mustBeDivisibleBy[i] === 0)).toBe(true);
  });

  it('feature-map size of a 2-stage 2D UNet by hand', () => {
    // encoder: 2·8·(4·4) + 2·16·(2·2) = 256 + 128; decoder stage: 2 convs·8·16 + transpose 8·16 + head 3·16
    const v = computeConvFeatureMapSize(
      { featuresPerStage: [8, 16], strides: [[1, 1], [2, 2]], nConvPerStage: [2, 2], nConvPerStageDecoder: [2] },
      [4, 4],
      3,
    );
    expect(v).toBe(256 + 128 + 256 + 128 + 48);
  });

  it('compute_new_shape and the anisotropic target spacing rule', () => {
    expect(computeNewShape([10, 100, 100], [5, 1, 1], [2.5, 0.5, 0.5])).toEqual([20, 200, 200]);
    const fp: DatasetFingerprint = {
      spacings: [
        [5, 1, 1],
        [6, 1, 1],
        [4, 1, 1],
        [8, 1, 1],
        [5, 1, 1],
      ],
      shapes_after_crop: Array(5).fill([20, 300, 300]),
      foreground_intensity_properties_per_channel: {},
      median_relative_size_after_cropping: 1,
    };
    // 5 > 3·1 and 20·3 < 300 → z takes the 10th percentile of [4,5,5,6,8] = 4.4
    expect(determineFullresTargetSpacing(fp)[0]).toBeCloseTo(4.4, 12);
  });

  it('memory target from WebGPU adapter limits', () => {
    expect(memoryTargetFromAdapterLimits({ maxStorageBufferBindingSize: 2 ** 27 })).toBe(2);
    expect(memoryTargetFromAdapterLimits({ maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 32 })).toBe(8);
    expect(() => memoryTargetFromAdapterLimits({ maxStorageBufferBindingSize: 0 })).toThrow(/adapter limits/);
  });

  it('rejects broken fingerprints with a file name', () => {
    const bad = { spacings: [], shapes_after_crop: [], foreground_intensity_properties_per_channel: {}, median_relative_size_after_cropping: 1 };
    expect(() => planExperiment(bad, { labels: { background: 0 }, numTraining: 1, file_ending: '.nii.gz', channel_names: { 0: 'CT' } })).toThrow(
      /dataset_fingerprint.json: fingerprint has no cases/,
    );
  });
});

// Plan editing: topology re-derived with nnU-Net's get_pool_and_conv_props rule (expected strides / kernels
// worked out by hand below), features min(base·2^i, cap), and the messages for invalid edits.
import { describe, expect, it } from 'vitest';
import type { ConfigurationPlans, Plans } from '../../core/planning/plans.ts';
import { applyPlanEdits, editsFromPlans, featuresPerStage, foldCount, scheduleProblems, trainableProblem } from './planEdit.ts';
import { DEFAULT_SCHEDULE } from './types.ts';

function config(spacing: number[], patch: number[], strides: number[][], features: number[], batch = 2): ConfigurationPlans {
  const n = strides.length;
  return {
    batch_size: batch,
    patch_size: patch,
    median_image_size_in_voxels: patch.map((p) => p + 2),
    spacing,
    normalization_schemes: ['ZScoreNormalization'],
    use_mask_for_norm: [false],
    resampling_fn_data_kwargs: { order: 3, order_z: 0, force_separate_z: null },
    resampling_fn_seg_kwargs: { order: 1, order_z: 0, force_separate_z: null },
    resampling_fn_probabilities_kwargs: { order: 1, order_z: 0, force_separate_z: null },
    batch_dice: false,
    architecture: {
      network_class_name: 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
      _kw_requires_import: [],
      arch_kwargs: {
        n_stages: n,
        features_per_stage: features,
        conv_op: patch.length === 3 ? 'torch.nn.modules.conv.Conv3d' : 'torch.nn.modules.conv.Conv2d',
        kernel_sizes: strides.map(() => patch.map(() => 3)),
        strides,
        n_conv_per_stage: new Array(n).fill(2),
        n_conv_per_stage_decoder: new Array(n - 1).fill(2),
        conv_bias: true,
        norm_op: 'InstanceNorm',
        norm_op_kwargs: { eps: 1e-5, affine: true },
        dropout_op: null,
        dropout_op_kwargs: null,
        nonlin: 'torch.nn.LeakyReLU',
        nonlin_kwargs: { inplace: true },
      },
    },
  };
}

// nnU-Net's Hippocampus plans: 3d_fullres 40×56×40 at 1 mm, 4 stages; 2d 56×40, 4 stages
const plans: Plans = {
  dataset_name: 'Dataset004_Hippocampus',
  plans_name: 'nnUNetPlans',
  original_median_spacing_after_transp: [1, 1, 1],
  original_median_shape_after_transp: [36, 50, 35],
  image_reader_writer: 'NibabelIO',
  transpose_forward: [0, 1, 2],
  transpose_backward: [0, 1, 2],
  experiment_planner_used: 'ExperimentPlanner',
  label_manager: 'LabelManager',
  foreground_intensity_properties_per_channel: {},
  configurations: {
    '2d': config([1, 1], [56, 40], [[1, 1], [2, 2], [2, 2], [2, 2]], [32, 64, 128, 256], 366),
    '3d_fullres': config([1, 1, 1], [40, 56, 40], [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]], [32, 64, 128, 256], 9),
    aniso: config([3, 1, 1], [16, 32, 32], [[1, 1, 1], [1, 2, 2], [2, 2, 2], [1, 2, 2]], [32, 64, 128, 256]),
    '3d_cascade_fullres': { inherits_from: '3d_fullres', previous_stage: '3d_lowres' } as unknown as ConfigurationPlans,
  },
};

describe('plan edits', () => {
  it('reads the editable fields with the planner cap (320 in 3D, 512 in 2D)', () => {
    expect(editsFromPlans(plans, '3d_fullres')).toEqual({ patchSize: [40, 56, 40], batchSize: 9, baseFeatures: 32, maxFeatures: 320 });
    expect(editsFromPlans(plans, '2d')).toEqual({ patchSize: [56, 40], batchSize: 366, baseFeatures: 32, maxFeatures: 512 });
  });

  it('unchanged edits give the planned configuration back', () => {
    const r = applyPlanEdits(plans, '3d_fullres', editsFromPlans(plans, '3d_fullres'));
    expect(r.problems).toEqual([]);
    expect(r.notes).toEqual([]);
    expect(r.plans!.configurations['3d_fullres']).toEqual(plans.configurations['3d_fullres']);
  });

  it('a smaller patch re-derives the pooling: 16³ at 1 mm → 2 poolings per axis, 3 stages', () => {
    const r = applyPlanEdits(plans, '3d_fullres', { patchSize: [16, 16, 16], batchSize: 2, baseFeatures: 4, maxFeatures: 16 });
    expect(r.problems).toEqual([]);
    const a = r.plans!.configurations['3d_fullres'].architecture!.arch_kwargs;
    expect(a.n_stages).toBe(3);
    expect(a.strides).toEqual([[1, 1, 1], [2, 2, 2], [2, 2, 2]]);
    expect(a.kernel_sizes).toEqual([[3, 3, 3], [3, 3, 3], [3, 3, 3]]);
    expect(a.features_per_stage).toEqual([4, 8, 16]);
    expect(a.n_conv_per_stage).toEqual([2, 2, 2]);
    expect(a.n_conv_per_stage_decoder).toEqual([2, 2]);
    expect(r.plans!.configurations['3d_fullres'].batch_size).toBe(2);
    expect(r.notes.join('; ')).toMatch(/3 resolution stages instead of 4/);
    // the other configurations are untouched
    expect(r.plans!.configurations['2d']).toBe(plans.configurations['2d']);
  });

  it('anisotropic spacing [3, 1, 1]: in-plane pooling first, kernels 1×3×3 at the first stage', () => {
    const r = applyPlanEdits(plans, 'aniso', { patchSize: [8, 32, 32], batchSize: 2, baseFeatures: 32, maxFeatures: 320 });
    expect(r.problems).toEqual([]);
    const a = r.plans!.configurations.aniso.architecture!.arch_kwargs;
    expect(a.strides).toEqual([[1, 1, 1], [1, 2, 2], [2, 2, 2], [1, 2, 2]]);
    expect(a.kernel_sizes).toEqual([[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]);
  });

  it('a patch not divisible by the pooling is refused with both nearest valid sizes', () => {
    const r = applyPlanEdits(plans, '3d_fullres', { patchSize: [18, 16, 16], batchSize: 2, baseFeatures: 32, maxFeatures: 320 });
    expect(r.plans).toBeNull();
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(/18 × 16 × 16 is not divisible by the network's pooling 4 × 4 × 4/);
    expect(r.problems[0]).toMatch(/use 16 × 16 × 16 or 20 × 16 × 16/);
  });

  it('names every invalid field', () => {
    const bad = applyPlanEdits(plans, '3d_fullres', { patchSize: [40, 56], batchSize: 0, baseFeatures: 64, maxFeatures: 32 });
    expect(bad.plans).toBeNull();
    expect(bad.problems).toEqual([
      'Patch size needs 3 numbers (3d_fullres is 3D), got 2',
      'Batch size must be a whole number ≥ 1, got 0',
      'Max features (32) must be ≥ base features (64)',
    ]);
    expect(applyPlanEdits(plans, '3d_fullres', { patchSize: [4, 4, 4], batchSize: 1, baseFeatures: 8, maxFeatures: 8 }).problems[0]).toMatch(/too small for any downsampling/);
    expect(applyPlanEdits(plans, '3d_fullres', { patchSize: [40, 56.5, 40], batchSize: 1, baseFeatures: 8, maxFeatures: 8 }).problems[0]).toMatch(/whole numbers/);
  });

  it('features per stage = min(base · 2^i, cap)', () => {
    expect(featuresPerStage(6, 32, 320)).toEqual([32, 64, 128, 256, 320, 320]);
    expect(featuresPerStage(3, 5, 12)).toEqual([5, 10, 12]);
  });

  it('the cascade is not trainable in the page; the rest are', () => {
    expect(trainableProblem(plans, '3d_cascade_fullres')).toMatch(/3d_lowres predictions/);
    expect(trainableProblem(plans, '3d_fullres')).toBeNull();
    expect(trainableProblem(plans, '3d_lowres')).toMatch(/no configuration 3d_lowres/);
  });
});

describe('schedule', () => {
  it('checks epochs, iterations and folds', () => {
    expect(scheduleProblems({ ...DEFAULT_SCHEDULE, epochs: 3, iterationsPerEpoch: 2, valIterationsPerEpoch: 1, folds: [0, 4] }, 5)).toEqual([]);
    expect(scheduleProblems({ ...DEFAULT_SCHEDULE, epochs: 0, iterationsPerEpoch: 2.5, valIterationsPerEpoch: 0, folds: [5] }, 5)).toEqual([
      'Epochs must be a whole number ≥ 1, got 0',
      'Iterations per epoch must be a whole number ≥ 1, got 2.5',
      'Validation iterations per epoch must be a whole number ≥ 1, got 0',
      'Fold 5 does not exist: the dataset has 5 folds (0–4)',
    ]);
    expect(scheduleProblems({ ...DEFAULT_SCHEDULE, folds: [] }, 5)).toEqual(['Choose at least one fold to train']);
    expect(scheduleProblems({ ...DEFAULT_SCHEDULE, folds: [0] }, foldCount(4))).toEqual([
      "nnU-Net's 5-fold cross-validation needs at least 5 labelled training cases",
    ]);
  });
});

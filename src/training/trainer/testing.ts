// Test helpers for the trainer (no Node APIs): a minimal plans object for a tiny PlainConvUNet and synthetic
// cases (bright blobs = label 1, a dimmer slab = label 2).
import type { Plans } from '../../core/planning/plans.ts';
import type { TrainingCase } from './trainer.ts';
import { mulberry32 } from '../../core/util/mulberry32.ts';
import { writeSegmentation } from '../../core/io/index.ts';
import { writeFloatNifti } from '../../core/io/nifti.ts';

export interface TinyArch {
  features: number[];
  kernel: number[];
  strides: number[][];
  patch: number[];
  batchSize: number;
}

/** nnUNetPlans-shaped object with one configuration named `name`. */
export function tinyPlans(a: TinyArch, name = '3d_fullres', extra: Record<string, unknown> = {}): Plans {
  const n = a.features.length;
  return {
    dataset_name: 'Dataset999_Tiny',
    plans_name: 'nnUNetPlans',
    original_median_spacing_after_transp: [1, 1, 1],
    original_median_shape_after_transp: [16, 16, 16],
    image_reader_writer: 'NibabelIO',
    transpose_forward: [0, 1, 2],
    transpose_backward: [0, 1, 2],
    experiment_planner_used: 'ExperimentPlanner',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: {},
    configurations: {
      [name]: {
        data_identifier: `nnUNetPlans_${name}`,
        preprocessor_name: 'DefaultPreprocessor',
        batch_size: a.batchSize,
        patch_size: [...a.patch],
        median_image_size_in_voxels: [16, 16, 16],
        spacing: a.patch.map(() => 1),
        normalization_schemes: ['ZScoreNormalization'],
        use_mask_for_norm: [false],
        resampling_fn_data: 'resample_data_or_seg_to_shape',
        resampling_fn_seg: 'resample_data_or_seg_to_shape',
        resampling_fn_probabilities: 'resample_data_or_seg_to_shape',
        resampling_fn_data_kwargs: { is_seg: false, order: 3, order_z: 0, force_separate_z: null },
        resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
        resampling_fn_probabilities_kwargs: { is_seg: false, order: 1, order_z: 0, force_separate_z: null },
        batch_dice: false,
        architecture: {
          network_class_name: 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
          arch_kwargs: {
            n_stages: n,
            features_per_stage: [...a.features],
            conv_op: a.patch.length === 3 ? 'torch.nn.modules.conv.Conv3d' : 'torch.nn.modules.conv.Conv2d',
            kernel_sizes: a.features.map(() => [...a.kernel]),
            strides: a.strides.map((s) => [...s]),
            n_conv_per_stage: a.features.map(() => 2),
            n_conv_per_stage_decoder: a.features.slice(1).map(() => 2),
            conv_bias: true,
            norm_op: 'torch.nn.modules.instancenorm.InstanceNorm3d',
            norm_op_kwargs: { eps: 1e-5, affine: true },
            dropout_op: null,
            dropout_op_kwargs: null,
            nonlin: 'torch.nn.LeakyReLU',
            nonlin_kwargs: { inplace: true },
          },
          _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
        },
        ...extra,
      },
    },
  };
}

/** mulberry32 */
export const testRng: (seed: number) => () => number = mulberry32;

/** Synthetic case [1, D, H, W]: a bright ball (label 1) and a dim slab (label 2) on noise. */
export function blobCase(id: string, shape: number[], seed: number): TrainingCase {
  const r = testRng(seed);
  const [D, H, W] = shape;
  const n = D * H * W;
  const data = new Float32Array(n);
  const seg = new Int16Array(n);
  const cz = D / 2 + (r() - 0.5) * D * 0.3, cy = H / 2 + (r() - 0.5) * H * 0.3, cx = W / 2 + (r() - 0.5) * W * 0.3;
  const rad = Math.min(D, H, W) * (0.2 + 0.1 * r());
  const slabY = Math.floor(H * 0.1 + r() * 2);
  for (let z = 0; z < D; z++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const i = (z * H + y) * W + x;
        let l = 0;
        if ((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 < rad * rad) l = 1;
        else if (y >= slabY && y < slabY + 2) l = 2;
        seg[i] = l;
        data[i] = (l === 1 ? 2 : l === 2 ? 1 : 0) + 0.3 * (r() - 0.5);
      }
  return { id, data, shape: [1, D, H, W], seg };
}

export const TINY_DATASET = { channel_names: { '0': 'MRI' }, labels: { background: 0, ball: 1, slab: 2 } };

/**
 * A tiny raw nnU-Net dataset in memory (dataset.json, imagesTr/<id>_0000.nii.gz, labelsTr/<id>.nii.gz) made of
 * blobCase volumes, as a dropped folder would give: path → bytes. Works in Node and in the browser.
 */
export function tinyRawDataset(n: number, shape: number[] = [8, 12, 12], seed = 100): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>();
  m.set(
    'dataset.json',
    new TextEncoder().encode(JSON.stringify({ name: 'Tiny', channel_names: { '0': 'MRI' }, labels: { background: 0, ball: 1, slab: 2 }, numTraining: n, file_ending: '.nii.gz' })),
  );
  const props = { format: 'nifti' as const, spacing: [1, 1, 1] };
  for (let k = 0; k < n; k++) {
    const id = `tiny_${String(k).padStart(3, '0')}`;
    const c = blobCase(id, shape, seed + k);
    m.set(`imagesTr/${id}_0000.nii.gz`, writeFloatNifti(c.data, shape, 1, props, `${id}_0000.nii.gz`));
    m.set(`labelsTr/${id}.nii.gz`, writeSegmentation({ data: Uint8Array.from(c.seg), shape }, props, `${id}.nii.gz`));
  }
  return m;
}

/** tinyPlans with several configurations (each its own architecture), e.g. '2d' and '3d_fullres'. */
export function tinyMultiPlans(archs: Record<string, TinyArch>): Plans {
  const names = Object.keys(archs);
  const base = tinyPlans(archs[names[0]], names[0]);
  for (const n of names.slice(1)) base.configurations[n] = tinyPlans(archs[n], n).configurations[n];
  return base;
}

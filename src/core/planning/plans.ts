// nnUNetPlans.json as plain data: the same keys nnU-Net v2 writes
// (nnU-Net: experiment_planning/experiment_planners/default_experiment_planner.py, plans_for_pretraining),
// so plans made by nnU-Net load here and ours load in nnU-Net.

export type NormalizationScheme =
  | 'CTNormalization'
  | 'ZScoreNormalization'
  | 'RescaleTo01Normalization'
  | 'RGBTo01Normalization'
  | 'NoNormalization';

export interface ResamplingKwargs {
  is_seg?: boolean;
  order: number;
  order_z: number;
  force_separate_z: boolean | null;
  [k: string]: unknown;
}

export interface ArchitectureKwargs {
  n_stages: number;
  features_per_stage: number[];
  conv_op: string; // 'torch.nn.modules.conv.Conv3d' | 'torch.nn.modules.conv.Conv2d'
  kernel_sizes: number[][];
  strides: number[][];
  n_conv_per_stage: number[];
  n_conv_per_stage_decoder: number[];
  conv_bias: boolean;
  norm_op: string;
  norm_op_kwargs: { eps: number; affine: boolean };
  dropout_op: string | null;
  dropout_op_kwargs: Record<string, unknown> | null;
  nonlin: string;
  nonlin_kwargs: { inplace?: boolean; negative_slope?: number };
  [k: string]: unknown;
}

export interface Architecture {
  network_class_name: string; // 'dynamic_network_architectures.architectures.unet.PlainConvUNet'
  arch_kwargs: ArchitectureKwargs;
  _kw_requires_import: string[];
}

export interface ConfigurationPlans {
  data_identifier?: string;
  preprocessor_name?: string;
  batch_size: number;
  /** array order (after transpose_forward); 2 elements for 2D configurations, 3 for 3D */
  patch_size: number[];
  median_image_size_in_voxels: number[];
  /** target spacing, array order after transpose_forward */
  spacing: number[];
  normalization_schemes: NormalizationScheme[] | string[];
  use_mask_for_norm: boolean[];
  resampling_fn_data?: string;
  resampling_fn_seg?: string;
  resampling_fn_probabilities?: string;
  resampling_fn_data_kwargs: ResamplingKwargs;
  resampling_fn_seg_kwargs: ResamplingKwargs;
  resampling_fn_probabilities_kwargs: ResamplingKwargs;
  architecture?: Architecture;
  batch_dice: boolean;
  /** cascade / inheritance (nnU-Net allows `inherits_from` to override fields of another configuration) */
  inherits_from?: string;
  previous_stage?: string;
  next_stage?: string | string[];
  [k: string]: unknown;
}

export interface IntensityProperties {
  max: number;
  mean: number;
  median: number;
  min: number;
  percentile_00_5: number;
  percentile_99_5: number;
  std: number;
}

export interface Plans {
  dataset_name: string;
  plans_name: string;
  original_median_spacing_after_transp: number[];
  original_median_shape_after_transp: number[];
  image_reader_writer: string;
  transpose_forward: number[];
  transpose_backward: number[];
  configurations: Record<string, ConfigurationPlans>;
  experiment_planner_used: string;
  label_manager: string;
  foreground_intensity_properties_per_channel: Record<string, IntensityProperties>;
  [k: string]: unknown;
}

/** A configuration with `inherits_from` resolved (nnU-Net: utilities/plans_handling/plans_handler.py). */
export function resolveConfiguration(plans: Plans, name: string): ConfigurationPlans {
  const seen = new Set<string>();
  const resolve = (n: string): ConfigurationPlans => {
    const c = plans.configurations[n];
    if (!c) {
      const known = Object.keys(plans.configurations).join(', ');
      throw new Error(`plans.json has no configuration '${n}' (available: ${known})`);
    }
    if (seen.has(n)) throw new Error(`plans.json: configuration '${n}' inherits from itself`);
    seen.add(n);
    if (!c.inherits_from) return c;
    const parent = resolve(c.inherits_from);
    const merged: ConfigurationPlans = { ...parent, ...c };
    delete merged.inherits_from;
    return merged;
  };
  return resolve(name);
}

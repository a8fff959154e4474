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

const PERMUTATION = /^(?:0,1,2|0,2,1|1,0,2|1,2,0|2,0,1|2,1,0)$/;
/** Largest patch the predictor accepts (voxels); nnU-Net plans stay far below (e.g. 128³ = 2^21). */
export const MAX_PATCH_VOXELS = 2 ** 25;

const isFinitePositive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/**
 * Checks what inference reads from a plans file (transposes, patch size, spacing, normalization, resampling
 * kwargs, CT intensity statistics) and returns the problem in words, or null when the configuration is usable.
 * A hand-edited or corrupt plans.json is refused here with a clear message instead of failing deep inside
 * preprocessing or the sliding window (fuzz finding).
 * nnU-Net: utilities/plans_handling/plans_handler.py (the keys a configuration must hold).
 */
export function plansProblemForInference(plans: Plans, name: string, channels: number): string | null {
  if (!plans || typeof plans !== 'object' || !plans.configurations || typeof plans.configurations !== 'object') return 'no "configurations"';
  let c: ConfigurationPlans;
  try {
    c = resolveConfiguration(plans, name);
  } catch (e) {
    return (e as Error).message;
  }
  if (!c || typeof c !== 'object' || Array.isArray(c)) return `configuration '${name}' is not an object`;
  for (const key of ['transpose_forward', 'transpose_backward'] as const) {
    const t = plans[key];
    if (t === undefined) continue;
    if (!Array.isArray(t) || !PERMUTATION.test(t.map((v) => (typeof v === 'number' ? String(v) : '?')).join(','))) {
      return `"${key}" must be a permutation of [0, 1, 2], got ${JSON.stringify(t)}`;
    }
  }
  const tf = plans.transpose_forward ?? [0, 1, 2];
  const tb = plans.transpose_backward ?? [0, 1, 2];
  if (!tf.every((a, i) => tb[a] === i)) return `"transpose_backward" ${JSON.stringify(tb)} does not undo "transpose_forward" ${JSON.stringify(tf)}`;
  const p = c.patch_size;
  if (!Array.isArray(p) || (p.length !== 2 && p.length !== 3) || !p.every((v) => Number.isInteger(v) && v >= 1 && v <= 4096)) {
    return `configuration '${name}': "patch_size" must be 2 or 3 integers in 1..4096, got ${JSON.stringify(p)}`;
  }
  if (p.reduce((a, b) => a * b, 1) > MAX_PATCH_VOXELS) return `configuration '${name}': patch_size ${p.join('x')} exceeds ${MAX_PATCH_VOXELS} voxels`;
  const s = c.spacing;
  if (!Array.isArray(s) || s.length !== p.length || !s.every(isFinitePositive)) {
    return `configuration '${name}': "spacing" must be ${p.length} positive numbers, got ${JSON.stringify(s)}`;
  }
  const ns = c.normalization_schemes;
  if (!Array.isArray(ns) || !ns.every((v) => typeof v === 'string') || ns.length < channels) {
    return `configuration '${name}': "normalization_schemes" must name a scheme for each of the ${channels} channels, got ${JSON.stringify(ns)}`;
  }
  if (c.use_mask_for_norm !== undefined && c.use_mask_for_norm !== null && (!Array.isArray(c.use_mask_for_norm) || !c.use_mask_for_norm.every((v) => typeof v === 'boolean'))) {
    return `configuration '${name}': "use_mask_for_norm" must be a list of true/false`;
  }
  for (const k of ['resampling_fn_data_kwargs', 'resampling_fn_seg_kwargs', 'resampling_fn_probabilities_kwargs'] as const) {
    const kw = c[k] as unknown;
    if (kw === undefined || kw === null) continue;
    if (typeof kw !== 'object' || Array.isArray(kw)) return `configuration '${name}': "${k}" must be an object`;
    const o = kw as Record<string, unknown>;
    for (const ok of ['order', 'order_z']) {
      if (o[ok] !== undefined && !(Number.isInteger(o[ok]) && (o[ok] as number) >= 0 && (o[ok] as number) <= 5)) {
        return `configuration '${name}': "${k}.${ok}" must be a spline order 0..5, got ${JSON.stringify(o[ok])}`;
      }
    }
    if (o.force_separate_z !== undefined && o.force_separate_z !== null && typeof o.force_separate_z !== 'boolean') {
      return `configuration '${name}': "${k}.force_separate_z" must be true, false or null`;
    }
  }
  for (let ch = 0; ch < channels; ch++) {
    if (ns[ch] !== 'CTNormalization') continue;
    const fp = plans.foreground_intensity_properties_per_channel?.[String(ch)] as unknown as Record<string, unknown> | undefined;
    const need = ['mean', 'std', 'percentile_00_5', 'percentile_99_5'];
    if (!fp || typeof fp !== 'object' || !need.every((k) => typeof fp[k] === 'number' && Number.isFinite(fp[k]))) {
      return `channel ${ch} uses CTNormalization but "foreground_intensity_properties_per_channel"["${ch}"] lacks finite ${need.join(', ')}`;
    }
  }
  return null;
}

// nnU-Net's default experiment planner: from a dataset fingerprint and dataset.json to nnUNetPlans.json.
// nnU-Net: experiment_planning/experiment_planners/default_experiment_planner.py (ExperimentPlanner),
// network_topology.py, preprocessing/resampling/default_resampling.py (compute_new_shape),
// preprocessing/normalization/map_channel_name_to_normalization.py, imageio/reader_writer_registry.py.
// Array order everywhere is nnU-Net's (see src/core/types.ts): spacing and shapes [z, y, x] before transposition.
import { SegStudioError } from '../errors.ts';
import { pyFloat, pyJsonDumps } from '../evaluation/pyjson.ts';
import type { ArchitectureKwargs, ConfigurationPlans, IntensityProperties, NormalizationScheme, Plans } from './plans.ts';
import {
  computeConvFeatureMapSize,
  getPoolAndConvProps,
  medianPerAxis,
  percentile,
  roundHalfEven,
} from './topology.ts';

/** dataset_fingerprint.json (nnU-Net: experiment_planning/dataset_fingerprint/fingerprint_extractor.py). */
export interface DatasetFingerprint {
  spacings: number[][];
  shapes_after_crop: number[][];
  foreground_intensity_properties_per_channel: Record<string, IntensityProperties>;
  median_relative_size_after_cropping: number;
}

/** The parts of dataset.json the planner reads. */
export interface PlannerDatasetJson {
  channel_names?: Record<string, string>;
  modality?: Record<string, string>;
  labels: Record<string, unknown>;
  numTraining: number;
  file_ending: string;
  overwrite_image_reader_writer?: string;
  [k: string]: unknown;
}

export interface PlannerOptions {
  /** nnU-Net's --gpu_memory_target (GB); 8 (nnU-Net's reference) unless given. */
  gpuMemoryTargetGB?: number;
  datasetName?: string;
  plansName?: string;
  preprocessorName?: string;
  /** overwrite_target_spacing (3d_fullres, and by extension 3d_lowres), array order before transposition */
  overwriteTargetSpacing?: number[];
  suppressTranspose?: boolean;
}

// ExperimentPlanner constants (default_experiment_planner.py __init__; configuration.py ANISO_THRESHOLD)
export const PLANNER_CONSTANTS = {
  anisotropyThreshold: 3,
  baseNumFeatures: 32,
  referenceVal3d: 560000000,
  referenceVal2d: 85000000,
  referenceValCorrespGB: 8,
  referenceBs2d: 12,
  referenceBs3d: 2,
  featuremapMinEdgeLength: 4,
  blocksPerStageEncoder: 2,
  blocksPerStageDecoder: 2,
  minBatchSize: 2,
  maxFeatures2d: 512,
  maxFeatures3d: 320,
  maxDatasetCovered: 0.05,
  lowresCreationThreshold: 0.25,
  lowresSpacingIncreaseFactor: 1.03,
} as const;

const C = PLANNER_CONSTANTS;

/**
 * GPU memory target (GB) for a WebGPU adapter. nnU-Net's reference is 8 GB; WebGPU reports no total memory,
 * only per-buffer limits. The engine keeps each activation tensor in one storage buffer, and in nnU-Net's 8 GB
 * reference configurations the largest single activation (batch × 32 features × patch voxels × 4 bytes) is about
 * 1/16 of the budget. So: target = min(8, 16 × min(maxStorageBufferBindingSize, maxBufferSize) / 2^30) GB.
 * The WebGPU default limit (128 MiB) gives 2 GB; adapters that bind ≥ 512 MiB get nnU-Net's 8 GB.
 */
export function memoryTargetFromAdapterLimits(limits: { maxStorageBufferBindingSize: number; maxBufferSize?: number }): number {
  const bind = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize ?? Infinity);
  if (!(bind > 0)) throw new SegStudioError('planner', `invalid adapter limits: maxStorageBufferBindingSize=${bind}`);
  return Math.min(8, (16 * bind) / 2 ** 30);
}

// ---------------------------------------------------------------------------------------------------------------

function argmaxFirst(a: readonly number[]): number {
  let k = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[k]) k = i;
  return k;
}

/** np.argsort(a)[-1] for tiny arrays (insertion sort → stable: among ties the LAST index wins). */
function argsortLast(a: readonly number[]): number {
  let k = 0;
  for (let i = 1; i < a.length; i++) if (a[i] >= a[k]) k = i;
  return k;
}

/** compute_new_shape: round(old_spacing / new_spacing × old_shape) per axis (round half to even). */
export function computeNewShape(oldShape: readonly number[], oldSpacing: readonly number[], newSpacing: readonly number[]): number[] {
  return oldShape.map((k, i) => roundHalfEven((oldSpacing[i] / newSpacing[i]) * k));
}

const NORMALIZATION_BY_NAME: Record<string, NormalizationScheme> = {
  ct: 'CTNormalization',
  nonorm: 'NoNormalization',
  zscore: 'ZScoreNormalization',
  rescale_to_0_1: 'RescaleTo01Normalization',
  rgb_to_0_1: 'RGBTo01Normalization',
};

/** get_normalization_scheme: channel name (case-folded) → scheme; anything else → ZScoreNormalization. */
export function normalizationSchemeForChannel(name: string): NormalizationScheme {
  return NORMALIZATION_BY_NAME[name.toLowerCase()] ?? 'ZScoreNormalization';
}

function channelNames(ds: PlannerDatasetJson): Record<string, string> {
  const c = ds.channel_names ?? ds.modality;
  if (!c || Object.keys(c).length === 0)
    throw new SegStudioError('planner', 'dataset.json has no channel_names', 'dataset.json');
  return c;
}

/** determine_normalization_scheme_and_whether_mask_is_used_for_norm */
export function determineNormalization(
  ds: PlannerDatasetJson,
  fp: DatasetFingerprint,
): { schemes: NormalizationScheme[]; useMaskForNorm: boolean[] } {
  const schemes = Object.values(channelNames(ds)).map(normalizationSchemeForChannel);
  const useMask =
    fp.median_relative_size_after_cropping < 3 / 4
      ? schemes.map((s) => s === 'ZScoreNormalization') // leaves_pixels_outside_mask_at_zero… is True only for ZScore
      : schemes.map(() => false);
  return { schemes, useMaskForNorm: useMask };
}

/** determine_reader_writer_from_dataset_json: by file ending (first class of the registry that supports it). */
export function determineReaderWriter(ds: PlannerDatasetJson): string {
  const ow = ds.overwrite_image_reader_writer;
  const known = ['NaturalImage2DIO', 'SimpleITKIO', 'Tiff3DIO', 'NibabelIO', 'NibabelIOWithReorient'];
  if (ow && ow !== 'None' && known.includes(ow)) return ow;
  const e = ds.file_ending.toLowerCase();
  if (['.png', '.bmp', '.tif'].includes(e)) return 'NaturalImage2DIO';
  if (['.nii.gz', '.nrrd', '.mha', '.gipl'].includes(e)) return 'SimpleITKIO';
  if (e === '.tiff') return 'Tiff3DIO';
  if (e === '.nii') return 'NibabelIO';
  throw new SegStudioError('planner', `no image reader supports file_ending '${ds.file_ending}'`, 'dataset.json');
}

/** determine_fullres_target_spacing: median spacing, with the 10th-percentile rule for one anisotropic axis. */
export function determineFullresTargetSpacing(fp: DatasetFingerprint, overwrite?: number[]): number[] {
  if (overwrite) return [...overwrite];
  const spacings = fp.spacings;
  const target = medianPerAxis(spacings);
  const targetSize = medianPerAxis(fp.shapes_after_crop);
  const worst = argmaxFirst(target);
  const others = target.map((_, i) => i).filter((i) => i !== worst);
  const otherSpacings = others.map((i) => target[i]);
  const otherSizes = others.map((i) => targetSize[i]);
  const hasAnisoSpacing = target[worst] > C.anisotropyThreshold * Math.max(...otherSpacings);
  const hasAnisoVoxels = targetSize[worst] * C.anisotropyThreshold < Math.min(...otherSizes);
  if (hasAnisoSpacing && hasAnisoVoxels) {
    let t = percentile(
      spacings.map((s) => s[worst]),
      10,
    );
    if (t < Math.max(...otherSpacings)) t = Math.max(Math.max(...otherSpacings), t) + 1e-5;
    target[worst] = t;
  }
  return target;
}

/** determine_transpose: the largest-spacing axis first. */
export function determineTranspose(
  fp: DatasetFingerprint,
  opts: PlannerOptions = {},
): { transposeForward: number[]; transposeBackward: number[] } {
  if (opts.suppressTranspose) return { transposeForward: [0, 1, 2], transposeBackward: [0, 1, 2] };
  const target = determineFullresTargetSpacing(fp, opts.overwriteTargetSpacing);
  const maxAxis = argmaxFirst(target);
  const fwd = [maxAxis, ...[0, 1, 2].filter((i) => i !== maxAxis)];
  const bwd = [0, 1, 2].map((i) => fwd.indexOf(i));
  return { transposeForward: fwd, transposeBackward: bwd };
}

interface PlanContext {
  numInputChannels: number;
  numClasses: number;
  gpuMemoryTargetGB: number;
  preprocessorName: string;
  normalization: { schemes: NormalizationScheme[]; useMaskForNorm: boolean[] };
  cache: Map<string, number>;
}

function featuresPerStage(numStages: number, maxFeatures: number): number[] {
  return Array.from({ length: numStages }, (_, i) => Math.min(maxFeatures, C.baseNumFeatures * 2 ** i));
}

function architectureFor(dim: number, props: { poolOpKernelSizes: number[][]; convKernelSizes: number[][] }): ArchitectureKwargs {
  const numStages = props.poolOpKernelSizes.length;
  const maxFeatures = dim === 2 ? C.maxFeatures2d : C.maxFeatures3d;
  return {
    n_stages: numStages,
    features_per_stage: featuresPerStage(numStages, maxFeatures),
    conv_op: dim === 2 ? 'torch.nn.modules.conv.Conv2d' : 'torch.nn.modules.conv.Conv3d',
    kernel_sizes: props.convKernelSizes,
    strides: props.poolOpKernelSizes,
    n_conv_per_stage: new Array(numStages).fill(C.blocksPerStageEncoder),
    n_conv_per_stage_decoder: new Array(numStages - 1).fill(C.blocksPerStageDecoder),
    conv_bias: true,
    norm_op: dim === 2 ? 'torch.nn.modules.instancenorm.InstanceNorm2d' : 'torch.nn.modules.instancenorm.InstanceNorm3d',
    norm_op_kwargs: { eps: 1e-5, affine: true },
    dropout_op: null,
    dropout_op_kwargs: null,
    nonlin: 'torch.nn.LeakyReLU',
    nonlin_kwargs: { inplace: true },
  };
}

function estimate(ctx: PlanContext, patch: number[], arch: ArchitectureKwargs): number {
  const key = `${patch.join(',')}_${JSON.stringify(arch.strides)}`;
  const hit = ctx.cache.get(key);
  if (hit !== undefined) return hit;
  const v = computeConvFeatureMapSize(
    {
      featuresPerStage: arch.features_per_stage,
      strides: arch.strides,
      nConvPerStage: arch.n_conv_per_stage,
      nConvPerStageDecoder: arch.n_conv_per_stage_decoder,
    },
    patch,
    ctx.numClasses,
  );
  ctx.cache.set(key, v);
  return v;
}

/** get_plans_for_configuration: patch size, topology and batch size for one spacing / median shape. */
export function getPlansForConfiguration(
  ctx: PlanContext,
  spacing: number[],
  medianShape: number[],
  dataIdentifier: string,
  approximateNVoxelsDataset: number,
): ConfigurationPlans {
  if (!spacing.every((s) => s > 0)) throw new SegStudioError('planner', `spacing must be > 0, got [${spacing.join(', ')}]`);
  const dim = spacing.length;
  if (dim !== 2 && dim !== 3) throw new SegStudioError('planner', `only 2D and 3D configurations exist, got ${dim}D`);
  const tmp = spacing.map((s) => 1 / s);
  const tmpProd = tmp.reduce((a, b) => a * b, 1);
  const f = dim === 3 ? Math.pow(256 ** 3 / tmpProd, 1 / 3) : Math.pow(2048 ** 2 / tmpProd, 1 / 2);
  const initial = tmp.map((t, i) => Math.min(roundHalfEven(t * f), medianShape[i]));

  let props = getPoolAndConvProps(spacing, initial, C.featuremapMinEdgeLength, 999999);
  let patch = props.patchSize;
  let arch = architectureFor(dim, props);
  let est = estimate(ctx, patch, arch);

  const reference = (dim === 2 ? C.referenceVal2d : C.referenceVal3d) * (ctx.gpuMemoryTargetGB / C.referenceValCorrespGB);
  const refBs = dim === 2 ? C.referenceBs2d : C.referenceBs3d;
  while ((est / refBs) * 2 > reference) {
    const axis = argsortLast(patch.map((p, i) => p / medianShape[i]));
    const trial = [...patch];
    trial[axis] -= props.mustBeDivisibleBy[axis];
    const divAfter = getPoolAndConvProps(spacing, trial, C.featuremapMinEdgeLength, 999999).mustBeDivisibleBy;
    const reduced = [...patch];
    reduced[axis] -= divAfter[axis];
    props = getPoolAndConvProps(spacing, reduced, C.featuremapMinEdgeLength, 999999);
    patch = props.patchSize;
    arch = architectureFor(dim, props);
    est = estimate(ctx, patch, arch);
    if (patch.some((p) => p <= 0)) throw new SegStudioError('planner', 'patch size shrank to zero: the memory target is too small');
  }

  let batchSize = roundHalfEven((reference / est) * refBs);
  const bs5 = roundHalfEven((approximateNVoxelsDataset * C.maxDatasetCovered) / patch.reduce((a, b) => a * b, 1));
  batchSize = Math.max(Math.min(batchSize, bs5), C.minBatchSize);

  const resamplingKw = (isSeg: boolean, order: number) => ({ is_seg: isSeg, order, order_z: 0, force_separate_z: null });
  return {
    data_identifier: dataIdentifier,
    preprocessor_name: ctx.preprocessorName,
    batch_size: batchSize,
    patch_size: patch,
    median_image_size_in_voxels: [...medianShape],
    spacing: [...spacing],
    normalization_schemes: ctx.normalization.schemes,
    use_mask_for_norm: ctx.normalization.useMaskForNorm,
    resampling_fn_data: 'resample_data_or_seg_to_shape',
    resampling_fn_seg: 'resample_data_or_seg_to_shape',
    resampling_fn_data_kwargs: resamplingKw(false, 3),
    resampling_fn_seg_kwargs: resamplingKw(true, 1),
    resampling_fn_probabilities: 'resample_data_or_seg_to_shape',
    resampling_fn_probabilities_kwargs: resamplingKw(false, 1),
    architecture: {
      network_class_name: 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
      arch_kwargs: arch,
      _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
    },
    batch_dice: false, // set by planExperiment
  };
}

function validateFingerprint(fp: DatasetFingerprint): void {
  const n = fp.spacings?.length ?? 0;
  if (n === 0) throw new SegStudioError('planner', 'fingerprint has no cases', 'dataset_fingerprint.json');
  if (fp.shapes_after_crop?.length !== n)
    throw new SegStudioError('planner', 'fingerprint spacings and shapes_after_crop differ in length', 'dataset_fingerprint.json');
  for (let i = 0; i < n; i++) {
    if (fp.spacings[i].length !== 3 || fp.shapes_after_crop[i].length !== 3)
      throw new SegStudioError('planner', `case ${i}: spacing and shape must have 3 entries`, 'dataset_fingerprint.json');
  }
}

/**
 * ExperimentPlanner.plan_experiment: 3d_fullres (if the median shape is not flat), 3d_lowres + 3d_cascade_fullres
 * (when the fullres patch covers < 25 % of the median image), and 2d → nnUNetPlans.json content.
 */
export function planExperiment(fp: DatasetFingerprint, ds: PlannerDatasetJson, opts: PlannerOptions = {}): Plans {
  validateFingerprint(fp);
  if (!(ds.numTraining > 0)) throw new SegStudioError('planner', 'dataset.json numTraining must be > 0', 'dataset.json');
  const gpu = opts.gpuMemoryTargetGB ?? 8;
  if (!(gpu > 0)) throw new SegStudioError('planner', `GPU memory target must be > 0 GB, got ${gpu}`);
  const plansName = opts.plansName ?? 'nnUNetPlans';
  const ctx: PlanContext = {
    numInputChannels: Object.keys(channelNames(ds)).length,
    numClasses: Object.keys(ds.labels).length,
    gpuMemoryTargetGB: gpu,
    preprocessorName: opts.preprocessorName ?? 'DefaultPreprocessor',
    normalization: determineNormalization(ds, fp),
    cache: new Map(),
  };
  const ident = (c: string) => `${plansName}_${c}`;

  const { transposeForward, transposeBackward } = determineTranspose(fp, opts);
  const fullresSpacing = determineFullresTargetSpacing(fp, opts.overwriteTargetSpacing);
  const fullresSpacingT = transposeForward.map((i) => fullresSpacing[i]);
  const newShapes = fp.spacings.map((sp, k) => computeNewShape(fp.shapes_after_crop[k], sp, fullresSpacing));
  const newMedianShape = medianPerAxis(newShapes);
  const newMedianShapeT = transposeForward.map((i) => newMedianShape[i]);
  const prodF = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);
  const approxNVoxels = prodF(newMedianShapeT) * ds.numTraining;

  let fullres: ConfigurationPlans | null = null;
  let lowres: ConfigurationPlans | null = null;
  if (newMedianShapeT[0] !== 1) {
    fullres = getPlansForConfiguration(ctx, fullresSpacingT, newMedianShapeT, ident('3d_fullres'), approxNVoxels);
    let medianNumVoxels = prodF(newMedianShapeT);
    let numVoxelsInPatch = prodF(fullres.patch_size);
    const lowresSpacing = [...(fullres.spacing as number[])];
    while (numVoxelsInPatch / medianNumVoxels < C.lowresCreationThreshold) {
      const maxSpacing = Math.max(...lowresSpacing);
      const aniso = lowresSpacing.map((s) => maxSpacing / s > 2);
      if (aniso.some(Boolean)) {
        for (let i = 0; i < 3; i++) if (aniso[i]) lowresSpacing[i] *= C.lowresSpacingIncreaseFactor;
      } else for (let i = 0; i < 3; i++) lowresSpacing[i] *= C.lowresSpacingIncreaseFactor;
      const scaled = fullres.spacing.map((s, i) => (s / lowresSpacing[i]) * newMedianShapeT[i]);
      medianNumVoxels = prodF(scaled);
      lowres = getPlansForConfiguration(
        ctx,
        [...lowresSpacing],
        scaled.map(roundHalfEven),
        ident('3d_lowres'),
        medianNumVoxels * ds.numTraining,
      );
      numVoxelsInPatch = prodF(lowres.patch_size);
    }
    if (prodF(newMedianShapeT) / medianNumVoxels < 2) lowres = null;
    if (lowres) {
      lowres.batch_dice = false;
      fullres.batch_dice = true;
    } else fullres.batch_dice = false;
  }

  const plan2d = getPlansForConfiguration(ctx, fullresSpacingT.slice(1), newMedianShapeT.slice(1), ident('2d'), approxNVoxels);
  plan2d.batch_dice = true;

  const medianSpacing = medianPerAxis(fp.spacings);
  const medianShape = medianPerAxis(fp.shapes_after_crop);
  const configurations: Record<string, ConfigurationPlans> = { '2d': plan2d };
  if (lowres) {
    configurations['3d_lowres'] = lowres;
    if (fullres) lowres.next_stage = '3d_cascade_fullres';
  }
  if (fullres) {
    configurations['3d_fullres'] = fullres;
    if (lowres) configurations['3d_cascade_fullres'] = { inherits_from: '3d_fullres', previous_stage: '3d_lowres' } as ConfigurationPlans;
  }
  return {
    dataset_name: opts.datasetName ?? 'Dataset',
    plans_name: plansName,
    original_median_spacing_after_transp: transposeForward.map((i) => medianSpacing[i]),
    original_median_shape_after_transp: transposeForward.map((i) => Math.trunc(roundHalfEven(medianShape[i]))),
    image_reader_writer: determineReaderWriter(ds),
    transpose_forward: transposeForward,
    transpose_backward: transposeBackward,
    configurations,
    experiment_planner_used: 'ExperimentPlanner',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: fp.foreground_intensity_properties_per_channel,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Serialization identical to nnU-Net's files (Python json: floats keep their '.0', NaN tokens, indent 4).

function floats(a: unknown): unknown {
  return Array.isArray(a) ? a.map(floats) : typeof a === 'number' ? pyFloat(a) : a;
}

/** Numbers → Python floats, keys sorted (nnU-Net copies these from the sorted-key dataset_fingerprint.json). */
function floatValues(o: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(o)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, typeof v === 'number' ? pyFloat(v) : v]),
  );
}

/** nnUNetPlans.json text as nnU-Net's save_json(plans, sort_keys=False) writes it. */
export function plansToJson(plans: Plans): string {
  const configurations: Record<string, unknown> = {};
  for (const [name, c] of Object.entries(plans.configurations)) {
    const out: Record<string, unknown> = { ...c };
    // 3d_lowres' median shape is rounded to Python ints by the planner; the others stay numpy floats
    if (c.median_image_size_in_voxels && name !== '3d_lowres') out.median_image_size_in_voxels = floats(c.median_image_size_in_voxels);
    if (c.spacing) out.spacing = floats(c.spacing);
    if (c.architecture) {
      const ak = c.architecture.arch_kwargs;
      out.architecture = { ...c.architecture, arch_kwargs: { ...ak, norm_op_kwargs: { ...ak.norm_op_kwargs, eps: pyFloat(ak.norm_op_kwargs.eps) } } };
    }
    configurations[name] = out;
  }
  const fg: Record<string, unknown> = {};
  for (const k of Object.keys(plans.foreground_intensity_properties_per_channel).sort())
    fg[k] = floatValues(plans.foreground_intensity_properties_per_channel[k]);
  return pyJsonDumps(
    {
      ...plans,
      original_median_spacing_after_transp: floats(plans.original_median_spacing_after_transp),
      configurations,
      foreground_intensity_properties_per_channel: fg,
    },
    { indent: 4, sortKeys: false },
  );
}

/**
 * save_plans' merge: configurations of an existing plans file that the planner did not (re)create are kept
 * (appended after the new ones), so hand-made configurations survive re-planning. nnU-Net: ExperimentPlanner.save_plans
 */
export function mergeWithExistingPlans(plans: Plans, existing: Plans | null | undefined): Plans {
  if (!existing?.configurations) return plans;
  const kept: Record<string, ConfigurationPlans> = {};
  for (const [k, v] of Object.entries(existing.configurations)) if (!(k in plans.configurations)) kept[k] = v;
  return { ...plans, configurations: { ...plans.configurations, ...kept } };
}

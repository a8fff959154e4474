// The Train view's plan editing: a configuration's patch size, batch size and feature widths, and the
// training schedule, checked and applied to nnU-Net's plans with clear messages. Pure functions (tested).
// A changed patch size re-derives the network topology with nnU-Net's rule (pooling per axis while the
// feature map stays ≥ 2·4 voxels and the spacing is within 2× of the finest; kernel sizes; the patch must be
// divisible by 2^pooling per axis), exactly as the planner does for its own patch sizes.
// nnU-Net: experiment_planning/experiment_planners/network_topology.py (get_pool_and_conv_props),
// experiment_planners/default_experiment_planner.py (features_per_stage = min(base·2^i, max)).
import { PLANNER_CONSTANTS } from '../../core/planning/planner.ts';
import { MAX_PATCH_VOXELS, resolveConfiguration, type ConfigurationPlans, type Plans } from '../../core/planning/plans.ts';
import { getPoolAndConvProps } from '../../core/planning/topology.ts';
import type { PlanEdits, ScheduleEdits } from './types.ts';

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const isPosInt = (v: number) => Number.isInteger(v) && v >= 1;

/** The editable fields of a configuration as planned. */
export function editsFromPlans(plans: Plans, configuration: string): PlanEdits {
  const c = resolveConfiguration(plans, configuration);
  const f = c.architecture?.arch_kwargs.features_per_stage ?? [PLANNER_CONSTANTS.baseNumFeatures];
  // the planner's cap (320 in 3D, 512 in 2D) when the widths follow min(base·2^i, cap), else the widest stage
  const cap = c.patch_size.length === 2 ? PLANNER_CONSTANTS.maxFeatures2d : PLANNER_CONSTANTS.maxFeatures3d;
  const maxFeatures = same(featuresPerStage(f.length, f[0], cap), f) ? cap : Math.max(...f);
  return { patchSize: [...c.patch_size], batchSize: c.batch_size, baseFeatures: f[0], maxFeatures };
}

export interface AppliedEdits {
  /** the plans with the edited configuration written out in full (inherits_from resolved), or null on problems */
  plans: Plans | null;
  /** one sentence per problem, naming the field */
  problems: string[];
  /** what changed, in words ('4 stages instead of 5', …) */
  notes: string[];
}

/** features_per_stage for n stages: min(base·2^i, max) (nnU-Net's planner with base 32, max 320 (3D) / 512 (2D)). */
export function featuresPerStage(nStages: number, base: number, max: number): number[] {
  return Array.from({ length: nStages }, (_, i) => Math.min(max, base * 2 ** i));
}

/** Checks the edits of one configuration and returns the plans that train with them. */
export function applyPlanEdits(plans: Plans, configuration: string, e: PlanEdits): AppliedEdits {
  const problems: string[] = [];
  const notes: string[] = [];
  let c: ConfigurationPlans;
  try {
    c = resolveConfiguration(plans, configuration);
  } catch (err) {
    return { plans: null, problems: [(err as Error).message], notes };
  }
  const arch = c.architecture?.arch_kwargs;
  if (!arch) return { plans: null, problems: [`configuration ${configuration} has no network architecture in the plans`], notes };
  const dim = c.patch_size.length;
  if (e.patchSize.length !== dim) problems.push(`Patch size needs ${dim} numbers (${configuration} is ${dim}D), got ${e.patchSize.length}`);
  else if (!e.patchSize.every(isPosInt)) problems.push(`Patch size must be whole numbers ≥ 1, got ${e.patchSize.join(' × ')}`);
  if (!isPosInt(e.batchSize)) problems.push(`Batch size must be a whole number ≥ 1, got ${e.batchSize}`);
  if (!isPosInt(e.baseFeatures)) problems.push(`Base features must be a whole number ≥ 1, got ${e.baseFeatures}`);
  if (!isPosInt(e.maxFeatures)) problems.push(`Max features must be a whole number ≥ 1, got ${e.maxFeatures}`);
  else if (isPosInt(e.baseFeatures) && e.maxFeatures < e.baseFeatures)
    problems.push(`Max features (${e.maxFeatures}) must be ≥ base features (${e.baseFeatures})`);
  if (problems.length) return { plans: null, problems, notes };

  const voxels = e.patchSize.reduce((a, b) => a * b, 1);
  if (voxels > MAX_PATCH_VOXELS) problems.push(`Patch size ${e.patchSize.join(' × ')} is ${voxels} voxels; at most ${MAX_PATCH_VOXELS} are allowed`);

  let kernelSizes = arch.kernel_sizes;
  let strides = arch.strides;
  if (!same(e.patchSize, c.patch_size)) {
    // nnU-Net: network_topology.get_pool_and_conv_props with the planner's minimum feature-map edge (4)
    const props = getPoolAndConvProps(c.spacing, e.patchSize, PLANNER_CONSTANTS.featuremapMinEdgeLength, 999999);
    if (!same(props.patchSize, e.patchSize)) {
      const down = e.patchSize.map((p, i) => Math.max(props.mustBeDivisibleBy[i], p - (p % props.mustBeDivisibleBy[i])));
      problems.push(
        `Patch size ${e.patchSize.join(' × ')} is not divisible by the network's pooling ${props.mustBeDivisibleBy.join(' × ')} ` +
          `(${props.numPoolPerAxis.join(', ')} downsamplings per axis): use ${down.join(' × ')} or ${props.patchSize.join(' × ')}`,
      );
    }
    if (props.numPoolPerAxis.every((n) => n === 0)) problems.push(`Patch size ${e.patchSize.join(' × ')} is too small for any downsampling (each axis needs ≥ 8 voxels)`);
    kernelSizes = props.convKernelSizes;
    strides = props.poolOpKernelSizes;
    if (strides.length !== arch.strides.length) notes.push(`${strides.length} resolution stages instead of ${arch.strides.length}`);
  }
  if (problems.length) return { plans: null, problems, notes };
  const nStages = strides.length;
  const features = featuresPerStage(nStages, e.baseFeatures, e.maxFeatures);
  const planned = arch.features_per_stage;
  if (!same(features, planned.slice(0, nStages)) || planned.length !== nStages) notes.push(`features per stage ${features.join(', ')}`);
  if (e.batchSize !== c.batch_size) notes.push(`batch size ${e.batchSize} instead of ${c.batch_size}`);

  const edited: ConfigurationPlans = {
    ...c,
    patch_size: [...e.patchSize],
    batch_size: e.batchSize,
    architecture: {
      ...c.architecture!,
      arch_kwargs: {
        ...arch,
        n_stages: nStages,
        features_per_stage: features,
        kernel_sizes: kernelSizes.map((k) => [...k]),
        strides: strides.map((s) => [...s]),
        n_conv_per_stage: Array.from({ length: nStages }, (_, i) => arch.n_conv_per_stage[Math.min(i, arch.n_conv_per_stage.length - 1)]),
        n_conv_per_stage_decoder: Array.from(
          { length: nStages - 1 },
          (_, i) => arch.n_conv_per_stage_decoder[Math.min(i, arch.n_conv_per_stage_decoder.length - 1)],
        ),
      },
    },
  };
  return { plans: { ...plans, configurations: { ...plans.configurations, [configuration]: edited } }, problems, notes };
}

/** Which configurations the page can train (the cascade needs 3d_lowres predictions of every case first). */
export function trainableProblem(plans: Plans, configuration: string): string | null {
  if (!plans.configurations[configuration]) return `the plans have no configuration ${configuration}`;
  if (configuration === '3d_cascade_fullres' || resolveConfiguration(plans, configuration).previous_stage)
    return `${configuration} trains on the 3d_lowres predictions of every case, which the page does not compute yet: train 3d_lowres or 3d_fullres`;
  return null;
}

/** Checks the schedule: epochs, iterations, folds against the dataset's splits. */
export function scheduleProblems(s: ScheduleEdits, numFolds: number): string[] {
  const p: string[] = [];
  if (!isPosInt(s.epochs)) p.push(`Epochs must be a whole number ≥ 1, got ${s.epochs}`);
  if (!isPosInt(s.iterationsPerEpoch)) p.push(`Iterations per epoch must be a whole number ≥ 1, got ${s.iterationsPerEpoch}`);
  if (!(Number.isInteger(s.valIterationsPerEpoch) && s.valIterationsPerEpoch >= 1))
    p.push(`Validation iterations per epoch must be a whole number ≥ 1, got ${s.valIterationsPerEpoch}`);
  if (numFolds === 0) p.push(`nnU-Net's 5-fold cross-validation needs at least 5 labelled training cases`);
  else if (s.folds.length === 0) p.push('Choose at least one fold to train');
  const bad = s.folds.filter((f) => !Number.isInteger(f) || f < 0 || f >= numFolds);
  if (bad.length && numFolds > 0) p.push(`Fold ${bad.join(', ')} does not exist: the dataset has ${numFolds} fold${numFolds === 1 ? '' : 's'} (0–${numFolds - 1})`);
  return p;
}

/** Number of cross-validation folds: nnU-Net's 5 (its KFold split needs ≥ 5 cases; fewer → none). nnU-Net: utilities/crossval_split.py */
export function foldCount(numCases: number): number {
  return numCases >= 5 ? 5 : 0;
}

// Choosing the best configuration after cross-validation: naming of trained models and pairwise ensembles,
// candidate order, ranking by the cross-validation foreground-mean Dice (ties → the first candidate, i.e.
// single configurations before ensembles), inference_information.json and the inference instructions.
// Pure TypeScript (no file system): src/node/crossval.ts does the folder work, the page can call this too.
//
// nnU-Net: evaluation/find_best_configuration.py (default_trained_models, find_best_configuration,
// print_inference_instructions, dumb_trainer_config_plans_to_trained_models_dict),
// utilities/file_path_utilities.py (convert_trainer_plans_config_to_identifier, get_ensemble_name,
// folds_tuple_to_string, convert_identifier_to_trainer_plans_config).
import { SegStudioError, throwIfCancelled } from '../errors.ts';
import type { CancelSignal, LabelMap, NdArray, ProgressFn } from '../types.ts';
import { ensembleCase } from '../ensembling/ensemble.ts';
import { determinePostprocessing, type DeterminePostprocessingResult } from '../postprocessing/postprocessing.ts';
import { computeMetrics, summarize, type LabelOrRegion, type Summary } from './metrics.ts';

/** nnU-Net's default configurations, in the order find_best_configuration considers them. */
export const DEFAULT_CONFIGURATIONS = ['2d', '3d_fullres', '3d_lowres', '3d_cascade_fullres'] as const;
export const DEFAULT_TRAINER = 'nnUNetTrainer';
export const DEFAULT_PLANS = 'nnUNetPlans';

export interface TrainedModel {
  trainer: string;
  plans: string;
  configuration: string;
}

/** `<Trainer>__<Plans>__<CONFIG>`: the name of a trained model's results folder. */
export function modelIdentifier(m: TrainedModel): string {
  return `${m.trainer}__${m.plans}__${m.configuration}`;
}

/** Inverse of modelIdentifier; a SegStudioError when the name does not have three `__`-separated parts. */
export function parseModelIdentifier(id: string): TrainedModel {
  const parts = id.split('__');
  if (parts.length !== 3 || parts.some((p) => p === ''))
    throw new SegStudioError('find-best', `'${id}' is not a trained model folder name (<Trainer>__<Plans>__<CONFIG>)`);
  return { trainer: parts[0], plans: parts[1], configuration: parts[2] };
}

/** (0, 1, 2, 3, 4) → "0_1_2_3_4" */
export function foldsToString(folds: readonly (number | string)[]): string {
  return folds.join('_');
}

/** Folder name of the merged cross-validation predictions of one model. */
export function crossvalFolderName(folds: readonly (number | string)[]): string {
  return `crossval_results_folds_${foldsToString(folds)}`;
}

/** `ensemble___<id1>___<id2>___<folds>` (nnU-Net's get_ensemble_name). */
export function ensembleName(a: TrainedModel | string, b: TrainedModel | string, folds: readonly (number | string)[]): string {
  const ida = typeof a === 'string' ? a : modelIdentifier(a);
  const idb = typeof b === 'string' ? b : modelIdentifier(b);
  return `ensemble___${ida}___${idb}___${foldsToString(folds)}`;
}

/** Trained models of an ensemble identifier (or the one model of a plain identifier). */
export function membersOfIdentifier(id: string): TrainedModel[] {
  if (id.startsWith('ensemble___')) {
    const parts = id.split('___');
    if (parts.length !== 4) throw new SegStudioError('find-best', `'${id}' is not an ensemble name (ensemble___<model>___<model>___<folds>)`);
    return [parseModelIdentifier(parts[1]), parseModelIdentifier(parts[2])];
  }
  return [parseModelIdentifier(id)];
}

/** Candidate models in nnU-Net's order: for each trainer, for each configuration, for each plans. */
export function candidateModels(trainers: readonly string[], configurations: readonly string[], plans: readonly string[]): TrainedModel[] {
  const out: TrainedModel[] = [];
  for (const trainer of trainers) for (const configuration of configurations) for (const p of plans) out.push({ trainer, plans: p, configuration });
  return out;
}

/** Every unordered pair (i < j) of the models, in nnU-Net's loop order. */
export function pairwiseEnsembles<T>(models: readonly T[]): [T, T][] {
  const out: [T, T][] = [];
  for (let i = 0; i < models.length; i++) for (let j = i + 1; j < models.length; j++) out.push([models[i], models[j]]);
  return out;
}

export interface CandidateResult {
  /** model identifier or ensemble name */
  identifier: string;
  members: TrainedModel[];
  /** folder holding the merged cross-validation predictions (and summary.json) */
  source: string;
  /** cross-validation foreground-mean Dice */
  result: number;
  summary?: Summary;
}

/**
 * Index of the best candidate: the highest result; on a tie the first in the list (single configurations
 * come before ensembles, so the simpler model wins). NaN never wins (a candidate with no evaluable label is
 * not a choice); all NaN → the first. An empty list is an error.
 */
export function pickBest(results: readonly { result: number }[]): { index: number; ties: number[] } {
  if (results.length === 0) throw new SegStudioError('find-best', 'no trained configuration to choose from');
  let best = NaN;
  for (const r of results) if (!Number.isNaN(r.result) && (Number.isNaN(best) || r.result > best)) best = r.result;
  if (Number.isNaN(best)) return { index: 0, ties: results.map((_, i) => i) };
  const ties = results.map((r, i) => (r.result === best ? i : -1)).filter((i) => i >= 0);
  return { index: ties[0], ties };
}

export interface InferenceInformation {
  folds: (number | string)[];
  dataset_name_or_id: string;
  considered_models: TrainedModel[];
  ensembling_allowed: boolean;
  all_results: Record<string, number>;
  best_model_or_ensemble: {
    result_on_crossval_pre_pp: number;
    result_on_crossval_post_pp: number;
    postprocessing_file: string;
    some_plans_file: string;
    selected_model_or_models: { configuration: string; trainer: string; plans_identifier: string }[];
    /** ours: the identifier of the winner */
    identifier: string;
    /** ours: exported bundle(s), one per selected model, when --export-bundle was given */
    bundles?: string[];
  };
}

export function buildInferenceInformation(args: {
  datasetName: string;
  folds: (number | string)[];
  considered: TrainedModel[];
  ensemblingAllowed: boolean;
  results: readonly CandidateResult[];
  bestIndex: number;
  resultPostPp: number;
  postprocessingFile: string;
  plansFile: string;
  bundles?: string[];
}): InferenceInformation {
  const best = args.results[args.bestIndex];
  return {
    folds: [...args.folds],
    dataset_name_or_id: args.datasetName,
    considered_models: args.considered.map((m) => ({ plans: m.plans, configuration: m.configuration, trainer: m.trainer })),
    ensembling_allowed: args.ensemblingAllowed,
    all_results: Object.fromEntries(args.results.map((r) => [r.identifier, r.result])),
    best_model_or_ensemble: {
      result_on_crossval_pre_pp: best.result,
      result_on_crossval_post_pp: args.resultPostPp,
      postprocessing_file: args.postprocessingFile,
      some_plans_file: args.plansFile,
      selected_model_or_models: best.members.map((m) => ({ configuration: m.configuration, trainer: m.trainer, plans_identifier: m.plans })),
      identifier: best.identifier,
      ...(args.bundles ? { bundles: [...args.bundles] } : {}),
    },
  };
}

/**
 * The commands to run inference with the winner, in segstudio terms (nnU-Net prints nnUNetv2_predict /
 * nnUNetv2_ensemble / nnUNetv2_apply_postprocessing): predict with each member (probabilities saved when
 * an ensemble won), ensemble, then apply the postprocessing.
 */
export function inferenceInstructions(info: InferenceInformation): string {
  const best = info.best_model_or_ensemble;
  const members = best.selected_model_or_models;
  const isEnsemble = members.length > 1;
  const lines: string[] = ['***Run inference like this:***', ''];
  if (isEnsemble) lines.push('An ensemble won. Predict with each member (probabilities are needed for ensembling):', '');
  const outs: string[] = [];
  members.forEach((m, j) => {
    const id = modelIdentifier({ trainer: m.trainer, plans: m.plans_identifier, configuration: m.configuration });
    const out = isEnsemble ? `OUTPUT_FOLDER_MODEL_${j + 1}` : 'OUTPUT_FOLDER';
    outs.push(out);
    const bundle = best.bundles?.[j] ?? `BUNDLE_${id}`;
    lines.push(`segstudio predict -i INPUT_FOLDER -o ${out} -m ${bundle} --folds ${info.folds.join(' ')}${isEnsemble ? ' --save-probabilities' : ''}`);
  });
  if (!best.bundles) lines.push('', '(BUNDLE_<model>: export the bundles with segstudio find-best ... --export-bundle OUT)');
  if (isEnsemble) lines.push('', 'Then ensemble them:', '', `segstudio ensemble -i ${outs.join(' ')} -o OUTPUT_FOLDER`);
  lines.push('', '***Once inference is completed, run postprocessing like this:***', '');
  lines.push(`segstudio postprocess -i OUTPUT_FOLDER -o OUTPUT_FOLDER_PP --pp ${best.postprocessing_file}`);
  return lines.join('\n') + '\n';
}

function fmt(x: number | undefined): string {
  return x === undefined ? '-' : Number.isNaN(x) ? 'NaN' : x.toFixed(4);
}

/**
 * A plain-text table: one row per candidate (in order), its foreground-mean Dice and the mean Dice of each
 * label/region key; the winner marked with '*'.
 */
export function resultsTable(results: readonly CandidateResult[], bestIndex: number, labelNames: Record<string, string> = {}): string {
  const keys: string[] = [];
  for (const r of results) for (const k of Object.keys(r.summary?.mean ?? {})) if (!keys.includes(k)) keys.push(k);
  const header = ['', 'model / ensemble', 'fg mean Dice', ...keys.map((k) => `Dice ${labelNames[k] ? `${labelNames[k]} (${k})` : k}`)];
  const rows = results.map((r, i) => [i === bestIndex ? '*' : ' ', r.identifier, fmt(r.result), ...keys.map((k) => fmt(r.summary?.mean[k]?.Dice))]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]) => cells.map((s, c) => (c <= 1 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------------
// The whole decision in memory (the page's Train view: predictions held in the worker/OPFS, no folders)
// ---------------------------------------------------------------------------------------------------------
export interface CvCase {
  id: string;
  /** validation prediction on the reference grid */
  segmentation: LabelMap;
  /** float32 [C, ...spatial] probabilities, needed for ensembles */
  probabilities?: NdArray;
}

export interface CvModel {
  model: TrainedModel;
  /** validation cases of all folds merged (each case once) */
  cases: CvCase[];
}

export interface FindBestInMemoryOptions {
  folds: (number | string)[];
  foregroundLabels: number[];
  /** evaluated labels/regions (default foregroundLabels) */
  labelsOrRegions?: LabelOrRegion[];
  ignoreLabel?: number | null;
  regionsClassOrder?: number[] | null;
  allowEnsembles?: boolean;
  signal?: CancelSignal;
  onProgress?: ProgressFn;
}

export interface FindBestInMemoryResult {
  results: CandidateResult[];
  bestIndex: number;
  ties: number[];
  skippedEnsembles: { identifier: string; reason: string }[];
  /** determine_postprocessing on the winner's predictions */
  postprocessing: DeterminePostprocessingResult;
  /** the winner's predictions (ensembles: the argmax of the mean probabilities), in reference order */
  bestPredictions: LabelMap[];
}

function evaluateCases(ids: string[], preds: LabelMap[], refs: Map<string, LabelMap>, lor: LabelOrRegion[], ignore?: number | null): Summary {
  return summarize(
    ids.map((id, i) => ({ reference_file: id, prediction_file: id, metrics: computeMetrics(refs.get(id)!.data, preds[i].data, lor, ignore, id) })),
    lor,
  );
}

/**
 * find_best_configuration on in-memory cross-validation predictions: every model, every pairwise ensemble
 * (when both have probabilities for every case), ranked by foreground-mean Dice (ties → first), then
 * determine_postprocessing on the winner. Every model must cover the same cases, each with a reference.
 */
export function findBestInMemory(models: readonly CvModel[], references: Map<string, LabelMap>, opts: FindBestInMemoryOptions): FindBestInMemoryResult {
  if (models.length === 0) throw new SegStudioError('find-best', 'no trained configuration to choose from');
  const lor = opts.labelsOrRegions ?? opts.foregroundLabels;
  const ids = models[0].cases.map((c) => c.id).sort();
  const byId = models.map((m) => {
    const mp = new Map(m.cases.map((c) => [c.id, c]));
    const name = modelIdentifier(m.model);
    if (mp.size !== m.cases.length) throw new SegStudioError('find-best', `${name} has a case twice: the folds overlap`);
    if (mp.size !== ids.length || ids.some((id) => !mp.has(id)))
      throw new SegStudioError('find-best', `${name} does not have the same validation cases as ${modelIdentifier(models[0].model)}`);
    return mp;
  });
  for (const id of ids) if (!references.has(id)) throw new SegStudioError('find-best', `no reference segmentation for case ${id}`);
  const pairs = opts.allowEnsembles ?? true ? pairwiseEnsembles(models.map((_, i) => i)) : [];
  const total = models.length + pairs.length + 1;
  let step = 0;
  const results: CandidateResult[] = [];
  const predictions: LabelMap[][] = [];
  models.forEach((m, i) => {
    throwIfCancelled(opts.signal);
    const preds = ids.map((id) => byId[i].get(id)!.segmentation);
    const summary = evaluateCases(ids, preds, references, lor, opts.ignoreLabel);
    results.push({ identifier: modelIdentifier(m.model), members: [m.model], source: modelIdentifier(m.model), result: summary.foreground_mean.Dice, summary });
    predictions.push(preds);
    opts.onProgress?.(++step, total, 'evaluate');
  });
  const skippedEnsembles: FindBestInMemoryResult['skippedEnsembles'] = [];
  for (const [a, b] of pairs) {
    throwIfCancelled(opts.signal);
    const name = ensembleName(models[a].model, models[b].model, opts.folds);
    const missing = [a, b].filter((i) => ids.some((id) => !byId[i].get(id)!.probabilities)).map((i) => modelIdentifier(models[i].model));
    if (missing.length) {
      skippedEnsembles.push({ identifier: name, reason: `no validation probabilities for ${missing.join(' and ')}` });
      opts.onProgress?.(++step, total, 'ensemble');
      continue;
    }
    const preds = ids.map(
      (id) => ensembleCase([byId[a].get(id)!.probabilities!, byId[b].get(id)!.probabilities!], { regionsClassOrder: opts.regionsClassOrder, names: [id, id] }).segmentation,
    );
    const summary = evaluateCases(ids, preds, references, lor, opts.ignoreLabel);
    results.push({ identifier: name, members: [models[a].model, models[b].model], source: name, result: summary.foreground_mean.Dice, summary });
    predictions.push(preds);
    opts.onProgress?.(++step, total, 'ensemble');
  }
  const { index: bestIndex, ties } = pickBest(results);
  const bestPredictions = predictions[bestIndex];
  const postprocessing = determinePostprocessing(
    ids.map((id, i) => ({ referenceFile: id, predictionFile: id, reference: references.get(id)!, prediction: bestPredictions[i] })),
    { foregroundLabels: opts.foregroundLabels, labelsOrRegions: opts.labelsOrRegions, ignoreLabel: opts.ignoreLabel, signal: opts.signal },
  );
  opts.onProgress?.(total, total, 'postprocessing');
  return { results, bestIndex, ties, skippedEnsembles, postprocessing, bestPredictions };
}

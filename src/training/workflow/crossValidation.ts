// Cross-validation over stored training runs (the page's Train view; the same decision `segstudio
// find-best` makes over results folders): every run's fold validation (CASE<ending> + CASE.npz written by
// writeFoldValidation) grouped by trained model (<Trainer>__<Plans>__<CONFIG>), merged over the folds,
// evaluated against the stored dataset's labelsTr, every pairwise ensemble of the models' mean probabilities,
// the winner by foreground-mean Dice (ties → first: single configurations before ensembles), nnU-Net's
// determine_postprocessing on the winner; then the winning model bundle(s) with postprocessing.json.
// Results are written below the root in crossval/ (result.json, <model>/summary.json, postprocessing.json).
// Memory: the label maps of every candidate are kept (one byte per voxel); probabilities are read one case
// at a time from CASE.npz, so large datasets do not need every softmax volume in memory at once.
// nnU-Net: evaluation/find_best_configuration.py, evaluation/accumulate_cv_results.py,
// ensembling/ensemble.py (ensemble_crossvalidations), postprocessing/remove_connected_components.py.
import { SegStudioError, throwIfCancelled } from '../../core/errors.ts';
import { bundleToZip } from '../../core/inference/bundle.ts';
import { readNpzKey } from '../../core/ensembling/npz.ts';
import { computeMetrics, summarize, summaryToJson, type Summary } from '../../core/evaluation/metrics.ts';
import {
  crossvalFolderName,
  ensembleName,
  modelIdentifier,
  pairwiseEnsembles,
  pickBest,
  resultsTable,
  type CandidateResult,
  type TrainedModel,
} from '../../core/evaluation/findBest.ts';
import { ensembleCase } from '../../core/ensembling/ensemble.ts';
import { evaluationLabels, labelInfo, type DatasetJson } from '../../core/planning/dataset.ts';
import type { Plans } from '../../core/planning/plans.ts';
import { determinePostprocessing, postprocessingToJson, type PostprocessingJson } from '../../core/postprocessing/postprocessing.ts';
import type { CancelSignal, Image, LabelMap, ProgressFn } from '../../core/types.ts';
import { loadCheckpoint } from '../trainer/checkpoint.ts';
import { bundleFromCheckpoints } from '../trainer/exportOnnx.ts';
import { bytesText, textBytes, type TrainerStorage } from '../trainer/storage.ts';
import { openStoredDataset } from './datasetStore.ts';
import { listRuns, readRunJson, runFolder, validationFolder, type RunInfo } from './runs.ts';
import type { StorageRoot } from './storageRoot.ts';

export type ImageReader = (bytes: Uint8Array, fileName: string) => Image | Promise<Image>;

export interface CrossValidationOptions {
  /** the runs to use (default: every stored run whose validation is done) */
  runs?: string[];
  /** consider pairwise ensembles (default true; they need CASE.npz, which the worker's validation writes) */
  allowEnsembles?: boolean;
  /** reads label files (io's readImageFile) */
  readImage: ImageReader;
  /** reference labels (DATASET/labelsTr); default: the runs' stored dataset */
  references?: { read(path: string): Promise<Uint8Array> };
  onProgress?: ProgressFn;
  signal?: CancelSignal;
}

export interface CvFoldResult {
  fold: number;
  runId: string;
  /** foreground-mean Dice of the fold's own validation (its summary.json) */
  foregroundMean: number;
  /** mean Dice per label/region key ('1', '2', '(1, 2)') over the fold's validation cases */
  dice: Record<string, number>;
}

export interface CvModelResult {
  identifier: string;
  model: TrainedModel;
  /** the merged cross-validation summary.json (nnU-Net's crossval_results_folds_…/summary.json) */
  summary: Summary;
  perFold: CvFoldResult[];
}

export interface CrossValidationResult {
  datasetId: string | null;
  datasetName: string;
  folds: number[];
  /** label/region key → name from dataset.json */
  labelNames: Record<string, string>;
  models: CvModelResult[];
  /** every candidate (models, then pairwise ensembles) with its foreground-mean Dice and per-label Dice */
  candidates: { identifier: string; members: TrainedModel[]; result: number; dice: Record<string, number> }[];
  bestIndex: number;
  best: string;
  ties: number[];
  skippedEnsembles: { identifier: string; reason: string }[];
  postprocessing: PostprocessingJson;
  /** foreground-mean Dice of the winner before and after postprocessing */
  resultPrePp: number;
  resultPostPp: number;
  /** the plain-text table (resultsTable) */
  table: string;
  /** the runs of each member of the winner, by fold */
  bestRuns: { identifier: string; runs: { fold: number; runId: string }[] }[];
}

const CV_FOLDER = 'crossval';

function toLabelMap(img: Image, file: string): LabelMap {
  if (img.shape[0] !== 1) throw new SegStudioError('label', `a label map must have one channel, this file has ${img.shape[0]}`, file);
  const src = img.data;
  let max = 0;
  let min = 0;
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (v !== v) throw new SegStudioError('label', 'label map contains NaN', file);
    if (v > max) max = v;
    if (v < min) min = v;
  }
  const data = min >= 0 && max < 256 ? new Uint8Array(src.length) : min >= 0 && max < 65536 ? new Uint16Array(src.length) : new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) data[i] = Math.round(src[i]);
  return { data, shape: img.shape.slice(1) };
}

const meanDice = (s: Summary): Record<string, number> => Object.fromEntries(Object.entries(s.mean).map(([k, v]) => [k, v.Dice]));

/** The runs grouped into trained models (same trainer, plans, configuration, dataset), folds sorted. */
function groupRuns(runs: RunInfo[]): { model: TrainedModel; runs: RunInfo[] }[] {
  const groups = new Map<string, { model: TrainedModel; runs: RunInfo[] }>();
  for (const r of runs) {
    const model = { trainer: r.trainer, plans: r.plansName, configuration: r.configuration };
    const id = modelIdentifier(model);
    const g = groups.get(id) ?? { model, runs: [] };
    if (g.runs.some((o) => o.fold === r.fold))
      throw new SegStudioError('find-best', `runs ${g.runs.find((o) => o.fold === r.fold)!.runId} and ${r.runId} both trained ${id} fold ${r.fold}: choose one`);
    g.runs.push(r);
    groups.set(id, g);
  }
  // nnU-Net's order: configurations 2d, 3d_fullres, 3d_lowres, 3d_cascade_fullres, then others by name
  const order = ['2d', '3d_fullres', '3d_lowres', '3d_cascade_fullres'];
  const rank = (c: string) => (order.includes(c) ? order.indexOf(c) : order.length);
  return [...groups.values()]
    .map((g) => ({ ...g, runs: g.runs.sort((a, b) => Number(a.fold) - Number(b.fold)) }))
    .sort((a, b) => rank(a.model.configuration) - rank(b.model.configuration) || a.model.configuration.localeCompare(b.model.configuration));
}

/**
 * The cross-validation decision over stored runs; writes crossval/result.json, crossval/postprocessing.json
 * and crossval/<model>/summary.json below the root.
 */
export async function crossValidation(root: StorageRoot, opts: CrossValidationOptions): Promise<CrossValidationResult> {
  const all = await listRuns(root);
  let runs: RunInfo[];
  if (opts.runs?.length) {
    runs = opts.runs.map((id) => {
      const r = all.find((x) => x.runId === id);
      if (!r) throw new SegStudioError('find-best', `run ${id} is not in storage`, root.location);
      if (!r.validation) throw new SegStudioError('find-best', `run ${id} (${r.configuration} fold ${r.fold}) has no validation yet: let it finish`, root.location);
      return r;
    });
  } else runs = all.filter((r) => r.validation);
  if (runs.length === 0) throw new SegStudioError('find-best', 'no finished run with a validation to cross-validate', root.location);
  for (const r of runs)
    if (r.fold === 'all') throw new SegStudioError('find-best', `run ${r.runId} trained fold 'all' (validated on its own training cases): not a cross-validation fold`);
  const datasetIds = [...new Set(runs.map((r) => r.datasetId))];
  if (datasetIds.length > 1) throw new SegStudioError('find-best', `the runs were trained on different datasets (${datasetIds.join(', ')})`);
  const datasetId = datasetIds[0];
  const groups = groupRuns(runs);
  const folds = groups[0].runs.map((r) => r.fold as number);
  for (const g of groups) {
    const f = g.runs.map((r) => r.fold as number);
    if (f.join() !== folds.join())
      throw new SegStudioError(
        'find-best',
        `${modelIdentifier(g.model)} has folds ${f.join(', ')} but ${modelIdentifier(groups[0].model)} has ${folds.join(', ')}: every configuration needs the same folds`,
      );
  }
  const dataset = await readRunJson<DatasetJson>(root, groups[0].runs[0].runId, 'dataset.json');
  const info = labelInfo(dataset);
  const lor = evaluationLabels(info);
  const ending = dataset.file_ending;
  let refFiles = opts.references;
  if (!refFiles) {
    if (!datasetId) throw new SegStudioError('find-best', 'the runs have no stored dataset to read the reference labels from');
    refFiles = (await openStoredDataset(root, datasetId)).files;
  }

  // each model: its folds' validation cases merged (each case once). Only label maps are kept in memory;
  // probabilities (CASE.npz) are read one case at a time when an ensemble is evaluated.
  const total = groups.reduce((a, g) => a + g.runs.length, 0);
  let step = 0;
  const perFold = new Map<string, CvFoldResult[]>();
  const references = new Map<string, LabelMap>();
  interface ModelCases {
    model: TrainedModel;
    segs: Map<string, LabelMap>;
    /** validation folder of each case (for its CASE.npz) and whether the .npz is there */
    where: Map<string, { folder: TrainerStorage; npz: boolean }>;
  }
  const models: ModelCases[] = [];
  for (const g of groups) {
    const id = modelIdentifier(g.model);
    const m: ModelCases = { model: g.model, segs: new Map(), where: new Map() };
    const seen = new Map<string, number>();
    const pf: CvFoldResult[] = [];
    for (const r of g.runs) {
      throwIfCancelled(opts.signal);
      const v = await root.folder(validationFolder(r.runId));
      const list = (await root.list(validationFolder(r.runId))).files;
      const preds = list.filter((n) => n.endsWith(ending) && n !== 'summary.json');
      if (preds.length === 0) throw new SegStudioError('find-best', `run ${r.runId} has no validation predictions (*${ending})`, v.location);
      for (const pfile of preds) {
        const caseId = pfile.slice(0, -ending.length);
        if (seen.has(caseId))
          throw new SegStudioError('find-best', `case ${caseId} is predicted by folds ${seen.get(caseId)} and ${r.fold} of ${id}: the folds overlap`);
        seen.set(caseId, r.fold as number);
        const seg = toLabelMap(await opts.readImage(await v.read(pfile), pfile), `${v.location}/${pfile}`);
        m.segs.set(caseId, seg);
        m.where.set(caseId, { folder: v, npz: list.includes(`${caseId}.npz`) });
        if (!references.has(caseId)) {
          const rf = `labelsTr/${caseId}${ending}`;
          let bytes: Uint8Array;
          try {
            bytes = await refFiles.read(rf);
          } catch {
            throw new SegStudioError('find-best', `no reference segmentation for validation case ${caseId}`, rf);
          }
          references.set(caseId, toLabelMap(await opts.readImage(bytes, rf), rf));
        }
        const ref = references.get(caseId)!;
        if (ref.shape.join() !== seg.shape.join())
          throw new SegStudioError('evaluate', `shape [${seg.shape.join(', ')}] differs from the reference's [${ref.shape.join(', ')}]`, `${v.location}/${pfile}`);
      }
      pf.push({ fold: r.fold as number, runId: r.runId, foregroundMean: r.validation!.foreground_mean.Dice, dice: meanDice(r.validation!) });
      opts.onProgress?.(++step, total, 'read validation');
    }
    perFold.set(id, pf);
    models.push(m);
  }
  const ids = [...models[0].segs.keys()].sort();
  for (const m of models)
    if (m.segs.size !== ids.length || ids.some((id) => !m.segs.has(id)))
      throw new SegStudioError('find-best', `${modelIdentifier(m.model)} does not have the same validation cases as ${modelIdentifier(models[0].model)}`);

  // nnU-Net find_best_configuration: every model, then every pairwise ensemble (mean probabilities, argmax),
  // ranked by foreground-mean Dice (ties → first); evaluate_predictions semantics per case
  const evaluate = (preds: LabelMap[]): Summary =>
    summarize(
      ids.map((id, i) => ({ reference_file: id, prediction_file: id, metrics: computeMetrics(references.get(id)!.data, preds[i].data, lor, info.ignoreLabel, id) })),
      lor,
    );
  const pairs = (opts.allowEnsembles ?? true) ? pairwiseEnsembles(models.map((_, i) => i)) : [];
  const nSteps = models.length + pairs.length;
  let done = 0;
  const results: CandidateResult[] = [];
  const predictions: LabelMap[][] = [];
  for (const m of models) {
    throwIfCancelled(opts.signal);
    const preds = ids.map((id) => m.segs.get(id)!);
    const summary = evaluate(preds);
    const name = modelIdentifier(m.model);
    results.push({ identifier: name, members: [m.model], source: name, result: summary.foreground_mean.Dice, summary });
    predictions.push(preds);
    opts.onProgress?.(++done, nSteps, 'evaluate');
  }
  const skippedEnsembles: CrossValidationResult['skippedEnsembles'] = [];
  for (const [ia, ib] of pairs) {
    const [ma, mb] = [models[ia], models[ib]];
    const name = ensembleName(ma.model, mb.model, folds);
    const missing = [ma, mb].filter((m) => ids.some((id) => !m.where.get(id)!.npz)).map((m) => modelIdentifier(m.model));
    if (missing.length) {
      skippedEnsembles.push({ identifier: name, reason: `no validation probabilities (CASE.npz) for ${missing.join(' and ')}` });
      opts.onProgress?.(++done, nSteps, 'ensemble');
      continue;
    }
    const preds: LabelMap[] = [];
    for (const id of ids) {
      throwIfCancelled(opts.signal);
      const probs = await Promise.all(
        [ma, mb].map(async (m) => {
          const w = m.where.get(id)!;
          return readNpzKey(await w.folder.read(`${id}.npz`), 'probabilities', `${w.folder.location}/${id}.npz`);
        }),
      );
      const seg = ensembleCase(probs, { regionsClassOrder: info.regionsClassOrder, names: [ma, mb].map((m) => `${m.where.get(id)!.folder.location}/${id}.npz`) }).segmentation;
      const ref = references.get(id)!;
      if (ref.shape.join() !== seg.shape.join())
        throw new SegStudioError('ensemble', `probabilities of shape [${seg.shape.join(', ')}] do not match the reference's [${ref.shape.join(', ')}]`, `${ma.where.get(id)!.folder.location}/${id}.npz`);
      preds.push(seg);
    }
    const summary = evaluate(preds);
    results.push({ identifier: name, members: [ma.model, mb.model], source: name, result: summary.foreground_mean.Dice, summary });
    predictions.push(preds);
    opts.onProgress?.(++done, nSteps, 'ensemble');
  }
  const { index: bestIndex, ties } = pickBest(results);
  const pp = determinePostprocessing(
    ids.map((id, i) => ({ referenceFile: id, predictionFile: id, reference: references.get(id)!, prediction: predictions[bestIndex][i] })),
    { foregroundLabels: info.foregroundLabels, labelsOrRegions: lor, ignoreLabel: info.ignoreLabel, signal: opts.signal },
  );
  const fb = { results, bestIndex, ties, skippedEnsembles, postprocessing: pp };
  const labelNames: Record<string, string> = {};
  for (const [name, v] of Object.entries(dataset.labels)) if (name !== 'background') labelNames[Array.isArray(v) ? `(${v.join(', ')})` : String(v)] = name;
  const best = fb.results[fb.bestIndex];
  const result: CrossValidationResult = {
    datasetId,
    datasetName: String(dataset.name ?? datasetId ?? ''),
    folds,
    labelNames,
    models: groups.map((g, i) => ({
      identifier: modelIdentifier(g.model),
      model: g.model,
      summary: fb.results[i].summary!,
      perFold: perFold.get(modelIdentifier(g.model))!,
    })),
    candidates: fb.results.map((r) => ({ identifier: r.identifier, members: r.members, result: r.result, dice: r.summary ? meanDice(r.summary) : {} })),
    bestIndex: fb.bestIndex,
    best: best.identifier,
    ties: fb.ties,
    skippedEnsembles: fb.skippedEnsembles,
    postprocessing: fb.postprocessing.pp,
    resultPrePp: best.result,
    resultPostPp: fb.postprocessing.after.foreground_mean.Dice,
    table: resultsTable(fb.results, fb.bestIndex, labelNames),
    bestRuns: best.members.map((m) => {
      const g = groups.find((x) => modelIdentifier(x.model) === modelIdentifier(m))!;
      return { identifier: modelIdentifier(m), runs: g.runs.map((r) => ({ fold: r.fold as number, runId: r.runId })) };
    }),
  };
  const cv = await root.folder(CV_FOLDER);
  for (const m of result.models) {
    const f = await root.folder(`${CV_FOLDER}/${m.identifier}/${crossvalFolderName(folds)}`);
    await f.write('summary.json', textBytes(summaryToJson(m.summary)));
  }
  await cv.write('postprocessing.json', textBytes(postprocessingToJson(result.postprocessing)));
  await cv.write('result.json', textBytes(JSON.stringify(result, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x), 1) + '\n'));
  return result;
}

/** The last crossValidation result stored below the root, or null. */
export async function lastCrossValidation(root: StorageRoot): Promise<CrossValidationResult | null> {
  const cv = await root.folder(CV_FOLDER);
  if (!(await cv.exists('result.json'))) return null;
  const NONFINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };
  return JSON.parse(bytesText(await cv.read('result.json')), (_k, x) => (typeof x === 'string' && x in NONFINITE ? NONFINITE[x] : x)) as CrossValidationResult;
}

export interface ExportedBest {
  /** the winner's identifier (a model, or ensemble___<m1>___<m2>___<folds>) */
  identifier: string;
  /**
   * one model won: one bundle zip (every fold, postprocessing.json inside) loadable by the Segment view and
   * `segstudio predict`; an ensemble won: one bundle zip per member (no postprocessing inside: it applies to
   * the ensembled output) plus postprocessing.json
   */
  files: { name: string; bytes: Uint8Array }[];
}

async function memberBundle(root: StorageRoot, runs: { fold: number; runId: string }[], postprocessing?: PostprocessingJson): Promise<Uint8Array> {
  const trained = [];
  for (const r of runs) {
    const st: TrainerStorage = await root.folder(runFolder(r.runId));
    trained.push({ fold: r.fold, checkpoint: await loadCheckpoint(st, 'final') });
  }
  const plans = await readRunJson<Plans>(root, runs[0].runId, 'plans.json');
  const dataset = await readRunJson<DatasetJson>(root, runs[0].runId, 'dataset.json');
  return bundleToZip(await bundleFromCheckpoints(trained, plans, dataset as never, postprocessing ? { postprocessing } : {}));
}

/** The winning model bundle(s) of a cross-validation (default: the last one stored). */
export async function exportBest(root: StorageRoot, cv?: CrossValidationResult): Promise<ExportedBest> {
  const res = cv ?? (await lastCrossValidation(root));
  if (!res) throw new SegStudioError('export', 'no cross-validation yet: run the cross-validation first', root.location);
  if (res.bestRuns.length === 1) {
    const b = res.bestRuns[0];
    return { identifier: res.best, files: [{ name: `${b.identifier}.zip`, bytes: await memberBundle(root, b.runs, res.postprocessing) }] };
  }
  const files: ExportedBest['files'] = [];
  for (const b of res.bestRuns) files.push({ name: `${b.identifier}.zip`, bytes: await memberBundle(root, b.runs) });
  files.push({ name: 'postprocessing.json', bytes: textBytes(postprocessingToJson(res.postprocessing)) });
  return { identifier: res.best, files };
}

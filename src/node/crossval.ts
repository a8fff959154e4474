// Cross-validation over the results folders `segstudio train` writes, and find-best on top of them:
//   RESULTS_DIR/<Dataset>/<Trainer>__<Plans>__<CONFIG>/fold_N/validation/CASE<ending> (+ CASE.npz, CASE.json)
// 1. accumulateCvResults: every fold's validation predictions merged into
//    <model>/crossval_results_folds_0_1_2_3_4/ (segmentations, and probabilities CASE.npz + CASE.json when
//    the folds saved them), summary.json over all validation cases against DATASET_DIR/labelsTr.
// 2. ensembleCrossvalidations: the mean of two models' merged probabilities, argmax, evaluated, in
//    RESULTS_DIR/<Dataset>/ensembles/ensemble___<m1>___<m2>___<folds>/.
// 3. findBestConfiguration: every model + every pairwise ensemble ranked by foreground-mean Dice (ties →
//    first), determine_postprocessing on the winner (postprocessing.json + postprocessed/), then
//    inference_information.json + inference_instructions.txt, and optionally the winner's model bundle(s).
// nnU-Net: evaluation/accumulate_cv_results.py, evaluation/find_best_configuration.py,
// ensembling/ensemble.py (ensemble_crossvalidations), postprocessing/remove_connected_components.py.
import fs from 'node:fs';
import path from 'node:path';
import { SegStudioError } from '../core/errors.ts';
import { readImageFile, writeSegmentation } from '../core/io/index.ts';
import { computeMetrics, parseSummaryJson, summarize, summaryToJson, type CaseMetrics, type Summary } from '../core/evaluation/metrics.ts';
import { ensembleCase } from '../core/ensembling/ensemble.ts';
import { readNpzKey } from '../core/ensembling/npz.ts';
import { pyFloat, pyJsonDumps } from '../core/evaluation/pyjson.ts';
import {
  DEFAULT_CONFIGURATIONS,
  DEFAULT_PLANS,
  DEFAULT_TRAINER,
  buildInferenceInformation,
  candidateModels,
  crossvalFolderName,
  ensembleName,
  inferenceInstructions,
  modelIdentifier,
  pairwiseEnsembles,
  parseModelIdentifier,
  pickBest,
  type CandidateResult,
  type InferenceInformation,
  type TrainedModel,
} from '../core/evaluation/findBest.ts';
import { evaluationLabels, labelInfo, parseDatasetJson, type DatasetJson, type LabelInfo } from '../core/planning/dataset.ts';
import { bundleToZip, createBundle, loadBundle, type DatasetJson as BundleDatasetJson } from '../core/inference/bundle.ts';
import {
  determinePostprocessing,
  parsePostprocessingJson,
  postprocessingToJson,
  type DeterminePostprocessingResult,
  type PostprocessingJson,
} from '../core/postprocessing/postprocessing.ts';
import type { Plans } from '../core/planning/plans.ts';
import type { ImageProperties, LabelMap, ProgressFn } from '../core/types.ts';
import { ensureDir, filesWithEnding, readBytes, readLabelFile, writeBytes, type SegmentationCodec } from './fsDataset.ts';

export const defaultCodec: SegmentationCodec = { readImage: readImageFile, writeSegmentation };

function readJsonFile(file: string): unknown {
  const text = new TextDecoder().decode(readBytes(file));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SegStudioError('json', `not valid JSON (${(e as Error).message})`, file);
  }
}

/** dataset.json of a raw dataset folder (DATASET_DIR/dataset.json), parsed and checked. */
export function readDatasetJson(datasetDir: string): DatasetJson {
  const f = path.join(datasetDir, 'dataset.json');
  if (!fs.existsSync(f)) throw new SegStudioError('folder', 'not an nnU-Net raw dataset (no dataset.json)', datasetDir);
  return parseDatasetJson(readBytes(f), f);
}

// ---------------------------------------------------------------------------------------------------------
// which trained models are there
// ---------------------------------------------------------------------------------------------------------
export interface DiscoverOptions {
  /** configurations in the order to consider; default: nnU-Net's (2d, 3d_fullres, 3d_lowres, 3d_cascade_fullres) then any other trained one */
  configurations?: string[];
  trainers?: string[];
  plans?: string[];
}

/**
 * The trained models in RESULTS_DIR/<Dataset>, in nnU-Net's order (trainer, then configuration, then plans).
 * Configurations named explicitly must have a results folder (nnU-Net: "no mercy here"); without a list the
 * ones present are taken.
 */
export function discoverTrainedModels(datasetResultsDir: string, opts: DiscoverOptions = {}): TrainedModel[] {
  if (!fs.existsSync(datasetResultsDir) || !fs.statSync(datasetResultsDir).isDirectory())
    throw new SegStudioError('folder', 'results folder not found', datasetResultsDir);
  const trainers = opts.trainers?.length ? opts.trainers : [DEFAULT_TRAINER];
  const plans = opts.plans?.length ? opts.plans : [DEFAULT_PLANS];
  const present = fs
    .readdirSync(datasetResultsDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name.split('__').length === 3)
    .map((e) => e.name);
  if (opts.configurations?.length) {
    const models = candidateModels(trainers, opts.configurations, plans);
    for (const m of models) {
      const dir = path.join(datasetResultsDir, modelIdentifier(m));
      if (!fs.existsSync(dir))
        throw new SegStudioError(
          'find-best',
          `configuration ${m.configuration} (trainer ${m.trainer}, plans ${m.plans}) was not trained: expected ${modelIdentifier(m)}/ (present: ${present.join(', ') || 'none'})`,
          datasetResultsDir,
        );
    }
    return models;
  }
  const configs: string[] = [...DEFAULT_CONFIGURATIONS];
  const others = new Set<string>();
  for (const name of present) {
    const m = parseModelIdentifier(name);
    if (trainers.includes(m.trainer) && plans.includes(m.plans) && !configs.includes(m.configuration)) others.add(m.configuration);
  }
  configs.push(...[...others].sort());
  const models = candidateModels(trainers, configs, plans).filter((m) => present.includes(modelIdentifier(m)));
  if (models.length === 0)
    throw new SegStudioError(
      'find-best',
      `no trained model folder <${trainers.join('|')}>__<${plans.join('|')}>__<CONFIG> here (present: ${present.join(', ') || 'none'})`,
      datasetResultsDir,
    );
  return models;
}

// ---------------------------------------------------------------------------------------------------------
// accumulate_cv_results
// ---------------------------------------------------------------------------------------------------------
export interface CrossvalOptions {
  /** DATASET_DIR (dataset.json, labelsTr/) */
  datasetDir: string;
  folds: number[];
  codec?: SegmentationCodec;
  /** shared reference cache (findBestConfiguration passes one for the whole run) */
  refs?: ReferenceCache;
  /** remove and rebuild the merged folder (nnU-Net's default); default true */
  overwrite?: boolean;
  onProgress?: ProgressFn;
}

export interface AccumulatedCv {
  dir: string;
  summary: Summary;
  /** case ids merged */
  cases: string[];
  /** every case has CASE.npz (ensembles possible) */
  hasProbabilities: boolean;
}

interface LabelSetup {
  dataset: DatasetJson;
  info: LabelInfo;
  fileEnding: string;
  refDir: string;
}

function labelSetup(datasetDir: string): LabelSetup {
  const dataset = readDatasetJson(datasetDir);
  const info = labelInfo(dataset, path.join(datasetDir, 'dataset.json'));
  const refDir = path.join(datasetDir, 'labelsTr');
  if (!fs.existsSync(refDir)) throw new SegStudioError('folder', 'no labelsTr/ folder (the cross-validation references)', datasetDir);
  return { dataset, info, fileEnding: dataset.file_ending, refDir };
}

/**
 * Reference label maps (DATASET_DIR/labelsTr/CASE<ending>) read once per find-best run and shared by every
 * candidate's evaluation, the ensembles (geometry) and the postprocessing; up to `budgetBytes` are kept.
 */
export class ReferenceCache {
  private readonly cache = new Map<string, { labels: LabelMap; properties: ImageProperties }>();
  private bytes = 0;
  constructor(
    readonly refDir: string,
    readonly fileEnding: string,
    readonly codec: SegmentationCodec = defaultCodec,
    readonly budgetBytes = 1024 ** 3,
  ) {}
  file(id: string): string {
    return path.join(this.refDir, id + this.fileEnding);
  }
  async get(id: string): Promise<{ labels: LabelMap; properties: ImageProperties }> {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const f = this.file(id);
    if (!fs.existsSync(f)) throw new SegStudioError('find-best', `no reference segmentation for validation case ${id}`, f);
    const r = await readLabelFile(this.codec, f);
    if (this.bytes + r.labels.data.byteLength <= this.budgetBytes) {
      this.cache.set(id, r);
      this.bytes += r.labels.data.byteLength;
    }
    return r;
  }
}

/**
 * compute_metrics_on_folder over `dir` (every CASE<ending> in it) against the references, with the dataset's
 * labels/regions and ignore label; summary.json written into `dir`. `preds` (case → label map) spares
 * reading back files that were just written.
 */
async function evaluateMerged(
  setup: LabelSetup,
  dir: string,
  refs: ReferenceCache,
  opts: { preds?: Map<string, LabelMap>; onProgress?: ProgressFn } = {},
): Promise<Summary> {
  const files = filesWithEnding(dir, setup.fileEnding);
  if (files.length === 0) throw new SegStudioError('evaluate', `no prediction files ending in ${setup.fileEnding}`, dir);
  const lor = evaluationLabels(setup.info);
  const per: CaseMetrics[] = [];
  for (let i = 0; i < files.length; i++) {
    const id = files[i].slice(0, -setup.fileEnding.length);
    const predFile = path.join(dir, files[i]);
    const ref = await refs.get(id);
    const pred = opts.preds?.get(id) ?? (await readLabelFile(refs.codec, predFile)).labels;
    if (ref.labels.shape.join() !== pred.shape.join())
      throw new SegStudioError('evaluate', `shape [${pred.shape.join(', ')}] differs from the reference's [${ref.labels.shape.join(', ')}]`, predFile);
    per.push({ reference_file: refs.file(id), prediction_file: predFile, metrics: computeMetrics(ref.labels.data, pred.data, lor, setup.info.ignoreLabel, predFile) });
    opts.onProgress?.(i + 1, files.length, 'evaluate');
  }
  const summary = summarize(per, lor);
  writeBytes(path.join(dir, 'summary.json'), summaryToJson(summary));
  return summary;
}

/** Merges fold_K/validation of `modelDir` for every requested fold and evaluates the merged folder. */
export async function accumulateCvResults(modelDir: string, mergedDir: string, opts: CrossvalOptions): Promise<AccumulatedCv> {
  const setup = labelSetup(opts.datasetDir);
  const codec = opts.codec ?? defaultCodec;
  const overwrite = opts.overwrite ?? true;
  if (overwrite) fs.rmSync(mergedDir, { recursive: true, force: true });
  ensureDir(mergedDir);
  for (const f of ['dataset.json', 'plans.json']) if (fs.existsSync(path.join(modelDir, f))) fs.copyFileSync(path.join(modelDir, f), path.join(mergedDir, f));
  const cases: string[] = [];
  const seen = new Map<string, number>();
  let copied = false;
  let hasProbabilities = true;
  for (const fold of opts.folds) {
    const valDir = path.join(modelDir, `fold_${fold}`, 'validation');
    if (!fs.existsSync(valDir) || !fs.statSync(valDir).isDirectory())
      throw new SegStudioError('find-best', `fold ${fold} has no validation folder: train it (without --no-validation)`, valDir);
    const preds = filesWithEnding(valDir, setup.fileEnding);
    if (preds.length === 0) throw new SegStudioError('find-best', `fold ${fold} has no validation predictions (*${setup.fileEnding})`, valDir);
    for (const pf of preds) {
      const id = pf.slice(0, -setup.fileEnding.length);
      const prev = seen.get(id);
      if (prev !== undefined) throw new SegStudioError('find-best', `case ${id} is predicted by more than one fold (${prev} and ${fold}): the folds overlap`, valDir);
      seen.set(id, fold);
      cases.push(id);
      const target = path.join(mergedDir, pf);
      if (overwrite || !fs.existsSync(target)) {
        fs.copyFileSync(path.join(valDir, pf), target);
        copied = true;
      }
      const npz = path.join(valDir, `${id}.npz`);
      if (fs.existsSync(npz)) {
        if (overwrite || !fs.existsSync(path.join(mergedDir, `${id}.npz`))) fs.copyFileSync(npz, path.join(mergedDir, `${id}.npz`));
        const pj = path.join(valDir, `${id}.json`);
        if (fs.existsSync(pj)) fs.copyFileSync(pj, path.join(mergedDir, `${id}.json`));
      } else hasProbabilities = false;
    }
  }
  const summaryFile = path.join(mergedDir, 'summary.json');
  const summary =
    copied || !fs.existsSync(summaryFile)
      ? await evaluateMerged(setup, mergedDir, opts.refs ?? new ReferenceCache(setup.refDir, setup.fileEnding, codec), { onProgress: opts.onProgress })
      : parseSummaryJson(new TextDecoder().decode(readBytes(summaryFile)), summaryFile);
  return { dir: mergedDir, summary, cases: cases.sort(), hasProbabilities };
}

// ---------------------------------------------------------------------------------------------------------
// ensemble_crossvalidations
// ---------------------------------------------------------------------------------------------------------
/**
 * Mean of the merged probabilities (CASE.npz) of the given cross-validation folders, argmax, written on the
 * reference's grid into outDir, evaluated into outDir/summary.json. Needs the probabilities of every case.
 */
export async function ensembleCrossvalidations(
  mergedDirs: string[],
  outDir: string,
  opts: Omit<CrossvalOptions, 'folds'>,
): Promise<{ dir: string; summary: Summary }> {
  const setup = labelSetup(opts.datasetDir);
  const codec = opts.codec ?? defaultCodec;
  if (opts.overwrite ?? true) fs.rmSync(outDir, { recursive: true, force: true });
  ensureDir(outDir);
  const refs = opts.refs ?? new ReferenceCache(setup.refDir, setup.fileEnding, codec);
  // nnU-Net: ensembling/ensemble.py (average_probabilities, merge_files): every folder holds the same cases
  const lists = mergedDirs.map((d) => new Set(filesWithEnding(d, '.npz')));
  const names = [...new Set(lists.flatMap((l) => [...l]))].sort();
  if (names.length === 0) throw new SegStudioError('ensemble', 'no .npz probability files', mergedDirs[0]);
  lists.forEach((l, i) => {
    const miss = names.filter((n) => !l.has(n));
    if (miss.length) throw new SegStudioError('ensemble', `missing ${miss.slice(0, 5).join(', ')}: every folder must hold the same cases`, mergedDirs[i]);
  });
  const preds = new Map<string, LabelMap>();
  for (const n of names) {
    const id = n.slice(0, -4);
    const files = mergedDirs.map((d) => path.join(d, n));
    const res = ensembleCase(
      files.map((f) => readNpzKey(readBytes(f), 'probabilities', f)),
      { regionsClassOrder: setup.info.regionsClassOrder, names: files },
    );
    // geometry: the reference label file of the case (same grid as the validation predictions)
    const ref = await refs.get(id);
    if (ref.labels.shape.join() !== res.segmentation.shape.join())
      throw new SegStudioError('ensemble', `probabilities of shape [${res.segmentation.shape.join(', ')}] do not match the reference's [${ref.labels.shape.join(', ')}]`, files[0]);
    const out = path.join(outDir, id + setup.fileEnding);
    writeBytes(out, await codec.writeSegmentation(res.segmentation, ref.properties, out));
    preds.set(id, res.segmentation);
  }
  for (const f of ['dataset.json', 'plans.json']) if (fs.existsSync(path.join(mergedDirs[0], f))) fs.copyFileSync(path.join(mergedDirs[0], f), path.join(outDir, f));
  const summary = await evaluateMerged(setup, outDir, refs, { preds, onProgress: opts.onProgress });
  return { dir: outDir, summary };
}

// ---------------------------------------------------------------------------------------------------------
// missing validation probabilities (nnU-Net: nnUNetv2_train ... --val --npz re-runs the validation saving them)
// ---------------------------------------------------------------------------------------------------------
/**
 * For each fold, the validation cases without CASE.npz are predicted again with the fold's network
 * (fold_K/bundle/, mirroring TTA as in validation) from DATASET_DIR/imagesTr, writing CASE<ending>, CASE.npz
 * and CASE.json into fold_K/validation/. Returns the number of cases predicted.
 */
export async function predictValidationProbabilities(
  modelDir: string,
  folds: number[],
  datasetDir: string,
  opts: { log?: (line: string) => void; device?: 'cpu' | 'webgpu' } = {},
): Promise<number> {
  const setup = labelSetup(datasetDir);
  const { loadModelFromPath, createRunnersForModel, groupInputs, predictFiles } = await import('./predictFiles.ts');
  const imagesDir = path.join(datasetDir, 'imagesTr');
  const images = fs.existsSync(imagesDir) ? fs.readdirSync(imagesDir) : [];
  let done = 0;
  for (const fold of folds) {
    const valDir = path.join(modelDir, `fold_${fold}`, 'validation');
    if (!fs.existsSync(valDir)) continue;
    const ids = filesWithEnding(valDir, setup.fileEnding)
      .map((f) => f.slice(0, -setup.fileEnding.length))
      .filter((id) => !fs.existsSync(path.join(valDir, `${id}.npz`)));
    if (ids.length === 0) continue;
    const bdir = path.join(modelDir, `fold_${fold}`, 'bundle');
    if (!fs.existsSync(path.join(bdir, 'manifest.json')))
      throw new SegStudioError('find-best', `cannot predict probabilities: fold ${fold} has no bundle/ (its trained network)`, bdir);
    const model = await loadModelFromPath(bdir);
    const runners = await createRunnersForModel(model, { device: opts.device ?? 'cpu' });
    try {
      for (const id of ids) {
        const files = images
          .filter((n) => n.startsWith(`${id}_`) && n.endsWith(setup.fileEnding) && /^_\d{4}$/.test(n.slice(id.length, -setup.fileEnding.length)))
          .sort()
          .map((n) => path.join(imagesDir, n));
        if (files.length === 0) throw new SegStudioError('find-best', `no image ${id}_0000${setup.fileEnding} for validation case ${id}`, imagesDir);
        opts.log?.(`find-best: predicting probabilities of ${id} (fold ${fold}, ${path.basename(modelDir)})`);
        await predictFiles(groupInputs(files, setup.fileEnding), model, runners, { output: valDir, saveProbabilities: true });
        done++;
      }
    } finally {
      await Promise.all(runners.map((r) => r.dispose()));
    }
  }
  return done;
}

// ---------------------------------------------------------------------------------------------------------
// model bundle of a trained model (all requested folds), postprocessing.json included
// ---------------------------------------------------------------------------------------------------------
function readFolder(dir: string, prefix = '', out = new Map<string, Uint8Array>()): Map<string, Uint8Array> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) readFolder(p, rel, out);
    else if (e.isFile()) out.set(rel, readBytes(p));
  }
  return out;
}

/**
 * One bundle holding every fold of a trained model: each fold's network from fold_K/bundle/ (what `segstudio
 * train` writes from checkpoint_final), else converted from fold_K/checkpoint_final; plans.json and
 * dataset.json from the model folder; `postprocessing` (if given) as postprocessing.json.
 */
export async function bundleForModel(modelDir: string, folds: number[], postprocessing?: PostprocessingJson): Promise<Map<string, Uint8Array>> {
  const nets = new Map<number, Uint8Array>();
  let plans: Plans | undefined;
  let dataset: BundleDatasetJson | undefined;
  let configuration: string | undefined;
  let mirroring: number[] | null | undefined;
  const fromCheckpoints: number[] = [];
  for (const fold of folds) {
    const bdir = path.join(modelDir, `fold_${fold}`, 'bundle');
    if (fs.existsSync(path.join(bdir, 'manifest.json'))) {
      const b = await loadBundle(readFolder(bdir), bdir);
      const net = b.networks.length === 1 ? b.networks[0] : b.networks.find((n) => n.fold === fold);
      if (!net) throw new SegStudioError('find-best', `the fold bundle has no network for fold ${fold}`, bdir);
      if (configuration !== undefined && b.configuration !== configuration)
        throw new SegStudioError('find-best', `fold ${fold} has configuration '${b.configuration}', an earlier fold '${configuration}'`, bdir);
      configuration = b.configuration;
      plans ??= b.plans;
      dataset ??= b.dataset;
      if (mirroring === undefined) mirroring = b.allowedMirroringAxes ?? undefined;
      nets.set(fold, net.bytes);
    } else if (fs.existsSync(path.join(modelDir, `fold_${fold}`, 'checkpoint_final.json'))) fromCheckpoints.push(fold);
    else
      throw new SegStudioError('find-best', `fold ${fold} has neither bundle/ nor checkpoint_final: finish its training`, path.join(modelDir, `fold_${fold}`));
  }
  if (fromCheckpoints.length) {
    const { NodeTrainerFiles } = await import('./trainerFiles.ts');
    const { loadCheckpoint } = await import('../training/trainer/checkpoint.ts');
    const { bundleFromCheckpoints } = await import('../training/trainer/exportOnnx.ts');
    const p = (plans ?? readJsonFile(path.join(modelDir, 'plans.json'))) as Plans;
    const d = (dataset ?? readJsonFile(path.join(modelDir, 'dataset.json'))) as BundleDatasetJson;
    const trained = [];
    for (const fold of fromCheckpoints) trained.push({ fold, checkpoint: await loadCheckpoint(new NodeTrainerFiles(path.join(modelDir, `fold_${fold}`)), 'final') });
    const b = await loadBundle(await bundleFromCheckpoints(trained, p, d), modelDir);
    if (configuration !== undefined && b.configuration !== configuration)
      throw new SegStudioError('find-best', `checkpoints have configuration '${b.configuration}', fold bundles '${configuration}'`, modelDir);
    configuration = b.configuration;
    plans ??= b.plans;
    dataset ??= b.dataset;
    if (mirroring === undefined) mirroring = b.allowedMirroringAxes ?? undefined;
    for (const n of b.networks) nets.set(n.fold, n.bytes);
  }
  return createBundle({
    plans: plans!,
    dataset: dataset!,
    configuration: configuration!,
    folds: nets,
    postprocessing,
    ...(mirroring !== undefined ? { allowedMirroringAxes: mirroring } : {}),
  });
}

/** Writes bundle files as a .zip (OUT ends with .zip) or a folder. */
export function writeBundle(out: string, files: Map<string, Uint8Array>): void {
  if (out.toLowerCase().endsWith('.zip')) {
    writeBytes(out, bundleToZip(files));
    return;
  }
  fs.rmSync(out, { recursive: true, force: true });
  for (const [name, bytes] of files) writeBytes(path.join(out, name), bytes);
}

// ---------------------------------------------------------------------------------------------------------
// find_best_configuration
// ---------------------------------------------------------------------------------------------------------
export interface FindBestOptions extends DiscoverOptions {
  datasetDir: string;
  folds?: number[];
  /** consider pairwise ensembles (default true) */
  allowEnsembles?: boolean;
  /** predict missing validation probabilities with each fold's bundle first (so ensembles can be evaluated) */
  predictProbabilities?: boolean;
  /** export the winner: OUT.zip / OUT folder (one model), or OUT/ holding one bundle per ensemble member */
  exportBundle?: string;
  codec?: SegmentationCodec;
  log?: (line: string) => void;
  onProgress?: ProgressFn;
}

export interface FindBestResult {
  results: CandidateResult[];
  bestIndex: number;
  /** indices tied with the best */
  ties: number[];
  /** ensembles not computed and why (missing probabilities) */
  skippedEnsembles: { identifier: string; reason: string }[];
  postprocessing: DeterminePostprocessingResult;
  postprocessingFile: string;
  info: InferenceInformation;
  informationFile: string;
  instructionsFile: string;
  bundles: string[];
}

export async function findBestConfiguration(datasetResultsDir: string, opts: FindBestOptions): Promise<FindBestResult> {
  const log = opts.log ?? (() => {});
  const folds = opts.folds?.length ? opts.folds : [0, 1, 2, 3, 4];
  const setup = labelSetup(opts.datasetDir);
  const codec = opts.codec ?? defaultCodec;
  const models = discoverTrainedModels(datasetResultsDir, opts);
  const refs = new ReferenceCache(setup.refDir, setup.fileEnding, codec);
  const results: CandidateResult[] = [];
  const merged = new Map<string, AccumulatedCv>();
  for (const m of models) {
    const id = modelIdentifier(m);
    const modelDir = path.join(datasetResultsDir, id);
    if (opts.predictProbabilities && (opts.allowEnsembles ?? true)) await predictValidationProbabilities(modelDir, folds, opts.datasetDir, { log });
    log(`find-best: accumulating cross-validation of ${id} (folds ${folds.join(' ')})`);
    const acc = await accumulateCvResults(modelDir, path.join(modelDir, crossvalFolderName(folds)), { datasetDir: opts.datasetDir, folds, codec, refs, onProgress: opts.onProgress });
    merged.set(id, acc);
    results.push({ identifier: id, members: [m], source: acc.dir, result: acc.summary.foreground_mean.Dice, summary: acc.summary });
  }
  const skippedEnsembles: FindBestResult['skippedEnsembles'] = [];
  if (opts.allowEnsembles ?? true) {
    for (const [a, b] of pairwiseEnsembles(models)) {
      const ida = modelIdentifier(a);
      const idb = modelIdentifier(b);
      const name = ensembleName(ida, idb, folds);
      const missing = [ida, idb].filter((id) => !merged.get(id)!.hasProbabilities);
      if (missing.length) {
        const reason = `no validation probabilities (fold_K/validation/CASE.npz) for ${missing.join(' and ')} (--predict-probabilities makes them)`;
        skippedEnsembles.push({ identifier: name, reason });
        log(`find-best: skipping ${name}: ${reason}`);
        continue;
      }
      log(`find-best: ensembling ${ida} + ${idb}`);
      const ens = await ensembleCrossvalidations([merged.get(ida)!.dir, merged.get(idb)!.dir], path.join(datasetResultsDir, 'ensembles', name), {
        datasetDir: opts.datasetDir,
        codec,
        refs,
        onProgress: opts.onProgress,
      });
      results.push({ identifier: name, members: [a, b], source: ens.dir, result: ens.summary.foreground_mean.Dice, summary: ens.summary });
    }
  }
  const { index: bestIndex, ties } = pickBest(results);
  const best = results[bestIndex];
  log(`find-best: best: ${best.identifier} (foreground mean Dice ${best.result})`);

  const postprocessingFile = path.join(best.source, 'postprocessing.json');
  // determine_postprocessing on the winner (nnU-Net keeps the postprocessed files: keep_postprocessed_files)
  const ppIds = filesWithEnding(best.source, setup.fileEnding).map((f) => f.slice(0, -setup.fileEnding.length));
  const ppCases = [];
  for (const id of ppIds) {
    const ref = await refs.get(id);
    const predictionFile = path.join(best.source, id + setup.fileEnding);
    ppCases.push({ referenceFile: refs.file(id), predictionFile, reference: ref.labels, prediction: (await readLabelFile(codec, predictionFile)).labels });
  }
  const pp = determinePostprocessing(ppCases, {
    foregroundLabels: setup.info.foregroundLabels,
    labelsOrRegions: evaluationLabels(setup.info),
    ignoreLabel: setup.info.ignoreLabel,
  });
  writeBytes(postprocessingFile, postprocessingToJson(pp.pp));
  const ppDir = path.join(best.source, 'postprocessed');
  fs.rmSync(ppDir, { recursive: true, force: true });
  for (let i = 0; i < ppIds.length; i++) {
    const out = path.join(ppDir, ppIds[i] + setup.fileEnding);
    writeBytes(out, await codec.writeSegmentation(pp.postprocessed[i], (await refs.get(ppIds[i])).properties, out));
  }
  writeBytes(
    path.join(ppDir, 'summary.json'),
    summaryToJson({ ...pp.after, metric_per_case: pp.after.metric_per_case.map((m, i) => ({ ...m, prediction_file: path.join(ppDir, ppIds[i] + setup.fileEnding) })) }),
  );

  const bundles: string[] = [];
  if (opts.exportBundle) {
    const out = path.resolve(opts.exportBundle);
    const ppJson = parsePostprocessingJson(new TextDecoder().decode(readBytes(postprocessingFile)), postprocessingFile);
    if (best.members.length === 1) {
      const files = await bundleForModel(path.join(datasetResultsDir, best.identifier), folds, ppJson);
      writeBundle(out, files);
      bundles.push(out);
    } else {
      // a bundle holds one configuration: one bundle per member (without postprocessing: it applies to the
      // ensembled output), the ensemble's postprocessing.json beside them
      const zip = out.toLowerCase().endsWith('.zip');
      const dir = zip ? out.slice(0, -4) : out;
      ensureDir(dir);
      for (const m of best.members) {
        const id = modelIdentifier(m);
        const target = path.join(dir, zip ? `${id}.zip` : id);
        writeBundle(target, await bundleForModel(path.join(datasetResultsDir, id), folds));
        bundles.push(target);
      }
      fs.copyFileSync(postprocessingFile, path.join(dir, 'postprocessing.json'));
    }
    for (const b of bundles) log(`find-best: wrote bundle ${b}`);
  }

  const info = buildInferenceInformation({
    datasetName: path.basename(path.resolve(datasetResultsDir)),
    folds,
    considered: models,
    ensemblingAllowed: opts.allowEnsembles ?? true,
    results,
    bestIndex,
    resultPostPp: pp.after.foreground_mean.Dice,
    postprocessingFile:
      bundles.length > 1 ? path.join(path.dirname(bundles[0]), 'postprocessing.json') : postprocessingFile,
    plansFile: path.join(best.source, 'plans.json'),
    bundles: bundles.length ? bundles : undefined,
  });
  const informationFile = path.join(datasetResultsDir, 'inference_information.json');
  const instructionsFile = path.join(datasetResultsDir, 'inference_instructions.txt');
  // Dice values as Python floats (1 → 1.0), NaN as Python writes it
  const bme = info.best_model_or_ensemble;
  writeBytes(
    informationFile,
    pyJsonDumps({
      ...info,
      all_results: Object.fromEntries(Object.entries(info.all_results).map(([k, v]) => [k, pyFloat(v)])),
      best_model_or_ensemble: { ...bme, result_on_crossval_pre_pp: pyFloat(bme.result_on_crossval_pre_pp), result_on_crossval_post_pp: pyFloat(bme.result_on_crossval_post_pp) },
    }) + '\n',
  );
  writeBytes(instructionsFile, inferenceInstructions(info));
  return { results, bestIndex, ties, skippedEnsembles, postprocessing: pp, postprocessingFile, info, informationFile, instructionsFile, bundles };
}


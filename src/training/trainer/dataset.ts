// From an nnU-Net raw dataset (any DatasetFiles: a Node folder, a dropped browser folder, a zip) to the
// trainer's preprocessed cases and the fold's train/validation split. Pure TypeScript, shared by
// `segstudio train` and the training worker.
// nnU-Net: preprocessing/preprocessors/default_preprocessor.py (run_case per training case),
// training/nnUNetTrainer/nnUNetTrainer.py do_split (splits_final.json, fold 'all' = every case for both).
import { SegStudioError, throwIfCancelled } from '../../core/errors.ts';
import { loadDatasetJson, listRawDataset, type DatasetFiles, type DatasetJson, type RawCase } from '../../core/planning/dataset.ts';
import { loadRawCase } from '../../core/planning/fingerprint.ts';
import type { Plans } from '../../core/planning/plans.ts';
import { verifyDataset, type ImageReader, type VerifyReport } from '../../core/planning/verify.ts';
import { preprocessCase, type PreprocessingProperties } from '../../core/preprocessing/preprocess.ts';
import type { CancelSignal, Image, ProgressFn } from '../../core/types.ts';
import { generateCrossvalSplit, type Split } from '../data/splits.ts';
import type { TrainingCase } from './trainer.ts';

export interface RawTrainingDataset {
  dataset: DatasetJson;
  /** labelled training cases, sorted by id */
  cases: RawCase[];
}

/** dataset.json + the labelled training cases; layout errors (missing channels, labels) are refused. */
export async function openRawDataset(files: DatasetFiles, root = ''): Promise<RawTrainingDataset> {
  const dataset = await loadDatasetJson(files, root);
  const layout = await listRawDataset(files, dataset, root);
  const bad = layout.problems.find((p) => p.severity === 'error');
  if (bad) throw new SegStudioError('dataset', bad.problem + (bad.case ? ` (case ${bad.case})` : ''), bad.file ?? 'dataset.json');
  const cases = layout.training.filter((c) => c.label);
  if (cases.length === 0) throw new SegStudioError('dataset', 'no labelled training cases (labelsTr/)', 'dataset.json');
  return { dataset, cases };
}

/**
 * nnU-Net's --verify_dataset_integrity before training (src/core/planning/verify.ts): any error refuses to
 * train with SegStudioError('dataset-invalid') listing each case and problem (first 20, then a count);
 * warnings pass. Returns the report (warnings included) when the dataset is clean.
 * nnU-Net: experiment_planning/verify_dataset_integrity.py (run by plan_and_preprocess before training).
 */
export async function verifyForTraining(
  files: DatasetFiles,
  readImage: ImageReader,
  opts: { root?: string; onProgress?: ProgressFn; signal?: CancelSignal; datasetLabel?: string } = {},
): Promise<VerifyReport> {
  const report = await verifyDataset(files, { root: opts.root, readImage, onProgress: opts.onProgress, signal: opts.signal });
  if (report.ok) return report;
  const errors = report.problems.filter((p) => p.severity === 'error');
  const lines = errors.slice(0, 20).map((p) => `  ${p.case ? `case ${p.case}: ` : ''}${p.file ? `${p.file}: ` : ''}${p.problem}`);
  if (errors.length > 20) lines.push(`  … and ${errors.length - 20} more`);
  const badCases = [...new Set(errors.map((p) => p.case).filter((c): c is string => c !== null))];
  throw new SegStudioError(
    'dataset-invalid',
    `the dataset has ${errors.length} error(s)${badCases.length ? ` in case(s) ${badCases.join(', ')}` : ''}; ` +
      `training refuses to start until they are fixed (segstudio verify lists them):\n${lines.join('\n')}`,
    opts.datasetLabel ?? 'dataset.json',
  );
}

/** The fold's case ids: splits (default nnU-Net's 5-fold KFold on the sorted ids) or every case for 'all'. */
export function foldSplit(caseIds: string[], fold: number | 'all', splits?: Split[]): Split {
  if (fold === 'all') return { train: [...caseIds].sort(), val: [...caseIds].sort() };
  const sp = splits ?? generateCrossvalSplit(caseIds);
  if (!Number.isInteger(fold) || fold < 0 || fold >= sp.length)
    throw new SegStudioError('usage', `fold must be 'all' or 0..${sp.length - 1}, got ${fold}`, 'splits_final.json');
  return sp[fold];
}

export interface PreprocessedTrainingCase extends TrainingCase {
  properties: PreprocessingProperties;
}

/** Reads and preprocesses cases (nnU-Net DefaultPreprocessor.run_case) into the trainer's in-memory form. */
export async function preprocessTrainingCases(
  files: DatasetFiles,
  cases: RawCase[],
  plans: Plans,
  configuration: string,
  readImage: (bytes: Uint8Array, fileName: string) => Image,
  opts: { onProgress?: ProgressFn; signal?: CancelSignal } = {},
): Promise<PreprocessedTrainingCase[]> {
  const out: PreprocessedTrainingCase[] = [];
  for (let i = 0; i < cases.length; i++) {
    throwIfCancelled(opts.signal);
    const raw = await loadRawCase(files, cases[i], readImage);
    const pre = preprocessCase(raw.image, plans, configuration, raw.seg);
    if (!pre.seg) throw new SegStudioError('preprocess', 'preprocessing returned no segmentation', cases[i].label);
    out.push({ id: cases[i].id, data: pre.data, shape: pre.shape, seg: pre.seg, properties: pre.properties });
    opts.onProgress?.(i + 1, cases.length, 'preprocess');
  }
  return out;
}

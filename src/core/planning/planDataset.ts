// nnUNetv2_plan_and_preprocess's planning half for any raw dataset source (dropped folder or zip in the page,
// a folder in Node): fingerprint → plans → default splits, with the JSON texts nnU-Net would write.
// nnU-Net: experiment_planning/plan_and_preprocess_api.py (extract_fingerprints, plan_experiments),
// utilities/crossval_split.py.
import type { Image } from '../types.ts';
import { pyJsonDumps } from '../evaluation/pyjson.ts';
import { generateCrossvalSplit, type Split } from '../../training/data/splits.ts';
import type { DatasetFiles, DatasetJson } from './dataset.ts';
import { fingerprintRawDataset, fingerprintToJson, type FingerprintOptions } from './fingerprint.ts';
import { mergeWithExistingPlans, planExperiment, plansToJson, type DatasetFingerprint, type PlannerOptions } from './planner.ts';
import type { Plans } from './plans.ts';

export interface PlanDatasetOptions extends FingerprintOptions, PlannerOptions {
  /** reads one image file (io's readImageFile) */
  readImage: (bytes: Uint8Array, fileName: string) => Image;
  /** a previous plans file: its hand-made configurations are kept (nnU-Net save_plans) */
  existingPlans?: Plans | null;
}

export interface PlannedDataset {
  datasetJson: DatasetJson;
  caseIds: string[];
  fingerprint: DatasetFingerprint;
  plans: Plans;
  /** nnU-Net's default 5-fold split (null with fewer than 5 cases) */
  splits: Split[] | null;
  /** file texts exactly as nnU-Net writes them */
  fingerprintJson: string;
  plansJson: string;
  splitsJson: string | null;
}

/** Fingerprint + plans + splits for the raw dataset at `root` of `files`. */
export async function planRawDataset(files: DatasetFiles, root: string, opts: PlanDatasetOptions): Promise<PlannedDataset> {
  const { fingerprint, datasetJson, caseIds } = await fingerprintRawDataset(files, root, opts);
  const plans = mergeWithExistingPlans(planExperiment(fingerprint, datasetJson, opts), opts.existingPlans);
  const splits = caseIds.length >= 5 ? generateCrossvalSplit(caseIds) : null;
  return {
    datasetJson,
    caseIds,
    fingerprint,
    plans,
    splits,
    fingerprintJson: fingerprintToJson(fingerprint, { integerSpacings: plans.image_reader_writer === 'NaturalImage2DIO' }),
    plansJson: plansToJson(plans),
    splitsJson: splits ? pyJsonDumps(splits) : null,
  };
}

// The Train view's state (the `train` slice of the app's one zustand store, src/app/store.ts) and the plain
// data exchanged with the planning worker. Facts only: dataset bytes live in OPFS and in the workers.
import type { Plans } from '../../core/planning/plans.ts';
import type { VerifyReport } from '../../core/planning/verify.ts';
import type { TrainingLogData } from '../../training/trainer/log.ts';

export type PageView = 'segment' | 'train';
export type TrainBackendChoice = 'auto' | 'webgpu' | 'cpu';

/** A long step (reading, verifying, planning, preprocessing, exporting): progress bar + Cancel. */
export interface TrainTask {
  /** what runs, e.g. 'verifying the dataset' */
  stage: string;
  done: number;
  total: number;
  /** unit of done/total for the text ('files', 'cases', 'MB', 'iterations') */
  unit: string;
  cancellable: boolean;
}

export interface ChannelStats {
  channel: string;
  name: string;
  mean: number;
  median: number;
  std: number;
  min: number;
  max: number;
  p005: number;
  p995: number;
}

export interface FingerprintSummary {
  cases: number;
  /** median spacing [z, y, x] (mm) and its min / max over cases */
  medianSpacing: number[];
  minSpacing: number[];
  maxSpacing: number[];
  /** median / min / max shape after cropping to the nonzero region */
  medianShape: number[];
  minShape: number[];
  maxShape: number[];
  channels: ChannelStats[];
  /** explainFingerprint's plain-words line */
  text: string;
}

export interface DatasetInfo {
  /** names the dataset's OPFS folder (segstudio/datasets/<id>) */
  id: string;
  /** dataset.json name, else the folder / zip name */
  name: string;
  /** what was dropped: folder name or zip file name */
  source: string;
  files: number;
  bytes: number;
  caseIds: string[];
  channels: Record<string, string>;
  labels: Record<string, unknown>;
  /** where the files were persisted ('OPFS:/segstudio/datasets/<id>') or null when storing failed */
  storedAt: string | null;
  /** why the dataset could not be persisted (quota, no OPFS) */
  storeProblem: string | null;
}

/** The user's edits of one configuration (applied to nnU-Net's plans by planEdit.ts). */
export interface PlanEdits {
  patchSize: number[];
  batchSize: number;
  baseFeatures: number;
  maxFeatures: number;
}

export interface ScheduleEdits {
  configuration: string;
  epochs: number;
  iterationsPerEpoch: number;
  valIterationsPerEpoch: number;
  folds: number[];
  backend: TrainBackendChoice;
}

export type RunStatus = 'queued' | 'preparing' | 'running' | 'paused' | 'stopping' | 'validating' | 'stopped' | 'finished' | 'failed' | 'interrupted';

/** statuses during which the training worker is busy with the run */
export const ACTIVE_STATUSES: readonly RunStatus[] = ['preparing', 'running', 'paused', 'stopping', 'validating'];

/** One configuration × fold training run; persisted (localStorage) so a reload shows it and offers Resume. */
export interface RunRecord {
  runId: string;
  datasetId: string;
  datasetName: string;
  configuration: string;
  fold: number;
  /** the plans the run trains with (user edits applied); null for a run found only in storage (its plans.json is there) */
  plans: Plans | null;
  options: { numEpochs: number; iterationsPerEpoch: number; valIterationsPerEpoch: number };
  backendChoice: TrainBackendChoice;
  /** chosen backend and why (from the worker's backend event) */
  backend: string | null;
  backendReason: string | null;
  status: RunStatus;
  /** next epoch to run */
  epoch: number;
  log: TrainingLogData;
  bestEma: number | null;
  error: string | null;
  createdAt: number;
  updatedAt: number;
  /** last lines of the trainer's log */
  logLines: string[];
  /** validation Dice per label name of the finished fold (filled when available) */
  validation: { perLabel: Record<string, number>; mean: number; cases: number; source: string } | null;
}

export interface RunLive {
  phase: 'train' | 'val' | 'preprocess' | 'validation';
  iteration: number;
  of: number;
  loss: number | null;
}

export interface TrainState {
  task: TrainTask | null;
  dataset: DatasetInfo | null;
  verify: VerifyReport | null;
  fingerprint: FingerprintSummary | null;
  /** nnU-Net's plans as planned (unedited) */
  plans: Plans | null;
  planError: string | null;
  splits: { train: string[]; val: string[] }[] | null;
  /** dataset_fingerprint.json as nnU-Net writes it (download) */
  fingerprintJson: string | null;
  /** configuration name → plain-words explanation */
  explanations: Record<string, string>;
  edits: Record<string, PlanEdits>;
  schedule: ScheduleEdits;
  runs: RunRecord[];
  activeRunId: string | null;
  live: RunLive | null;
  /** cross-validation result (find-best) once folds are finished */
  results: TrainResults | null;
}

export interface TrainResults {
  /** 'pseudo' = trainer pseudo-Dice of the last epoch, 'validation' = cross-validation over full-case validation predictions */
  source: 'pseudo' | 'validation';
  text: string;
  /** the winner (find-best): its name, foreground-mean Dice after postprocessing, the postprocessing in words */
  best: { name: string; mean: number; postprocessing: string; prePp: number | null; ensemble: boolean } | null;
  /** candidates (single configurations, then pairwise ensembles) with their foreground-mean and per-label Dice */
  table: { name: string; mean: number; perLabel: Record<string, number> }[];
  /** nnU-Net's plain-text results table */
  textTable: string | null;
  /** the runs whose results these are */
  runIds: string[];
}

export const DEFAULT_SCHEDULE: ScheduleEdits = {
  configuration: '3d_fullres',
  epochs: 1000,
  iterationsPerEpoch: 250,
  valIterationsPerEpoch: 50,
  folds: [0],
  backend: 'auto',
};

export function initialTrainState(): TrainState {
  return {
    task: null,
    dataset: null,
    verify: null,
    fingerprint: null,
    plans: null,
    planError: null,
    splits: null,
    fingerprintJson: null,
    explanations: {},
    edits: {},
    schedule: { ...DEFAULT_SCHEDULE },
    runs: [],
    activeRunId: null,
    live: null,
    results: null,
  };
}

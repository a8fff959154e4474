// Training runs kept in the page's storage: one folder per run below the root,
//   training/<runId>/run.json              RunRecord (dataset id, configuration, fold, status, …)
//   training/<runId>/plans.json, dataset.json
//   training/<runId>/checkpoint_*.json|bin, training_log.txt, progress.svg, debug.json   (the trainer's)
//   training/<runId>/validation/CASE<ending>, CASE.npz, CASE.json, summary.json        (writeFoldValidation)
// the same files `segstudio train` writes into RESULTS/<Dataset>/<Trainer>__<Plans>__<CONFIG>/fold_N/.
import { SegStudioError } from '../../core/errors.ts';
import { parseSummaryJson, type Summary } from '../../core/evaluation/metrics.ts';
import type { Plans } from '../../core/planning/plans.ts';
import { checkpointFiles, parseWithNaN, stringifyWithNaN, type CheckpointFileMeta, type CheckpointName } from '../trainer/checkpoint.ts';
import type { TrainingLogData } from '../trainer/log.ts';
import { bytesText, textBytes, type TrainerStorage } from '../trainer/storage.ts';
import type { TrainerDatasetJson, TrainerOptions } from '../trainer/trainer.ts';
import { joinFolder, type StorageRoot } from './storageRoot.ts';

/**
 * 'interrupted' is never stored: listRuns reports a run whose run.json says running/paused while no session
 * runs it (the tab or process was killed); resume continues it from its last checkpoint.
 */
export type RunStatus = 'created' | 'running' | 'paused' | 'stopped' | 'failed' | 'finished' | 'validated' | 'interrupted';

export interface RunRecord {
  runId: string;
  /** the stored dataset it trains on (datasetStore), null when started from preprocessed cases */
  datasetId: string | null;
  datasetName: string;
  trainer: string;
  plansName: string;
  configuration: string;
  fold: number | 'all';
  numEpochs: number;
  options: Partial<TrainerOptions>;
  status: RunStatus;
  /** the failure (code: message) when status is 'failed' */
  error?: string;
  backend?: string;
  createdAt: number;
  updatedAt: number;
}

export interface RunInfo extends RunRecord {
  /** next epoch to run (from the newest checkpoint; 0 without one) */
  epoch: number;
  /** nnU-Net's logger content of the newest checkpoint (null without one) */
  log: TrainingLogData | null;
  /** checkpoints present, newest first in nnU-Net's --c order (final, latest, best) */
  checkpoints: CheckpointName[];
  /** the fold's validation summary.json (after training finished and validation ran) */
  validation: Summary | null;
  /** storage location label */
  location: string;
}

export const runFolder = (runId: string): string => joinFolder('training', checkRunId(runId));
export const validationFolder = (runId: string): string => joinFolder('training', checkRunId(runId), 'validation');

export function checkRunId(runId: string): string {
  if (typeof runId !== 'string' || !/^[A-Za-z0-9_.-]{1,120}$/.test(runId) || runId === '.' || runId === '..')
    throw new SegStudioError('usage', `invalid run id '${runId}' (letters, digits, '_', '-', '.'; at most 120)`);
  return runId;
}

/** Writes run.json (+ plans.json and dataset.json when given) for a new or restarted run. */
export async function saveRunRecord(
  root: StorageRoot,
  rec: RunRecord,
  extra: { plans?: Plans; dataset?: TrainerDatasetJson } = {},
): Promise<TrainerStorage> {
  const f = await root.folder(runFolder(rec.runId));
  if (extra.plans) await f.write('plans.json', textBytes(JSON.stringify(extra.plans, null, 4) + '\n'));
  if (extra.dataset) await f.write('dataset.json', textBytes(JSON.stringify(extra.dataset, null, 4) + '\n'));
  await f.write('run.json', textBytes(JSON.stringify(rec, null, 1) + '\n'));
  return f;
}

export async function readRunRecord(root: StorageRoot, runId: string): Promise<RunRecord | null> {
  const f = await root.folder(runFolder(runId));
  if (!(await f.exists('run.json'))) return null;
  try {
    return JSON.parse(bytesText(await f.read('run.json'))) as RunRecord;
  } catch {
    return null;
  }
}

/** Updates the status (and error/backend) of a run's run.json; no-op when the run has none. */
export async function updateRunStatus(root: StorageRoot, runId: string, patch: Partial<Pick<RunRecord, 'status' | 'error' | 'backend'>>): Promise<void> {
  const rec = await readRunRecord(root, runId);
  if (!rec) return;
  const next: RunRecord = { ...rec, ...patch, updatedAt: Date.now() };
  if (patch.status && patch.status !== 'failed') delete next.error;
  await (await root.folder(runFolder(runId))).write('run.json', textBytes(JSON.stringify(next, null, 1) + '\n'));
}

export async function readRunJson<T>(root: StorageRoot, runId: string, name: 'plans.json' | 'dataset.json'): Promise<T> {
  const f = await root.folder(runFolder(runId));
  if (!(await f.exists(name))) throw new SegStudioError('run', `run ${runId} has no ${name}`, `${f.location}/${name}`);
  try {
    return JSON.parse(bytesText(await f.read(name))) as T;
  } catch (e) {
    throw new SegStudioError('json', `not valid JSON (${(e as Error).message})`, `${f.location}/${name}`);
  }
}

/** A checkpoint's metadata (its .json only: epoch and log), or null. */
async function checkpointMeta(f: TrainerStorage, name: CheckpointName): Promise<CheckpointFileMeta | null> {
  const j = checkpointFiles(name).json;
  if (!(await f.exists(j))) return null;
  try {
    const m = parseWithNaN(bytesText(await f.read(j))) as CheckpointFileMeta;
    return m && typeof m === 'object' && typeof m.current_epoch === 'number' ? m : null;
  } catch {
    return null;
  }
}

/** One run's state as stored (works for runs without run.json too: fields from the checkpoint). */
export async function runInfo(root: StorageRoot, runId: string): Promise<RunInfo | null> {
  const f = await root.folder(runFolder(runId));
  const rec = await readRunRecord(root, runId);
  const checkpoints: CheckpointName[] = [];
  let newest: CheckpointFileMeta | null = null;
  for (const n of ['final', 'latest', 'best'] as const) {
    const m = await checkpointMeta(f, n);
    if (!m) continue;
    checkpoints.push(n);
    newest ??= m;
  }
  if (!rec && !newest) return null;
  const v = await root.folder(validationFolder(runId));
  let validation: Summary | null = null;
  if (await v.exists('summary.json')) {
    try {
      validation = parseSummaryJson(bytesText(await v.read('summary.json')), `${v.location}/summary.json`);
    } catch {
      validation = null;
    }
  }
  const base: RunRecord = rec ?? {
    runId,
    datasetId: null,
    datasetName: newest!.dataset_name,
    trainer: newest!.trainer_name,
    plansName: newest!.plans_name,
    configuration: newest!.configuration,
    fold: newest!.fold,
    numEpochs: Number((newest!.init_args as { numEpochs?: number }).numEpochs ?? 0),
    options: newest!.init_args as Partial<TrainerOptions>,
    status: checkpoints.includes('final') ? 'finished' : 'stopped',
    createdAt: newest!.saved_at,
    updatedAt: newest!.saved_at,
  };
  return { ...base, epoch: newest?.current_epoch ?? 0, log: newest?.logging ?? null, checkpoints, validation, location: f.location };
}

/**
 * Every stored run, sorted by creation time. With `activeRunId` (the run this worker is training now, or
 * null), runs stored as running/paused that are not active are reported as 'interrupted'.
 */
export async function listRuns(root: StorageRoot, activeRunId?: string | null): Promise<RunInfo[]> {
  const out: RunInfo[] = [];
  for (const id of (await root.list('training')).folders) {
    let info: RunInfo | null = null;
    try {
      info = await runInfo(root, id);
    } catch {
      info = null;
    }
    if (info && activeRunId !== undefined && info.runId !== activeRunId && (info.status === 'running' || info.status === 'paused')) info.status = 'interrupted';
    if (info) out.push(info);
  }
  return out.sort((a, b) => a.createdAt - b.createdAt || a.runId.localeCompare(b.runId));
}

export async function deleteRun(root: StorageRoot, runId: string): Promise<void> {
  await root.removeFolder(runFolder(runId));
}

export { stringifyWithNaN };

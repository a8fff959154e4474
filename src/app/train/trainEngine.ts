// Page-side actions of the Train view: drive the planning worker (read → verify → fingerprint → plans) and
// the training worker (workers/training.worker.ts: start / pause / resume / stop / wait / exportBundle),
// keep the `train` slice of the one store up to date, persist runs so a reload shows them and offers Resume.
import * as Comlink from 'comlink';
import type { TrainingWorkerApi, TrainingWorkerEvent } from '../../../workers/training.worker.ts';
import type { Plans } from '../../core/planning/plans.ts';
import { plansToJson } from '../../core/planning/planner.ts';
import { pyJsonDumps } from '../../core/evaluation/pyjson.ts';
import { emptyLog, type TrainingLogData } from '../../training/trainer/log.ts';
import { loadModelFiles, reportError, type DroppedFile } from '../engine.ts';
import { get, pushError, set } from '../store.ts';
import type { PlanningInput, PlanningResult, PlanningWorkerApi } from './planning.worker.ts';
import { applyPlanEdits, editsFromPlans, foldCount, scheduleProblems, trainableProblem } from './planEdit.ts';
import { configurationNames, looksLikeRawDataset } from './datasetIntake.ts';
import { labelNames, pseudoResults, resultsFromCrossValidation } from './results.ts';
import { ACTIVE_STATUSES, type PageView, type PlanEdits, type RunRecord, type RunStatus, type ScheduleEdits, type TrainState, type TrainTask } from './types.ts';
import type { RunInfo } from '../../../workers/training.worker.ts';

export type { DroppedFile };
export { looksLikeRawDataset };

// ---- store helpers

export function setTrain(patch: Partial<TrainState>): void {
  set({ train: { ...get().train, ...patch } });
}

const STORAGE_KEY = 'segstudio:train:v1';

/** What survives a reload (localStorage): the dataset's facts, its plans and edits, the runs with their logs. */
function persist(): void {
  const t = get().train;
  const snapshot = {
    dataset: t.dataset,
    verify: t.verify,
    fingerprint: t.fingerprint,
    plans: t.plans,
    planError: t.planError,
    splits: t.splits,
    fingerprintJson: t.fingerprintJson,
    explanations: t.explanations,
    edits: t.edits,
    schedule: t.schedule,
    runs: t.runs,
    activeRunId: t.activeRunId,
    results: t.results,
  };
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(snapshot));
  } catch {
    // a huge verify report must not cost the runs: keep the essentials
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify({ ...snapshot, verify: null }));
    } catch (e) {
      pushError(`the Train view's state could not be saved in this browser (${(e as Error).name}); runs will not show after a reload`);
    }
  }
}

let persistTimer: ReturnType<typeof setTimeout> | null = null;
function persistSoon(): void {
  if (persistTimer) return;
  persistTimer = setTimeout(() => {
    persistTimer = null;
    persist();
  }, 300);
}

function updateRun(runId: string, patch: Partial<RunRecord> | ((r: RunRecord) => Partial<RunRecord>)): void {
  const runs = get().train.runs.map((r) => (r.runId === runId ? { ...r, ...(typeof patch === 'function' ? patch(r) : patch), updatedAt: Date.now() } : r));
  setTrain({ runs });
  persistSoon();
}

export function runById(runId: string | null): RunRecord | null {
  return get().train.runs.find((r) => r.runId === runId) ?? null;
}

/** Restores the Train view after a reload: runs that were active become 'interrupted' (Resume offered). */
export function restoreTrain(): void {
  if (typeof location !== 'undefined' && location.hash === '#train') set({ page: 'train' });
  let raw: string | null = null;
  try {
    raw = localStorage.getItem(STORAGE_KEY);
  } catch {
    return;
  }
  if (!raw) return;
  try {
    const s = JSON.parse(raw) as Partial<TrainState>;
    const runs = (s.runs ?? []).map((r) => (ACTIVE_STATUSES.includes(r.status) ? { ...r, status: 'interrupted' as RunStatus } : r));
    setTrain({ ...s, runs, task: null, live: null } as Partial<TrainState>);
    if (runs.length) void syncRunsFromWorker();
  } catch {
    localStorage.removeItem(STORAGE_KEY);
  }
}

export function setPage(page: PageView): void {
  set({ page });
  if (typeof history !== 'undefined') history.replaceState(null, '', page === 'train' ? '#train' : location.pathname + location.search);
}

// ---- workers

// A worker that fails to load or crashes never answers its comlink calls: every call the page waits on is
// raced against the worker's 'error' event, so the step ends with a message instead of hanging.
const deathWatch = { planning: new Set<(e: Error) => void>(), training: new Set<(e: Error) => void>() };

function workerDied(which: 'planning' | 'training', err: Error): void {
  const waiting = [...deathWatch[which]];
  deathWatch[which].clear();
  for (const f of waiting) f(err);
}

function orWorkerDeath<T>(which: 'planning' | 'training', p: Promise<T>): Promise<T> {
  let off: ((e: Error) => void) | null = null;
  const died = new Promise<never>((_, reject) => {
    off = reject;
    deathWatch[which].add(reject);
  });
  return Promise.race([p, died]).finally(() => {
    if (off) deathWatch[which].delete(off);
  });
}

let planningWorker: Worker | null = null;
let planning: Comlink.Remote<PlanningWorkerApi> | null = null;

function planningApi(): Comlink.Remote<PlanningWorkerApi> {
  if (!planning) {
    planningWorker = new Worker(new URL('./planning.worker.ts', import.meta.url), { type: 'module', name: 'segstudio-planning' });
    planning = Comlink.wrap<PlanningWorkerApi>(planningWorker);
    // a worker that fails to load or crashes never answers: end the step with a message instead of waiting forever
    planningWorker.addEventListener('error', (e) => {
      // a stray exception inside a running worker is an ErrorEvent with a message and leaves the worker
      // alive; a worker that could not load (or died) gives a bare event
      if (e instanceof ErrorEvent && e.message) return;
      killPlanning();
      workerDied('planning', new Error('the planning worker could not be loaded or stopped; drop the dataset again'));
    });
  }
  return planning;
}

function killPlanning(): void {
  planningWorker?.terminate();
  planningWorker = null;
  planning = null;
}

let trainingWorker: Worker | null = null;
let training: Comlink.Remote<TrainingWorkerApi> | null = null;

function trainingApi(): Comlink.Remote<TrainingWorkerApi> {
  if (!training) {
    trainingWorker = new Worker(new URL('../../../workers/training.worker.ts', import.meta.url), { type: 'module', name: 'segstudio-training' });
    training = Comlink.wrap<TrainingWorkerApi>(trainingWorker);
    trainingWorker.addEventListener('error', (e) => {
      if (e instanceof ErrorEvent && e.message) return; // see the planning worker above
      killTraining();
      workerDied('training', new Error('the training worker could not be loaded or stopped; Resume continues from the last checkpoint'));
    });
  }
  return training;
}

function killTraining(): void {
  trainingWorker?.terminate();
  trainingWorker = null;
  training = null;
}

/** The error text the workers put in Error.name ('SegStudioError:code:file') → 'file: message'. */
function errorText(e: unknown): { text: string; code: string | undefined } {
  const err = e as Error;
  const m = /^SegStudioError:([^:]*):(.*)$/.exec(err?.name ?? '');
  const file = m?.[2];
  let text = err?.message ?? String(e);
  if (file && !text.startsWith(file)) text = `${file}: ${text}`;
  return { text, code: m?.[1] };
}

function setTask(task: TrainTask | null): void {
  setTrain({ task });
}

let cancelTaskFn: (() => void) | null = null;

/** Cancels the running long step (reading / verifying / planning / preparing a run). */
export function cancelTask(): void {
  cancelTaskFn?.();
}

// ---- dataset

/** A drop in the Train view: a dataset folder (files with relative paths) or one .zip. */
export async function openDataset(files: DroppedFile[]): Promise<void> {
  if (files.length === 0) return;
  if (get().train.task) {
    pushError('the Train view is busy: cancel the running step first');
    return;
  }
  const zip = files.length === 1 && /\.zip$/i.test(files[0].path) ? files[0] : null;
  const name = zip ? zip.file.name : files[0].path.includes('/') ? files[0].path.split('/')[0] : 'dropped files';
  const input: PlanningInput = zip ? { zip: zip.file, name } : { files: files.map((f) => ({ path: f.path, file: f.file })), name };
  setTask({ stage: `reading ${name}`, done: 0, total: 0, unit: 'bytes', cancellable: true });
  let cancelled = false;
  cancelTaskFn = () => {
    cancelled = true;
    killPlanning();
    setTask(null);
    set({ notice: `Reading ${name} cancelled.` });
  };
  const onProgress = (stage: string, done: number, total: number, unit: string) => {
    if (!cancelled) setTask({ stage, done, total, unit, cancellable: true });
  };
  try {
    const r = await orWorkerDeath('planning', planningApi().analyze(input, Comlink.proxy(onProgress), planningOptions()));
    if (cancelled) return;
    showAnalysis(r);
  } catch (e) {
    if (!cancelled) {
      const { text, code } = errorText(e);
      pushError(text, name, code);
    }
  } finally {
    if (!cancelled) setTask(null);
    cancelTaskFn = null;
  }
}

/**
 * URL option for tests and benchmarks: ?train-fg-samples=N lowers the foreground samples of the intensity
 * statistics (nnU-Net: 10e7 over the dataset, a few seconds on a laptop; the e2e test on a loaded 2-core runner uses 1e6).
 */
function planningOptions(): { numForegroundVoxels?: number } {
  const v = Number(new URLSearchParams(location.search).get('train-fg-samples'));
  return Number.isFinite(v) && v >= 1000 ? { numForegroundVoxels: Math.round(v) } : {};
}

/** Switches to the Train view and opens the dataset there. */
export async function openDatasetInTrainView(files: DroppedFile[]): Promise<void> {
  if (get().page !== 'train') setPage('train');
  await openDataset(files);
}

function showAnalysis(r: PlanningResult): void {
  const edits: Record<string, PlanEdits> = {};
  const configs = r.plans ? configurationNames(r.plans) : [];
  if (r.plans) for (const c of configs) edits[c] = editsFromPlans(r.plans, c);
  const configuration = configs.includes('3d_fullres') ? '3d_fullres' : (configs[0] ?? '3d_fullres');
  setTrain({
    dataset: r.dataset,
    verify: r.report,
    fingerprint: r.fingerprint,
    plans: r.plans,
    planError: r.planError,
    splits: r.splits,
    fingerprintJson: r.fingerprintJson,
    explanations: r.explanations,
    edits,
    schedule: { ...get().train.schedule, configuration },
    results: null,
  });
  if (r.dataset.storeProblem) set({ notice: `The dataset could not be kept in browser storage (${r.dataset.storeProblem}); training works, but resuming after a reload will need the folder again.` });
  persist();
}

export function editPlan(configuration: string, patch: Partial<PlanEdits>): void {
  const t = get().train;
  const cur = t.edits[configuration];
  if (!cur) return;
  setTrain({ edits: { ...t.edits, [configuration]: { ...cur, ...patch } } });
  persistSoon();
}

export function resetPlanEdits(configuration: string): void {
  const t = get().train;
  if (!t.plans) return;
  setTrain({ edits: { ...t.edits, [configuration]: editsFromPlans(t.plans, configuration) } });
  persistSoon();
}

export function setSchedule(patch: Partial<ScheduleEdits>): void {
  setTrain({ schedule: { ...get().train.schedule, ...patch } });
  persistSoon();
}

/** Everything that stops a start, in words (empty = ready). */
export function startProblems(t: TrainState = get().train): string[] {
  const p: string[] = [];
  if (!t.dataset) return ['Drop a dataset first'];
  if (t.verify && !t.verify.ok) p.push(`The integrity check found ${t.verify.errors} error(s): training refuses to start until they are fixed`);
  if (!t.plans) return [...p, t.planError ?? 'No plans'];
  const c = t.schedule.configuration;
  const tp = trainableProblem(t.plans, c);
  if (tp) p.push(tp);
  const e = t.edits[c];
  if (e) p.push(...applyPlanEdits(t.plans, c, e).problems);
  p.push(...scheduleProblems(t.schedule, foldCount(t.dataset.caseIds.length)));
  if (t.runs.some((r) => ACTIVE_STATUSES.includes(r.status))) p.push('A run is active: stop it first');
  return p;
}

// ---- training

let activeEmit: ((e: TrainingWorkerEvent) => void) | null = null;

function newRun(plans: Plans, fold: number, s: ScheduleEdits): RunRecord {
  const t = get().train;
  const now = Date.now();
  return {
    runId: `${t.dataset!.id}-${s.configuration}-f${fold}-${now.toString(36)}`,
    datasetId: t.dataset!.id,
    datasetName: t.dataset!.name,
    configuration: s.configuration,
    fold,
    plans,
    options: { numEpochs: s.epochs, iterationsPerEpoch: s.iterationsPerEpoch, valIterationsPerEpoch: s.valIterationsPerEpoch },
    backendChoice: s.backend,
    backend: null,
    backendReason: null,
    status: 'queued',
    epoch: 0,
    log: emptyLog(),
    bestEma: null,
    error: null,
    createdAt: now,
    updatedAt: now,
    logLines: [],
    validation: null,
  };
}

/** Starts the chosen configuration × folds (one run per fold, trained one after another). */
export async function startTraining(): Promise<void> {
  const problems = startProblems();
  if (problems.length) {
    pushError(problems[0]);
    return;
  }
  const t = get().train;
  const applied = applyPlanEdits(t.plans!, t.schedule.configuration, t.edits[t.schedule.configuration]);
  const runs = [...t.schedule.folds].sort((a, b) => a - b).map((f) => newRun(applied.plans!, f, t.schedule));
  setTrain({ runs: [...t.runs, ...runs], activeRunId: runs[0].runId, results: null });
  persist();
  await runQueue();
}

/** Runs queued runs one after another (the training worker trains one run at a time). */
async function runQueue(): Promise<void> {
  for (;;) {
    const next = get().train.runs.find((r) => r.status === 'queued');
    if (!next) break;
    const ok = await runOne(next.runId, false);
    if (!ok) break;
  }
  await computeResults();
}

const MAX_LOG_LINES = 300;

function onTrainingEvent(runId: string, e: TrainingWorkerEvent): void {
  switch (e.type) {
    case 'preprocess':
      setTrain({ live: { phase: 'preprocess', iteration: e.done, of: e.total, loss: null } });
      setTask({ stage: 'preprocessing the training cases', done: e.done, total: e.total, unit: 'cases', cancellable: true });
      break;
    case 'backend':
      updateRun(runId, { backend: e.backend, backendReason: e.reason });
      break;
    case 'verify':
      setTask({ stage: 'checking the dataset', done: e.done, total: e.total, unit: 'cases', cancellable: true });
      break;
    case 'validation':
      setTrain({ live: { phase: 'validation', iteration: e.done, of: e.total, loss: null } });
      setTask({ stage: `validating fold ${runById(runId)?.fold ?? ''} (full cases, as nnU-Net's --val)`, done: e.done, total: e.total, unit: 'cases', cancellable: true });
      // Cancel = the worker's stop(): training is done, a later Resume validates again
      cancelTaskFn = () => {
        setTask(null);
        void stopRun();
      };
      if (runById(runId)?.status !== 'validating') updateRun(runId, { status: 'validating' });
      break;
    case 'run-status':
      if (e.error) updateRun(e.runId, { error: e.error });
      break;
    case 'state': {
      const map: Partial<Record<string, RunStatus>> = { running: 'running', paused: 'paused', stopped: 'stopped', failed: 'failed', finished: 'validating' };
      const st = map[e.state];
      if (st) updateRun(runId, { status: st, epoch: e.epoch });
      break;
    }
    case 'iteration':
      setTrain({ live: { phase: e.phase, iteration: e.iteration, of: e.of, loss: e.loss } });
      break;
    case 'epoch-end': {
      const m = e.metrics;
      updateRun(runId, (r) => {
        const log: TrainingLogData = {
          ...r.log,
          mean_fg_dice: [...r.log.mean_fg_dice.slice(0, m.epoch), m.meanFgDice],
          ema_fg_dice: [...r.log.ema_fg_dice.slice(0, m.epoch), m.emaFgDice],
          dice_per_class_or_region: [...r.log.dice_per_class_or_region.slice(0, m.epoch), m.pseudoDice],
          train_losses: [...r.log.train_losses.slice(0, m.epoch), m.trainLoss],
          val_losses: [...r.log.val_losses.slice(0, m.epoch), m.valLoss],
          lrs: [...r.log.lrs.slice(0, m.epoch), m.lr],
          epoch_start_timestamps: r.log.epoch_start_timestamps.slice(0, m.epoch + 1),
          epoch_end_timestamps: [...r.log.epoch_end_timestamps.slice(0, m.epoch), Date.now() / 1000],
          epoch_times_sec: [...r.log.epoch_times_sec.slice(0, m.epoch), m.epochTimeSec],
        };
        return { log, epoch: m.epoch + 1, bestEma: r.bestEma === null || m.emaFgDice > r.bestEma ? m.emaFgDice : r.bestEma };
      });
      persist();
      break;
    }
    case 'checkpoint':
    case 'log': {
      const line = e.type === 'log' ? e.line : `checkpoint_${e.name} saved (epoch ${e.epoch})`;
      updateRun(runId, (r) => ({ logLines: [...r.logLines, line].slice(-MAX_LOG_LINES) }));
      break;
    }
    default:
      break;
  }
}

/** Trains one run (from scratch or resuming from its checkpoint in OPFS) until it finishes or stops. */
async function runOne(runId: string, resume: boolean): Promise<boolean> {
  const run = runById(runId);
  if (!run) return false;
  setTrain({ activeRunId: runId, live: null });
  updateRun(runId, { status: 'preparing', error: null });
  let cancelled = false;
  cancelTaskFn = () => {
    // nothing trains yet: dropping the worker is the quickest clean cancel
    cancelled = true;
    killTraining();
    setTask(null);
    updateRun(runId, { status: 'stopped' });
    set({ notice: 'Preparing the run was cancelled; Resume starts it again.' });
  };
  setTask({ stage: 'loading the dataset', done: 0, total: 0, unit: '', cancellable: true });
  try {
    const t = get().train;
    if (t.dataset?.id === run.datasetId && !t.dataset.storedAt)
      throw new Error(`the dataset could not be kept in browser storage (${t.dataset.storeProblem ?? 'unknown reason'}), so it cannot be trained from storage: free space and drop it again`);
    const splits = t.dataset?.id === run.datasetId ? (t.splits ?? undefined) : undefined;
    const emit = (e: TrainingWorkerEvent) => onTrainingEvent(runId, e);
    activeEmit = emit;
    // the planning worker stored the dataset in OPFS (segstudio/datasets/<id>, the layout the training worker
    // reads), so the run starts — and resumes after a reload — from its id, without sending the bytes again
    const info = await orWorkerDeath('training', trainingApi().start(
      {
        runId,
        plans: run.plans ?? undefined,
        configuration: run.configuration,
        fold: run.fold,
        dataset: { datasetId: run.datasetId, splits },
        options: { ...run.options },
        backend: run.backendChoice,
        resume,
      },
      Comlink.proxy(emit),
    ));
    if (cancelled) return false;
    setTask(null);
    cancelTaskFn = null;
    updateRun(runId, (r) => ({
      backend: info.backend,
      backendReason: info.backendReason,
      status: 'running',
      epoch: info.epoch,
      logLines: [...r.logLines, `${resume ? `resumed from checkpoint_${info.resumedFrom ?? 'none'} at epoch ${info.epoch}` : 'started'} on ${info.backend} (${info.backendReason}); ${info.trainCases.length} training / ${info.valCases.length} validation cases; checkpoints in ${info.storage}`].slice(-MAX_LOG_LINES),
    }));
    if (resume) {
      // the checkpoint's log is authoritative (epochs after the last checkpoint are lost)
      const st = await trainingApi().status();
      if (st.log) updateRun(runId, { log: st.log, epoch: st.epoch, bestEma: st.bestEma });
    }
    const result = await orWorkerDeath('training', trainingApi().wait());
    cancelTaskFn = null;
    const st = await trainingApi().status();
    updateRun(runId, { epoch: result.epoch, log: st.log ?? result.log, bestEma: result.bestEma });
    setTrain({ live: null });
    setTask(null);
    // the fold's validation summary first, then the status: 'finished' always comes with its validation
    if (result.status === 'finished') await syncRunsFromWorker();
    updateRun(runId, { status: result.status });
    persist();
    return result.status === 'finished';
  } catch (e) {
    if (cancelled) return false;
    const { text: raw, code } = errorText(e);
    // storage full: say how full and what to do (the worker names the file it could not write)
    const text = code === 'storage-quota' ? `${raw} — ${await planningApi().usage().then((u) => u.text, () => '')}; delete old runs (✕) or free the dataset copy, then Resume` : raw;
    updateRun(runId, { status: 'failed', error: text });
    setTask(null);
    pushError(text, undefined, code);
    persist();
    return false;
  } finally {
    if (cancelTaskFn && !cancelled) cancelTaskFn = null;
    if (activeEmit) activeEmit = null;
  }
}

export async function pauseRun(): Promise<void> {
  await training?.pause();
}

export async function resumePaused(): Promise<void> {
  await training?.resume();
}

/** Stops the active run after the current iteration; checkpoint_latest is what Resume continues from. */
export async function stopRun(): Promise<void> {
  const id = get().train.activeRunId;
  if (id) updateRun(id, { status: 'stopping' });
  // cancel queued folds too
  setTrain({ runs: get().train.runs.map((r) => (r.status === 'queued' ? { ...r, status: 'stopped' as RunStatus } : r)) });
  await training?.stop();
}

/** Resume a stopped / interrupted run (e.g. after a reload) from its newest checkpoint in OPFS, then the queue. */
export async function resumeRun(runId: string): Promise<void> {
  const run = runById(runId);
  if (!run) return;
  if (get().train.runs.some((r) => ACTIVE_STATUSES.includes(r.status))) {
    pushError('A run is active: stop it first');
    return;
  }
  const ok = await runOne(runId, true);
  if (ok) await runQueue();
  else await computeResults();
}

export async function deleteRun(runId: string): Promise<void> {
  const run = runById(runId);
  if (!run) return;
  if (ACTIVE_STATUSES.includes(run.status)) {
    pushError('Stop the run before deleting it');
    return;
  }
  setTrain({ runs: get().train.runs.filter((r) => r.runId !== runId), activeRunId: get().train.activeRunId === runId ? null : get().train.activeRunId });
  persist();
  await trainingApi()
    .deleteRun(runId)
    .catch((e) => pushError(errorText(e).text));
  void computeResults();
}

export function selectRun(runId: string): void {
  setTrain({ activeRunId: runId });
  persistSoon();
}

// ---- results

/**
 * Brings the page's run list in line with the runs stored by the training worker (OPFS run.json, checkpoints,
 * validation summary.json): epochs and logs from the newest checkpoint, the fold's validation Dice, and runs the
 * page did not know (e.g. after clearing the site's local storage).
 */
export async function syncRunsFromWorker(): Promise<void> {
  let infos: RunInfo[];
  try {
    infos = await trainingApi().listRuns();
  } catch {
    return;
  }
  const t = get().train;
  const known = new Map(t.runs.map((r) => [r.runId, r]));
  const runs = [...t.runs];
  for (const info of infos) {
    if (info.fold === 'all') continue;
    const names = labelNames(t.dataset?.id === info.datasetId ? t.dataset.labels : {});
    const validation = info.validation
      ? {
          perLabel: Object.fromEntries(Object.entries(info.validation.mean).map(([k, m]) => [names[k] ?? k, m.Dice])),
          mean: info.validation.foreground_mean.Dice,
          cases: info.validation.metric_per_case.length,
          source: 'validation (full cases)',
        }
      : null;
    const cur = known.get(info.runId);
    if (cur) {
      const i = runs.indexOf(cur);
      const active = ACTIVE_STATUSES.includes(cur.status) && cur.status !== 'validating';
      runs[i] = {
        ...cur,
        validation: validation ?? cur.validation,
        status: info.status === 'validated' && !active ? 'finished' : cur.status,
        log: !active && info.log && info.log.train_losses.length >= cur.log.train_losses.length ? info.log : cur.log,
        epoch: active ? cur.epoch : info.epoch,
      };
    } else {
      runs.push({
        runId: info.runId,
        datasetId: info.datasetId ?? '',
        datasetName: info.datasetName,
        configuration: info.configuration,
        fold: info.fold,
        plans: null,
        options: { numEpochs: info.numEpochs, iterationsPerEpoch: info.options.iterationsPerEpoch ?? 250, valIterationsPerEpoch: info.options.valIterationsPerEpoch ?? 50 },
        backendChoice: 'auto',
        backend: info.backend ?? null,
        backendReason: null,
        status: info.status === 'validated' ? 'finished' : info.status === 'finished' ? 'interrupted' : info.status === 'failed' ? 'failed' : 'interrupted',
        epoch: info.epoch,
        log: info.log ?? emptyLog(),
        bestEma: info.log?.ema_fg_dice.length ? Math.max(...info.log.ema_fg_dice) : null,
        error: info.error ?? null,
        createdAt: info.createdAt,
        updatedAt: info.updatedAt,
        logLines: [`found in browser storage (${info.location})`],
        validation,
      });
    }
  }
  setTrain({ runs });
  persistSoon();
}


/**
 * Results of the finished runs of the current dataset: with full-case validation of every fold, nnU-Net's
 * cross-validation in the training worker (summary.json per configuration, find-best over configurations and
 * pairwise ensembles, postprocessing); before that, the trainer's pseudo Dice of the last epoch.
 */
export async function computeResults(): Promise<void> {
  const t = get().train;
  const finished = t.runs.filter((r) => r.status === 'finished' && r.datasetId === t.dataset?.id);
  if (finished.length === 0) {
    setTrain({ results: null });
    return;
  }
  if (finished.every((r) => r.validation)) {
    // one run per configuration × fold (the newest) for the decision
    const newest = new Map<string, RunRecord>();
    for (const r of finished) {
      const k = `${r.configuration}/${r.fold}`;
      if (!newest.has(k) || newest.get(k)!.createdAt < r.createdAt) newest.set(k, r);
    }
    const use = [...newest.values()].map((r) => r.runId);
    setTask({ stage: 'cross-validation: summary.json per configuration, find-best, postprocessing', done: 0, total: 0, unit: 'steps', cancellable: false });
    try {
      const cv = await trainingApi().crossValidation(
        { runs: use },
        Comlink.proxy((done: number, total: number) => setTask({ stage: 'cross-validation: find-best and postprocessing', done, total, unit: 'steps', cancellable: false })),
      );
      setTrain({ results: resultsFromCrossValidation(cv, t.dataset?.labels ?? {}, use) });
      persistSoon();
      return;
    } catch (e) {
      pushError(`cross-validation: ${errorText(e).text}`);
    } finally {
      setTask(null);
    }
  }
  setTrain({ results: pseudoResults(finished, t.dataset?.labels ?? {}) });
  persistSoon();
}

let lastBundle: { bytes: Uint8Array; name: string; runId: string | null } | null = null;

/** The model bundle (.zip) of one run: ONNX of its final (else newest) checkpoint + plans + dataset.json. */
export async function buildRunBundle(runId: string): Promise<{ bytes: Uint8Array; name: string; runId: string | null } | null> {
  const run = runById(runId);
  if (!run) return null;
  setTask({ stage: `exporting the model bundle of ${run.configuration} fold ${run.fold}`, done: 0, total: 0, unit: '', cancellable: false });
  try {
    const bytes = await trainingApi().exportBundle({ runId });
    lastBundle = { bytes, name: `${run.datasetName}_${run.configuration}_fold${run.fold}.zip`.replace(/[^A-Za-z0-9_.-]+/g, '_'), runId };
    return lastBundle;
  } catch (e) {
    const { text, code } = errorText(e);
    pushError(text, undefined, code);
    return null;
  } finally {
    setTask(null);
  }
}

/**
 * The winner of the cross-validation: one bundle with every fold and postprocessing.json inside (a single
 * configuration won), or one bundle per member plus postprocessing.json (an ensemble won).
 */
export async function buildBestBundles(): Promise<{ name: string; bytes: Uint8Array }[] | null> {
  setTask({ stage: 'exporting the best model (every fold, postprocessing)', done: 0, total: 0, unit: '', cancellable: false });
  try {
    const best = await trainingApi().exportBest();
    return best.files;
  } catch (e) {
    const { text, code } = errorText(e);
    pushError(text, undefined, code);
    return null;
  } finally {
    setTask(null);
  }
}

export function saveBytes(bytes: Uint8Array | Blob, name: string, mime = 'application/octet-stream'): void {
  const blob = bytes instanceof Blob ? bytes : new Blob([bytes as BlobPart], { type: mime });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * nnU-Net's planning files as downloads: dataset_fingerprint.json, nnUNetPlans.json with the user's edits of
 * every valid configuration applied, splits_final.json (the texts `segstudio plan` writes).
 */
export function downloadPlanningFiles(which: 'fingerprint' | 'plans' | 'splits'): void {
  const t = get().train;
  if (which === 'fingerprint' && t.fingerprintJson) saveBytes(new TextEncoder().encode(t.fingerprintJson), 'dataset_fingerprint.json', 'application/json');
  if (which === 'splits' && t.splits) saveBytes(new TextEncoder().encode(pyJsonDumps(t.splits)), 'splits_final.json', 'application/json');
  if (which === 'plans' && t.plans) {
    let plans = t.plans;
    for (const c of Object.keys(t.edits)) {
      const a = applyPlanEdits(plans, c, t.edits[c]);
      if (a.plans && a.notes.length) plans = a.plans;
    }
    saveBytes(new TextEncoder().encode(plansToJson(plans)), 'nnUNetPlans.json', 'application/json');
  }
}

/** One run's bundle as a download (any run with a checkpoint: the final one when it finished). */
export async function exportRunBundle(runId: string): Promise<void> {
  const b = await buildRunBundle(runId);
  if (b) saveBytes(b.bytes, b.name, 'application/zip');
}

/** This site's storage use, as a sentence ('' when the browser does not say). */
export async function storageUsageText(): Promise<string> {
  try {
    return (await planningApi().usage()).text;
  } catch {
    return '';
  }
}

/** Deletes the stored copy of the current dataset (its runs can then no longer resume without dropping it again). */
export async function deleteDatasetCopy(): Promise<void> {
  const d = get().train.dataset;
  if (!d?.storedAt) return;
  await planningApi().deleteDataset(d.id);
  setTrain({ dataset: { ...d, storedAt: null, storeProblem: 'deleted by the user' } });
  persist();
}

/** "Export bundle (.zip)": the cross-validation winner when there is one, else the selected run's bundle. */
export async function exportBundle(): Promise<void> {
  const t = get().train;
  if (t.results?.source === 'validation' && t.results.best) {
    const files = await buildBestBundles();
    for (const f of files ?? []) saveBytes(f.bytes, f.name, f.name.endsWith('.zip') ? 'application/zip' : 'application/json');
    return;
  }
  const id = t.activeRunId;
  if (!id) return;
  const b = await buildRunBundle(id);
  if (b) saveBytes(b.bytes, b.name, 'application/zip');
}

/** Loads the trained model into the Segment view (the same path as dropping a bundle .zip) and switches to it. */
export async function useInSegment(): Promise<void> {
  const t = get().train;
  let b: { name: string; bytes: Uint8Array } | null = null;
  if (t.results?.source === 'validation' && t.results.best) {
    const files = await buildBestBundles();
    b = files?.find((f) => f.name.endsWith('.zip')) ?? null;
    if (b && t.results.best.ensemble)
      set({ notice: `The best model is an ensemble; the Segment view runs one bundle at a time, so it uses ${b.name} (export the bundle to get every member).` });
  } else if (t.activeRunId) b = await buildRunBundle(t.activeRunId);
  if (!b) return;
  try {
    await loadModelFiles([{ path: b.name, file: new File([b.bytes as BlobPart], b.name, { type: 'application/zip' }) }]);
    if (get().model?.source === 'bundle') setPage('segment');
  } catch (e) {
    reportError(e, b.name);
  }
}

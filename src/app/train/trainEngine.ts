// Page-side actions of the Train view: drive the planning worker (read → verify → fingerprint → plans) and
// the training worker (workers/training.worker.ts: start / pause / resume / stop / wait / exportBundle),
// keep the `train` slice of the one store up to date, persist runs so a reload shows them and offers Resume.
import * as Comlink from 'comlink';
import type { TrainingWorkerApi, TrainingWorkerEvent } from '../../../workers/training.worker.ts';
import type { Plans } from '../../core/planning/plans.ts';
import { emptyLog, type TrainingLogData } from '../../training/trainer/log.ts';
import { loadModelFiles, reportError, type DroppedFile } from '../engine.ts';
import { get, pushError, set } from '../store.ts';
import type { PlanningInput, PlanningResult, PlanningWorkerApi } from './planning.worker.ts';
import { applyPlanEdits, editsFromPlans, foldCount, scheduleProblems, trainableProblem } from './planEdit.ts';
import { configurationNames } from './datasetIntake.ts';
import type { PageView, PlanEdits, RunRecord, RunStatus, ScheduleEdits, TrainResults, TrainState, TrainTask } from './types.ts';

export type { DroppedFile };

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
    const active: RunStatus[] = ['preparing', 'running', 'paused', 'stopping'];
    const runs = (s.runs ?? []).map((r) => (active.includes(r.status) ? { ...r, status: 'interrupted' as RunStatus } : r));
    setTrain({ ...s, runs, task: null, live: null } as Partial<TrainState>);
  } catch {
    localStorage.removeItem(STORAGE_KEY);
  }
}

export function setPage(page: PageView): void {
  set({ page });
  if (typeof history !== 'undefined') history.replaceState(null, '', page === 'train' ? '#train' : location.pathname + location.search);
}

// ---- workers

let planningWorker: Worker | null = null;
let planning: Comlink.Remote<PlanningWorkerApi> | null = null;

function planningApi(): Comlink.Remote<PlanningWorkerApi> {
  if (!planning) {
    planningWorker = new Worker(new URL('./planning.worker.ts', import.meta.url), { type: 'module', name: 'segstudio-planning' });
    planning = Comlink.wrap<PlanningWorkerApi>(planningWorker);
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
    const r = await planningApi().analyze(input, Comlink.proxy(onProgress), planningOptions());
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
  if (t.runs.some((r) => ['preparing', 'running', 'paused', 'stopping'].includes(r.status))) p.push('A run is active: stop it first');
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
  computeResults();
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
    case 'state': {
      const map: Partial<Record<string, RunStatus>> = { running: 'running', paused: 'paused', stopped: 'stopped', finished: 'finished', failed: 'failed' };
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
    const files = await planningApi().loadDataset(run.datasetId);
    if (cancelled) return false;
    const splits = get().train.dataset?.id === run.datasetId ? (get().train.splits ?? undefined) : undefined;
    const emit = (e: TrainingWorkerEvent) => onTrainingEvent(runId, e);
    activeEmit = emit;
    const info = await trainingApi().start(
      {
        runId,
        plans: run.plans,
        configuration: run.configuration,
        fold: run.fold,
        dataset: { files, splits },
        options: { ...run.options },
        backend: run.backendChoice,
        resume,
      },
      Comlink.proxy(emit),
    );
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
    const result = await trainingApi().wait();
    const st = await trainingApi().status();
    updateRun(runId, { status: result.status, epoch: result.epoch, log: st.log ?? result.log, bestEma: result.bestEma });
    setTrain({ live: null });
    persist();
    return result.status === 'finished';
  } catch (e) {
    if (cancelled) return false;
    const { text } = errorText(e);
    updateRun(runId, { status: 'failed', error: text });
    setTask(null);
    pushError(text, undefined, errorText(e).code);
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
  if (get().train.runs.some((r) => ['preparing', 'running', 'paused', 'stopping'].includes(r.status))) {
    pushError('A run is active: stop it first');
    return;
  }
  const ok = await runOne(runId, true);
  if (ok) await runQueue();
}

export async function deleteRun(runId: string): Promise<void> {
  const run = runById(runId);
  if (!run) return;
  if (['preparing', 'running', 'paused', 'stopping'].includes(run.status)) {
    pushError('Stop the run before deleting it');
    return;
  }
  setTrain({ runs: get().train.runs.filter((r) => r.runId !== runId), activeRunId: get().train.activeRunId === runId ? null : get().train.activeRunId });
  persist();
  await planningApi().deleteRun(runId).catch(() => {});
  computeResults();
}

export function selectRun(runId: string): void {
  setTrain({ activeRunId: runId });
  persistSoon();
}

// ---- results

const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);

/**
 * Per-fold table and per-configuration cross-validation summary from the finished runs. Until full-case
 * validation predictions exist for a fold, its figures are the trainer's pseudo Dice of the last epoch.
 */
export function computeResults(): void {
  const t = get().train;
  const finished = t.runs.filter((r) => r.status === 'finished' && r.datasetId === t.dataset?.id);
  if (finished.length === 0) {
    setTrain({ results: null });
    return;
  }
  const labelNames = Object.entries(t.dataset?.labels ?? {})
    .filter(([, v]) => v !== 0)
    .map(([k]) => k);
  const byConfig = new Map<string, RunRecord[]>();
  for (const r of finished) byConfig.set(r.configuration, [...(byConfig.get(r.configuration) ?? []), r]);
  const table: TrainResults['table'] = [];
  const source: TrainResults['source'] = finished.every((r) => r.validation) ? 'validation' : 'pseudo';
  for (const [cfg, runs] of byConfig) {
    const perLabel: Record<string, number> = {};
    labelNames.forEach((name, i) => {
      perLabel[name] = mean(runs.map((r) => r.validation?.perLabel[name] ?? r.log.dice_per_class_or_region.at(-1)?.[i] ?? NaN));
    });
    table.push({ name: `${cfg} (${runs.length} fold${runs.length === 1 ? '' : 's'}: ${runs.map((r) => r.fold).join(', ')})`, mean: mean(Object.values(perLabel)), perLabel });
  }
  table.sort((a, b) => b.mean - a.mean);
  const best = table[0] ? { name: table[0].name, mean: table[0].mean, postprocessing: 'not determined (needs full-case validation predictions)' } : null;
  setTrain({
    results: {
      source,
      table,
      best,
      text:
        source === 'pseudo'
          ? "Figures are the trainer's pseudo Dice of the last epoch (validation patches, as nnU-Net's progress plot), not full-case validation."
          : 'Full-case validation predictions of every fold.',
    },
  });
  persistSoon();
}

let lastBundle: { bytes: Uint8Array; name: string } | null = null;

/** The model bundle (.zip) of the active run: ONNX of its final (else newest) checkpoint + plans + dataset.json. */
export async function buildBundle(): Promise<{ bytes: Uint8Array; name: string } | null> {
  const run = runById(get().train.activeRunId);
  if (!training || !run) {
    pushError('No trained run in this session to export: resume or train a run first');
    return null;
  }
  setTask({ stage: 'exporting the model bundle', done: 0, total: 1, unit: '', cancellable: false });
  try {
    const bytes = await training.exportBundle();
    const name = `${run.datasetName}_${run.configuration}_fold${run.fold}.zip`.replace(/[^A-Za-z0-9_.-]+/g, '_');
    lastBundle = { bytes, name };
    return lastBundle;
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

export async function exportBundle(): Promise<void> {
  const b = await buildBundle();
  if (b) saveBytes(b.bytes, b.name, 'application/zip');
}

/** Loads the trained bundle into the Segment view (the same path as dropping a bundle .zip) and switches to it. */
export async function useInSegment(): Promise<void> {
  const b = lastBundle ?? (await buildBundle());
  if (!b) return;
  try {
    await loadModelFiles([{ path: b.name, file: new File([b.bytes as BlobPart], b.name, { type: 'application/zip' }) }]);
    if (get().model?.source === 'bundle') setPage('segment');
  } catch (e) {
    reportError(e, b.name);
  }
}

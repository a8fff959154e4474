// One training session over a StorageRoot: what the training worker does, in pure TypeScript so Node tests
// drive it with the CPU backend and onnxruntime-node (workers/training.worker.ts is a thin comlink facade).
// start(): dataset (dropped files → stored under a dataset id; or a stored dataset id) → verify (errors
// refuse) → fold split → preprocessing → backend → Trainer (resume from the run's checkpoint) → run in the
// background; when training finishes, the fold's validation (CASE<ending> + CASE.npz + summary.json, as
// `segstudio train`) is written into the run's validation/ folder. Run state lives in run.json, so
// listRuns() after a reload shows what each run was doing and a start({resume: true}) continues it.
import { SegStudioError, isSegStudioError } from '../../core/errors.ts';
import { bundleToZip, loadBundle } from '../../core/inference/bundle.ts';
import type { NetworkRunner } from '../../core/inference/runner.ts';
import { memoryDatasetFiles, type DatasetFiles } from '../../core/planning/dataset.ts';
import { loadRawCase } from '../../core/planning/fingerprint.ts';
import type { Plans } from '../../core/planning/plans.ts';
import type { Image } from '../../core/types.ts';
import type { Split } from '../data/splits.ts';
import type { Backend } from '../engine/backend.ts';
import type { BackendChoice, BackendKind, BackendPreference } from '../engine/selectBackend.ts';
import { loadCheckpoint, newestCheckpoint, type CheckpointName } from '../trainer/checkpoint.ts';
import { foldSplit, openRawDataset, preprocessTrainingCases, verifyForTraining } from '../trainer/dataset.ts';
import { bundleFromCheckpoints } from '../trainer/exportOnnx.ts';
import type { TrainingLogData } from '../trainer/log.ts';
import type { TrainerStorage } from '../trainer/storage.ts';
import { Trainer, type TrainerDatasetJson, type TrainerEvent, type TrainerOptions, type TrainerResult, type TrainerState, type TrainingCase } from '../trainer/trainer.ts';
import { writeFoldValidation, type ValidationCase } from '../trainer/validation.ts';
import { findStoredCopy, openStoredDataset, saveDataset } from './datasetStore.ts';
import { readRunJson, readRunRecord, runFolder, saveRunRecord, updateRunStatus, validationFolder, type RunRecord, type RunStatus } from './runs.ts';
import type { StorageRoot } from './storageRoot.ts';

/** Events of a session: the trainer's own plus preprocessing, backend choice, validation and run status. */
export type TrainingWorkerEvent =
  | TrainerEvent
  | { type: 'preprocess'; done: number; total: number }
  | { type: 'verify'; done: number; total: number }
  | { type: 'dataset-stored'; datasetId: string; name: string; bytes: number }
  | { type: 'backend'; backend: string; kind: BackendKind; reason: string }
  | { type: 'validation'; done: number; total: number }
  | { type: 'run-status'; runId: string; status: RunStatus; error?: string };

export interface TrainingStartConfig {
  /** names the run's storage folder: <root>/training/<runId> */
  runId: string;
  /** nnU-Net plans; may be left out with resume: true (the run's stored plans.json is used) */
  plans?: Plans;
  configuration: string;
  fold: number | 'all';
  /**
   * the raw dataset: dropped files (path → bytes relative to the dataset root: dataset.json, imagesTr/…,
   * labelsTr/…; stored under a dataset id so a reload can resume without dropping again), or the id of a
   * stored dataset (after a reload), or already preprocessed cases (tests; no validation afterwards)
   */
  dataset:
    | { files: Record<string, Uint8Array> | Map<string, Uint8Array>; splits?: Split[]; datasetId?: string; source?: string }
    | { datasetId: string; splits?: Split[] }
    | { preprocessed: { datasetJson: TrainerDatasetJson; train: TrainingCase[]; val: TrainingCase[] } };
  options?: Partial<TrainerOptions>;
  backend?: BackendPreference;
  /** continue from the newest checkpoint in the run's storage (final → latest → best) */
  resume?: boolean;
  /** run the fold's validation after training (default true; needs a raw dataset) */
  validate?: boolean;
}

export interface TrainingStartInfo {
  runId: string;
  datasetId: string | null;
  backend: string;
  backendKind: BackendKind;
  backendReason: string;
  /** epoch the run starts at (> 0 when resumed) */
  epoch: number;
  resumedFrom: CheckpointName | null;
  trainCases: string[];
  valCases: string[];
  storage: string;
  /** verify warnings (errors refuse to start) */
  warnings: string[];
}

export interface SessionDeps {
  root: StorageRoot;
  /** io's readImageFile */
  readImage: (bytes: Uint8Array, fileName: string) => Image;
  /** the training backend for a preference ('auto' | 'webgpu' | 'cpu' | 'cpu-reference') */
  pickBackend: (prefer: BackendPreference) => Promise<BackendChoice>;
  /** an inference runner for the validation (exported ONNX of the fold) */
  createRunner: (onnx: Uint8Array, fileName: string, trainingKind: BackendKind) => Promise<NetworkRunner>;
}

export interface SessionStatus {
  state: TrainerState | 'validating' | 'none';
  runId: string | null;
  epoch: number;
  log: TrainingLogData | null;
  bestEma: number | null;
  backend: { name: string; kind: BackendKind; reason: string } | null;
}

interface Active {
  runId: string;
  trainer: Trainer;
  backend: Backend;
  kind: BackendKind;
  reason: string;
  storage: TrainerStorage;
  plans: Plans;
  datasetJson: TrainerDatasetJson;
  fold: number | 'all';
  running: Promise<TrainerResult> | null;
  validating: boolean;
  /** stop() during the validation cancels it (the run stays 'finished'; a resume validates again) */
  cancel: { aborted: boolean };
}

export class TrainingSession {
  private A: Active | null = null;
  constructor(private readonly deps: SessionDeps) {}

  get root(): StorageRoot {
    return this.deps.root;
  }

  /** Prepares data, builds the trainer (optionally resuming) and starts training in the background. */
  async start(config: TrainingStartConfig, onEvent?: (e: TrainingWorkerEvent) => void): Promise<TrainingStartInfo> {
    if (this.A?.running) throw new SegStudioError('training', `run ${this.A.runId} is still active in this worker (stop it first)`);
    this.disposeActive();
    const emit = (e: TrainingWorkerEvent) => {
      try {
        onEvent?.(e);
      } catch {
        /* a closed page must not stop training */
      }
    };
    const { root, readImage } = this.deps;
    const runId = config.runId;
    const prev = await readRunRecord(root, runId);
    const plans = config.plans ?? (config.resume ? await readRunJson<Plans>(root, runId, 'plans.json') : undefined);
    if (!plans) throw new SegStudioError('usage', 'start needs the plans (or resume: true on a run that stored them)');

    let datasetJson: TrainerDatasetJson;
    let train: TrainingCase[];
    let val: TrainingCase[];
    let datasetId: string | null = null;
    let files: DatasetFiles | null = null;
    let rawCases: Awaited<ReturnType<typeof openRawDataset>>['cases'] = [];
    const warnings: string[] = [];
    if ('preprocessed' in config.dataset) {
      ({ datasetJson, train, val } = config.dataset.preprocessed);
    } else {
      if ('files' in config.dataset) {
        const entries = config.dataset.files instanceof Map ? config.dataset.files : new Map(Object.entries(config.dataset.files));
        // verify before storing anything: a broken dataset is refused naming each case and problem (a resumed
        // run was verified when it started)
        if (!config.resume || !prev) {
          const report = await verifyForTraining(memoryDatasetFiles(entries), readImage, { onProgress: (d, t) => emit({ type: 'verify', done: d, total: t }) });
          warnings.push(...report.problems.filter((p) => p.severity === 'warning').map((p) => `${p.case ? `${p.case}: ` : ''}${p.problem}`));
        }
        if (!(await findStoredCopy(root, entries))) await this.checkQuota([...entries.values()].reduce((a, b) => a + b.length, 0));
        const info = await saveDataset(root, entries, { id: config.dataset.datasetId, source: config.dataset.source });
        datasetId = info.id;
        emit({ type: 'dataset-stored', datasetId: info.id, name: info.name, bytes: info.bytes });
        files = (await openStoredDataset(root, info.id)).files;
      } else {
        datasetId = config.dataset.datasetId;
        files = (await openStoredDataset(root, datasetId)).files;
        if (!config.resume || !prev) {
          const report = await verifyForTraining(files, readImage, { onProgress: (d, t) => emit({ type: 'verify', done: d, total: t }) });
          warnings.push(...report.problems.filter((p) => p.severity === 'warning').map((p) => `${p.case ? `${p.case}: ` : ''}${p.problem}`));
        }
      }
      const raw = await openRawDataset(files);
      datasetJson = raw.dataset;
      rawCases = raw.cases;
      const split = foldSplit(raw.cases.map((c) => c.id), config.fold, config.dataset.splits);
      const byId = new Map(raw.cases.map((c) => [c.id, c]));
      const ids = [...new Set([...split.train, ...split.val])].sort();
      for (const id of ids) if (!byId.has(id)) throw new SegStudioError('splits', `case ${id} of the split is not in the dataset`);
      const pre = await preprocessTrainingCases(files, ids.map((id) => byId.get(id)!), plans, config.configuration, readImage, {
        onProgress: (done, total) => emit({ type: 'preprocess', done, total }),
      });
      const m = new Map(pre.map((c) => [c.id, c]));
      train = split.train.map((id) => m.get(id)!);
      val = split.val.map((id) => m.get(id)!);
    }

    const { backend, kind, reason } = await this.deps.pickBackend(config.backend ?? 'auto');
    emit({ type: 'backend', backend: backend.name, kind, reason });
    const now = Date.now();
    const trainerName = 'nnUNetTrainer';
    const rec: RunRecord = {
      runId,
      datasetId,
      datasetName: String(datasetJson.name ?? plans.dataset_name ?? datasetId ?? ''),
      trainer: trainerName,
      plansName: plans.plans_name ?? 'nnUNetPlans',
      configuration: config.configuration,
      fold: config.fold,
      numEpochs: config.options?.numEpochs ?? prev?.numEpochs ?? 1000,
      options: config.options ?? prev?.options ?? {},
      status: 'running',
      backend: backend.name,
      createdAt: config.resume && prev ? prev.createdAt : now,
      updatedAt: now,
    };
    let storage: TrainerStorage;
    try {
      if (!config.resume) await root.removeFolder(runFolder(runId));
      storage = await saveRunRecord(root, rec, { plans, dataset: datasetJson });
    } catch (e) {
      backend.dispose();
      throw e;
    }
    let trainer: Trainer;
    let resumedFrom: CheckpointName | null = null;
    const setStatus = (status: RunStatus, error?: string) => {
      emit({ type: 'run-status', runId, status, ...(error ? { error } : {}) });
      return updateRunStatus(root, runId, { status, ...(error ? { error } : {}) }).catch(() => {});
    };
    try {
      trainer = await Trainer.create({
        backend,
        plans,
        configuration: config.configuration,
        dataset: datasetJson,
        fold: config.fold,
        trainCases: train,
        valCases: val,
        storage,
        options: rec.options,
        trainerName,
        onEvent: (e) => {
          emit(e);
          if (e.type === 'state' && (e.state === 'paused' || e.state === 'stopped')) void setStatus(e.state);
          if (e.type === 'state' && e.state === 'running') void setStatus('running');
        },
      });
      resumedFrom = config.resume ? await trainer.restore('auto') : null;
    } catch (e) {
      backend.dispose();
      await setStatus('failed', errorText(e));
      throw e;
    }
    const active: Active = {
      runId,
      trainer,
      backend,
      kind,
      reason,
      storage,
      plans,
      datasetJson,
      fold: config.fold,
      running: null,
      validating: false,
      cancel: { aborted: false },
    };
    this.A = active;
    const validate = (config.validate ?? true) && files !== null && val.length > 0;
    active.running = (async () => {
      let result: TrainerResult;
      try {
        result = await trainer.run();
      } catch (e) {
        await setStatus('failed', errorText(e));
        throw e;
      }
      if (result.status !== 'finished') return result;
      await setStatus('finished');
      if (validate) {
        active.validating = true;
        try {
          await this.validateRun(active, files!, rawCases.filter((c) => val.some((v) => v.id === c.id)), emit);
          await setStatus('validated');
        } catch (e) {
          if (isSegStudioError(e) && e.code === 'cancelled') {
            // stopped during the validation: the training is done; a resume runs the validation again
            await setStatus('finished');
            return { ...result, status: 'stopped' as const };
          }
          await setStatus('failed', `validation: ${errorText(e)}`);
          throw e;
        } finally {
          active.validating = false;
        }
      }
      return result;
    })();
    active.running.catch(() => {});
    void active.running.finally(() => {
      active.running = null;
    });
    return {
      runId,
      datasetId,
      backend: backend.name,
      backendKind: kind,
      backendReason: reason,
      epoch: trainer.currentEpoch,
      resumedFrom,
      trainCases: train.map((c) => c.id),
      valCases: val.map((c) => c.id),
      storage: storage.location,
      warnings,
    };
  }

  /** The fold's validation from checkpoint_final: every validation case on its original grid, npz included. */
  private async validateRun(
    a: Active,
    files: DatasetFiles,
    cases: Awaited<ReturnType<typeof openRawDataset>>['cases'],
    emit: (e: TrainingWorkerEvent) => void,
  ): Promise<void> {
    const final = await loadCheckpoint(a.storage, 'final');
    const fold = a.fold === 'all' ? 0 : a.fold;
    const bundleFiles = await bundleFromCheckpoints([{ fold, checkpoint: final }], a.plans, a.datasetJson as never);
    const bundle = await loadBundle(bundleFiles, `run ${a.runId}`);
    const runner = await this.deps.createRunner(bundle.networks[0].bytes, bundle.networks[0].name, a.kind);
    try {
      const vcases: ValidationCase[] = [];
      for (const c of cases) {
        const r = await loadRawCase(files, c, this.deps.readImage);
        vcases.push({ id: c.id, image: r.image, reference: r.seg, referenceFile: c.label!, predictionFile: '' });
      }
      await this.deps.root.removeFolder(validationFolder(a.runId));
      const out = await this.deps.root.folder(validationFolder(a.runId));
      await writeFoldValidation(bundle, [runner], vcases, out, {
        fileEnding: String(a.datasetJson.file_ending ?? '.nii.gz'),
        onProgress: (done, total) => emit({ type: 'validation', done, total }),
        signal: a.cancel,
      });
    } finally {
      await runner.dispose();
    }
  }

  private async checkQuota(bytes: number): Promise<void> {
    const est = await this.deps.root.estimate?.().catch(() => null);
    if (!est || !(est.quota > 0)) return;
    const free = est.quota - est.usage;
    if (bytes * 1.05 > free)
      throw new SegStudioError(
        'storage-quota',
        `the dataset needs ${(bytes / 2 ** 20).toFixed(1)} MB but only ${(free / 2 ** 20).toFixed(1)} MB of browser storage is left for this site: ` +
          'delete old runs or datasets (deleteRun / deleteDataset), free disk space, or allow this site more storage',
        this.deps.root.location,
      );
  }

  /** Resolves when the current run (training, then validation) ends; rejects with the run's error. */
  async wait(): Promise<TrainerResult> {
    const a = this.A;
    if (!a) throw new SegStudioError('training', 'no training run in this worker');
    if (a.running) return a.running;
    const t = a.trainer;
    return { status: t.state === 'finished' ? 'finished' : 'stopped', epoch: t.currentEpoch, log: t.trainingLog, bestEma: t.bestEmaFgDice };
  }

  pause(): void {
    this.A?.trainer.pause();
  }
  resume(): void {
    this.A?.trainer.resume();
  }
  /**
   * Stops after the current iteration (the last checkpoint_latest is what a later resume continues from), or
   * cancels the validation when training is already done (a resume then validates again).
   */
  async stop(): Promise<void> {
    if (this.A) this.A.cancel.aborted = true;
    this.A?.trainer.stop();
    await this.A?.running?.catch(() => {});
  }

  status(): SessionStatus {
    const a = this.A;
    if (!a) return { state: 'none', runId: null, epoch: 0, log: null, bestEma: null, backend: null };
    return {
      state: a.validating ? 'validating' : a.trainer.state,
      runId: a.runId,
      epoch: a.trainer.currentEpoch,
      log: a.trainer.trainingLog,
      bestEma: a.trainer.bestEmaFgDice,
      backend: { name: a.backend.name, kind: a.kind, reason: a.reason },
    };
  }

  /** The backend of the active run (tests and fault injection: the WebGPU backend's device). */
  get activeBackend(): Backend | null {
    return this.A?.backend ?? null;
  }

  /** Model bundle .zip of a run (default: the active one) from a stored checkpoint (default final, else the newest). */
  async exportBundle(opts: { runId?: string; checkpoint?: CheckpointName } = {}): Promise<Uint8Array> {
    const runId = opts.runId ?? this.A?.runId;
    if (!runId) throw new SegStudioError('training', 'no training run to export');
    const st = await this.deps.root.folder(runFolder(runId));
    const name = opts.checkpoint ?? (await newestCheckpoint(st));
    if (!name) throw new SegStudioError('export', 'no checkpoint saved yet (finish at least one epoch)', st.location);
    const ck = await loadCheckpoint(st, name);
    const plans = this.A?.runId === runId ? this.A.plans : await readRunJson<Plans>(this.deps.root, runId, 'plans.json');
    const ds = this.A?.runId === runId ? this.A.datasetJson : await readRunJson<TrainerDatasetJson>(this.deps.root, runId, 'dataset.json');
    const fold = ck.meta.fold === 'all' ? 0 : ck.meta.fold;
    return bundleToZip(await bundleFromCheckpoints([{ fold, checkpoint: ck }], plans, ds as never));
  }

  /** Refuses to touch the active run's files while it trains. */
  assertNotActive(runId: string): void {
    if (this.A?.runId === runId && this.A.running) throw new SegStudioError('training', `run ${runId} is training: stop it first`);
  }

  private disposeActive(): void {
    if (!this.A) return;
    this.A.trainer.dispose();
    this.A.backend.dispose();
    this.A = null;
  }

  /** Stops the run and frees the network and the device. */
  async dispose(): Promise<void> {
    if (!this.A) return;
    this.A.trainer.stop();
    await this.A.running?.catch(() => {});
    this.disposeActive();
  }
}

function errorText(e: unknown): string {
  if (isSegStudioError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

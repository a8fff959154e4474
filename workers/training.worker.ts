// The training worker: a thin comlink facade over TrainingSession and the stored-run workflow
// (src/training/workflow: pure TypeScript, covered by Node tests). Storage: OPFS segstudio/ (IndexedDB
// fallback): datasets/<id>/ (the dropped raw dataset), training/<runId>/ (run.json, plans.json, dataset.json,
// checkpoints, training_log.txt, progress.svg, validation/CASE<ending> + CASE.npz + summary.json),
// crossval/ (result.json, postprocessing.json, <model>/crossval_results_folds_…/summary.json).
//
// API (every method async through comlink; details in docs/training.md):
//
//   const api = Comlink.wrap<TrainingWorkerApi>(new Worker(new URL('../workers/training.worker.ts', import.meta.url), { type: 'module' }));
//   // train one fold; the dropped files are verified (errors refuse: SegStudioError 'dataset-invalid') and
//   // stored under a dataset id (info.datasetId) so a reload resumes without dropping again
//   const info = await api.start({ runId, plans, configuration: '3d_fullres', fold: 0, dataset: { files, splits? },
//                                  options: { numEpochs: 50 }, backend: 'auto' }, Comlink.proxy((e) => chart.push(e)));
//   await api.pause(); await api.resume(); await api.stop();   // cooperative, between iterations
//   const result = await api.wait();                           // training, then the fold's validation (npz)
//   // after a reload: continue from checkpoint_latest with only the ids (plans and dataset.json are stored)
//   await api.start({ runId, configuration, fold, dataset: { datasetId }, resume: true }, Comlink.proxy(onEvent));
//   await api.status();                  // {state ('validating' too), runId, epoch, log, bestEma, backend}
//   await api.listRuns();                // RunInfo[]: runId, datasetId, configuration, fold, status, epoch, numEpochs, log, checkpoints, validation
//   await api.deleteRun(runId); await api.listDatasets(); await api.deleteDataset(id); await api.storeDataset(files)
//   const cv = await api.crossValidation({ runs?: [...runIds], allowEnsembles? }, Comlink.proxy(onProgress?));
//   await api.cancelCrossValidation();   // the pending crossValidation rejects with 'cancelled'
//   const best = await api.exportBest();  // {identifier, files: [{name: '<model>.zip', bytes}] (+ postprocessing.json for an ensemble)}
//   const zip = await api.exportBundle({ runId?, checkpoint? });   // one run's bundle .zip
//   await api.savedCheckpoint(runId);    // {name, epoch}: what a resume would continue from
//   await api.testDestroyDevice();       // fault injection (e2e): destroys the active run's GPUDevice
import * as Comlink from 'comlink';
import { guardWorkerCall } from '../src/core/errors.ts';
import { readImageFile } from '../src/core/io/index.ts';
import { selectBrowserBackend } from '../src/training/engine/browserBackend.ts';
import type { BackendPreference } from '../src/training/engine/selectBackend.ts';
import type { OrtLike } from '../src/training/kernels/fast-cpu/fastCpuBackend.ts';
import { createOrtWebRunner, loadOrt } from '../src/app/runtime/ortWebRunner.ts';
import { loadCheckpoint, newestCheckpoint, type CheckpointName } from '../src/training/trainer/checkpoint.ts';
import type { TrainingLogData } from '../src/training/trainer/log.ts';
import { openBrowserStorageRoot } from '../src/training/trainer/opfsStorage.ts';
import type { TrainerEvent, TrainerResult, TrainerState } from '../src/training/trainer/trainer.ts';
import type { StorageRoot } from '../src/training/workflow/storageRoot.ts';
import { crossValidation, exportBest, type CrossValidationResult, type ExportedBest } from '../src/training/workflow/crossValidation.ts';
import { deleteDataset, listDatasets, saveDataset, type StoredDatasetInfo } from '../src/training/workflow/datasetStore.ts';
import { deleteRun, listRuns, runFolder, type RunInfo } from '../src/training/workflow/runs.ts';
import { TrainingSession, type SessionStatus, type TrainingStartConfig, type TrainingStartInfo, type TrainingWorkerEvent } from '../src/training/workflow/session.ts';
import type { ProgressFn } from '../src/core/types.ts';

export type {
  CrossValidationResult,
  ExportedBest,
  RunInfo,
  SessionStatus,
  StoredDatasetInfo,
  TrainerEvent,
  TrainerResult,
  TrainerState,
  TrainingLogData,
  TrainingStartConfig,
  TrainingStartInfo,
  TrainingWorkerEvent,
};

const guarded = <T>(fn: () => Promise<T>): Promise<T> => guardWorkerCall(fn);

let rootP: Promise<StorageRoot> | null = null;
let cvSignal = { aborted: false };
const root = (): Promise<StorageRoot> => (rootP ??= openBrowserStorageRoot('segstudio'));
let sessionP: Promise<TrainingSession> | null = null;
const session = (): Promise<TrainingSession> =>
  (sessionP ??= root().then(
    (r) =>
      new TrainingSession({
        root: r,
        readImage: readImageFile,
        // backend selection: src/training/engine/browserBackend.ts (issue 8), onnxruntime-web's WASM build from /ort/
        pickBackend: (prefer: BackendPreference) => selectBrowserBackend(prefer, { loadOrt: async () => (await loadOrt('wasm')) as unknown as OrtLike }),
        // the fold's validation runs the exported network on onnxruntime-web (WASM: it does not compete with the
        // training backend for the GPU device)
        createRunner: (onnx, fileName) => createOrtWebRunner(onnx, { device: 'wasm', fileName }),
      }),
  ));

const api = {
  /** Prepares data, builds the trainer (optionally resuming) and starts training in the background. */
  async start(config: TrainingStartConfig, onEvent?: (e: TrainingWorkerEvent) => void): Promise<TrainingStartInfo> {
    return guarded(async () => (await session()).start(config, onEvent));
  },

  /** Resolves when the current run ends (training, then its validation); rejects with the run's error. */
  async wait(): Promise<TrainerResult> {
    return guarded(async () => (await session()).wait());
  },

  async pause(): Promise<void> {
    (await session()).pause();
  },
  async resume(): Promise<void> {
    (await session()).resume();
  },
  /** Stops after the current iteration (the last checkpoint_latest is what a later resume continues from). */
  async stop(): Promise<void> {
    await (await session()).stop();
  },

  async status(): Promise<SessionStatus> {
    return (await session()).status();
  },

  /** Which checkpoint a run's storage holds (final → latest → best), without starting anything. */
  async savedCheckpoint(runId: string): Promise<{ name: CheckpointName | null; epoch: number | null }> {
    return guarded(async () => {
      const st = await (await root()).folder(runFolder(runId));
      const name = await newestCheckpoint(st);
      return { name, epoch: name ? (await loadCheckpoint(st, name)).meta.current_epoch : null };
    });
  },

  /** Model bundle .zip of a run (default: the current or last one) from a stored checkpoint (default final, else the newest). */
  async exportBundle(opts: { runId?: string; checkpoint?: CheckpointName } = {}): Promise<Uint8Array> {
    return guarded(async () => {
      const zip = await (await session()).exportBundle(opts);
      return Comlink.transfer(zip, [zip.buffer as ArrayBuffer]);
    });
  },

  /**
   * Every stored run: configuration, fold, status ('interrupted' when it was running in a killed tab), epoch,
   * numEpochs, log, checkpoints, validation summary.
   */
  async listRuns(): Promise<RunInfo[]> {
    return guarded(async () => {
      const st = (await session()).status();
      const busy = st.state === 'running' || st.state === 'paused' || st.state === 'validating';
      return listRuns(await root(), busy ? st.runId : null);
    });
  },

  /** Deletes a run's folder (checkpoints, validation); refused while it trains. */
  async deleteRun(runId: string): Promise<void> {
    return guarded(async () => {
      (await session()).assertNotActive(runId);
      await deleteRun(await root(), runId);
    });
  },

  /** Stores a raw dataset (path → bytes) without training; a stored copy with the same files is reused. */
  async storeDataset(files: Record<string, Uint8Array> | Map<string, Uint8Array>, opts: { id?: string; source?: string } = {}): Promise<StoredDatasetInfo> {
    return guarded(async () => saveDataset(await root(), files instanceof Map ? files : new Map(Object.entries(files)), opts));
  },
  async listDatasets(): Promise<StoredDatasetInfo[]> {
    return guarded(async () => listDatasets(await root()));
  },
  async deleteDataset(id: string): Promise<void> {
    return guarded(async () => deleteDataset(await root(), id));
  },

  /**
   * Cross-validation over stored runs (default: every validated run): per-configuration summary.json,
   * per-label Dice per fold, find-best among configurations and pairwise ensembles, postprocessing.
   */
  async crossValidation(opts: { runs?: string[]; allowEnsembles?: boolean } = {}, onProgress?: ProgressFn): Promise<CrossValidationResult> {
    const signal = { aborted: false };
    cvSignal = signal;
    return guarded(async () =>
      crossValidation(await root(), {
        ...opts,
        signal,
        readImage: readImageFile,
        onProgress: (d, t, s) => {
          try {
            onProgress?.(d, t, s);
          } catch {
            /* page gone */
          }
        },
      }),
    );
  },

  /** Cancels a running crossValidation (it rejects with SegStudioError 'cancelled'). */
  async cancelCrossValidation(): Promise<void> {
    cvSignal.aborted = true;
  },

  /** The winner of the last crossValidation: bundle zip(s), postprocessing.json inside (or beside, for an ensemble). */
  async exportBest(): Promise<ExportedBest> {
    return guarded(async () => {
      const r = await exportBest(await root());
      return Comlink.transfer(r, r.files.map((f) => f.bytes.buffer as ArrayBuffer));
    });
  },

  /** Fault injection for the e2e tests: destroys the active run's GPUDevice (false when it has none). */
  async testDestroyDevice(): Promise<boolean> {
    const b = (await session()).activeBackend as { device?: GPUDevice } | null;
    if (!b?.device) return false;
    b.device.destroy();
    return true;
  },

  /** Frees the network and the GPU device. */
  async dispose(): Promise<void> {
    if (sessionP) await (await sessionP).dispose();
  },
};

export type TrainingWorkerApi = typeof api;

Comlink.expose(api);

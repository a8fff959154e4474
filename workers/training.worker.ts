// The training worker: a thin comlink facade over the trainer (src/training/trainer). The page (src/app) owns
// the UI; everything heavy (preprocessing, WebGPU training, checkpoints to OPFS/IndexedDB, ONNX export)
// happens here. API (all methods async through comlink; see docs/training.md):
//
//   const api = Comlink.wrap<TrainingWorkerApi>(new Worker(new URL('../workers/training.worker.ts', import.meta.url), { type: 'module' }));
//   await api.start({ runId, plans, configuration: '3d_fullres', fold: 0, dataset: { files }, options: { numEpochs: 50 } },
//                   Comlink.proxy((e) => chart.push(e)));      // resolves once training has started
//   await api.pause(); await api.resume(); await api.stop();  // cooperative, between iterations
//   const result = await api.wait();                          // 'finished' | 'stopped'
//   const zip = await api.exportBundle();                     // model bundle .zip bytes (transferred)
//   // after a reload: the same start(...) call with resume: true continues from checkpoint_latest in OPFS
import * as Comlink from 'comlink';
import { SegStudioError, isSegStudioError } from '../src/core/errors.ts';
import { readImageFile } from '../src/core/io/index.ts';
import { bundleToZip } from '../src/core/inference/bundle.ts';
import { memoryDatasetFiles } from '../src/core/planning/dataset.ts';
import type { Plans } from '../src/core/planning/plans.ts';
import type { Split } from '../src/training/data/splits.ts';
import type { Backend } from '../src/training/engine/backend.ts';
import { selectBrowserBackend } from '../src/training/engine/browserBackend.ts';
import type { BackendKind, BackendPreference } from '../src/training/engine/selectBackend.ts';
import type { OrtLike } from '../src/training/kernels/fast-cpu/fastCpuBackend.ts';
import { loadOrt } from '../src/app/runtime/ortWebRunner.ts';
import { loadCheckpoint, newestCheckpoint, type CheckpointName } from '../src/training/trainer/checkpoint.ts';
import { foldSplit, openRawDataset, preprocessTrainingCases } from '../src/training/trainer/dataset.ts';
import { bundleFromCheckpoints } from '../src/training/trainer/exportOnnx.ts';
import type { TrainingLogData } from '../src/training/trainer/log.ts';
import { openBrowserTrainerStorage } from '../src/training/trainer/opfsStorage.ts';
import type { TrainerStorage } from '../src/training/trainer/storage.ts';
import {
  Trainer,
  type TrainerDatasetJson,
  type TrainerEvent,
  type TrainerOptions,
  type TrainerResult,
  type TrainerState,
  type TrainingCase,
} from '../src/training/trainer/trainer.ts';

export type { TrainerEvent, TrainerResult, TrainerState, TrainingLogData };

/** Extra events of the worker (preprocessing progress, backend choice) besides the trainer's own. */
export type TrainingWorkerEvent =
  | TrainerEvent
  | { type: 'preprocess'; done: number; total: number }
  | { type: 'backend'; backend: string; kind: BackendKind; reason: string };

export interface TrainingStartConfig {
  /** names the run's storage folder: OPFS segstudio/training/<runId> (IndexedDB fallback) */
  runId: string;
  plans: Plans;
  configuration: string;
  fold: number | 'all';
  /**
   * the raw dataset (file name → bytes relative to the dataset root: dataset.json, imagesTr/…, labelsTr/…),
   * or already preprocessed cases with dataset.json and the fold's split
   */
  dataset:
    | { files: Record<string, Uint8Array> | Map<string, Uint8Array>; splits?: Split[] }
    | { preprocessed: { datasetJson: TrainerDatasetJson; train: TrainingCase[]; val: TrainingCase[] } };
  options?: Partial<TrainerOptions>;
  /**
   * 'auto' (default): WebGPU on a hardware adapter, else the fast CPU backend (onnxruntime-web WASM
   * convolutions); 'webgpu' / 'cpu' force one, 'cpu-reference' is the slow TypeScript reference (debugging).
   */
  backend?: BackendPreference;
  /** continue from the newest checkpoint in the run's storage (final → latest → best) */
  resume?: boolean;
}

export interface TrainingStartInfo {
  backend: string;
  backendKind: BackendKind;
  backendReason: string;
  /** epoch the run starts at (> 0 when resumed) */
  epoch: number;
  resumedFrom: CheckpointName | null;
  trainCases: string[];
  valCases: string[];
  storage: string;
}

interface Session {
  trainer: Trainer;
  backend: Backend;
  backendKind: BackendKind;
  backendReason: string;
  storage: TrainerStorage;
  plans: Plans;
  datasetJson: TrainerDatasetJson;
  fold: number | 'all';
  running: Promise<TrainerResult> | null;
}

let S: Session | null = null;

function wrapError(e: unknown): Error {
  if (isSegStudioError(e)) {
    const err = new Error(e.message);
    err.name = `SegStudioError:${e.code}:${e.file ?? ''}`;
    return err;
  }
  return e instanceof Error ? e : new Error(String(e));
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw wrapError(e);
  }
}

// Backend selection: src/training/engine/browserBackend.ts (issue 8), onnxruntime-web's WASM build from /ort/.
function pickBackend(prefer: BackendPreference) {
  return selectBrowserBackend(prefer, { loadOrt: async () => (await loadOrt('wasm')) as unknown as OrtLike });
}

const api = {
  /** Prepares data, builds the trainer (optionally resuming) and starts training in the background. */
  async start(config: TrainingStartConfig, onEvent?: (e: TrainingWorkerEvent) => void): Promise<TrainingStartInfo> {
    return guarded(async () => {
      if (S?.running) throw new SegStudioError('training', 'a training run is already active in this worker (stop it first)');
      if (S) {
        S.trainer.dispose();
        S.backend.dispose();
        S = null;
      }
      const emit = (e: TrainingWorkerEvent) => {
        try {
          onEvent?.(e);
        } catch {
          /* a closed page must not stop training */
        }
      };
      let datasetJson: TrainerDatasetJson;
      let train: TrainingCase[];
      let val: TrainingCase[];
      if ('preprocessed' in config.dataset) {
        ({ datasetJson, train, val } = config.dataset.preprocessed);
      } else {
        const entries = config.dataset.files instanceof Map ? config.dataset.files : new Map(Object.entries(config.dataset.files));
        const files = memoryDatasetFiles(entries);
        const raw = await openRawDataset(files);
        datasetJson = raw.dataset;
        const split = foldSplit(raw.cases.map((c) => c.id), config.fold, config.dataset.splits);
        const byId = new Map(raw.cases.map((c) => [c.id, c]));
        const ids = [...new Set([...split.train, ...split.val])].sort();
        for (const id of ids) if (!byId.has(id)) throw new SegStudioError('splits', `case ${id} of the split is not in the dataset`);
        const pre = await preprocessTrainingCases(files, ids.map((id) => byId.get(id)!), config.plans, config.configuration, readImageFile, {
          onProgress: (done, total) => emit({ type: 'preprocess', done, total }),
        });
        const m = new Map(pre.map((c) => [c.id, c]));
        train = split.train.map((id) => m.get(id)!);
        val = split.val.map((id) => m.get(id)!);
      }
      const { backend, kind, reason } = await pickBackend(config.backend ?? 'auto');
      emit({ type: 'backend', backend: backend.name, kind, reason });
      const storage = await openBrowserTrainerStorage(`segstudio/training/${config.runId}`);
      const trainer = await Trainer.create({
        backend,
        plans: config.plans,
        configuration: config.configuration,
        dataset: datasetJson,
        fold: config.fold,
        trainCases: train,
        valCases: val,
        storage,
        options: config.options,
        onEvent: emit,
      });
      const resumedFrom = config.resume ? await trainer.restore('auto') : null;
      S = { trainer, backend, backendKind: kind, backendReason: reason, storage, plans: config.plans, datasetJson, fold: config.fold, running: null };
      const session = S;
      session.running = trainer.run().finally(() => {
        session.running = null;
      });
      session.running.catch(() => {});
      return {
        backend: backend.name,
        backendKind: kind,
        backendReason: reason,
        epoch: trainer.currentEpoch,
        resumedFrom,
        trainCases: train.map((c) => c.id),
        valCases: val.map((c) => c.id),
        storage: storage.location,
      };
    });
  },

  /** Resolves when the current run ends ('finished' or 'stopped'); rejects with the run's error. */
  async wait(): Promise<TrainerResult> {
    return guarded(async () => {
      if (!S) throw new SegStudioError('training', 'no training run in this worker');
      if (S.running) return S.running;
      return { status: S.trainer.state === 'finished' ? 'finished' : 'stopped', epoch: S.trainer.currentEpoch, log: S.trainer.trainingLog, bestEma: S.trainer.bestEmaFgDice };
    });
  },

  async pause(): Promise<void> {
    S?.trainer.pause();
  },
  async resume(): Promise<void> {
    S?.trainer.resume();
  },
  /** Stops after the current iteration (the last checkpoint_latest is what a later resume continues from). */
  async stop(): Promise<void> {
    S?.trainer.stop();
    await S?.running?.catch(() => {});
  },

  async status(): Promise<{
    state: TrainerState | 'none';
    epoch: number;
    log: TrainingLogData | null;
    bestEma: number | null;
    /** the run's backend and why it was chosen (null before the first start) */
    backend: { name: string; kind: BackendKind; reason: string } | null;
  }> {
    if (!S) return { state: 'none', epoch: 0, log: null, bestEma: null, backend: null };
    return {
      state: S.trainer.state,
      epoch: S.trainer.currentEpoch,
      log: S.trainer.trainingLog,
      bestEma: S.trainer.bestEmaFgDice,
      backend: { name: S.backend.name, kind: S.backendKind, reason: S.backendReason },
    };
  },

  /** Which checkpoint a run's storage holds (final → latest → best), without starting anything. */
  async savedCheckpoint(runId: string): Promise<{ name: CheckpointName | null; epoch: number | null }> {
    return guarded(async () => {
      const st = await openBrowserTrainerStorage(`segstudio/training/${runId}`);
      const name = await newestCheckpoint(st);
      return { name, epoch: name ? (await loadCheckpoint(st, name)).meta.current_epoch : null };
    });
  },

  /**
   * Model bundle .zip of the current (or last) run from a stored checkpoint (default final, else the newest),
   * loadable by the Segment view and `segstudio predict`. The bytes are transferred, not copied.
   */
  async exportBundle(opts: { checkpoint?: CheckpointName } = {}): Promise<Uint8Array> {
    return guarded(async () => {
      if (!S) throw new SegStudioError('training', 'no training run to export');
      const name = opts.checkpoint ?? (await newestCheckpoint(S.storage));
      if (!name) throw new SegStudioError('export', 'no checkpoint saved yet (finish at least one epoch)', S.storage.location);
      const ck = await loadCheckpoint(S.storage, name);
      const files = await bundleFromCheckpoints([{ fold: S.fold === 'all' ? 0 : S.fold, checkpoint: ck }], S.plans, S.datasetJson as never);
      const zip = bundleToZip(files);
      return Comlink.transfer(zip, [zip.buffer as ArrayBuffer]);
    });
  },

  /** Frees the network and the GPU device. */
  async dispose(): Promise<void> {
    if (!S) return;
    S.trainer.stop();
    await S.running?.catch(() => {});
    S.trainer.dispose();
    S.backend.dispose();
    S = null;
  },
};

export type TrainingWorkerApi = typeof api;

Comlink.expose(api);

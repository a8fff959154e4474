// Test page for e2e/training-faults.e2e.ts: drives the real training worker (workers/training.worker.ts,
// comlink) on a tiny synthetic raw dataset built in the page (blob volumes written as NIfTI), so the test can
// destroy the worker's GPUDevice mid-training, or kill the whole browser, and resume. window.__tf is the
// driver the test calls through page.evaluate.
import * as Comlink from 'comlink';
import type { RunInfo, TrainingStartInfo, TrainingWorkerApi, TrainingWorkerEvent, TrainerResult } from '../../workers/training.worker.ts';
import { tinyMultiPlans, tinyRawDataset } from '../../src/training/trainer/testing.ts';
import { loadBundle, unzipBundle } from '../../src/core/inference/bundle.ts';
import { IndexedDbRoot, OpfsRoot } from '../../src/training/trainer/opfsStorage.ts';
import { storageRootConformance } from '../../src/training/workflow/storageRootConformance.ts';

export interface StartOptions {
  runId: string;
  backend: 'webgpu' | 'cpu' | 'cpu-reference' | 'auto';
  resume?: boolean;
  numEpochs: number;
  iterations: number;
  fold?: number;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: string; name: string };

export interface TrainingFaultsDriver {
  ready: true;
  events: TrainingWorkerEvent[];
  start(o: StartOptions): Promise<Outcome<TrainingStartInfo>>;
  /** resolves with the run's result or its error (name 'SegStudioError:<code>:<file>') */
  wait(): Promise<Outcome<TrainerResult>>;
  destroyDevice(): Promise<boolean>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  listRuns(): Promise<RunInfo[]>;
  status(): ReturnType<TrainingWorkerApi['status']>;
  /** crossValidation over every validated run, then exportBest; the bundle checked by the inference side's loader */
  crossValidateAndExport(): Promise<
    Outcome<{ best: string; candidates: string[]; folds: number[]; perFold: number[]; files: string[]; bundleFolds: number[]; hasPostprocessing: boolean; table: string }>
  >;
  deleteRun(runId: string): Promise<Outcome<string[]>>;
  /** the StorageRoot conformance checks on OPFS and on IndexedDB (failed expectations per root) */
  storageConformance(): Promise<Outcome<{ opfs: string[]; indexedDb: string[] }>>;
}

declare global {
  interface Window {
    __tf?: TrainingFaultsDriver;
  }
}

const PLANS = tinyMultiPlans({ '2d': { features: [4, 8], kernel: [3, 3], strides: [[1, 1], [2, 2]], patch: [12, 12], batchSize: 2 } });
const FILES = tinyRawDataset(4);
const SPLITS = [
  { train: ['tiny_000', 'tiny_001', 'tiny_002'], val: ['tiny_003'] },
  { train: ['tiny_001', 'tiny_002', 'tiny_003'], val: ['tiny_000'] },
];

const worker = new Worker(new URL('../../workers/training.worker.ts', import.meta.url), { type: 'module', name: 'segstudio-training' });
const api = Comlink.wrap<TrainingWorkerApi>(worker);
const events: TrainingWorkerEvent[] = [];
const out = document.getElementById('out')!;

async function outcome<T>(p: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e), name: e instanceof Error ? e.name : 'Error' };
  }
}

window.__tf = {
  ready: true,
  events,
  start: (o) =>
    outcome(
      api.start(
        {
          runId: o.runId,
          plans: PLANS,
          configuration: '2d',
          fold: o.fold ?? 0,
          dataset: { files: FILES, splits: SPLITS },
          options: { numEpochs: o.numEpochs, iterationsPerEpoch: o.iterations, valIterationsPerEpoch: 1, augmentation: false, seed: 5 },
          backend: o.backend,
          resume: o.resume,
        },
        Comlink.proxy((e: TrainingWorkerEvent) => {
          events.push(e);
          if (e.type === 'epoch-end') out.textContent = `epoch ${e.metrics.epoch} loss ${e.metrics.trainLoss}`;
        }),
      ),
    ),
  wait: () => outcome(api.wait()),
  destroyDevice: () => api.testDestroyDevice(),
  pause: () => api.pause(),
  resume: () => api.resume(),
  listRuns: () => api.listRuns(),
  status: () => api.status(),
  crossValidateAndExport: () =>
    outcome(
      (async () => {
        const cv = await api.crossValidation();
        const ex = await api.exportBest();
        const b = await loadBundle(unzipBundle(ex.files[0].bytes, ex.files[0].name), ex.files[0].name);
        return {
          best: cv.best,
          candidates: cv.candidates.map((c) => c.identifier),
          folds: cv.folds,
          perFold: cv.models[0].perFold.map((f) => f.fold),
          files: ex.files.map((f) => f.name),
          bundleFolds: b.networks.map((n) => n.fold),
          hasPostprocessing: b.postprocessing != null,
          table: cv.table,
        };
      })(),
    ),
  storageConformance: () =>
    outcome(
      (async () => ({
        opfs: await storageRootConformance(new OpfsRoot('segstudio-conformance')),
        indexedDb: await storageRootConformance(new IndexedDbRoot('segstudio-conformance')),
      }))(),
    ),
  deleteRun: (runId) =>
    outcome(
      (async () => {
        await api.deleteRun(runId);
        return (await api.listRuns()).map((r) => r.runId);
      })(),
    ),
};
out.textContent = 'ready';

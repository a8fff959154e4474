// The Train view's planning worker (comlink): reads a dropped dataset (folder files or .zip), runs the
// integrity check, fingerprint and planner (src/core/planning) off the main thread with progress, and keeps
// the dataset in OPFS so a training run can resume after a reload. Cancel = the page terminates this worker
// (it holds no state besides OPFS), which also works while a synchronous decode runs.
//
//   const api = Comlink.wrap<PlanningWorkerApi>(new Worker(new URL('./planning.worker.ts', import.meta.url), { type: 'module' }));
//   const r = await api.analyze({ files: [{ path, file }] } | { zip: file }, Comlink.proxy(onProgress));
//   const files = await api.loadDataset(r.dataset.id);   // after a reload: path → bytes for the training worker
import * as Comlink from 'comlink';
import { guardWorkerCall } from '../../core/errors.ts';
import { analyzeDataset, datasetEntriesFromPaths, datasetEntriesFromZip, type DatasetAnalysis, type DatasetEntries } from './datasetIntake.ts';
import { deleteRunStorage, deleteStoredDataset, listStoredDatasets, loadStoredDataset, storageUsage, storeDataset, type StoredDatasetIndex } from './datasetStore.ts';
import type { DatasetInfo } from './types.ts';

export type PlanningInput = { files: { path: string; file: File | Blob }[]; name: string } | { zip: File | Blob; name: string };

export type PlanningProgress = (stage: string, done: number, total: number, unit: string) => void;

export interface PlanningResult extends DatasetAnalysis {
  dataset: DatasetInfo;
}

const guarded = <T>(fn: () => Promise<T>): Promise<T> => guardWorkerCall(fn);

function datasetId(name: string): string {
  const slug = name.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 40) || 'dataset';
  return `${slug}-${Date.now().toString(36)}`;
}

async function readEntries(input: PlanningInput, progress: PlanningProgress): Promise<DatasetEntries> {
  if ('zip' in input) {
    progress('reading the archive', 0, input.zip.size, 'bytes');
    const bytes = new Uint8Array(await input.zip.arrayBuffer());
    progress('reading the archive', bytes.length, bytes.length, 'bytes');
    return datasetEntriesFromZip(bytes, input.name);
  }
  const total = input.files.reduce((s, f) => s + f.file.size, 0);
  const map = new Map<string, Uint8Array>();
  let done = 0;
  for (const f of input.files) {
    map.set(f.path, new Uint8Array(await f.file.arrayBuffer()));
    done += f.file.size;
    progress('reading files', done, total, 'bytes');
  }
  return datasetEntriesFromPaths(map, input.name);
}

const api = {
  /** Reads, verifies, fingerprints and plans a dropped dataset and stores it in OPFS. */
  async analyze(input: PlanningInput, onProgress?: PlanningProgress, opts: { gpuMemoryTargetGB?: number; numForegroundVoxels?: number } = {}): Promise<PlanningResult> {
    return guarded(async () => {
      const progress: PlanningProgress = (s, d, t, u) => {
        try {
          onProgress?.(s, d, t, u);
        } catch {
          /* page gone */
        }
      };
      const entries = await readEntries(input, progress);
      const analysis = await analyzeDataset(entries, { onProgress: progress, gpuMemoryTargetGB: opts.gpuMemoryTargetGB, numForegroundVoxels: opts.numForegroundVoxels });
      const id = datasetId(entries.name);
      let storedAt: string | null = null;
      let storeProblem: string | null = null;
      try {
        storedAt = await storeDataset({ id, name: entries.name, source: input.name, createdAt: Date.now() }, entries.files, (d, t) =>
          progress('keeping the dataset in browser storage', d, t, 'bytes'),
        );
      } catch (e) {
        storeProblem = (e as Error).message;
      }
      const dataset: DatasetInfo = {
        id,
        name: entries.name,
        source: input.name,
        files: entries.files.size,
        bytes: [...entries.files.values()].reduce((s, b) => s + b.length, 0),
        caseIds: analysis.caseIds,
        channels: analysis.channels,
        labels: analysis.labels,
        storedAt,
        storeProblem,
      };
      return { ...analysis, dataset };
    });
  },

  /** A stored dataset's files (path relative to the dataset root → bytes), transferred. */
  async loadDataset(id: string): Promise<Record<string, Uint8Array>> {
    return guarded(async () => {
      const { files } = await loadStoredDataset(id);
      const out: Record<string, Uint8Array> = {};
      for (const [k, v] of files) out[k] = v;
      return Comlink.transfer(out, [...files.values()].map((b) => b.buffer as ArrayBuffer));
    });
  },

  async listDatasets(): Promise<StoredDatasetIndex[]> {
    return listStoredDatasets();
  },

  async deleteDataset(id: string): Promise<void> {
    await deleteStoredDataset(id);
  },

  async deleteRun(runId: string): Promise<void> {
    await deleteRunStorage(runId);
  },

  async usage(): Promise<{ usage: number; quota: number; text: string }> {
    return storageUsage();
  },
};

export type PlanningWorkerApi = typeof api;

Comlink.expose(api);

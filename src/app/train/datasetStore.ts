// Dropped datasets persisted in the browser (OPFS: segstudio/datasets/<id>/…, one file per dataset file plus
// an index), so that a training run can resume after a reload or a closed tab without dropping the folder
// again. Browser-only (navigator.storage); runs in the planning worker. Quota problems become a
// SegStudioError('storage-quota') that says how much is used and what to do.
import { SegStudioError } from '../../core/errors.ts';

const ROOT = ['segstudio', 'datasets'];
const INDEX = 'segstudio-dataset-index.json';

export interface StoredDatasetIndex {
  id: string;
  name: string;
  source: string;
  files: string[];
  bytes: number;
  createdAt: number;
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
}

/** Current usage / quota of this site's storage, as a sentence ('' when unknown). */
export async function storageUsage(): Promise<{ usage: number; quota: number; text: string }> {
  try {
    const e = await navigator.storage.estimate();
    const usage = e.usage ?? 0;
    const quota = e.quota ?? 0;
    return { usage, quota, text: quota ? `${mb(usage)} of ${mb(quota)} used` : '' };
  } catch {
    return { usage: 0, quota: 0, text: '' };
  }
}

export async function quotaMessage(needBytes?: number): Promise<string> {
  const u = await storageUsage();
  return (
    `browser storage is full${u.text ? ` (${u.text}${needBytes ? `, ${mb(needBytes)} needed` : ''})` : ''}: ` +
    'delete old training runs or datasets in the Train view, free disk space, or allow this site more storage in the browser settings'
  );
}

export function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: string })?.name ?? '';
  const code = (e as { code?: string })?.code ?? '';
  const msg = e instanceof Error ? e.message : String(e);
  return name === 'QuotaExceededError' || code === 'storage-quota' || /quota/i.test(msg);
}

async function datasetsDir(create: boolean): Promise<FileSystemDirectoryHandle> {
  if (!navigator.storage || typeof navigator.storage.getDirectory !== 'function')
    throw new SegStudioError('storage', 'this browser has no Origin Private File System: the dataset cannot be kept for resuming after a reload');
  let d = await navigator.storage.getDirectory();
  for (const p of ROOT) d = await d.getDirectoryHandle(p, { create });
  return d;
}

async function dirFor(base: FileSystemDirectoryHandle, parts: string[], create: boolean): Promise<FileSystemDirectoryHandle> {
  let d = base;
  for (const p of parts) d = await d.getDirectoryHandle(p, { create });
  return d;
}

async function writeFile(dir: FileSystemDirectoryHandle, name: string, bytes: Uint8Array, where: string): Promise<void> {
  try {
    const fh = await dir.getFileHandle(name, { create: true });
    const w = await fh.createWritable();
    await w.write(bytes as unknown as FileSystemWriteChunkType);
    await w.close();
  } catch (e) {
    if (isQuotaError(e)) throw new SegStudioError('storage-quota', await quotaMessage(bytes.length), where);
    throw new SegStudioError('storage', `cannot write (${(e as Error).name || (e as Error).message})`, where);
  }
}

/** Writes every file of a dataset; on failure the partial copy is removed. */
export async function storeDataset(
  index: Omit<StoredDatasetIndex, 'files' | 'bytes'>,
  files: Map<string, Uint8Array>,
  onProgress?: (done: number, total: number) => void,
): Promise<string> {
  const base = await datasetsDir(true);
  const total = [...files.values()].reduce((s, b) => s + b.length, 0);
  const u = await storageUsage();
  if (u.quota && u.quota - u.usage < total) throw new SegStudioError('storage-quota', await quotaMessage(total), `OPFS:/segstudio/datasets/${index.id}`);
  const dir = await base.getDirectoryHandle(index.id, { create: true });
  let done = 0;
  try {
    for (const [path, bytes] of files) {
      const parts = path.split('/');
      const name = parts.pop()!;
      await writeFile(await dirFor(dir, parts, true), name, bytes, `OPFS:/segstudio/datasets/${index.id}/${path}`);
      done += bytes.length;
      onProgress?.(done, total);
    }
    const idx: StoredDatasetIndex = { ...index, files: [...files.keys()], bytes: total };
    await writeFile(dir, INDEX, new TextEncoder().encode(JSON.stringify(idx)), `OPFS:/segstudio/datasets/${index.id}/${INDEX}`);
  } catch (e) {
    await base.removeEntry(index.id, { recursive: true }).catch(() => {});
    throw e;
  }
  return `OPFS:/segstudio/datasets/${index.id}`;
}

/** Reads a stored dataset back (path relative to the dataset root → bytes). */
export async function loadStoredDataset(id: string): Promise<{ index: StoredDatasetIndex; files: Map<string, Uint8Array> }> {
  const where = `OPFS:/segstudio/datasets/${id}`;
  let dir: FileSystemDirectoryHandle;
  let index: StoredDatasetIndex;
  try {
    dir = await (await datasetsDir(false)).getDirectoryHandle(id);
    const f = await (await dir.getFileHandle(INDEX)).getFile();
    index = JSON.parse(await f.text()) as StoredDatasetIndex;
  } catch {
    throw new SegStudioError('dataset-missing', 'the dataset of this run is no longer stored in the browser: drop the dataset folder again', where);
  }
  const files = new Map<string, Uint8Array>();
  for (const p of index.files) {
    const parts = p.split('/');
    const name = parts.pop()!;
    try {
      const fh = await (await dirFor(dir, parts, false)).getFileHandle(name);
      files.set(p, new Uint8Array(await (await fh.getFile()).arrayBuffer()));
    } catch {
      throw new SegStudioError('dataset-missing', 'file missing from the stored dataset: drop the dataset folder again', `${where}/${p}`);
    }
  }
  return { index, files };
}

export async function listStoredDatasets(): Promise<StoredDatasetIndex[]> {
  const out: StoredDatasetIndex[] = [];
  let base: FileSystemDirectoryHandle;
  try {
    base = await datasetsDir(false);
  } catch {
    return out;
  }
  for await (const [name, h] of (base as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
    if (h.kind !== 'directory') continue;
    try {
      const f = await (await (h as FileSystemDirectoryHandle).getFileHandle(INDEX)).getFile();
      out.push(JSON.parse(await f.text()) as StoredDatasetIndex);
    } catch {
      /* partial copy */ void name;
    }
  }
  return out.sort((a, b) => b.createdAt - a.createdAt);
}

export async function deleteStoredDataset(id: string): Promise<void> {
  try {
    await (await datasetsDir(false)).removeEntry(id, { recursive: true });
  } catch {
    /* absent */
  }
}

/** Deletes a training run's checkpoint folder (OPFS segstudio/training/<runId>, where the training worker writes). */
export async function deleteRunStorage(runId: string): Promise<void> {
  try {
    let d = await navigator.storage.getDirectory();
    for (const p of ['segstudio', 'training']) d = await d.getDirectoryHandle(p);
    await d.removeEntry(runId, { recursive: true });
  } catch {
    /* absent */
  }
}

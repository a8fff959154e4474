// Dropped raw datasets kept in the page's storage (OPFS / IndexedDB) under a dataset id, so a training run
// resumes after a reload (or a killed tab) without dropping the folder again. Layout below the root (the
// same as the Train view's planning worker writes, src/app/train/datasetStore.ts, so both read each other's):
//   datasets/<id>/<path>                              every file of the raw dataset (dataset.json, imagesTr/…)
//   datasets/<id>/segstudio-dataset-index.json        {id, name, source, files: [paths], bytes, createdAt};
//                                                     written last: an interrupted copy is not listed
import { SegStudioError } from '../../core/errors.ts';
import { sha256HexAsync } from '../trainer/checkpoint.ts';
import { bytesText, textBytes } from '../trainer/storage.ts';
import type { DatasetFiles } from '../../core/planning/dataset.ts';
import type { ProgressFn } from '../../core/types.ts';
import { joinFolder, type StorageRoot } from './storageRoot.ts';

export interface StoredDatasetInfo {
  id: string;
  /** dataset.json "name", else the id */
  name: string;
  /** where it came from (the dropped folder or zip name), informational */
  source: string;
  /** file paths relative to the dataset root ('dataset.json', 'imagesTr/…', 'labelsTr/…') */
  files: string[];
  bytes: number;
  createdAt: number;
}

export const DATASET_INDEX = 'segstudio-dataset-index.json';
const norm = (p: string) => p.replace(/^\.?\/+/, '').replace(/\/+/g, '/').replace(/\/$/, '');

function splitPath(p: string): { dir: string; name: string } {
  const parts = norm(p).split('/');
  const name = parts.pop()!;
  for (const x of parts) if (x === '.' || x === '..') throw new SegStudioError('dataset', `invalid path '${p}'`);
  if (!name || name === '.' || name === '..' || name === DATASET_INDEX) throw new SegStudioError('dataset', `invalid file name in '${p}'`);
  return { dir: parts.join('/'), name };
}

function datasetName(files: Map<string, Uint8Array>): string | null {
  const dj = [...files].find(([k]) => norm(k) === 'dataset.json')?.[1];
  if (!dj) return null;
  try {
    const j = JSON.parse(bytesText(dj)) as { name?: unknown };
    return typeof j.name === 'string' && j.name ? j.name : null;
  } catch {
    return null;
  }
}

/**
 * A dataset id from its content: dataset.json's name (sanitised) + the first 12 hex digits of the sha256
 * over every path and size and dataset.json; the same drop gives the same id.
 */
export async function datasetId(files: Map<string, Uint8Array>): Promise<string> {
  const dj = [...files].find(([k]) => norm(k) === 'dataset.json')?.[1];
  if (!dj) throw new SegStudioError('dataset', 'no dataset.json at the top of the dropped dataset', 'dataset.json');
  const sizes = [...files].map(([k, v]) => `${norm(k)}:${v.length}`).sort();
  const h = await sha256HexAsync(textBytes(sizes.join('\n') + '\n' + bytesText(dj)));
  return `${(datasetName(files) ?? 'dataset').replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40)}-${h.slice(0, 12)}`;
}

/** A stored dataset with exactly these file paths and total size (e.g. the copy the planning worker made). */
export async function findStoredCopy(root: StorageRoot, files: Map<string, Uint8Array>): Promise<StoredDatasetInfo | null> {
  const paths = [...files.keys()].map(norm).sort().join('\n');
  const bytes = [...files.values()].reduce((a, b) => a + b.length, 0);
  for (const d of await listDatasets(root)) if (d.bytes === bytes && [...d.files].map(norm).sort().join('\n') === paths) return d;
  return null;
}

/**
 * Stores a dropped raw dataset (path → bytes) and returns its info. A stored copy with the same files is
 * reused (nothing written); `id` defaults to datasetId(files). On failure the partial copy is removed.
 */
export async function saveDataset(
  root: StorageRoot,
  files: Map<string, Uint8Array>,
  opts: { id?: string; source?: string; onProgress?: ProgressFn } = {},
): Promise<StoredDatasetInfo> {
  const existing = await findStoredCopy(root, files);
  if (existing) return existing;
  const id = opts.id ?? (await datasetId(files));
  if (!/^[A-Za-z0-9_.-]{1,120}$/.test(id) || id === '.' || id === '..') throw new SegStudioError('usage', `invalid dataset id '${id}'`);
  const entries = [...files].map(([k, v]) => [norm(k), v] as const).sort((a, b) => a[0].localeCompare(b[0]));
  const base = joinFolder('datasets', id);
  let bytes = 0;
  try {
    for (let i = 0; i < entries.length; i++) {
      const { dir, name } = splitPath(entries[i][0]);
      await (await root.folder(joinFolder(base, dir))).write(name, entries[i][1]);
      bytes += entries[i][1].length;
      opts.onProgress?.(i + 1, entries.length, 'store dataset');
    }
    const info: StoredDatasetInfo = {
      id,
      name: datasetName(files) ?? id,
      source: opts.source ?? '',
      files: entries.map(([k]) => k),
      bytes,
      createdAt: Date.now(),
    };
    await (await root.folder(base)).write(DATASET_INDEX, textBytes(JSON.stringify(info)));
    return info;
  } catch (e) {
    await root.removeFolder(base).catch(() => {});
    throw e;
  }
}

/** The stored dataset's info, or null when it is not (completely) stored. */
export async function datasetInfo(root: StorageRoot, id: string): Promise<StoredDatasetInfo | null> {
  const f = await root.folder(joinFolder('datasets', id));
  if (!(await f.exists(DATASET_INDEX))) return null;
  try {
    const j = JSON.parse(bytesText(await f.read(DATASET_INDEX))) as StoredDatasetInfo;
    return j && Array.isArray(j.files) ? j : null;
  } catch {
    return null;
  }
}

export async function listDatasets(root: StorageRoot): Promise<StoredDatasetInfo[]> {
  const out: StoredDatasetInfo[] = [];
  for (const id of (await root.list('datasets')).folders) {
    const info = await datasetInfo(root, id);
    if (info) out.push(info);
  }
  return out;
}

/** The stored dataset as DatasetFiles (files read on demand), for verify / plan / preprocessing. */
export async function openStoredDataset(root: StorageRoot, id: string): Promise<{ info: StoredDatasetInfo; files: DatasetFiles }> {
  const info = await datasetInfo(root, id);
  if (!info)
    throw new SegStudioError('dataset-missing', `dataset '${id}' is no longer stored in this browser: drop the dataset folder again`, `${root.location}/datasets/${id}`);
  const all = new Set(info.files.map(norm));
  return {
    info,
    files: {
      list(dir: string) {
        const d = norm(dir);
        const pre = d ? `${d}/` : '';
        return [...all].filter((k) => k.startsWith(pre) && !k.slice(pre.length).includes('/')).map((k) => k.slice(pre.length)).sort();
      },
      async read(p: string) {
        const k = norm(p);
        if (!all.has(k)) throw new SegStudioError('read', 'file not found', p);
        const { dir, name } = splitPath(k);
        return (await root.folder(joinFolder('datasets', id, dir))).read(name);
      },
    },
  };
}

export async function deleteDataset(root: StorageRoot, id: string): Promise<void> {
  await root.removeFolder(joinFolder('datasets', id));
}

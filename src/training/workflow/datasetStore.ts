// Dropped raw datasets kept in the page's storage (OPFS / IndexedDB) under a dataset id, so a training run
// resumes after a reload (or a killed tab) without dropping the folder again. Layout below the root:
//   datasets/<id>/files/<encoded path>   every file of the raw dataset (path '/' encoded as %2F)
//   datasets/<id>/dataset-info.json      {id, name, files: [paths], bytes, savedAt}; written last, so a
//                                        dataset whose copy was interrupted is not listed (and is rewritten)
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
  /** file paths relative to the dataset root ('dataset.json', 'imagesTr/…', 'labelsTr/…') */
  files: string[];
  bytes: number;
  savedAt: number;
}

const INFO = 'dataset-info.json';
const norm = (p: string) => p.replace(/^\.?\/+/, '').replace(/\/+/g, '/').replace(/\/$/, '');
const encodeName = (p: string) => encodeURIComponent(p);

/**
 * A dataset id from its content: dataset.json's name (sanitised) + the first 12 hex digits of the sha256
 * over every path, size and dataset.json; the same drop gives the same id (stored once).
 */
export async function datasetId(files: Map<string, Uint8Array>): Promise<string> {
  const paths = [...files.keys()].map(norm).sort();
  const dj = files.get('dataset.json') ?? [...files].find(([k]) => norm(k) === 'dataset.json')?.[1];
  if (!dj) throw new SegStudioError('dataset', 'no dataset.json at the top of the dropped dataset', 'dataset.json');
  let name = 'dataset';
  try {
    const j = JSON.parse(bytesText(dj)) as { name?: unknown };
    if (typeof j.name === 'string' && j.name) name = j.name;
  } catch {
    /* verify reports it */
  }
  const sizes = [...files].map(([k, v]) => `${norm(k)}:${v.length}`).sort();
  const h = await sha256HexAsync(textBytes(paths.join('\n') + '\n' + sizes.join('\n') + '\n' + bytesText(dj)));
  return `${name.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40)}-${h.slice(0, 12)}`;
}

/** Stores a dropped raw dataset (path → bytes) and returns its info; an identical stored copy is reused. */
export async function saveDataset(root: StorageRoot, files: Map<string, Uint8Array>, opts: { onProgress?: ProgressFn } = {}): Promise<StoredDatasetInfo> {
  const id = await datasetId(files);
  const existing = await datasetInfo(root, id);
  if (existing) return existing;
  const folder = await root.folder(joinFolder('datasets', id, 'files'));
  const entries = [...files].map(([k, v]) => [norm(k), v] as const).sort((a, b) => a[0].localeCompare(b[0]));
  let bytes = 0;
  for (let i = 0; i < entries.length; i++) {
    await folder.write(encodeName(entries[i][0]), entries[i][1]);
    bytes += entries[i][1].length;
    opts.onProgress?.(i + 1, entries.length, 'store dataset');
  }
  let name = id;
  try {
    const j = JSON.parse(bytesText(files.get('dataset.json') ?? entries.find(([k]) => k === 'dataset.json')![1])) as { name?: unknown };
    if (typeof j.name === 'string' && j.name) name = j.name;
  } catch {
    /* keep the id */
  }
  const info: StoredDatasetInfo = { id, name, files: entries.map(([k]) => k), bytes, savedAt: Date.now() };
  await (await root.folder(joinFolder('datasets', id))).write(INFO, textBytes(JSON.stringify(info, null, 1) + '\n'));
  return info;
}

/** The stored dataset's info, or null when it is not (completely) stored. */
export async function datasetInfo(root: StorageRoot, id: string): Promise<StoredDatasetInfo | null> {
  const f = await root.folder(joinFolder('datasets', id));
  if (!(await f.exists(INFO))) return null;
  try {
    return JSON.parse(bytesText(await f.read(INFO))) as StoredDatasetInfo;
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
  if (!info) throw new SegStudioError('dataset-missing', `dataset '${id}' is not in this browser's storage (drop the dataset folder again)`, root.location);
  const folder = await root.folder(joinFolder('datasets', id, 'files'));
  const all = new Set(info.files);
  return {
    info,
    files: {
      list(dir: string) {
        const d = norm(dir);
        const pre = d ? `${d}/` : '';
        return info.files.filter((k) => k.startsWith(pre) && !k.slice(pre.length).includes('/')).map((k) => k.slice(pre.length)).sort();
      },
      async read(p: string) {
        const k = norm(p);
        if (!all.has(k)) throw new SegStudioError('read', 'file not found', p);
        return folder.read(encodeName(k));
      },
    },
  };
}

export async function deleteDataset(root: StorageRoot, id: string): Promise<void> {
  await root.removeFolder(joinFolder('datasets', id));
}

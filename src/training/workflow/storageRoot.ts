// A tree of TrainerStorage folders: what the page's training workflow keeps between reloads (stored raw
// datasets, training runs with their checkpoints and validation outputs, cross-validation results).
// Browser: OPFS (IndexedDB fallback), src/training/trainer/opfsStorage.ts; Node: src/node/storageRoot.ts;
// tests: MemoryRoot. Paths are '/'-separated folder paths below the root; file names never contain '/'.
import { SegStudioError } from '../../core/errors.ts';
import { MemoryStorage, type TrainerStorage } from '../trainer/storage.ts';

export interface StorageRoot {
  /** a label for messages ('OPFS:/segstudio', a folder path, 'memory') */
  readonly location: string;
  /** the folder `path` as a TrainerStorage (created on first write) */
  folder(path: string): Promise<TrainerStorage>;
  /** file names and subfolder names directly in `path` (both empty when the folder does not exist) */
  list(path: string): Promise<{ files: string[]; folders: string[] }>;
  /** deletes `path` and everything below it (no error when absent) */
  removeFolder(path: string): Promise<void>;
  /** bytes used and the quota when the platform tells (navigator.storage.estimate) */
  estimate?(): Promise<{ usage: number; quota: number } | null>;
}

/** Normalises a folder path: no leading/trailing '/', no empty, '.' or '..' parts. */
export function normFolder(path: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  for (const p of parts) if (p === '.' || p === '..') throw new SegStudioError('storage', `invalid folder path '${path}'`);
  return parts.join('/');
}

export function joinFolder(...parts: string[]): string {
  return normFolder(parts.filter(Boolean).join('/'));
}

/** In-memory root (tests; also a worker without persistent storage). */
export class MemoryRoot implements StorageRoot {
  readonly folders = new Map<string, MemoryStorage>();
  constructor(readonly location = 'memory') {}
  async folder(path: string): Promise<TrainerStorage> {
    const p = normFolder(path);
    let f = this.folders.get(p);
    if (!f) {
      f = new MemoryStorage(`${this.location}/${p}`);
      this.folders.set(p, f);
    }
    return f;
  }
  async list(path: string): Promise<{ files: string[]; folders: string[] }> {
    const p = normFolder(path);
    const files = [...(this.folders.get(p)?.files.keys() ?? [])].sort();
    const pre = p ? `${p}/` : '';
    const folders = new Set<string>();
    for (const [k, st] of this.folders) {
      if (!k.startsWith(pre) || k === p) continue;
      const rest = k.slice(pre.length);
      if (rest === '') continue;
      // a folder exists when it or a descendant holds a file
      const hasFiles = st.files.size > 0 || [...this.folders].some(([k2, s2]) => k2.startsWith(`${k}/`) && s2.files.size > 0);
      if (hasFiles) folders.add(rest.split('/')[0]);
    }
    return { files, folders: [...folders].sort() };
  }
  async removeFolder(path: string): Promise<void> {
    const p = normFolder(path);
    for (const k of [...this.folders.keys()]) if (k === p || k.startsWith(`${p}/`)) this.folders.get(k)!.files.clear();
  }
}

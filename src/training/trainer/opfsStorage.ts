// Browser TrainerStorage: the Origin Private File System (navigator.storage.getDirectory(), a folder per
// training run), with an IndexedDB fallback where OPFS is missing (older Safari, some private modes).
// Runs in the training worker; survives reloads and closed tabs, so a run resumes from checkpoint_latest.
// Writes use createWritable(), which swaps the file in on close (a crash mid-write keeps the old file).
// Quota problems surface as SegStudioError('storage-quota') naming the file.
import { SegStudioError } from '../../core/errors.ts';
import type { TrainerStorage } from './storage.ts';
import { joinFolder, type StorageRoot } from '../workflow/storageRoot.ts';

function quotaError(e: unknown, where: string): SegStudioError {
  const name = (e as { name?: string })?.name ?? '';
  const msg = e instanceof Error ? e.message : String(e);
  if (name === 'QuotaExceededError' || /quota/i.test(msg))
    return new SegStudioError(
      'storage-quota',
      'browser storage is full: delete old training runs or datasets in the Train view, free disk space, or allow this site more storage',
      where,
    );
  return new SegStudioError('storage', `cannot write (${name || msg})`, where);
}

export class OpfsStorage implements TrainerStorage {
  readonly location: string;
  private constructor(
    private readonly dir: FileSystemDirectoryHandle,
    path: string,
  ) {
    this.location = `OPFS:/${path}`;
  }

  /** Opens (creating) the folder `path` ('segstudio/runs/<id>') in the origin's private file system. */
  static async open(path: string): Promise<OpfsStorage> {
    const root = await (globalThis.navigator as Navigator).storage.getDirectory();
    let d = root;
    for (const part of path.split('/').filter(Boolean)) d = await d.getDirectoryHandle(part, { create: true });
    return new OpfsStorage(d, path);
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    const where = `${this.location}/${name}`;
    try {
      const fh = await this.dir.getFileHandle(name, { create: true });
      const w = await fh.createWritable();
      await w.write(bytes as unknown as FileSystemWriteChunkType);
      await w.close();
    } catch (e) {
      throw quotaError(e, where);
    }
  }

  async read(name: string): Promise<Uint8Array> {
    let fh: FileSystemFileHandle;
    try {
      fh = await this.dir.getFileHandle(name);
    } catch {
      throw new SegStudioError('checkpoint-missing', 'file not found', `${this.location}/${name}`);
    }
    return new Uint8Array(await (await fh.getFile()).arrayBuffer());
  }

  async exists(name: string): Promise<boolean> {
    try {
      await this.dir.getFileHandle(name);
      return true;
    } catch {
      return false;
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await this.dir.removeEntry(name);
    } catch {
      /* absent */
    }
  }
}

const DB_NAME = 'segstudio-training';
const STORE = 'files';

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((res, rej) => {
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error);
  });
}

/** IndexedDB fallback: one object store, keys '<run path>/<file name>'. */
export class IndexedDbStorage implements TrainerStorage {
  readonly location: string;
  private constructor(
    private readonly db: IDBDatabase,
    private readonly prefix: string,
  ) {
    this.location = `IndexedDB:/${prefix}`;
  }

  static async open(path: string): Promise<IndexedDbStorage> {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => {
      if (!open.result.objectStoreNames.contains(STORE)) open.result.createObjectStore(STORE);
    };
    return new IndexedDbStorage(await req(open), path.replace(/\/+$/, ''));
  }

  private async tx<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const t = this.db.transaction(STORE, mode);
    const r = await req(fn(t.objectStore(STORE)));
    await new Promise<void>((res, rej) => {
      t.oncomplete = () => res();
      t.onerror = () => rej(t.error);
      t.onabort = () => rej(t.error);
    });
    return r;
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    try {
      await this.tx('readwrite', (s) => s.put(bytes.slice(), `${this.prefix}/${name}`));
    } catch (e) {
      throw quotaError(e, `${this.location}/${name}`);
    }
  }

  async read(name: string): Promise<Uint8Array> {
    const v = await this.tx('readonly', (s) => s.get(`${this.prefix}/${name}`));
    if (!v) throw new SegStudioError('checkpoint-missing', 'file not found', `${this.location}/${name}`);
    return new Uint8Array(v as ArrayBuffer | Uint8Array);
  }

  async exists(name: string): Promise<boolean> {
    return (await this.tx('readonly', (s) => s.count(`${this.prefix}/${name}`))) > 0;
  }

  async remove(name: string): Promise<void> {
    await this.tx('readwrite', (s) => s.delete(`${this.prefix}/${name}`));
  }
}

/** OPFS when the browser has it, else IndexedDB. */
export async function openBrowserTrainerStorage(path: string): Promise<TrainerStorage> {
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  if (nav?.storage && typeof nav.storage.getDirectory === 'function') {
    try {
      return await OpfsStorage.open(path);
    } catch {
      /* OPFS refused (e.g. private mode): fall through */
    }
  }
  if (typeof indexedDB === 'undefined') throw new SegStudioError('storage', 'neither OPFS nor IndexedDB is available for training checkpoints');
  return IndexedDbStorage.open(path);
}

async function storageEstimate(): Promise<{ usage: number; quota: number } | null> {
  try {
    const e = await (globalThis.navigator as Navigator).storage.estimate();
    return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
  } catch {
    return null;
  }
}

/** A folder tree in OPFS below `base` ('segstudio'): the training workflow's StorageRoot. */
export class OpfsRoot implements StorageRoot {
  readonly location: string;
  constructor(readonly base: string) {
    this.location = `OPFS:/${base}`;
  }
  folder(path: string): Promise<TrainerStorage> {
    return OpfsStorage.open(joinFolder(this.base, path));
  }
  private async dir(path: string): Promise<FileSystemDirectoryHandle | null> {
    let d = await (globalThis.navigator as Navigator).storage.getDirectory();
    for (const part of joinFolder(this.base, path).split('/').filter(Boolean)) {
      try {
        d = await d.getDirectoryHandle(part);
      } catch {
        return null;
      }
    }
    return d;
  }
  async list(path: string): Promise<{ files: string[]; folders: string[] }> {
    const d = await this.dir(path);
    const files: string[] = [];
    const folders: string[] = [];
    if (!d) return { files, folders };
    for await (const [name, h] of (d as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      if (h.kind === 'directory') folders.push(name);
      else if (!name.endsWith('.crswap')) files.push(name);
    }
    return { files: files.sort(), folders: folders.sort() };
  }
  async removeFolder(path: string): Promise<void> {
    const full = joinFolder(this.base, path);
    const parts = full.split('/');
    const name = parts.pop()!;
    const parent = await this.dir(parts.slice(this.base.split('/').filter(Boolean).length).join('/'));
    await parent?.removeEntry(name, { recursive: true }).catch(() => {});
  }
  estimate(): Promise<{ usage: number; quota: number } | null> {
    return storageEstimate();
  }
}

/** The IndexedDB fallback of OpfsRoot: keys '<base>/<folder>/<file>' in one object store. */
export class IndexedDbRoot implements StorageRoot {
  readonly location: string;
  constructor(readonly base: string) {
    this.location = `IndexedDB:/${base}`;
  }
  folder(path: string): Promise<TrainerStorage> {
    return IndexedDbStorage.open(joinFolder(this.base, path));
  }
  private async keys(path: string): Promise<string[]> {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => {
      if (!open.result.objectStoreNames.contains(STORE)) open.result.createObjectStore(STORE);
    };
    const db = await req(open);
    const pre = `${joinFolder(this.base, path)}/`;
    const t = db.transaction(STORE, 'readonly');
    const all = (await req(t.objectStore(STORE).getAllKeys(IDBKeyRange.bound(pre, `${pre}\uffff`)))) as string[];
    db.close();
    return all.map((k) => k.slice(pre.length));
  }
  async list(path: string): Promise<{ files: string[]; folders: string[] }> {
    const files = new Set<string>();
    const folders = new Set<string>();
    for (const k of await this.keys(path)) {
      const i = k.indexOf('/');
      if (i < 0) files.add(k);
      else folders.add(k.slice(0, i));
    }
    return { files: [...files].sort(), folders: [...folders].sort() };
  }
  async removeFolder(path: string): Promise<void> {
    const pre = joinFolder(this.base, path);
    const names = await this.keys(path);
    const dirs = new Map<string, string[]>();
    for (const k of names) {
      const i = k.lastIndexOf('/');
      const dir = i < 0 ? pre : `${pre}/${k.slice(0, i)}`;
      dirs.set(dir, [...(dirs.get(dir) ?? []), i < 0 ? k : k.slice(i + 1)]);
    }
    for (const [dir, files] of dirs) {
      const st = await IndexedDbStorage.open(dir);
      for (const f of files) await st.remove(f);
    }
  }
  estimate(): Promise<{ usage: number; quota: number } | null> {
    return storageEstimate();
  }
}

/** OPFS below `base` when the browser has it, else IndexedDB. */
export async function openBrowserStorageRoot(base = 'segstudio'): Promise<StorageRoot> {
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  if (nav?.storage && typeof nav.storage.getDirectory === 'function') {
    try {
      await nav.storage.getDirectory();
      return new OpfsRoot(base);
    } catch {
      /* OPFS refused (e.g. private mode): fall through */
    }
  }
  if (typeof indexedDB === 'undefined') throw new SegStudioError('storage', 'neither OPFS nor IndexedDB is available to keep training runs');
  return new IndexedDbRoot(base);
}

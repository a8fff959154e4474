// Browser TrainerStorage: the Origin Private File System (navigator.storage.getDirectory(), a folder per
// training run), with an IndexedDB fallback where OPFS is missing (older Safari, some private modes).
// Runs in the training worker; survives reloads and closed tabs, so a run resumes from checkpoint_latest.
// Writes use createWritable(), which swaps the file in on close (a crash mid-write keeps the old file).
// Quota problems surface as SegStudioError('storage-quota') naming the file.
import { SegStudioError } from '../../core/errors.ts';
import type { TrainerStorage } from './storage.ts';

function quotaError(e: unknown, where: string): SegStudioError {
  const name = (e as { name?: string })?.name ?? '';
  const msg = e instanceof Error ? e.message : String(e);
  if (name === 'QuotaExceededError' || /quota/i.test(msg))
    return new SegStudioError('storage-quota', 'browser storage is full (free space or allow more storage for this site)', where);
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

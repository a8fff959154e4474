// Where the trainer keeps its files (checkpoints, training_log.txt, progress.svg, debug.json): a tiny
// name → bytes store injected into the Trainer, so the same loop runs in Node (src/node/trainerFiles.ts,
// one fold folder), in the browser (opfsStorage.ts: OPFS, IndexedDB fallback) and in tests (memory).
import { SegStudioError } from '../../core/errors.ts';

export interface TrainerStorage {
  /** Writes (replaces) a file. Implementations should make the replacement atomic where they can. */
  write(name: string, bytes: Uint8Array): Promise<void>;
  /** Reads a file; throws SegStudioError('checkpoint-missing') naming the file when it does not exist. */
  read(name: string): Promise<Uint8Array>;
  exists(name: string): Promise<boolean>;
  /** Deletes a file if present (nnU-Net deletes checkpoint_latest once checkpoint_final is written). */
  remove(name: string): Promise<void>;
  /** A label for messages (folder path, 'OPFS:/segstudio/…'). */
  readonly location: string;
}

/** In-memory storage (tests, and the worker before a persistent store is chosen). */
export class MemoryStorage implements TrainerStorage {
  readonly files = new Map<string, Uint8Array>();
  constructor(readonly location = 'memory') {}
  async write(name: string, bytes: Uint8Array): Promise<void> {
    this.files.set(name, bytes.slice());
  }
  async read(name: string): Promise<Uint8Array> {
    const b = this.files.get(name);
    if (!b) throw new SegStudioError('checkpoint-missing', 'file not found', `${this.location}/${name}`);
    return b.slice();
  }
  async exists(name: string): Promise<boolean> {
    return this.files.has(name);
  }
  async remove(name: string): Promise<void> {
    this.files.delete(name);
  }
}

export const textBytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const bytesText = (b: Uint8Array): string => new TextDecoder().decode(b);

// Node adapters for the dataset/evaluation/ensembling code: a DatasetFiles over the file system, and small
// folder helpers the CLI verbs share (list files with an ending, read/write bytes, make folders).
import fs from 'node:fs';
import path from 'node:path';
import { SegStudioError } from '../core/errors.ts';
import type { DatasetFiles } from '../core/planning/dataset.ts';

/**
 * DatasetFiles over the local file system. Paths given to list/read are relative to `base` (absolute paths
 * are used as they are). `list` returns the names of regular files (symlinks followed), [] for a missing dir.
 */
export function nodeDatasetFiles(base = '.'): DatasetFiles {
  const abs = (p: string) => (path.isAbsolute(p) ? p : path.resolve(base, p || '.'));
  return {
    list(dir: string): string[] {
      const d = abs(dir);
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(d, { withFileTypes: true });
      } catch {
        return [];
      }
      return entries
        .filter((e) => e.isFile() || (e.isSymbolicLink() && fs.statSync(path.join(d, e.name), { throwIfNoEntry: false })?.isFile()))
        .map((e) => e.name)
        .sort();
    },
    async read(p: string): Promise<Uint8Array> {
      try {
        const b = await fs.promises.readFile(abs(p));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        throw new SegStudioError('read', `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, p);
      }
    },
  };
}

/** Names of the files in `dir` ending with `ending` (sorted); an error naming the folder if it is missing. */
export function filesWithEnding(dir: string, ending: string | string[]): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new SegStudioError('folder', 'folder not found', dir);
  const ends = Array.isArray(ending) ? ending : [ending];
  return fs
    .readdirSync(dir)
    .filter((f) => ends.some((e) => f.endsWith(e)) && fs.statSync(path.join(dir, f)).isFile())
    .sort();
}

/** Reads a file as Uint8Array, with a SegStudioError naming it when that fails. */
export function readBytes(file: string): Uint8Array {
  try {
    const b = fs.readFileSync(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new SegStudioError('read', `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file);
  }
}

export function writeBytes(file: string, data: Uint8Array | string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
  } catch (e) {
    throw new SegStudioError('write', `cannot write file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file);
  }
}

export function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new SegStudioError('write', `cannot create folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, dir);
  }
}

/** The known segmentation/image endings, longest first (so .nii.gz wins over .gz). */
export const KNOWN_ENDINGS = ['.nii.gz', '.nii', '.png', '.bmp', '.tif', '.tiff'];

/** The file ending of a name among KNOWN_ENDINGS, or null. */
export function knownEnding(name: string): string | null {
  return KNOWN_ENDINGS.find((e) => name.toLowerCase().endsWith(e)) ?? null;
}

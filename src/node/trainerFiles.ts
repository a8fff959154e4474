// TrainerStorage over one folder of the file system (a results fold folder: checkpoint_*.json|bin,
// training_log.txt, progress.svg, debug.json). Writes go to a temporary file in the same folder and are
// renamed into place, so a process killed mid-write never leaves a half-written checkpoint file behind.
import fs from 'node:fs';
import path from 'node:path';
import { SegStudioError } from '../core/errors.ts';
import type { TrainerStorage } from '../training/trainer/storage.ts';

export class NodeTrainerFiles implements TrainerStorage {
  readonly location: string;

  constructor(readonly dir: string) {
    this.location = dir;
  }

  private file(name: string): string {
    if (name.includes('/') || name.includes('\\') || name === '..' || name === '.')
      throw new SegStudioError('storage', `invalid file name '${name}'`, this.dir);
    return path.join(this.dir, name);
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    const f = this.file(name);
    const tmp = `${f}.tmp-${process.pid}`;
    try {
      await fs.promises.mkdir(this.dir, { recursive: true });
      await fs.promises.writeFile(tmp, bytes);
      await fs.promises.rename(tmp, f);
    } catch (e) {
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
      throw new SegStudioError('storage', `cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, f);
    }
  }

  async read(name: string): Promise<Uint8Array> {
    const f = this.file(name);
    try {
      const b = await fs.promises.readFile(f);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new SegStudioError('checkpoint-missing', 'file not found', f);
      throw new SegStudioError('storage', `cannot read (${code ?? (e as Error).message})`, f);
    }
  }

  async exists(name: string): Promise<boolean> {
    return fs.existsSync(this.file(name));
  }

  async remove(name: string): Promise<void> {
    await fs.promises.rm(this.file(name), { force: true });
  }
}

/** Writes bundle files (name → bytes, names may contain '/') under `dir`. */
export function writeBundleFolder(dir: string, files: Map<string, Uint8Array>): void {
  for (const [name, bytes] of files) {
    const f = path.join(dir, name);
    if (!path.resolve(f).startsWith(path.resolve(dir) + path.sep)) throw new SegStudioError('bundle', `file name escapes the bundle folder: ${name}`, dir);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, bytes);
  }
}

// DICOM folders arrive zipped too. The member headers are checked before fflate allocates anything
// (zipGuard: a lying header is refused), folders, macOS resource forks and dot files are left out.
import { unzipSync } from 'fflate';
import { SegStudioError } from '../../errors.ts';
import { checkZipEntry } from '../zipGuard.ts';
import type { DicomInput } from './convert.ts';

const junk = (name: string) => name.endsWith('/') || name.startsWith('__MACOSX/') || /(^|\/)\./.test(name);

/** Member names of a zip (nothing inflated). Throws SegStudioError naming the archive when it is not a zip. */
export function zipMemberNames(bytes: Uint8Array, archiveName: string): string[] {
  const names: string[] = [];
  try {
    unzipSync(bytes, { filter: (f) => (names.push(f.name), false) });
  } catch (e) {
    throw new SegStudioError('zip', `not a readable zip archive (${(e as Error).message})`, archiveName);
  }
  return names;
}

/** True when a zip's members look like a model bundle (manifest.json or an .onnx file), not a DICOM folder. */
export function zipHoldsModel(names: string[]): boolean {
  return names.some((n) => /(^|\/)manifest\.json$/i.test(n) || /\.onnx$/i.test(n));
}

/** The zip's files as DicomInputs named 'archive.zip/inner/path'. */
export function unzipDicomInputs(bytes: Uint8Array, archiveName: string): DicomInput[] {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, { filter: (f) => (checkZipEntry(f, archiveName, bytes.length), !junk(f.name)) });
  } catch (e) {
    if (e instanceof SegStudioError) throw e;
    throw new SegStudioError('zip', `not a readable zip archive (${(e as Error).message})`, archiveName);
  }
  const base = archiveName.split(/[\\/]/).pop() ?? archiveName;
  return Object.entries(entries).map(([name, data]) => ({ name: `${base}/${name}`, bytes: data }));
}

// DICOM → NIfTI with dcm2niix compiled to WebAssembly (@niivue/dcm2niix's Emscripten build), driven directly
// (its in-memory file system and main()) so the same code runs in a browser worker and in Node tests.
// Pure TypeScript: the caller supplies the Emscripten module factory (how the .wasm is fetched is theirs).
//
// Before conversion every file is checked with the small header reader: non-DICOM files, DICOMDIR indexes and
// truncated images are left out and named in `skipped`, the others are still converted. dcm2niix splits the
// files into series (SeriesInstanceUID and its own consistency checks) and writes one NIfTI per volume plus a
// BIDS JSON sidecar (description, modality, series number); output names carry the SeriesInstanceUID
// (`-f %j_%s`) so each volume is matched to its input files.
import { SegStudioError } from '../../errors.ts';
import type { CancelSignal, ProgressFn } from '../../types.ts';
import { headerDims, parseNiftiHeader } from '../niftiHeader.ts';
import { inspectDicom, type DicomFileInfo } from './reader.ts';

/** The part of dcm2niix's Emscripten module we use. */
export interface Dcm2niixModule {
  FS: {
    mkdir(path: string): void;
    writeFile(path: string, data: Uint8Array, opts?: { canOwn?: boolean }): void;
    readFile(path: string): Uint8Array;
    readdir(path: string): string[];
    unlink(path: string): void;
  };
  callMain(args: string[]): number;
}

/** Creates a fresh module instance with the given stdout/stderr hooks (Emscripten `print` / `printErr`). */
export type Dcm2niixFactory = (hooks: { print: (s: string) => void; printErr: (s: string) => void }) => Promise<Dcm2niixModule>;

export interface DicomInput {
  /** path as dropped ('folder/IM0001'), used in messages */
  name: string;
  bytes: Uint8Array;
}

export interface ConvertedSeries {
  /** stable id within one conversion ('s1', 's2', …) */
  id: string;
  /** suggested NIfTI name, e.g. '3_T1_MPRAGE.nii' */
  fileName: string;
  /** uncompressed NIfTI-1 written by dcm2niix */
  nifti: Uint8Array;
  /** dcm2niix's BIDS sidecar (anonymised), null when absent */
  sidecar: Record<string, unknown> | null;
  seriesInstanceUid: string;
  seriesNumber: number | null;
  description: string;
  modality: string;
  /** NIfTI dims (x, y, z[, t]) */
  dims: number[];
  /** voxel size mm (x, y, z) */
  voxelSize: number[];
  /** input DICOM files of this series */
  fileCount: number;
}

export interface SkippedFile {
  name: string;
  reason: string;
}

export interface ConvertResult {
  series: ConvertedSeries[];
  skipped: SkippedFile[];
  /** dcm2niix's console output */
  log: string[];
}

export interface ConvertOptions {
  onProgress?: ProgressFn;
  signal?: CancelSignal;
}

const cancelled = (s?: CancelSignal) => {
  if (s?.aborted) throw new SegStudioError('cancelled', 'DICOM import cancelled by the user');
};

/** A short list of names for messages: 'a, b, c and 4 more'. */
export function nameList(names: string[], max = 3): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** Human-readable summary of the files left out, for the page's notice. */
export function describeSkipped(skipped: SkippedFile[]): string {
  const byReason = new Map<string, string[]>();
  for (const s of skipped) byReason.set(s.reason.replace(/\(.*\)$/, '').trim(), [...(byReason.get(s.reason.replace(/\(.*\)$/, '').trim()) ?? []), s.name]);
  return [...byReason].map(([reason, names]) => `${nameList(names)}: ${reason}`).join('; ');
}

function safeName(i: number, name: string): string {
  const base = (name.split(/[\\/]/).pop() ?? 'file').replace(/[^A-Za-z0-9._-]/g, '_').slice(-60);
  return `f${String(i).padStart(6, '0')}_${base || 'file'}`;
}

/** Parses dcm2niix output names '<uid>_<series number><suffixes>.nii'. */
function parseOutputName(name: string): { uid: string; seriesNumber: number | null } {
  const stem = name.replace(/\.nii$/, '');
  const m = /^([0-9.]*)_(\d+)/.exec(stem);
  if (!m) return { uid: '', seriesNumber: null };
  return { uid: m[1], seriesNumber: Number(m[2]) };
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40);
}

/**
 * Converts DICOM files to NIfTI volumes. Throws SegStudioError 'dicom-none' when no file is usable DICOM
 * (naming them), 'dicom-convert' when dcm2niix writes nothing, 'cancelled' when the signal is raised
 * between stages.
 */
export async function convertDicom(inputs: DicomInput[], factory: Dcm2niixFactory, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const { onProgress, signal } = opts;
  const skipped: SkippedFile[] = [];
  const accepted: { input: DicomInput; info: DicomFileInfo }[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const f = inputs[i];
    const r = inspectDicom(f.bytes);
    if (r.ok) accepted.push({ input: f, info: r.info });
    else skipped.push({ name: f.name, reason: r.reason });
    if (i % 64 === 0) {
      onProgress?.(i, inputs.length, 'checking files');
      cancelled(signal);
    }
  }
  if (accepted.length === 0) {
    throw new SegStudioError(
      'dicom-none',
      `no DICOM images found${skipped.length ? ` (${describeSkipped(skipped)})` : ''}`,
      nameList(inputs.map((f) => f.name)) || 'the dropped folder',
    );
  }
  cancelled(signal);
  onProgress?.(0, 100, 'starting dcm2niix');
  const log: string[] = [];
  const print = (s: string) => {
    const m = /^Progress:\s*([0-9.]+)/.exec(s);
    if (m) onProgress?.(Math.round(Number(m[1]) * 100), 100, 'converting (dcm2niix)');
    else log.push(s);
  };
  const mod = await factory({ print, printErr: (s) => log.push(s) });
  mod.FS.mkdir('/in');
  mod.FS.mkdir('/out');
  // canOwn: the in-memory file system keeps a view of the caller's bytes instead of a copy (dcm2niix only reads them)
  accepted.forEach((a, i) => mod.FS.writeFile(`/in/${safeName(i, a.input.name)}`, a.input.bytes, { canOwn: true }));
  cancelled(signal);
  // -z n: plain .nii (we gzip on export); -b y -ba y: anonymised BIDS sidecar; -x n: no crop/reorient;
  // -f %j_%s: SeriesInstanceUID_SeriesNumber; -i n: keep derived images; -l o: original 16-bit values.
  let code: number;
  try {
    code = mod.callMain(['-o', '/out', '-z', 'n', '-b', 'y', '-ba', 'y', '-x', 'n', '-i', 'n', '-l', 'o', '-f', '%j_%s', '--progress', 'y', '/in']);
  } catch (e) {
    throw new SegStudioError('dicom-convert', `dcm2niix failed: ${(e as Error).message}`, nameList(accepted.map((a) => a.input.name)));
  }
  const outs = mod.FS.readdir('/out').filter((n) => !n.startsWith('.'));
  const niis = outs.filter((n) => n.endsWith('.nii')).sort();
  if (niis.length === 0) {
    const tail = log.filter((l) => /error|warning|unable|unsupported/i.test(l)).slice(-3).join(' / ');
    throw new SegStudioError(
      'dicom-convert',
      `dcm2niix found no convertible image series (exit code ${code})${tail ? `: ${tail}` : ''}`,
      nameList(accepted.map((a) => a.input.name)),
    );
  }
  const counts = new Map<string, number>();
  for (const a of accepted) counts.set(a.info.seriesInstanceUid, (counts.get(a.info.seriesInstanceUid) ?? 0) + 1);
  const series: ConvertedSeries[] = [];
  for (const n of niis) {
    const nifti = mod.FS.readFile(`/out/${n}`);
    const jsonName = n.replace(/\.nii$/, '.json');
    let sidecar: Record<string, unknown> | null = null;
    if (outs.includes(jsonName)) {
      try {
        sidecar = JSON.parse(new TextDecoder().decode(mod.FS.readFile(`/out/${jsonName}`))) as Record<string, unknown>;
      } catch {
        sidecar = null;
      }
    }
    const h = parseNiftiHeader(nifti, n, false);
    const dims = headerDims(h);
    const { uid, seriesNumber } = parseOutputName(n);
    const description = String(sidecar?.SeriesDescription ?? sidecar?.ProtocolName ?? '');
    const num = typeof sidecar?.SeriesNumber === 'number' ? sidecar.SeriesNumber : seriesNumber;
    const suffix = n.replace(/\.nii$/, '').replace(/^[0-9.]*_\d+/, '');
    const fileName = `${num ?? 0}_${slug(description) || 'series'}${suffix}.nii`;
    series.push({
      id: `s${series.length + 1}`,
      fileName,
      nifti, // FS.readFile returns a fresh array
      sidecar,
      seriesInstanceUid: uid,
      seriesNumber: num,
      description,
      modality: String(sidecar?.Modality ?? ''),
      dims,
      voxelSize: h.pixdim.slice(1, 4),
      fileCount: counts.get(uid) ?? 0,
    });
    mod.FS.unlink(`/out/${n}`);
  }
  series.sort((a, b) => (a.seriesNumber ?? 0) - (b.seriesNumber ?? 0) || a.fileName.localeCompare(b.fileName));
  series.forEach((s, i) => (s.id = `s${i + 1}`));
  onProgress?.(100, 100, 'converted');
  return { series, skipped, log };
}

// DICOM import on the page: decide whether a drop is DICOM (a folder of DICOM files or a zip of them),
// convert it in workers/dicom.worker.ts (dcm2niix WebAssembly), let the user choose a series when there are
// several, and open the chosen one through the ordinary image path (engine.openFiles → inference worker's
// loadFiles), so it segments and saves like any NIfTI on the converted grid.
import * as Comlink from 'comlink';
import { createStore, useStore } from 'zustand';
import type { DicomApi, DicomSeriesSummary } from '../../workers/dicom.worker.ts';
import { guessDicomDrop, headLooksLikeDicom } from '../core/io/dicom/drop.ts';
import { describeSkipped } from '../core/io/dicom/convert.ts';
import type { ProgressEvent } from './workerApi.ts';
// engine.ts imports this module too; the functions below are only called at run time, after both loaded
import { openFiles, reportError } from './engine.ts';
import { set } from './store.ts';

const host = {
  open: (name: string, bytes: Uint8Array) => openFiles([{ path: name, file: new File([bytes as BlobPart], name) }]),
  error: (e: unknown, file?: string) => reportError(e, file),
  notice: (text: string | null) => set({ notice: text }),
};

export type { DicomSeriesSummary };

export interface DicomImportState {
  /** 'converting': the worker runs; 'choosing': several series, the picker is open */
  phase: 'idle' | 'converting' | 'choosing';
  /** what was dropped, for messages */
  source: string;
  stage: string;
  done: number;
  total: number;
  series: DicomSeriesSummary[];
  /** files left out (not DICOM, truncated, …), one line */
  skipped: string | null;
  /** the series now open */
  openedId: string | null;
}

const initial: DicomImportState = { phase: 'idle', source: '', stage: '', done: 0, total: 0, series: [], skipped: null, openedId: null };
export const dicomStore = createStore<DicomImportState>(() => ({ ...initial }));
export const useDicom = <T>(sel: (s: DicomImportState) => T): T => useStore(dicomStore, sel);
const setD = dicomStore.setState;

export interface DicomDropFile {
  path: string;
  file: File;
}

let worker: Worker | null = null;
let api: Comlink.Remote<DicomApi> | null = null;

function dicomWorker(): Comlink.Remote<DicomApi> {
  if (!api) {
    worker = new Worker(new URL('../../workers/dicom.worker.ts', import.meta.url), { type: 'module', name: 'segstudio-dicom' });
    api = Comlink.wrap<DicomApi>(worker);
  }
  return api;
}

function dropWorker(): void {
  worker?.terminate();
  worker = null;
  api = null;
}

/**
 * 'dicom' when the drop is DICOM (src/core/io/dicom/drop.ts: .dcm/.ima names, or files without a telling name
 * whose first bytes are DICOM), or is a lone zip that is not a model bundle. 'other' leaves it to the image /
 * model paths.
 */
export async function classifyDicomDrop(files: DicomDropFile[]): Promise<'dicom' | 'other'> {
  const guess = guessDicomDrop(files.map((f) => f.path));
  if (guess.kind === 'zip') {
    try {
      return (await dicomWorker().zipKind(files[0].file, files[0].path)) === 'dicom' ? 'dicom' : 'other';
    } catch {
      return 'other';
    }
  }
  if (guess.kind !== 'sniff') return guess.kind;
  for (const i of guess.candidates) {
    if (headLooksLikeDicom(new Uint8Array(await files[i].file.slice(0, 132).arrayBuffer()))) return 'dicom';
  }
  return 'other';
}

/** Converts the dropped DICOM files; opens the only series, or shows the picker when there are several. */
export async function importDicom(files: DicomDropFile[]): Promise<void> {
  const source = files.length === 1 ? files[0].path : `${files[0].path.split('/')[0]} (${files.length} files)`;
  setD({ ...initial, phase: 'converting', source, stage: 'reading files' });
  host.notice(null);
  const onProgress = (p: ProgressEvent) => {
    if (dicomStore.getState().phase === 'converting') setD({ done: p.done, total: p.total, stage: p.stage });
  };
  try {
    const res = await dicomWorker().convert(
      files.map((f) => ({ path: f.path, data: f.file })),
      Comlink.proxy(onProgress),
    );
    if (dicomStore.getState().phase !== 'converting') return; // cancelled meanwhile
    const skipped = res.skipped.length ? `${res.skipped.length} file${res.skipped.length > 1 ? 's' : ''} left out — ${describeSkipped(res.skipped)}` : null;
    setD({ phase: res.series.length > 1 ? 'choosing' : 'idle', series: res.series, skipped, stage: '' });
    if (skipped) host.notice(`DICOM import: ${skipped}`);
    if (res.series.length === 1) await openSeries(res.series[0].id);
  } catch (e) {
    if (dicomStore.getState().phase !== 'converting') return;
    setD({ ...initial });
    host.error(e, source);
  }
}

/** Opens one converted series as the current image. */
export async function openSeries(id: string): Promise<void> {
  const s = dicomStore.getState();
  setD({ phase: 'idle', openedId: id });
  try {
    const f = await dicomWorker().get(id);
    await host.open(f.name, f.bytes);
    // opening an image clears the notice; the files left out still matter
    if (s.skipped) host.notice(`DICOM import: ${s.skipped}`);
  } catch (e) {
    host.error(e, s.series.find((x) => x.id === id)?.fileName ?? s.source);
  }
}

/** Reopens the picker over the last conversion (to choose another series). */
export function showPicker(): void {
  if (dicomStore.getState().series.length > 1) setD({ phase: 'choosing' });
}

export function closePicker(): void {
  if (dicomStore.getState().phase === 'choosing') setD({ phase: 'idle' });
}

/** Stops a running conversion: dcm2niix runs synchronously in its worker, so the worker is terminated. */
export function cancelDicom(): void {
  if (dicomStore.getState().phase !== 'converting') return;
  dropWorker();
  setD({ ...initial });
  host.notice('DICOM import cancelled.');
}

// The DICOM worker (comlink facade): reads the dropped files or zip (transferred as Blobs, read here), runs
// dcm2niix's WebAssembly build through src/core/io/dicom and keeps the converted NIfTI volumes until the page
// asks for the chosen one. dcm2niix's JS and .wasm are served from our own origin (Vite assets, precached by
// the service worker); nothing is fetched from elsewhere. Conversion blocks this worker: the page cancels a
// running conversion by terminating it.
import * as Comlink from 'comlink';
import { SegStudioError, workerError } from '../src/core/errors.ts';
import { convertDicom, type ConvertedSeries, type Dcm2niixFactory, type Dcm2niixModule, type DicomInput } from '../src/core/io/dicom/convert.ts';
import { unzipDicomInputs, zipHoldsModel, zipMemberNames } from '../src/core/io/dicom/zip.ts';
import type { ProgressEvent } from '../src/app/workerApi.ts';
// @niivue/dcm2niix's Emscripten build (JPEG-LS and JPEG 2000 capable, the package's default), as URLs of
// files Vite copies into the build; the package's own worker wrapper is not used (one conversion per worker).
import dcm2niixJsUrl from '../node_modules/@niivue/dcm2niix/dist/dcm2niix.jpeg.js?url';
import dcm2niixWasmUrl from '../node_modules/@niivue/dcm2niix/dist/dcm2niix.jpeg.wasm?url';

export interface DicomSeriesSummary {
  id: string;
  fileName: string;
  description: string;
  modality: string;
  seriesNumber: number | null;
  /** NIfTI dims x, y, z[, t] */
  dims: number[];
  voxelSize: number[];
  fileCount: number;
}

export interface DicomConvertResult {
  series: DicomSeriesSummary[];
  skipped: { name: string; reason: string }[];
}

const wrapError = (e: unknown, file?: string): Error => workerError(e, { file, otherCode: 'dicom' });

type EmscriptenFactory = (m: Record<string, unknown>) => Promise<Dcm2niixModule>;
let runtime: Promise<{ create: EmscriptenFactory; wasm: WebAssembly.Module }> | null = null;

function loadRuntime(): Promise<{ create: EmscriptenFactory; wasm: WebAssembly.Module }> {
  runtime ??= (async () => {
    const [mod, wasm] = await Promise.all([
      import(/* @vite-ignore */ new URL(dcm2niixJsUrl, self.location.href).href) as Promise<{ default: EmscriptenFactory }>,
      fetch(new URL(dcm2niixWasmUrl, self.location.href).href).then(async (r) => {
        if (!r.ok) throw new SegStudioError('dicom-runtime', `cannot load dcm2niix (HTTP ${r.status})`, 'dcm2niix.wasm');
        return WebAssembly.compile(await r.arrayBuffer());
      }),
    ]);
    return { create: mod.default, wasm };
  })();
  runtime.catch(() => (runtime = null));
  return runtime;
}

const factory: Dcm2niixFactory = async ({ print, printErr }) => {
  const { create, wasm } = await loadRuntime();
  return create({
    print,
    printErr,
    // this Emscripten version awaits what instantiateWasm returns and takes it as the exports
    instantiateWasm: (imports: WebAssembly.Imports, done: (i: WebAssembly.Instance, m: WebAssembly.Module) => unknown) =>
      WebAssembly.instantiate(wasm, imports).then((inst) => done(inst, wasm)),
  });
};

let converted = new Map<string, ConvertedSeries>();

const api = {
  /** Loads dcm2niix ahead of a conversion (optional). */
  async warm(): Promise<void> {
    try {
      await loadRuntime();
    } catch (e) {
      throw wrapError(e, 'dcm2niix');
    }
  },

  /** 'model' when a zip is a model bundle, 'dicom' otherwise (the page then converts it). */
  async zipKind(file: Blob, name: string): Promise<'model' | 'dicom'> {
    try {
      const names = zipMemberNames(new Uint8Array(await file.arrayBuffer()), name);
      return zipHoldsModel(names) ? 'model' : 'dicom';
    } catch (e) {
      throw wrapError(e, name);
    }
  },

  /** Converts dropped files (a folder's files, or .zip archives of them); keeps the volumes for `get`. */
  async convert(files: { path: string; data: Blob }[], onProgress?: (p: ProgressEvent) => void): Promise<DicomConvertResult> {
    const label = files.length === 1 ? files[0].path : `${files[0]?.path.split('/')[0] ?? 'files'} (${files.length} files)`;
    try {
      converted = new Map();
      const report = (done: number, total: number, stage: string) => onProgress?.({ done, total, stage });
      const inputs: DicomInput[] = [];
      let bytesRead = 0;
      const totalBytes = files.reduce((s, f) => s + f.data.size, 0);
      for (let i = 0; i < files.length; i++) {
        const f = files[i];
        const bytes = new Uint8Array(await f.data.arrayBuffer());
        bytesRead += bytes.length;
        if (/\.zip$/i.test(f.path)) inputs.push(...unzipDicomInputs(bytes, f.path));
        else inputs.push({ name: f.path, bytes });
        if (i % 16 === 0 || i === files.length - 1) report(bytesRead, totalBytes, `reading ${i + 1} of ${files.length} files`);
      }
      await loadRuntime();
      const res = await convertDicom(inputs, factory, { onProgress: (d, t, s) => report(d, t, s ?? '') });
      for (const s of res.series) converted.set(s.id, s);
      return {
        series: res.series.map((s) => ({
          id: s.id,
          fileName: s.fileName,
          description: s.description,
          modality: s.modality,
          seriesNumber: s.seriesNumber,
          dims: s.dims,
          voxelSize: s.voxelSize,
          fileCount: s.fileCount,
        })),
        skipped: res.skipped,
      };
    } catch (e) {
      throw wrapError(e, label);
    }
  },

  /** A copy of one converted NIfTI (the worker keeps them all, so another series can be chosen later). */
  async get(id: string): Promise<{ name: string; bytes: Uint8Array }> {
    const s = converted.get(id);
    if (!s) throw wrapError(new SegStudioError('dicom-series', `no converted series ${id}; import the DICOM files again`));
    const bytes = s.nifti.slice();
    return Comlink.transfer({ name: s.fileName, bytes }, [bytes.buffer as ArrayBuffer]);
  },
};

export type DicomApi = typeof api;
Comlink.expose(api);

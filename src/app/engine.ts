// Page-side actions: talk to the inference worker (comlink), update the store, drive the viewer.
import * as Comlink from 'comlink';
import type { InferenceApi } from '../../workers/inference.worker.ts';
import { get, pushError, set, setView, store, type AppState, type ResultState } from './store.ts';
import { viewer } from './viewer.ts';
import { classifyDicomDrop, importDicom } from './dicom.ts';
import type { DeviceChoice, DownloadFile, LoadedImage, ProgressEvent, SegmentResult } from './workerApi.ts';
import { WorkerSupervisor, watchLifeLock } from './runtime/supervisor.ts';

type InferenceRemote = Comlink.Remote<InferenceApi>;
let cancelFlag: Int32Array | null = null;
let sharedCancel: SharedArrayBuffer | undefined;
/** label map of the last segmentation, before edits (for 'reset') */
let lastResult: SegmentResult | null = null;
const variants = new Map<string, SegmentResult>();

// ---- worker supervision (crash recovery, GPU re-acquisition): see docs/app.md "Reliability"

/** How to load the current image / model into a new worker after a crash (set when a load succeeds). */
const restoreSources: { image: ((w: InferenceRemote) => Promise<unknown>) | null; model: ((w: InferenceRemote) => Promise<unknown>) | null } = {
  image: null,
  model: null,
};

/**
 * Any new way of loading an image or a model into the worker (e.g. DICOM import) registers how to load it
 * again here, after its load succeeded, so a restarted worker gets it back.
 */
export function setRestoreSource(kind: 'image' | 'model', load: (w: InferenceRemote) => Promise<unknown>): void {
  restoreSources[kind] = load;
}

let plannedRestart = false;
/** the worker's GPUDevice was lost: the next WebGPU run starts a new worker (new device) first */
let gpuLostPending = false;
let gpuRestarts = 0;
const MAX_GPU_RESTARTS = 3;

const supervisor = new WorkerSupervisor<InferenceRemote>({
  name: 'segstudio-inference',
  spawn(lockName) {
    const w = new Worker(new URL('../../workers/inference.worker.ts', import.meta.url), { type: 'module', name: lockName });
    return { remote: Comlink.wrap<InferenceApi>(w), terminate: () => w.terminate() };
  },
  async init(remote) {
    const generation = supervisor.generations;
    const events = { gpuLost: (reason: string) => onWorkerGpuLost(generation, reason) };
    const runtime = await remote.init(sharedCancel, get().options.device, Comlink.proxy(events));
    set({ runtime });
  },
  async restore(remote) {
    if (restoreSources.image) await restoreSources.image(remote);
    if (restoreSources.model) await restoreSources.model(remote);
  },
  hello: (remote) => remote.hello(),
  watch: watchLifeLock,
  onDeath({ reason, restarting }) {
    set({
      notice: restarting
        ? `The inference worker stopped: ${reason}. Restarting it with your image and model — results so far are kept.`
        : `The inference worker stopped several times in a row (${reason}). Press Segment to start it again, or reload the page.`,
    });
  },
  onRestored({ error }) {
    // probabilities lived in the old worker
    const r = get().result;
    if (r?.hasProbabilities) set({ result: { ...r, hasProbabilities: false } });
    if (error) reportError(error);
    else if (!plannedRestart) set({ notice: 'The inference worker was restarted: your image, model and results are kept. You can segment again.' });
  },
});

/** The worker's GPUDevice was lost (any time, also between runs): the next WebGPU run gets a new worker. */
function onWorkerGpuLost(generation: number, reason: string): void {
  if (generation !== supervisor.generations) return; // a replaced worker's device going away
  gpuLostPending = true;
  // during a run the result says it (finished on WASM); between runs say it now
  if (get().job.state !== 'segmenting') {
    set({
      notice:
        gpuRestarts < MAX_GPU_RESTARTS
          ? `The GPU device was lost (${reason}). The next WebGPU run restarts the inference worker to get a new GPU device.`
          : `The GPU device was lost again (${reason}); segmentation runs on the CPU (WASM) from now on (reload the page to retry WebGPU).`,
    });
  }
}

/** The inference worker's API: calls wait while a worker (re)starts and fail with a clear error if it dies. */
export function workerApi(): InferenceRemote {
  return supervisor.api;
}

/** Errors from the worker carry 'SegStudioError:code:file' in their name. */
export function reportError(e: unknown, fallbackFile?: string): void {
  const err = e as Error;
  const m = /^SegStudioError:([^:]*):(.*)$/.exec(err?.name ?? '');
  const code = m?.[1];
  const file = m?.[2] || fallbackFile;
  let message = err?.message ?? String(e);
  if (code === 'cancelled') {
    set({ notice: 'Segmentation cancelled — the image stays loaded.' });
    return;
  }
  if (file && !message.startsWith(file)) message = `${file}: ${message}`;
  pushError(message, file, code);
}

export async function init(): Promise<void> {
  if (globalThis.crossOriginIsolated && typeof SharedArrayBuffer !== 'undefined') {
    sharedCancel = new SharedArrayBuffer(4);
    cancelFlag = new Int32Array(sharedCancel);
  }
  try {
    await supervisor.ready();
    performance.mark('segstudio:worker-ready');
  } catch (e) {
    reportError(e);
  }
}

async function showLoaded(loaded: LoadedImage): Promise<void> {
  variants.clear();
  lastResult = null;
  set({ image: loaded.info, result: null });
  await viewer.showImage(loaded.display, loaded.info.name);
  const info = loaded.info;
  const preset = info.looksLikeCt ? 'brain' : 'auto';
  applyPreset(preset);
  syncLabelTable();
}

export async function loadDemoImage(): Promise<void> {
  set({ job: { ...get().job, state: 'loading', stage: 'loading the demo volume' } });
  try {
    await showLoaded(await workerApi().loadDemoImage());
    setRestoreSource('image', (w) => w.loadDemoImage());
    performance.mark('segstudio:demo-image-shown');
  } catch (e) {
    reportError(e, 'demo_phantom.nii.gz');
  } finally {
    set({ job: { ...get().job, state: 'idle', stage: '' } });
  }
}

export async function loadDemoModel(): Promise<boolean> {
  try {
    const model = await workerApi().loadDemoModel();
    setRestoreSource('model', (w) => w.loadDemoModel());
    performance.mark('segstudio:demo-model-loaded');
    set({ model, options: { ...get().options, folds: [] } });
    void workerApi().prewarm(get().options.device);
    syncLabelTable();
    return true;
  } catch (e) {
    reportError(e, 'models/demo');
    return false;
  }
}

const IMAGE_RE = /\.(nii|nii\.gz|png|jpe?g|gz|dcm|nrrd|mha|mhd)$/i;
const MODEL_RE = /(\.onnx|\.zip|manifest\.json|plans\.json|dataset\.json|\.card\.json|model-card\.json)$/i;

export interface DroppedFile {
  path: string;
  file: File;
}

/** Decides what a drop is: a model (bundle folder / zip / .onnx + card) or an image case. */
export function classifyDrop(files: DroppedFile[]): 'model' | 'image' {
  if (files.some((f) => /\.onnx$/i.test(f.path) || /manifest\.json$/i.test(f.path))) return 'model';
  if (files.length === 1 && /\.zip$/i.test(files[0].path)) return 'model';
  if (files.every((f) => MODEL_RE.test(f.path) && !IMAGE_RE.test(f.path))) return 'model';
  return 'image';
}

export async function openFiles(files: DroppedFile[]): Promise<void> {
  if (files.length === 0) return;
  // a folder of DICOM files or a zip of them: converted with dcm2niix first (src/app/dicom.ts)
  if ((await classifyDicomDrop(files)) === 'dicom') return importDicom(files);
  if (classifyDrop(files) === 'model') return loadModelFiles(files);
  const images = files.filter((f) => !/(^|\/)\.|\.json$|\.txt$|\.md$/i.test(f.path));
  const names = images.map((f) => f.file.name).join(', ');
  if (images.length === 0) {
    pushError(`${files.map((f) => f.file.name).join(', ')}: no image files found (supported: .nii, .nii.gz, .png)`);
    return;
  }
  set({ job: { ...get().job, state: 'loading', stage: `reading ${names}` }, notice: null });
  try {
    const payload = images.map((f) => ({ name: f.file.name, data: f.file }));
    const loaded = await workerApi().loadFiles(payload);
    setRestoreSource('image', (w) => w.loadFiles(payload));
    await showLoaded(loaded);
  } catch (e) {
    reportError(e, names);
  } finally {
    set({ job: { ...get().job, state: 'idle', stage: '' } });
  }
}

export async function loadModelFiles(files: DroppedFile[]): Promise<void> {
  const label = files.length === 1 ? files[0].path : files[0].path.split('/')[0];
  set({ job: { ...get().job, state: 'loading', stage: `loading model ${label}` }, notice: null });
  try {
    const payload = files.map((f) => ({ path: f.path, data: f.file }));
    const model = await workerApi().loadModelFiles(payload);
    setRestoreSource('model', (w) => w.loadModelFiles(payload));
    set({ model, options: { ...get().options, folds: [] } });
    void workerApi().prewarm(get().options.device);
    syncLabelTable();
  } catch (e) {
    reportError(e, label);
  } finally {
    set({ job: { ...get().job, state: 'idle', stage: '' } });
  }
}

export async function segment(): Promise<void> {
  const s = get();
  if (!s.image || !s.model || s.job.state !== 'idle') return;
  if (cancelFlag) Atomics.store(cancelFlag, 0, 0);
  const startedAt = performance.now();
  performance.mark('segstudio:segment-start');
  set({ job: { state: 'segmenting', stage: 'starting', done: 0, total: 0, startedAt, lastMs: s.job.lastMs }, notice: null });
  const onProgress = (p: ProgressEvent) => {
    const job = get().job;
    if (job.state === 'segmenting') set({ job: { ...job, done: p.done, total: p.total, stage: p.stage } });
  };
  try {
    if (gpuLostPending && s.options.device !== 'wasm' && gpuRestarts < MAX_GPU_RESTARTS) {
      // onnxruntime-web keeps the device it started with: a new worker gets a new GPUDevice
      gpuLostPending = false;
      gpuRestarts++;
      set({ job: { ...get().job, stage: 'restarting the inference worker for a new GPU device' } });
      plannedRestart = true;
      try {
        await supervisor.restart('a new GPU device after a device loss');
      } finally {
        plannedRestart = false;
      }
    }
    const result = await workerApi().segment(s.options, Comlink.proxy(onProgress));
    const key = result.folds.length > 1 ? 'ensemble' : `fold ${result.folds[0]}`;
    variants.set(key, result);
    // several folds: each fold's own prediction is a variant too (switching re-runs nothing)
    for (const f of result.foldResults ?? []) {
      variants.set(`fold ${f.fold}`, { ...result, labels: f.labels, stats: f.stats, folds: [f.fold], hasProbabilities: false, foldResults: undefined });
    }
    showResult(result, key);
    set({ job: { ...get().job, state: 'idle', stage: '', lastMs: performance.now() - startedAt } });
    if (result.gpuLost) {
      gpuLostPending = true;
      if (result.device === 'wasm' && /lost/.test(result.fallbackReason ?? '')) {
        set({
          notice:
            gpuRestarts < MAX_GPU_RESTARTS
              ? `The GPU device was lost during segmentation: this result was computed on the CPU (WASM). The next WebGPU run restarts the inference worker to get a new GPU device.`
              : `The GPU device was lost again: this result was computed on the CPU (WASM), which is used from now on (reload the page to retry WebGPU).`,
        });
      }
    }
  } catch (e) {
    set({ job: { ...get().job, state: 'idle', stage: '' } });
    reportError(e, s.image.name);
  }
}

function showResult(result: SegmentResult, key: string): void {
  lastResult = result;
  viewer.setLabels(result.labels);
  set({
    result: {
      version: (get().result?.version ?? 0) + 1,
      shape: result.shape,
      device: result.device,
      deviceLabel: result.deviceLabel,
      fallbackReason: result.fallbackReason,
      folds: result.folds,
      tta: result.tta,
      totalMs: result.timings.totalMs,
      stats: result.stats,
      hasProbabilities: result.hasProbabilities,
      postprocessed: [],
      steps: [],
      variants: variantList(),
      activeVariant: key,
    },
  });
  syncLabelTable();
  if (get().firstResultMs === null) {
    // after the viewer has drawn the overlay (next frame)
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        performance.mark('segstudio:first-result-drawn');
        set({ firstResultMs: performance.now() });
      }),
    );
  }
}

/** 'Ensemble (N folds)' first, then the folds in order. */
function variantList(): ResultState['variants'] {
  const keys = [...variants.keys()].sort((a, b) => (a === 'ensemble' ? -1 : b === 'ensemble' ? 1 : Number(a.slice(5)) - Number(b.slice(5))));
  return keys.map((k) => ({ key: k, label: k === 'ensemble' ? `Ensemble (${variants.get(k)!.folds.length} folds)` : k.replace('fold', 'Fold') }));
}

export function selectVariant(key: string): void {
  const r = variants.get(key);
  if (r) showResult(r, key);
}

export function chooseDevice(device: DeviceChoice): void {
  set({ options: { ...get().options, device } });
  if (get().model) void workerApi().prewarm(device);
}

export function cancel(): void {
  if (get().job.state !== 'segmenting') return;
  if (cancelFlag) Atomics.store(cancelFlag, 0, 1);
  void workerApi().cancel();
  set({ job: { ...get().job, state: 'cancelling', stage: 'cancelling…' } });
}

export async function runDemo(): Promise<void> {
  const s = get();
  if (s.job.state !== 'idle') return;
  const jobs: Promise<unknown>[] = [];
  if (!s.image?.isDemo) jobs.push(loadDemoImage());
  if (s.model?.source !== 'demo') jobs.push(loadDemoModel());
  await Promise.all(jobs);
  if (get().image?.isDemo && get().model?.source === 'demo') await segment();
}

/** Recomputes the label table after an edit, postprocessing or undo; `steps` is the new undo history. */
async function refreshStats(steps?: ResultState['steps']): Promise<void> {
  const r = get().result;
  const labels = viewer.getLabels();
  if (!r || !labels) return;
  try {
    const stats = await workerApi().stats(Comlink.transfer(labels, [labels.buffer]), r.shape);
    const cur = get().result!;
    const st = steps ?? cur.steps;
    set({
      result: {
        ...cur,
        stats,
        version: cur.version + 1,
        steps: st,
        postprocessed: st.filter((x): x is number => typeof x === 'number'),
      },
    });
  } catch (e) {
    reportError(e);
  }
}

viewer.onEdit = (action) => {
  if (action !== 'draw') return;
  const r = get().result;
  if (r) void refreshStats([...r.steps, 'edit']);
};

/** Largest-component postprocessing for one label; applying it again when it was the last step undoes it. */
export async function toggleLargestComponent(label: number): Promise<void> {
  const r = get().result;
  if (!r) return;
  if (r.postprocessed.includes(label)) {
    if (r.steps[r.steps.length - 1] === label) undo();
    return;
  }
  const labels = viewer.getLabels();
  if (!labels) return;
  try {
    const out = await workerApi().largestComponent(Comlink.transfer(labels, [labels.buffer]), r.shape, label);
    viewer.pushLabels(out);
    await refreshStats([...r.steps, label]);
  } catch (e) {
    reportError(e);
  }
}

export function undo(): void {
  const r = get().result;
  if (!r || r.steps.length === 0) return;
  viewer.undo();
  void refreshStats(r.steps.slice(0, -1));
}

export function resetEdits(): void {
  if (lastResult) {
    showResult(lastResult, get().result?.activeVariant ?? 'ensemble');
  }
}

function saveFile(f: DownloadFile): void {
  const blob = new Blob([f.bytes as BlobPart], { type: f.mime });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = f.name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function downloadSegmentation(): Promise<void> {
  const r = get().result;
  const labels = viewer.getLabels();
  if (!r || !labels) return;
  try {
    saveFile(await workerApi().exportSegmentation(Comlink.transfer(labels, [labels.buffer]), r.shape));
  } catch (e) {
    reportError(e);
  }
}

export async function downloadProbabilities(): Promise<void> {
  try {
    saveFile(await workerApi().exportProbabilities());
  } catch (e) {
    reportError(e);
  }
}

// ---- view

export const PRESETS: { key: string; label: string; hotkey: string; window?: [number, number] }[] = [
  { key: 'auto', label: 'Auto (MR)', hotkey: '1' },
  { key: 'brain', label: 'Brain 80/40', hotkey: '2', window: [80, 40] },
  { key: 'subdural', label: 'Subdural 200/75', hotkey: '3', window: [200, 75] },
  { key: 'lung', label: 'Lung 1500/−600', hotkey: '4', window: [1500, -600] },
  { key: 'abdomen', label: 'Abdomen 400/40', hotkey: '5', window: [400, 40] },
  { key: 'bone', label: 'Bone 1800/400', hotkey: '6', window: [1800, 400] },
  { key: 'full', label: 'Full range', hotkey: '7' },
];

export function applyPreset(key: string): void {
  const img = get().image;
  const p = PRESETS.find((x) => x.key === key);
  if (!img || !p) return;
  let min: number;
  let max: number;
  if (p.window) {
    const [w, l] = p.window;
    min = l - w / 2;
    max = l + w / 2;
  } else if (key === 'full') [min, max] = img.range;
  else [min, max] = img.robustRange[1] > img.robustRange[0] ? img.robustRange : img.range;
  viewer.setWindow(min, max);
  setView({ preset: key, windowMin: min, windowMax: max });
}

export function setWindow(min: number, max: number): void {
  viewer.setWindow(min, max);
  setView({ preset: 'custom', windowMin: min, windowMax: max });
}

export function syncLabelTable(): void {
  const s = get();
  const labels = s.model?.labels ?? [];
  viewer.setLabelTable(labels, s.view.hidden);
  viewer.setOpacity(s.view.opacity, s.view.outline);
}

export function toggleHidden(label: number): void {
  const hidden = get().view.hidden;
  setView({ hidden: hidden.includes(label) ? hidden.filter((h) => h !== label) : [...hidden, label] });
  syncLabelTable();
}

export function setOpacity(opacity: number): void {
  setView({ opacity });
  syncLabelTable();
}

export function setOutline(outline: boolean): void {
  setView({ outline });
  syncLabelTable();
}

export function setSlice(slice: AppState['view']['slice']): void {
  setView({ slice });
  viewer.setSlice(slice);
}

export function setTool(tool: AppState['view']['tool'], penLabel = get().view.penLabel): void {
  setView({ tool, penLabel });
  viewer.applyTool(tool, penLabel);
}

/** Read-only snapshot for tests and debugging: `window.__segstudio.state()` (never used to drive the app). */
export function installTestHook(): void {
  const hook = {
    state: () => JSON.parse(JSON.stringify(store.getState())) as AppState,
    /** the label map as shown in the viewer (NiiVue's drawing layer), in file order */
    overlayLabels: () => {
      const l = viewer.getLabels();
      return l ? Array.from(l) : null;
    },
  };
  Object.defineProperty(window, '__segstudio', { value: Object.freeze(hook), configurable: false, writable: false });
  if (new URLSearchParams(location.search).get('testhooks') === '1') installFaultHooks();
}

/**
 * Fault-injection hooks for e2e/faults.e2e.ts, only with `?testhooks=1`: `window.__segstudioTest`.
 * They cause real faults (the worker's real GPUDevice is destroyed; the real worker ends); nothing is mocked.
 */
function installFaultHooks(): void {
  const hooks = {
    /** destroys the inference worker's GPUDevice; resolves false when it has none */
    loseGpu: () => workerApi().__testLoseGpu(),
    /** 'close': the worker ends itself (self.close()); 'terminate': the page terminates it without telling the supervisor */
    crashWorker: (how: 'close' | 'terminate') => {
      if (how === 'terminate') return supervisor.terminateForTest();
      workerApi().__testCrash().catch(() => undefined);
      return true;
    },
    /** how many inference workers were started so far */
    workerGenerations: () => supervisor.generations,
    /** an explicit memory budget in bytes for the next segmentations (null: from the device again) */
    setMemoryBudget: (bytes: number | null) => workerApi().__testSetMemoryBudget(bytes),
  };
  Object.defineProperty(window, '__segstudioTest', { value: Object.freeze(hooks), configurable: false, writable: false });
}

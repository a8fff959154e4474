// The inference worker: everything heavy runs here, never on the page's thread. Reads dropped files
// (transferred, not copied), loads models, runs the shared core predictor (src/core/inference) with an
// onnxruntime-web runner on WebGPU or WASM, and writes results back through src/core/io.
import * as Comlink from 'comlink';
import { SegStudioError, guardWorkerCall, isSegStudioError } from '../src/core/errors.ts';
import type { Image, LabelMap } from '../src/core/types.ts';
import { makePhantom } from '../src/core/demo/phantom.ts';
import { encodeNifti1 } from '../src/core/demo/nifti1.ts';
import { removeAllButLargestComponent } from '../src/core/postprocessing/components.ts';
import type { NetworkRunner } from '../src/core/inference/runner.ts';
import { OnnxGraphBuilder } from '../src/core/inference/onnx/index.ts';
import {
  createOrtWebRunner,
  gpuIsLost,
  onGpuLost,
  probeWebGpu,
  wasmThreads,
  ensureGpu,
  destroyGpuForTest,
  type WebDevice,
} from '../src/app/runtime/ortWebRunner.ts';
import { holdLifeLock } from '../src/app/runtime/supervisor.ts';
import { browserMemoryInfo, formatBytes, memoryBudget } from '../src/core/inference/memory.ts';
import { displayNifti, groupChannels, intensityRanges, labelStats } from '../src/app/runtime/imageUtil.ts';
import {
  loadModelFromFiles,
  readImage,
  runPrediction,
  stackChannels,
  writeLabels,
  writeProbabilities,
  type AppModel,
} from '../src/app/runtime/pipeline.ts';
import type {
  DeviceChoice,
  DownloadFile,
  LabelStat,
  LoadedImage,
  ModelInfo,
  ProgressEvent,
  RuntimeInfo,
  SegmentOptions,
  SegmentResult,
} from '../src/app/workerApi.ts';

interface WorkerState {
  image: Image | null;
  imageName: string;
  isDemo: boolean;
  model: AppModel | null;
  runners: Map<string, Promise<NetworkRunner>>;
  probabilities: { data: Float32Array; channels: number } | null;
  cancelFlag: Int32Array | null;
  cancelled: boolean;
  probe: Awaited<ReturnType<typeof probeWebGpu>> | null;
}

const S: WorkerState = {
  image: null,
  imageName: '',
  isDemo: false,
  model: null,
  runners: new Map(),
  probabilities: null,
  cancelFlag: null,
  cancelled: false,
  probe: null,
};

// Held for the worker's whole life: the page (src/app/runtime/supervisor.ts) learns of our death when the
// browser releases it (crash, out-of-memory, close, terminate).
const lifeLock = holdLifeLock((self as unknown as { name?: string }).name ?? '');

let gpuLostReason: string | null = null;
/** the page's callbacks (set by init): told at once when the GPU device is lost, even between runs */
let pageEvents: { gpuLost(reason: string): unknown } | null = null;
onGpuLost((reason) => {
  gpuLostReason = reason;
  Promise.resolve(pageEvents?.gpuLost(reason)).catch(() => undefined);
});

/** Errors cross the worker boundary with code and file in the name, so the page can show both. */
const guarded = <T>(fn: () => Promise<T>, file?: string): Promise<T> => guardWorkerCall(fn, { file, otherCode: 'internal' });

function baseUrl(): string {
  const base = (import.meta.env?.BASE_URL as string | undefined) ?? '/';
  return new URL(base, self.location.href).href;
}

function imageInfoOf(image: Image, name: string, files: string[], isDemo: boolean): LoadedImage {
  const { range, robust } = intensityRanges(image);
  const looksLikeCt = range[0] < -500 && robust[0] <= -900 && range[1] > 200;
  return {
    info: {
      name,
      files,
      format: image.properties.format,
      shape: [...image.shape],
      spacing: [...image.properties.spacing],
      channels: image.shape[0],
      is2D: image.properties.format === 'png' || image.shape[1] === 1,
      range,
      robustRange: robust,
      looksLikeCt,
      isDemo,
    },
    display: displayNifti(image),
  };
}

async function disposeRunners(): Promise<void> {
  const rs = [...S.runners.values()];
  S.runners.clear();
  await Promise.allSettled(rs.map(async (p) => (await p).dispose()));
}

/** One runner per fold and device, created once (concurrent callers share the same session). */
async function runnersFor(device: WebDevice, folds: number[]): Promise<NetworkRunner[]> {
  const model = S.model!;
  return Promise.all(
    folds.map((f) => {
      const key = `${device}:${f}`;
      let r = S.runners.get(key);
      if (!r) {
        const w = model.weights.get(f);
        if (!w) throw new SegStudioError('model-fold', `the model has no fold ${f}`, model.info.name);
        r = createOrtWebRunner(w.bytes, { device, fileName: w.fileName });
        r.catch(() => S.runners.delete(key));
        S.runners.set(key, r);
      }
      return r;
    }),
  );
}

/** Which device a choice runs on now, and why not WebGPU when it does not. */
async function resolveDevice(choice: DeviceChoice): Promise<{ device: WebDevice; reason: string | null }> {
  if (choice === 'wasm') return { device: 'wasm', reason: null };
  if (!S.probe) S.probe = await probeWebGpu();
  if (gpuIsLost()) return { device: 'wasm', reason: `the WebGPU device was lost (${gpuLostReason ?? 'unknown'})` };
  if (!S.probe.adapter) return { device: 'wasm', reason: S.probe.reason ?? 'no WebGPU adapter' };
  if (choice === 'auto' && S.probe.isFallback) {
    // a software adapter (e.g. SwiftShader) runs ORT's WebGPU kernels far slower than WASM
    return { device: 'wasm', reason: `${S.probe.adapter} is a software WebGPU adapter, slower than WASM here (choose WebGPU to force it)` };
  }
  return { device: 'webgpu', reason: null };
}

/**
 * Loads onnxruntime-web for the device `choice` resolves to and instantiates its WASM (a session on a
 * one-node model) while the page is still loading the image and the model: the WASM compile is the
 * largest part of a cold start.
 */
async function warmRuntime(choice: DeviceChoice): Promise<void> {
  try {
    const { device } = await resolveDevice(choice);
    if (device === 'webgpu') await ensureGpu();
    const b = new OnnxGraphBuilder('warmup');
    const x = b.addInput('x', [1]);
    b.addOutput(b.identity(x), [1], 'float32', 'y');
    const r = await createOrtWebRunner(b.toBytes(), { device, fileName: 'warmup.onnx' });
    await r.dispose();
  } catch {
    /* the real session creation reports any problem */
  }
}

/** Starts ORT (WASM compile / GPU device) and the model's sessions in the background: the first Segment is then fast. */
function prewarm(choice: DeviceChoice): void {
  if (!S.model) return;
  const folds = S.model.info.folds;
  void resolveDevice(choice)
    .then(async ({ device }) => {
      if (device === 'webgpu') await ensureGpu();
      await runnersFor(device, folds);
    })
    .catch(() => undefined);
}

function deviceLabel(device: WebDevice, adapter: string | null): string {
  return device === 'webgpu' ? `WebGPU (${adapter ?? 'adapter'})` : `CPU (WASM, ${wasmThreads()} thread${wasmThreads() === 1 ? '' : 's'})`;
}

const api = {
  /** answers once this worker holds its life lock: from then on the page notices if it dies */
  async hello(): Promise<void> {
    await lifeLock;
  },

  async init(cancelBuffer?: SharedArrayBuffer, warmChoice?: DeviceChoice, events?: { gpuLost(reason: string): unknown }): Promise<RuntimeInfo> {
    if (cancelBuffer) S.cancelFlag = new Int32Array(cancelBuffer);
    pageEvents = events ?? null;
    await lifeLock;
    S.probe = await probeWebGpu();
    if (warmChoice) void warmRuntime(warmChoice);
    return {
      webgpuAdapter: S.probe.adapter,
      webgpuReason: S.probe.reason,
      webgpuIsFallbackAdapter: S.probe.isFallback,
      threads: wasmThreads(),
      crossOriginIsolated: Boolean((self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated),
    };
  },

  /** Reads one case: a single file, or nnU-Net channel files CASE_0000 … (several channels). */
  async loadFiles(files: { name: string; data: Blob | ArrayBuffer }[]): Promise<LoadedImage> {
    const names = files.map((f) => f.name);
    return guarded(async () => {
      if (files.length === 0) throw new SegStudioError('no-files', 'no files were dropped');
      const { caseName, order, isCase } = groupChannels(names);
      if (!isCase) {
        throw new SegStudioError(
          'several-images',
          `${files.length} images dropped that are not the channel files of one case: drop one image, or one case's channels named CASE_0000, CASE_0001, …`,
          names.slice(0, 3).join(', ') + (names.length > 3 ? ', …' : ''),
        );
      }
      const images: Image[] = [];
      for (const i of order) {
        const f = files[i];
        const buf = f.data instanceof ArrayBuffer ? f.data : await f.data.arrayBuffer();
        images.push(readImage(new Uint8Array(buf), f.name));
      }
      const image = images.length === 1 ? images[0] : stackChannels(images, order.map((i) => names[i]));
      image.properties.fileName = caseName;
      S.image = image;
      S.imageName = caseName;
      S.isDemo = false;
      S.probabilities = null;
      const loaded = imageInfoOf(image, files.length > 1 ? `${caseName} (${files.length} channels)` : caseName, names, false);
      return Comlink.transfer(loaded, [loaded.display.buffer as ArrayBuffer]);
    }, names.join(', '));
  },

  async loadDemoImage(): Promise<LoadedImage> {
    return guarded(async () => {
      const p = makePhantom();
      // through a real NIfTI file, so the demo follows exactly the path of a dropped file
      const [, nz, ny, nx] = p.image.shape;
      const bytes = encodeNifti1(p.image.data, [nx, ny, nz], p.image.properties.affine!, 'SegStudio synthetic phantom');
      const image = readImage(bytes, 'demo_phantom.nii');
      image.properties.fileName = 'demo_phantom.nii.gz';
      S.image = image;
      S.imageName = 'demo_phantom.nii.gz';
      S.isDemo = true;
      S.probabilities = null;
      const loaded = imageInfoOf(image, 'Demo phantom (synthetic)', ['demo_phantom.nii.gz'], true);
      return Comlink.transfer(loaded, [loaded.display.buffer as ArrayBuffer]);
    }, 'demo_phantom.nii.gz');
  },

  async loadDemoModel(): Promise<ModelInfo> {
    return guarded(async () => {
      const dir = new URL('models/demo/', baseUrl()).href;
      const res = await fetch(`${dir}manifest.json`);
      if (!res.ok) throw new SegStudioError('demo-model', `cannot fetch the bundled demo model (HTTP ${res.status})`, 'models/demo/manifest.json');
      const manifestBytes = new Uint8Array(await res.arrayBuffer());
      const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as { files: Record<string, string> };
      const files = new Map<string, Uint8Array>([['manifest.json', manifestBytes]]);
      await Promise.all(
        Object.keys(manifest.files).map(async (name) => {
          const r = await fetch(`${dir}${name}`);
          if (!r.ok) throw new SegStudioError('demo-model', `cannot fetch (HTTP ${r.status})`, `models/demo/${name}`);
          files.set(name, new Uint8Array(await r.arrayBuffer()));
        }),
      );
      await disposeRunners();
      S.model = await loadModelFromFiles(files, 'demo', 'Bundled demo model');
      return S.model.info;
    }, 'models/demo');
  },

  /** A dropped model: bundle folder files (relative paths), a bundle .zip, or .onnx + model card. */
  async loadModelFiles(files: { path: string; data: Blob | ArrayBuffer }[]): Promise<ModelInfo> {
    const label = files.length === 1 ? files[0].path : files[0]?.path.split('/')[0] || 'model';
    return guarded(async () => {
      const map = new Map<string, Uint8Array>();
      for (const f of files) {
        const buf = f.data instanceof ArrayBuffer ? f.data : await f.data.arrayBuffer();
        map.set(f.path, new Uint8Array(buf));
      }
      const model = await loadModelFromFiles(map, 'dropped', label);
      await disposeRunners();
      S.model = model;
      return model.info;
    }, label);
  },

  cancel(): void {
    S.cancelled = true;
  },

  /** Prepares the runtime and sessions for `choice` in the background (called when a model is loaded). */
  prewarm(choice: DeviceChoice): void {
    prewarm(choice);
  },

  async segment(opts: SegmentOptions, onProgress: (p: ProgressEvent) => void): Promise<SegmentResult> {
    const file = S.imageName;
    return guarded(async () => {
      const image = S.image;
      const model = S.model;
      if (!image) throw new SegStudioError('no-image', 'load an image first');
      if (!model) throw new SegStudioError('no-model', 'choose a model first');
      S.cancelled = false;
      if (S.cancelFlag) Atomics.store(S.cancelFlag, 0, 0);
      const signal = {
        get aborted() {
          return S.cancelled || (S.cancelFlag !== null && Atomics.load(S.cancelFlag, 0) === 1);
        },
      };
      const folds = opts.folds.length ? opts.folds.filter((f) => model.info.folds.includes(f)) : model.info.folds;
      if (folds.length === 0) throw new SegStudioError('model-fold', `none of the folds ${opts.folds.join(', ')} exist in this model`, model.info.name);
      // device choice: Auto = WebGPU on a hardware adapter, else WASM; any WebGPU failure falls back with a reason
      const resolved = await resolveDevice(opts.device);
      let device: WebDevice = resolved.device;
      let fallbackReason: string | null = resolved.reason;
      let last = 0;
      const progress = (done: number, total: number, stage?: string) => {
        const now = performance.now();
        if (done === total || now - last > 80) {
          last = now;
          onProgress({ done, total, stage: stage ?? 'predicting' });
        }
      };
      const t0 = performance.now();
      const attempt = async (dev: WebDevice) => {
        onProgress({ done: 0, total: 1, stage: dev === 'webgpu' ? 'starting WebGPU' : 'starting WASM' });
        const ts = performance.now();
        const gpuLimits = dev === 'webgpu' ? (await ensureGpu()).device.limits : undefined;
        const runners = await runnersFor(dev, folds);
        const sessionMs = performance.now() - ts;
        // memory budget from navigator.deviceMemory (+ the GPU's largest buffer); refuses with a suggestion
        const budget = memoryBudget({
          ...browserMemoryInfo(gpuLimits && { maxBufferSize: gpuLimits.maxBufferSize, maxStorageBufferBindingSize: gpuLimits.maxStorageBufferBindingSize }),
          overrideBytes: memoryBudgetOverride ?? undefined,
        });
        const out = await runPrediction(image, model, runners, {
          tta: opts.tta,
          stepSize: opts.stepSize,
          saveProbabilities: opts.saveProbabilities,
          perFold: folds.length > 1,
          onProgress: progress,
          signal,
          memoryBudget: budget,
          onEstimate: (e) =>
            onProgress({ done: 0, total: 1, stage: `estimate: ${formatBytes(e.peakBytes)} peak of a ${formatBytes(e.budgetBytes)} budget, ${e.runs} network runs` }),
        });
        return { out, sessionMs };
      };
      let run: Awaited<ReturnType<typeof attempt>>;
      try {
        run = await attempt(device);
      } catch (e) {
        if (device !== 'webgpu' || (isSegStudioError(e) && (e.code === 'cancelled' || e.code === 'channels' || e.code === 'channel-mismatch'))) throw e;
        const msg = e instanceof Error ? e.message : String(e);
        if (isSegStudioError(e) && e.code === 'out-of-memory' && !gpuIsLost()) throw e;
        fallbackReason = gpuIsLost() ? `the WebGPU device was lost (${gpuLostReason ?? msg})` : `WebGPU failed: ${msg}`;
        for (const [k, r] of S.runners) {
          if (!k.startsWith('webgpu:')) continue;
          S.runners.delete(k);
          void r.then((x) => x.dispose()).catch(() => undefined);
        }
        device = 'wasm';
        run = await attempt('wasm');
      }
      const { out, sessionMs } = run;
      const labels = out.labels;
      const u8 = labels.data instanceof Uint8Array ? labels.data : Uint8Array.from(labels.data as ArrayLike<number>);
      S.probabilities = out.probabilities ? { data: out.probabilities, channels: out.probabilityChannels } : null;
      const is2D = image.properties.format === 'png' || image.shape[1] === 1;
      const stats = labelStats({ data: u8, shape: labels.shape }, image.properties.spacing, is2D, model.info.labels.map((l) => l.value));
      const toU8 = (d: LabelMap['data']) => (d instanceof Uint8Array ? d : Uint8Array.from(d as ArrayLike<number>));
      const foldResults = out.foldLabels?.map((l, i) => {
        const fu8 = toU8(l.data);
        return { fold: folds[i], labels: fu8, stats: labelStats({ data: fu8, shape: l.shape }, image.properties.spacing, is2D, model.info.labels.map((x) => x.value)) };
      });
      const result: SegmentResult = {
        labels: u8,
        shape: [...labels.shape],
        device,
        deviceLabel: deviceLabel(device, S.probe?.adapter ?? null),
        fallbackReason,
        folds,
        tta: opts.tta,
        timings: { totalMs: performance.now() - t0, sessionMs },
        stats,
        hasProbabilities: Boolean(out.probabilities),
        foldResults,
        gpuLost: gpuIsLost(),
      };
      return Comlink.transfer(result, [u8.buffer as ArrayBuffer, ...(foldResults ?? []).map((f) => f.labels.buffer as ArrayBuffer)]);
    }, file);
  },

  async stats(labels: Uint8Array, shape: number[]): Promise<LabelStat[]> {
    return guarded(async () => {
      const image = S.image!;
      const is2D = image.properties.format === 'png' || image.shape[1] === 1;
      return labelStats({ data: labels, shape }, image.properties.spacing, is2D, S.model?.info.labels.map((l) => l.value) ?? []);
    });
  },

  /** nnU-Net's remove_all_but_largest_component for one label (postprocessing/remove_connected_components.py). */
  async largestComponent(labels: Uint8Array, shape: number[], label: number): Promise<Uint8Array> {
    return guarded(async () => {
      const out = removeAllButLargestComponent({ data: labels, shape } as LabelMap, label, 0);
      const data = out.data as Uint8Array;
      return Comlink.transfer(data, [data.buffer as ArrayBuffer]);
    });
  },

  async exportSegmentation(labels: Uint8Array, shape: number[]): Promise<DownloadFile> {
    return guarded(async () => {
      const image = S.image;
      if (!image) throw new SegStudioError('no-image', 'nothing to export: no image loaded');
      const f = writeLabels({ data: labels, shape }, image, S.imageName);
      return Comlink.transfer(f, [f.bytes.buffer as ArrayBuffer]);
    }, S.imageName);
  },

  async exportProbabilities(): Promise<DownloadFile> {
    return guarded(async () => {
      const image = S.image;
      if (!image || !S.probabilities) throw new SegStudioError('no-probabilities', 'run the segmentation with "Keep probabilities" first');
      const f = writeProbabilities(S.probabilities.data, S.probabilities.channels, image, S.imageName);
      return Comlink.transfer(f, [f.bytes.buffer as ArrayBuffer]);
    }, S.imageName);
  },
};

/**
 * Fault-injection test hooks (used only by e2e/faults.e2e.ts through the page's `window.__segstudioTest`,
 * which exists only with `?testhooks=1`). They cause real faults; nothing is simulated.
 */
/** an explicit memory budget (bytes) set by the e2e hook; null = from the device */
let memoryBudgetOverride: number | null = null;

const testHooks = {
  /** sets (bytes) or clears (null) an explicit memory budget for the next segmentations */
  __testSetMemoryBudget(bytes: number | null): void {
    memoryBudgetOverride = bytes;
  },
  /** destroys this worker's real GPUDevice (device.lost fires with reason 'destroyed'); false when there is none */
  __testLoseGpu(): boolean {
    return destroyGpuForTest();
  },
  /** the worker ends itself, as a crash would: every pending call is left unanswered */
  __testCrash(): void {
    setTimeout(() => self.close(), 0);
  },
};
Object.assign(api, testHooks);

export type InferenceApi = typeof api & typeof testHooks;
Comlink.expose(api);

// onnxruntime-web implementation of the core NetworkRunner interface (src/core/inference/runner.ts).
// Runs inside the inference worker only. ORT's JavaScript and WASM are served from our own origin
// (/ort/, copied from node_modules by the vite plugin in vite.config.ts) and imported at run time, so no
// byte comes from a CDN and the service worker can cache them for offline use.
//   WebGPU: onnxruntime-web's native WebGPU EP (ort.webgpu.min.mjs + the asyncify WASM), one GPUDevice per
//           worker (ORT creates it once; we read it back through env.webgpu.device and watch device.lost).
//   WASM:   ort.wasm.min.mjs + the plain SIMD/threads WASM (half the size: faster cold start).
import type * as OrtTypes from 'onnxruntime-web';
import { SegStudioError } from '../../core/errors.ts';
import type { NetworkRunner, RunOutput } from '../../core/inference/runner.ts';
import { decodeModel, encodeModel, rewriteConvTransposeReport } from '../../core/inference/onnx/index.ts';

type Ort = typeof OrtTypes;
export type WebDevice = 'webgpu' | 'wasm';

const ortModules: Partial<Record<WebDevice, Promise<Ort>>> = {};

/** Base URL of the ORT files (the app's base + 'ort/'). */
export function ortBaseUrl(): string {
  const base = (import.meta.env?.BASE_URL as string | undefined) ?? '/';
  return new URL(`${base}ort/`, self.location.href).href;
}

/** Number of WASM threads used (1 without cross-origin isolation, else up to 4). */
export function wasmThreads(): number {
  if (!(self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated) return 1;
  const hc = (self.navigator as Navigator | undefined)?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(4, hc));
}

export function loadOrt(device: WebDevice): Promise<Ort> {
  let p = ortModules[device];
  if (!p) {
    const file = device === 'webgpu' ? 'ort.webgpu.min.mjs' : 'ort.wasm.min.mjs';
    p = (import(/* @vite-ignore */ `${ortBaseUrl()}${file}`) as Promise<Ort>).then((ort) => {
      ort.env.wasm.wasmPaths = ortBaseUrl();
      ort.env.wasm.numThreads = wasmThreads();
      ort.env.wasm.proxy = false;
      ort.env.logLevel = 'error';
      return ort;
    });
    p.catch(() => delete ortModules[device]);
    ortModules[device] = p;
  }
  return p;
}

export interface GpuState {
  device: GPUDevice;
  adapterName: string;
  lost: boolean;
  lostReason?: string;
}

let gpuState: GpuState | null = null;
const gpuLostListeners = new Set<(reason: string) => void>();

export function onGpuLost(fn: (reason: string) => void): () => void {
  gpuLostListeners.add(fn);
  return () => gpuLostListeners.delete(fn);
}

export function describeAdapter(info: GPUAdapterInfo | undefined): string {
  if (!info) return 'unknown adapter';
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length > 0);
  return parts.length ? [...new Set(parts)].join(' ') : 'unknown adapter';
}

/** A GPU request that never settles (a wedged driver or GPU process) must not hang the worker. */
export const GPU_REQUEST_TIMEOUT_MS = 30_000;

function withTimeout<T>(p: Promise<T>, what: string, ms = GPU_REQUEST_TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SegStudioError('webgpu', `${what} did not answer within ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Probes WebGPU without creating a device: the adapter's name, or why there is none. */
export async function probeWebGpu(): Promise<{ adapter: string | null; reason: string | null; isFallback: boolean }> {
  const gpu = (self.navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { adapter: null, reason: 'this browser exposes no WebGPU (navigator.gpu is missing)', isFallback: false };
  try {
    const adapter = await withTimeout(gpu.requestAdapter(), 'navigator.gpu.requestAdapter()');
    if (!adapter) {
      return {
        adapter: null,
        reason: 'no WebGPU adapter (blocked GPU or driver; Chromium on Linux needs --enable-unsafe-webgpu)',
        isFallback: false,
      };
    }
    const info = adapter.info;
    const isFallback = Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe/i.test(describeAdapter(info));
    return { adapter: describeAdapter(info), reason: null, isFallback };
  } catch (e) {
    return { adapter: null, reason: `requestAdapter failed: ${(e as Error).message}`, isFallback: false };
  }
}

const LIMITS_TO_RAISE = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;
const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

/**
 * The worker's one GPUDevice: created here with the adapter's full compute limits, handed to
 * onnxruntime-web through env.webgpu.device before its first WebGPU session, shared by every session
 * (folds) and watched for loss (then segmentation falls back to WASM with the reason).
 */
let gpuPending: Promise<GpuState> | null = null;

export function ensureGpu(): Promise<GpuState> {
  // one device per worker, even when the warm-up, the prewarm and a segmentation ask at the same time
  if (!gpuPending) {
    gpuPending = createGpu();
    gpuPending.catch(() => {
      gpuPending = null;
    });
  }
  return gpuPending.then((g) => {
    if (g.lost) throw new SegStudioError('webgpu-lost', `the WebGPU device was lost (${g.lostReason ?? 'unknown'}); reload the page to use the GPU again`);
    return g;
  });
}

async function createGpu(): Promise<GpuState> {
  if (gpuState && !gpuState.lost) return gpuState;
  if (gpuState?.lost) throw new SegStudioError('webgpu-lost', `the WebGPU device was lost (${gpuState.lostReason ?? 'unknown'}); reload the page to use the GPU again`);
  const gpu = (self.navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) throw new SegStudioError('webgpu', 'this browser exposes no WebGPU');
  const adapter = await withTimeout(gpu.requestAdapter(), 'navigator.gpu.requestAdapter()');
  if (!adapter) throw new SegStudioError('webgpu', 'no WebGPU adapter');
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMITS_TO_RAISE) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const device = await withTimeout(adapter.requestDevice({ requiredLimits, requiredFeatures }), 'GPUAdapter.requestDevice()');
  const ort = await loadOrt('webgpu');
  ort.env.webgpu.device = device;
  const state: GpuState = { device, adapterName: describeAdapter(adapter.info), lost: false };
  device.lost.then((info) => {
    state.lost = true;
    state.lostReason = `${info.reason}: ${info.message}`;
    for (const fn of gpuLostListeners) fn(state.lostReason);
  });
  gpuState = state;
  return state;
}

export function gpuIsLost(): boolean {
  return Boolean(gpuState?.lost);
}

/**
 * Resolves (never rejects) once the worker's GPUDevice is lost. ORT's WebGPU calls that are in flight when
 * the device goes away may never settle, so every WebGPU run and read-back is raced against this.
 */
function whenGpuLost(fileName: string): { promise: Promise<never>; cancel: () => void } {
  let off: () => void = () => undefined;
  const promise = new Promise<never>((_, reject) => {
    const fail = (reason: string) =>
      reject(new SegStudioError('webgpu-lost', `the WebGPU device was lost during segmentation (${reason})`, fileName));
    if (gpuState?.lost) fail(gpuState.lostReason ?? 'unknown');
    else off = onGpuLost(fail);
  });
  promise.catch(() => undefined);
  return { promise, cancel: () => off() };
}

async function unlessGpuLost<T>(device: WebDevice, fileName: string, work: Promise<T>): Promise<T> {
  if (device !== 'webgpu') return work;
  const lost = whenGpuLost(fileName);
  try {
    return await Promise.race([work, lost.promise]);
  } finally {
    lost.cancel();
  }
}

/**
 * Test hook (fault-injection e2e only, reached through the worker's `__testLoseGpu`): destroys the worker's
 * real GPUDevice, so `device.lost` resolves with reason 'destroyed' exactly as on a driver reset or GPU
 * removal. Returns false when there is no live device.
 */
export function destroyGpuForTest(): boolean {
  if (!gpuState || gpuState.lost) return false;
  gpuState.device.destroy();
  return true;
}

/** ORT WebGPU kernels cannot run 3D ConvTranspose: rewrite kernel == stride ones as Conv + depth-to-space. */
export function prepareForWebGpu(modelBytes: Uint8Array, fileName: string): { bytes: Uint8Array; rewritten: number } {
  const model = decodeModel(modelBytes, fileName);
  const hasConvT = model.graph.nodes.some((n) => n.opType === 'ConvTranspose');
  if (!hasConvT) return { bytes: modelBytes, rewritten: 0 };
  const report = rewriteConvTransposeReport(model, fileName);
  return { bytes: encodeModel(report.model), rewritten: report.rewritten };
}

// ORT's WebGPU EP refuses to create two sessions at once ("another WebGPU EP inference session is being
// created"): the warm-up, the prewarm and a segmentation may overlap, so creations are queued.
let creationQueue: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const next = creationQueue.then(fn, fn);
  creationQueue = next.catch(() => undefined);
  return next;
}

export interface OrtWebRunnerOptions {
  device: WebDevice;
  fileName: string;
}

export async function createOrtWebRunner(modelBytes: Uint8Array, opts: OrtWebRunnerOptions): Promise<NetworkRunner> {
  const ort = await loadOrt(opts.device);
  let bytes = modelBytes;
  const sessionOptions: OrtTypes.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };
  if (opts.device === 'webgpu') {
    await ensureGpu();
    bytes = prepareForWebGpu(modelBytes, opts.fileName).bytes;
    sessionOptions.executionProviders = ['webgpu'];
    // keep outputs on the GPU; we read back once per tile
    sessionOptions.preferredOutputLocation = 'gpu-buffer';
  } else {
    sessionOptions.executionProviders = ['wasm'];
  }
  let session: OrtTypes.InferenceSession;
  try {
    session = await serialized(() => unlessGpuLost(opts.device, opts.fileName, ort.InferenceSession.create(bytes, sessionOptions)));
  } catch (e) {
    if (e instanceof SegStudioError && e.code === 'webgpu-lost') throw e;
    throw new SegStudioError('model-load', `onnxruntime-web (${opts.device}) cannot load the model: ${(e as Error).message}`, opts.fileName);
  }
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  const device = `onnxruntime-web/${opts.device}`;
  return {
    device,
    async run(input: Float32Array, shape: number[]): Promise<RunOutput> {
      if (opts.device === 'webgpu' && gpuIsLost()) {
        throw new SegStudioError('webgpu-lost', 'the WebGPU device was lost during segmentation', opts.fileName);
      }
      const tensor = new ort.Tensor('float32', input, shape);
      let results: OrtTypes.InferenceSession.ReturnType;
      try {
        results = await unlessGpuLost(opts.device, opts.fileName, session.run({ [inputName]: tensor }));
      } catch (e) {
        if (e instanceof SegStudioError && e.code === 'webgpu-lost') throw e;
        const msg = (e as Error).message ?? String(e);
        const code = /out of memory|OOM|allocation/i.test(msg) ? 'out-of-memory' : opts.device === 'webgpu' && gpuIsLost() ? 'webgpu-lost' : 'inference';
        throw new SegStudioError(code, `onnxruntime-web (${opts.device}) failed: ${msg}`, opts.fileName);
      } finally {
        tensor.dispose();
      }
      const out = results[outputName];
      try {
        const data = (await unlessGpuLost(opts.device, opts.fileName, out.getData())) as Float32Array;
        return { data: data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>), shape: [...out.dims] };
      } finally {
        for (const k of Object.keys(results)) results[k].dispose();
      }
    },
    async dispose() {
      // a WebGPU session on a lost device may never finish releasing: let it go without waiting
      if (opts.device === 'webgpu' && gpuIsLost()) {
        session.release().catch(() => undefined);
        return;
      }
      await session.release();
    },
  };
}

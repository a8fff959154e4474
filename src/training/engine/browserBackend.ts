// Training backend selection in a browser / worker (issue 8): the same rule as Node (selectBackendWith):
// WebGPU on a hardware adapter; on a software adapter (SwiftShader, llvmpipe, …) or without WebGPU the fast
// CPU backend with onnxruntime-web's WASM backend running the convolutions; `prefer` forces one.
// Environment-neutral: onnxruntime-web is injected (`loadOrt`, e.g. src/app/runtime/ortWebRunner.ts
// `loadOrt('wasm')` in the app's workers), the GPU comes from navigator.gpu unless `requestGpu` is given.
import type { Backend } from './backend.ts';
import { requestGpuDevice, type GpuInfo } from './gpuDevice.ts';
import { WebGpuBackend } from './webgpuBackend.ts';
import { isSoftwareAdapter, selectBackendWith, type BackendChoice, type BackendPreference } from './selectBackend.ts';
import { CpuBackend } from '../kernels/cpu/cpuBackend.ts';
import { FastCpuBackend, type FastCpuOptions, type OrtLike } from '../kernels/fast-cpu/fastCpuBackend.ts';

export interface BrowserBackendOptions {
  /** loads onnxruntime-web with its WASM backend (only called when the CPU backend may be chosen) */
  loadOrt: () => Promise<OrtLike>;
  /** acquires a WebGPU device; default: navigator.gpu through requestGpuDevice */
  requestGpu?: () => Promise<GpuInfo>;
  /** FastCpuBackend options; sessionOptions default to the 'wasm' execution provider, preallocatedOutputs to false */
  fastCpu?: FastCpuOptions;
}

/** The fast CPU backend on onnxruntime-web's WASM execution provider. */
export function createWebFastCpuBackend(ort: OrtLike, opts: FastCpuOptions = {}): FastCpuBackend {
  return new FastCpuBackend(ort, {
    preallocatedOutputs: false,
    ...opts,
    sessionOptions: { executionProviders: ['wasm'], ...opts.sessionOptions },
  });
}

/**
 * Picks the training backend in a browser: 'auto' | 'webgpu' | 'cpu' | 'cpu-reference'. onnxruntime-web is
 * loaded only when the CPU backend can be the answer (forced, or auto without a hardware adapter); if it fails
 * to load, auto falls back to the TypeScript reference and says why, a forced 'cpu' throws.
 */
export async function selectBrowserBackend(prefer: BackendPreference | string, opts: BrowserBackendOptions): Promise<BackendChoice> {
  const requestGpu = opts.requestGpu ?? (() => requestGpuDevice());
  let ort: OrtLike | null = null;
  let ortError: unknown = null;
  const prepareCpu = async () => {
    try {
      ort = await opts.loadOrt();
    } catch (e) {
      ortError = e;
    }
  };
  if (prefer === 'cpu') await prepareCpu();
  const choice = await selectBackendWith(prefer, {
    requestGpu: async () => {
      let info: GpuInfo;
      try {
        info = await requestGpu();
      } catch (e) {
        if (prefer === 'auto') await prepareCpu();
        throw e;
      }
      if (prefer === 'auto' && isSoftwareAdapter(info.adapterInfo)) await prepareCpu();
      return info;
    },
    makeWebGpu: (info): Backend => new WebGpuBackend(info.device),
    makeCpu: () => {
      if (!ort) throw ortError ?? new Error('onnxruntime-web is not loaded');
      return createWebFastCpuBackend(ort, opts.fastCpu);
    },
    makeCpuReference: () => new CpuBackend('float32'),
  });
  return choice;
}

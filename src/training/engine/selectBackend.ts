// Training backend selection (issue 8), environment-neutral: WebGPU when a hardware adapter exists, the fast
// CPU backend (onnxruntime convolutions) otherwise; the user can force either. Always says why.
// Node wires the providers in src/node/ortTrainingOps.ts (`selectTrainingBackend`); a browser passes
// navigator.gpu and onnxruntime-web.
import { SegStudioError } from '../../core/errors.ts';
import type { Backend } from './backend.ts';
import type { GpuInfo } from './gpuDevice.ts';

/** 'cpu' is the fast CPU backend; 'cpu-reference' the plain TypeScript reference (slow, for debugging). */
export type BackendPreference = 'auto' | 'cpu' | 'webgpu' | 'cpu-reference';
export type BackendKind = 'webgpu' | 'cpu' | 'cpu-reference';

export interface BackendChoice {
  backend: Backend;
  kind: BackendKind;
  /** one line for the user: which backend and why */
  reason: string;
}

export interface BackendProviders {
  /** acquires a WebGPU device (throws when there is none) */
  requestGpu?: () => Promise<GpuInfo>;
  makeWebGpu: (info: GpuInfo) => Backend;
  /** the fast CPU backend (throws when its runtime cannot load) */
  makeCpu: () => Backend;
  makeCpuReference: () => Backend;
}

/** Adapters that are software renderers (SwiftShader, llvmpipe, WARP, …): slower than the CPU backend. */
export const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|software|warp|basic render/i;

export function isSoftwareAdapter(a: GpuInfo['adapterInfo']): boolean {
  return a.isFallbackAdapter || SOFTWARE_ADAPTER.test(`${a.vendor} ${a.architecture} ${a.description}`);
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'cpu', 'webgpu', 'cpu-reference'];

export async function selectBackendWith(prefer: BackendPreference | string, p: BackendProviders): Promise<BackendChoice> {
  if (!BACKEND_PREFERENCES.includes(prefer as BackendPreference))
    throw new SegStudioError('usage', `backend must be one of ${BACKEND_PREFERENCES.join(', ')}, got '${prefer}'`);
  const cpu = (why: string): BackendChoice => {
    try {
      return { backend: p.makeCpu(), kind: 'cpu', reason: `backend cpu (onnxruntime convolutions): ${why}` };
    } catch (e) {
      if (prefer === 'cpu') throw new SegStudioError('backend-unavailable', `the fast CPU backend could not start (${firstLine(e)})`);
      return { backend: p.makeCpuReference(), kind: 'cpu-reference', reason: `backend cpu-reference (${why}; the fast CPU backend could not start: ${firstLine(e)})` };
    }
  };
  if (prefer === 'cpu-reference') return { backend: p.makeCpuReference(), kind: 'cpu-reference', reason: 'backend cpu-reference (chosen by the user)' };
  if (prefer === 'cpu') return cpu('chosen by the user');
  let info: GpuInfo | null = null;
  let why = 'no WebGPU in this environment';
  if (p.requestGpu) {
    try {
      info = await p.requestGpu();
    } catch (e) {
      why = `no WebGPU adapter: ${firstLine(e)}`;
    }
  }
  if (prefer === 'webgpu') {
    if (!info) throw new SegStudioError('webgpu-unavailable', `WebGPU was requested but is unavailable (${why})`);
    const a = info.adapterInfo;
    return { backend: p.makeWebGpu(info), kind: 'webgpu', reason: `backend webgpu (chosen by the user; adapter ${describe(a)}${isSoftwareAdapter(a) ? ', a software renderer' : ''})` };
  }
  if (info) {
    const a = info.adapterInfo;
    if (!isSoftwareAdapter(a)) return { backend: p.makeWebGpu(info), kind: 'webgpu', reason: `backend webgpu (hardware adapter: ${describe(a)})` };
    info.device.destroy();
    return cpu(`the WebGPU adapter is a software renderer (${describe(a)}), slower than the CPU; choose webgpu to force it`);
  }
  return cpu(why);
}

function describe(a: GpuInfo['adapterInfo']): string {
  return `${a.vendor} ${a.architecture} ${a.description}`.replace(/\s+/g, ' ').trim() || (a.isFallbackAdapter ? 'fallback adapter' : 'unnamed adapter');
}

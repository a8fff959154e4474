// The fast CPU training backend in Node: FastCpuBackend (src/training/kernels/fast-cpu) with onnxruntime-node
// as its convolution engine, one intra-op thread per core; and the Node training-backend selection.
import os from 'node:os';
import ort from 'onnxruntime-node';
import { FastCpuBackend, type FastCpuOptions, type OrtLike } from '../training/kernels/fast-cpu/fastCpuBackend.ts';
import { CpuBackend } from '../training/kernels/cpu/cpuBackend.ts';
import { WebGpuBackend } from '../training/engine/webgpuBackend.ts';
import { selectBackendWith, type BackendChoice, type BackendPreference } from '../training/engine/selectBackend.ts';

/** onnxruntime-node as the injectable module FastCpuBackend expects. */
export const nodeOrt = ort as unknown as OrtLike;

/** SEGSTUDIO_ORT_THREADS=N overrides the thread count (e.g. 1 when several folds train side by side). */
function envThreads(): number | undefined {
  const v = Number(process.env.SEGSTUDIO_ORT_THREADS);
  return Number.isInteger(v) && v >= 1 ? v : undefined;
}

export function createNodeFastCpuBackend(opts: FastCpuOptions = {}): FastCpuBackend {
  return new FastCpuBackend(nodeOrt, { ...opts, threads: opts.threads ?? envThreads() ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length) });
}

/**
 * The training backend for Node (CLI `segstudio train`): WebGPU (Dawn) on a hardware adapter, else the fast
 * CPU backend; `prefer` forces one. Returns the backend and a one-line reason for the log.
 */
export async function selectTrainingBackend(opts: { prefer?: BackendPreference | string; threads?: number } = {}): Promise<BackendChoice> {
  return selectBackendWith(opts.prefer ?? 'auto', {
    requestGpu: async () => (await import('./webgpuDevice.ts')).getNodeGpuDevice(),
    makeWebGpu: (info) => new WebGpuBackend(info.device),
    makeCpu: () => createNodeFastCpuBackend({ threads: opts.threads }),
    makeCpuReference: () => new CpuBackend('float32'),
  });
}

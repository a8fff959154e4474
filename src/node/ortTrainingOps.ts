// The fast CPU training backend in Node: FastCpuBackend (src/training/kernels/fast-cpu) with onnxruntime-node
// as its convolution engine, one intra-op thread per core.
import os from 'node:os';
import ort from 'onnxruntime-node';
import { FastCpuBackend, type FastCpuOptions, type OrtLike } from '../training/kernels/fast-cpu/fastCpuBackend.ts';

/** onnxruntime-node as the injectable module FastCpuBackend expects. */
export const nodeOrt = ort as unknown as OrtLike;

export function createNodeFastCpuBackend(opts: FastCpuOptions = {}): FastCpuBackend {
  return new FastCpuBackend(nodeOrt, { threads: opts.threads ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length), ...opts });
}

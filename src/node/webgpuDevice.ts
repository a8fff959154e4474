// WebGPU in Node through the `webgpu` npm package (Dawn). On machines without a GPU, Dawn runs on
// SwiftShader's Vulkan ICD shipped with Debian's chromium; point VK_ICD_FILENAMES at it when unset.
import fs from 'node:fs';
import { create, globals } from 'webgpu';
import { requestGpuDevice, type GpuInfo } from '../training/engine/gpuDevice.ts';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const gpus = new Map<string, GPU>();

export interface NodeGpuOptions {
  /** Dawn's disable_robustness toggle (no bounds checks: faster, for benchmarks only) */
  disableRobustness?: boolean;
}

/** Creates a GPUDevice in Node; throws SegStudioError('webgpu-unavailable') when no adapter exists. */
export async function getNodeGpuDevice(opts: NodeGpuOptions = {}): Promise<GpuInfo> {
  if (!process.env.VK_ICD_FILENAMES && fs.existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  Object.assign(globalThis, globals);
  const key = opts.disableRobustness ? 'fast' : 'safe';
  let gpu = gpus.get(key);
  if (!gpu) {
    gpu = create(opts.disableRobustness ? ['enable-dawn-features=disable_robustness'] : []);
    gpus.set(key, gpu);
  }
  return requestGpuDevice(gpu);
}

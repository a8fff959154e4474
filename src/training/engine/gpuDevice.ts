// WebGPU device acquisition shared by the browser and Node (Node passes its own GPU object, see
// src/node/webgpuDevice.ts). Requests the adapter's maximum buffer limits so large activations fit.
import { SegStudioError } from '../../core/errors.ts';

export interface GpuInfo {
  device: GPUDevice;
  adapterInfo: { vendor: string; architecture: string; description: string; isFallbackAdapter: boolean };
}

export async function requestGpuDevice(gpu: GPU | undefined = (globalThis.navigator as Navigator | undefined)?.gpu): Promise<GpuInfo> {
  if (!gpu) throw new SegStudioError('webgpu-unavailable', 'WebGPU is not available (navigator.gpu is missing)');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new SegStudioError('webgpu-unavailable', 'WebGPU: no adapter (requestAdapter returned null)');
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
  });
  // adapter.info is standard; older implementations lack isFallbackAdapter on it
  const info = (adapter as unknown as { info?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
  return {
    device,
    adapterInfo: {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      description: info?.description ?? '',
      isFallbackAdapter: Boolean(info?.isFallbackAdapter ?? (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    },
  };
}

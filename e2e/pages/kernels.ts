// Runs the training engine's backend comparison suite (every WGSL kernel, the loss, SGD and a tiny
// PlainConvUNet step) on this page's real WebGPU adapter against the CPU reference, and publishes the result
// for e2e/training-kernels.e2e.ts. The same suite runs on Node's WebGPU in src/training/kernels/wgsl.
import { requestGpuDevice } from '../../src/training/engine/gpuDevice.ts';
import { WebGpuBackend } from '../../src/training/engine/webgpuBackend.ts';
import { CpuBackend } from '../../src/training/kernels/cpu/cpuBackend.ts';
import { runBackendSuite, type SuiteResult } from '../../src/training/kernels/testing/suite.ts';

declare global {
  interface Window {
    __kernelSuite?: { adapter: string; results: SuiteResult[] } | { error: string };
  }
}

async function main(): Promise<void> {
  const out = document.getElementById('out')!;
  try {
    const { device, adapterInfo } = await requestGpuDevice();
    const gpu = new WebGpuBackend(device);
    const cpu = new CpuBackend('float32');
    const results = await runBackendSuite(gpu, cpu, { network: true });
    window.__kernelSuite = { adapter: `${adapterInfo.vendor} ${adapterInfo.architecture}`.trim(), results };
    out.textContent = results.map((r) => `${r.ok ? 'ok ' : 'FAIL'} ${r.name} ${r.error ?? ''}`).join('\n');
  } catch (e) {
    window.__kernelSuite = { error: e instanceof Error ? e.message : String(e) };
    out.textContent = String(e);
  }
}
void main();

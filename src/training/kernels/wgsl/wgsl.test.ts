// WGSL kernels on Node WebGPU (Dawn + SwiftShader) against the CPU float32 reference, same inputs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { CpuBackend } from '../cpu/cpuBackend.ts';
import { WebGpuBackend } from '../../engine/webgpuBackend.ts';
import { getNodeGpuDevice } from '../../../node/webgpuDevice.ts';
import { compareBackends, compareLoss, compareOptimizer, lossCases, opCases } from '../testing/cases.ts';
import { compareNetwork } from '../testing/network.ts';

const gpuExpected = Boolean(process.env.VK_ICD_FILENAMES) || fs.existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');
if (!gpuExpected) console.log('skipped: no Vulkan ICD for Node WebGPU (WGSL kernel tests)');

describe.runIf(gpuExpected)('WGSL kernels vs CPU reference (Node WebGPU)', () => {
  let gpu: WebGpuBackend;
  const cpu = new CpuBackend('float32');
  beforeAll(async () => {
    gpu = new WebGpuBackend((await getNodeGpuDevice()).device);
  });
  afterAll(() => gpu?.dispose());

  for (const c of opCases) {
    it(c.name, async () => {
      await compareBackends(gpu, cpu, c);
    });
  }
  for (const c of opCases.filter((c) => c.name.startsWith('conv3d') || c.name.startsWith('conv2d'))) {
    it(`${c.name} (bounds-checked kernels, no padded copy)`, async () => {
      gpu.paddedConv = false;
      try {
        await compareBackends(gpu, cpu, c);
      } finally {
        gpu.paddedConv = true;
      }
    });
  }
  for (const c of lossCases) {
    it(c.name, async () => {
      await compareLoss(gpu, cpu, c);
    });
  }
  it('SGD step and squared norm', async () => {
    await compareOptimizer(gpu, cpu);
  });
  it('frees every tensor back to the pool', () => {
    const m = gpu.memoryStats();
    expect(m.liveTensors).toBe(0);
    expect(m.pooledBytes).toBeGreaterThan(0);
  });
});

describe.runIf(gpuExpected)('PlainConvUNet on WebGPU vs CPU reference', () => {
  it('tiny 3D net (2 stages, 4/8 features, 16³, batch 2): outputs, loss, every gradient, one SGD step', async () => {
    const gpu = new WebGpuBackend((await getNodeGpuDevice()).device);
    await compareNetwork(gpu, new CpuBackend('float32'));
    expect(gpu.memoryStats().liveTensors).toBe(0);
    gpu.dispose();
  });
});

// WGSL kernels on Node WebGPU (Dawn + SwiftShader) against the CPU float32 reference, same inputs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { CpuBackend } from '../cpu/cpuBackend.ts';
import { WebGpuBackend } from '../../engine/webgpuBackend.ts';
import { getNodeGpuDevice } from '../../../node/webgpuDevice.ts';
import { compareBackends, compareLoss, compareOptimizer, lossCases, opCases } from '../testing/cases.ts';
import { compareNetwork, tinyNet3d } from '../testing/network.ts';
import { PlainConvUNet } from '../../nn/plainConvUNet.ts';
import { SGD } from '../../nn/optimizer.ts';
import { trainStep } from '../../nn/trainStep.ts';
import type { SegStudioError } from '../../../core/errors.ts';

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

describe.runIf(gpuExpected)('WebGPU backend resources', () => {
  it('refuses a tensor larger than maxStorageBufferBindingSize with a SegStudioError naming the shape', async () => {
    const gpu = new WebGpuBackend((await getNodeGpuDevice()).device, { maxBindingBytes: 1 << 20 });
    expect(() => gpu.zeros([1, 4, 64, 64, 64])).toThrow(/tensor \[1, 4, 64, 64, 64\] needs 4\.0 MiB.*maxStorageBufferBindingSize 1 MiB/);
    try {
      gpu.zeros([1, 4, 64, 64, 64]);
    } catch (e) {
      expect((e as SegStudioError).code).toBe('gpu-buffer-too-large');
    }
    expect(gpu.zeros([1, 4, 32, 32, 32]).size).toBe(4 * 32 ** 3);
    gpu.dispose();
  });

  it('dispatches more than 65535 workgroups on a 2D grid (large elementwise op)', async () => {
    const gpu = new WebGpuBackend((await getNodeGpuDevice()).device);
    const cpu = new CpuBackend('float32');
    const shape = [1, 2, 48, 224, 224]; // 4.8 M elements → 75 264 workgroups of 64
    const data = new Float32Array(2 * 48 * 224 * 224).map((_, k) => Math.sin(k * 0.37) * 3);
    for (const b of [gpu, cpu]) {
      const x = b.upload(data, shape);
      const y = b.leakyRelu(x, 0.01);
      const v = await b.download(y);
      expect(v[v.length - 1]).toBeCloseTo(data[data.length - 1] > 0 ? data[data.length - 1] : data[data.length - 1] * 0.01, 5);
      expect(v[3_000_001]).toBeCloseTo(data[3_000_001] > 0 ? data[3_000_001] : data[3_000_001] * 0.01, 5);
      b.free(x);
      b.free(y);
    }
    gpu.dispose();
  });

  it('reaches a steady state and learns: training steps stop allocating (pooled buffers reused)', async () => {
    const gpu = new WebGpuBackend((await getNodeGpuDevice()).device);
    const cfg = { ...tinyNet3d, kernelSizes: [[3, 3], [3, 3]], strides: [[1, 1], [2, 2]] };
    const net = new PlainConvUNet(gpu, cfg, 1);
    const opt = new SGD(gpu, net.params);
    const x = gpu.upload(new Float32Array(2 * 16 * 16).map((_, k) => Math.sin(k)), [2, 1, 16, 16]);
    const y = gpu.upload(new Float32Array(2 * 16 * 16).map((_, k) => k % 3), [2, 1, 16, 16]);
    const totals: number[] = [], losses: number[] = [];
    for (let s = 0; s < 6; s++) {
      losses.push((await trainStep(net, opt, x, y, { batchDice: true, ignoreLabel: null }, 0.01)).loss);
      const m = gpu.memoryStats();
      totals.push(m.liveBytes + m.pooledBytes);
    }
    for (let s = 2; s < 6; s++) expect(totals[s]).toBe(totals[1]);
    // the same batch six times: the loss must go down on the GPU too
    expect(losses[5]).toBeLessThan(losses[0] - 0.05);
    gpu.dispose();
  });
});

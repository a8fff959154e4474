import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildUNetLikeOnnx, lcgValues } from '../core/inference/syntheticModels.ts';
import { decodeModel } from '../core/inference/onnx/model.ts';
import { createOrtNodeRunner, prepareForWebGpu } from './ortNodeRunner.ts';

const ICD = process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json';
const hasVulkan = fs.existsSync(ICD);
if (!hasVulkan) console.log(`skipped: no Vulkan ICD at ${ICD} (onnxruntime-node WebGPU test)`);

describe('onnxruntime-node runner', () => {
  const model = buildUNetLikeOnnx({ inChannels: 1, classes: 3, features: [4, 8], patch: [8, 8, 8], seed: 3 });
  const input = lcgValues(8 * 8 * 8, 5, 2);

  it('prepareForWebGpu removes every ConvTranspose (and leaves models without one alone)', () => {
    const m = decodeModel(prepareForWebGpu(model));
    expect(m.graph.nodes.some((n) => n.opType === 'ConvTranspose')).toBe(false);
    expect(m.graph.nodes.filter((n) => n.opType === 'Transpose').length).toBe(1);
  });

  it('reports a broken model as a SegStudioError naming the file', async () => {
    await expect(createOrtNodeRunner(new Uint8Array([8, 7, 58, 0]), { device: 'cpu', fileName: 'bad.onnx' })).rejects.toThrow(/bad\.onnx: onnxruntime-node \(cpu\) could not load the model/);
  });

  it.runIf(hasVulkan)('WebGPU (SwiftShader) output of a U-Net with 3D ConvTranspose matches CPU', async () => {
    process.env.VK_ICD_FILENAMES = ICD;
    const cpu = await createOrtNodeRunner(model, { device: 'cpu', threads: 1 });
    const gpu = await createOrtNodeRunner(model, { device: 'webgpu' });
    const a = await cpu.run(input, [1, 1, 8, 8, 8]);
    const b = await gpu.run(input, [1, 1, 8, 8, 8]);
    await cpu.dispose();
    await gpu.dispose();
    expect(gpu.device).toBe('onnxruntime-node/webgpu');
    expect(b.shape).toEqual([1, 3, 8, 8, 8]);
    let maxErr = 0;
    for (let i = 0; i < a.data.length; i++) maxErr = Math.max(maxErr, Math.abs(a.data[i] - b.data[i]));
    expect(maxErr).toBeLessThan(1e-4);
  });
});

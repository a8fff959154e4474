// Training backend selection: decisions on fake adapters, and the real Node selection on this machine.
import { describe, expect, it } from 'vitest';
import { selectBackendWith, type BackendProviders } from './selectBackend.ts';
import type { GpuInfo } from './gpuDevice.ts';
import { CpuBackend } from '../kernels/cpu/cpuBackend.ts';
import { SegStudioError } from '../../core/errors.ts';
import { selectTrainingBackend } from '../../node/ortTrainingOps.ts';
import { FastCpuBackend } from '../kernels/fast-cpu/fastCpuBackend.ts';

function fakeGpu(vendor: string, description: string, isFallbackAdapter: boolean) {
  let destroyed = false;
  const info = { device: { destroy: () => void (destroyed = true) } as unknown as GPUDevice, adapterInfo: { vendor, architecture: '', description, isFallbackAdapter } } as GpuInfo;
  return { info, destroyed: () => destroyed };
}

function providers(gpu: (() => Promise<GpuInfo>) | undefined, cpuFails = false) {
  const made: string[] = [];
  const p: BackendProviders = {
    requestGpu: gpu,
    makeWebGpu: () => (made.push('webgpu'), new CpuBackend('float32')),
    makeCpu: () => {
      if (cpuFails) throw new Error('onnxruntime missing');
      made.push('cpu');
      return new CpuBackend('float32');
    },
    makeCpuReference: () => (made.push('cpu-reference'), new CpuBackend('float32')),
  };
  return { p, made };
}

describe('selectBackendWith', () => {
  it('auto: a hardware adapter gets WebGPU', async () => {
    const g = fakeGpu('nvidia', 'GeForce RTX', false);
    const { p, made } = providers(async () => g.info);
    const r = await selectBackendWith('auto', p);
    expect([r.kind, made]).toEqual(['webgpu', ['webgpu']]);
    expect(r.reason).toMatch(/hardware adapter: nvidia GeForce RTX/);
  });
  it('auto: a software adapter (SwiftShader or fallback flag) gets the CPU backend, and the device is released', async () => {
    for (const g of [fakeGpu('google', 'SwiftShader Device (Subzero)', false), fakeGpu('x', 'y', true)]) {
      const { p, made } = providers(async () => g.info);
      const r = await selectBackendWith('auto', p);
      expect([r.kind, made, g.destroyed()]).toEqual(['cpu', ['cpu'], true]);
      expect(r.reason).toMatch(/software renderer/);
    }
  });
  it('auto: no adapter gets the CPU backend and says why', async () => {
    const { p } = providers(async () => {
      throw new Error('no adapter found');
    });
    const r = await selectBackendWith('auto', p);
    expect(r.kind).toBe('cpu');
    expect(r.reason).toMatch(/no WebGPU adapter: no adapter found/);
  });
  it('cpu never probes the GPU; webgpu forces a software adapter; webgpu without adapter throws', async () => {
    let probed = false;
    const { p } = providers(async () => ((probed = true), fakeGpu('google', 'SwiftShader', false).info));
    expect((await selectBackendWith('cpu', p)).kind).toBe('cpu');
    expect(probed).toBe(false);
    const w = await selectBackendWith('webgpu', p);
    expect(w.kind).toBe('webgpu');
    expect(w.reason).toMatch(/software renderer/);
    const none = providers(undefined).p;
    await expect(selectBackendWith('webgpu', none)).rejects.toThrow(SegStudioError);
    await expect(selectBackendWith('gpu', none)).rejects.toThrow(/must be one of auto, cpu, webgpu, cpu-reference/);
  });
  it('falls back to the CPU reference when the fast backend cannot start (auto), but not when cpu was asked for', async () => {
    const { p } = providers(undefined, true);
    const r = await selectBackendWith('auto', p);
    expect(r.kind).toBe('cpu-reference');
    expect(r.reason).toMatch(/onnxruntime missing/);
    await expect(selectBackendWith('cpu', p)).rejects.toThrow(/fast CPU backend could not start/);
  });
});

describe('selectTrainingBackend (Node)', () => {
  it('picks the fast CPU backend on this machine (no hardware GPU) and says why', async () => {
    const r = await selectTrainingBackend({ prefer: 'auto' });
    expect(r.kind).toBe('cpu');
    expect(r.backend).toBeInstanceOf(FastCpuBackend);
    expect(r.reason).toMatch(/software renderer|no WebGPU adapter/);
    r.backend.dispose();
  });
});

// selectBrowserBackend's wiring (the browser half runs in Chromium in e2e/training-backend.e2e.ts): when it
// loads onnxruntime, what it falls back to, and the no-pre-allocated-outputs FastCpuBackend path (the one
// onnxruntime-web needs) checked here on onnxruntime-node against the CPU reference.
import { describe, expect, it } from 'vitest';
import { selectBrowserBackend, createWebFastCpuBackend } from './browserBackend.ts';
import { nodeOrt } from '../../node/ortTrainingOps.ts';
import { CpuBackend } from '../kernels/cpu/cpuBackend.ts';
import { compareBackends, opCases } from '../kernels/testing/cases.ts';
import { isSegStudioError } from '../../core/errors.ts';

const noAdapter = async (): Promise<never> => {
  throw new Error('no adapter found');
};

describe('selectBrowserBackend', () => {
  it('auto without an adapter: the fast CPU backend, onnxruntime loaded once, reason names the missing adapter', async () => {
    let loads = 0;
    const c = await selectBrowserBackend('auto', { loadOrt: async () => (loads++, nodeOrt), requestGpu: noAdapter });
    expect(c.kind).toBe('cpu');
    expect(c.backend.name).toBe('cpu-fast');
    expect(c.reason).toMatch(/no WebGPU adapter: no adapter found/);
    expect(loads).toBe(1);
    c.backend.dispose();
  });
  it('auto when onnxruntime-web cannot load: the TypeScript reference, saying why', async () => {
    const c = await selectBrowserBackend('auto', { loadOrt: async () => { throw new Error('404 ort.wasm.min.mjs'); }, requestGpu: noAdapter });
    expect(c.kind).toBe('cpu-reference');
    expect(c.reason).toMatch(/404 ort\.wasm\.min\.mjs/);
  });
  it("forced 'cpu' throws when onnxruntime-web cannot load; 'cpu-reference' never loads it; 'webgpu' without adapter throws", async () => {
    const err = await selectBrowserBackend('cpu', { loadOrt: async () => { throw new Error('offline'); }, requestGpu: noAdapter }).catch((e) => e);
    expect(isSegStudioError(err) && err.code).toBe('backend-unavailable');
    let loads = 0;
    const r = await selectBrowserBackend('cpu-reference', { loadOrt: async () => (loads++, nodeOrt), requestGpu: noAdapter });
    expect(r.kind).toBe('cpu-reference');
    expect(loads).toBe(0);
    const w = await selectBrowserBackend('webgpu', { loadOrt: async () => (loads++, nodeOrt), requestGpu: noAdapter }).catch((e) => e);
    expect(isSegStudioError(w) && w.code).toBe('webgpu-unavailable');
    expect(loads).toBe(0);
  });
});

describe('FastCpuBackend without pre-allocated outputs (the onnxruntime-web path) vs the CPU reference', () => {
  const fast = createWebFastCpuBackend(nodeOrt, { sessionOptions: { executionProviders: ['cpu'] } });
  const ref = new CpuBackend('float32');
  for (const c of opCases.filter((c) => /conv/i.test(c.name))) {
    it(c.name, async () => {
      await compareBackends(fast, ref, c);
    });
  }
});

// Fast CPU backend (onnxruntime convolutions + TS kernels) against the CPU reference: the shared kernel suite,
// the tiny network step, and a bounded-memory check over repeated steps.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../cpu/cpuBackend.ts';
import { compareBackends, compareLoss, compareOptimizer, lossCases, opCases } from '../testing/cases.ts';
import { compareNetwork } from '../testing/network.ts';
import { createNodeFastCpuBackend } from '../../../node/ortTrainingOps.ts';

const fast = createNodeFastCpuBackend({ threads: 2 });
const ref = new CpuBackend('float32');

describe('fast CPU backend vs CPU reference (shared kernel suite)', () => {
  for (const c of opCases) {
    it(c.name, async () => {
      await compareBackends(fast, ref, c);
    });
  }
  for (const c of lossCases) {
    it(c.name, async () => {
      await compareLoss(fast, ref, c);
    });
  }
  it('SGD step and squared norm', async () => {
    await compareOptimizer(fast, ref);
  });
  it('frees every tensor', () => {
    expect(fast.memoryStats().liveTensors).toBe(0);
  });
});

describe('fast CPU backend: PlainConvUNet', () => {
  it('tiny 3D net: outputs, loss, every gradient and one SGD step match the reference', async () => {
    await compareNetwork(fast, ref);
  });
});

// Fast CPU backend (onnxruntime convolutions + TS kernels) against the CPU reference: the shared kernel suite,
// the tiny network step, and a bounded-memory check over repeated steps.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../cpu/cpuBackend.ts';
import { compareBackends, compareLoss, compareOptimizer, lossCases, opCases } from '../testing/cases.ts';
import { compareNetwork } from '../testing/network.ts';
import { createNodeFastCpuBackend } from '../../../node/ortTrainingOps.ts';
import { PlainConvUNet, type UNetConfig } from '../../nn/plainConvUNet.ts';
import { SGD, polyLR } from '../../nn/optimizer.ts';
import { trainStep } from '../../nn/trainStep.ts';
import { rng } from '../testing/util.ts';

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
  it('frees every tensor, and really ran the convolutions on onnxruntime', () => {
    expect(fast.memoryStats().liveTensors).toBe(0);
    expect(fast.stats.ortRuns).toBeGreaterThan(30);
  });
});

describe('fast CPU backend: PlainConvUNet', () => {
  it('tiny 3D net: outputs, loss, every gradient and one SGD step match the reference', async () => {
    await compareNetwork(fast, ref);
  });
});

describe('fast CPU backend: training', () => {
  const cfg: UNetConfig = {
    inputChannels: 1,
    numClasses: 2,
    nStages: 3,
    featuresPerStage: [4, 8, 8],
    kernelSizes: [[3, 3, 3], [3, 3, 3], [3, 3, 3]],
    strides: [[1, 1, 1], [2, 2, 2], [1, 2, 2]],
    nConvPerStage: [1, 1, 1],
    nConvPerStageDecoder: [1, 1],
    convBias: true,
    deepSupervision: true,
  };
  it('learns a synthetic bright-ball segmentation (3D): loss falls by ≥ 50 %, memory flat from step 3 on', async () => {
    const b = createNodeFastCpuBackend({ threads: 2 });
    const net = new PlainConvUNet(b, cfg, 3);
    const opt = new SGD(b, net.params);
    const r = rng(7);
    const n = 2, S = 12;
    const img = new Float32Array(n * S * S * S), lab = new Float32Array(n * S * S * S);
    const x = b.zeros([n, 1, S, S, S]), t = b.zeros([n, 1, S, S, S]);
    const losses: number[] = [], mem: number[] = [], live: number[] = [];
    const iters = 24;
    for (let it = 0; it < iters; it++) {
      for (let k = 0; k < n; k++) {
        const cz = 3 + r() * 6, cy = 3 + r() * 6, cx = 3 + r() * 6, rad = 2 + r() * 2;
        for (let z = 0; z < S; z++)
          for (let y = 0; y < S; y++)
            for (let xx = 0; xx < S; xx++) {
              const i = ((k * S + z) * S + y) * S + xx;
              const inside = (z - cz) ** 2 + (y - cy) ** 2 + (xx - cx) ** 2 < rad * rad;
              lab[i] = inside ? 1 : 0;
              img[i] = (inside ? 1 : 0) + 0.3 * (r() - 0.5);
            }
      }
      b.write(x, img);
      b.write(t, lab);
      const res = await trainStep(net, opt, x, t, { batchDice: false, ignoreLabel: null }, polyLR(0.01, it, iters));
      losses.push(res.loss);
      const m = b.memoryStats();
      mem.push(m.liveBytes + m.pooledBytes);
      live.push(m.liveTensors);
    }
    const first = losses.slice(0, 5).reduce((a, v) => a + v, 0) / 5;
    const last = losses.slice(-5).reduce((a, v) => a + v, 0) / 5;
    // DC_and_CE is bounded below by −1: the loss above that floor must at least halve
    expect(first - last).toBeGreaterThan(0.5 * (first + 1));
    // steady state: the pool serves every step after the first few, no session is created after step 1
    expect(new Set(mem.slice(3)).size).toBe(1);
    expect(new Set(live).size).toBe(1);
    const sessions = b.sessionCount();
    await trainStep(net, opt, x, t, { batchDice: false, ignoreLabel: null }, 0.001);
    expect(b.sessionCount()).toBe(sessions);
    b.free(x);
    b.free(t);
    // only parameters and optimizer state stay alive (x and t freed)
    expect(b.memoryStats().liveTensors).toBe(live[0] - 2);
    opt.dispose();
    net.dispose();
    expect(b.memoryStats().liveTensors).toBe(0);
    b.dispose();
  }, 120_000);
});

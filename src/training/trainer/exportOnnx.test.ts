// ONNX export parity: the exported network on onnxruntime-node against the engine's own forward pass (CPU
// reference backend and, where a Vulkan ICD exists, the WGSL backend on Node WebGPU) for networks after a few
// training steps (so InstanceNorm affine parameters and biases are no longer at their initial values).
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrtNodeRunner } from '../../node/ortNodeRunner.ts';
import { decodeModel } from '../../core/inference/onnx/model.ts';
import { loadBundle } from '../../core/inference/bundle.ts';
import { CpuBackend } from '../kernels/cpu/cpuBackend.ts';
import { WebGpuBackend } from '../engine/webgpuBackend.ts';
import { getNodeGpuDevice } from '../../node/webgpuDevice.ts';
import type { Backend } from '../engine/backend.ts';
import { PlainConvUNet, type UNetConfig } from '../nn/plainConvUNet.ts';
import { SGD } from '../nn/optimizer.ts';
import { trainStep } from '../nn/trainStep.ts';
import { rng, randn } from '../kernels/testing/util.ts';
import { exportNetworkOnnx, unetToOnnx, bundleFromCheckpoints, type StateDict } from './exportOnnx.ts';
import type { CheckpointData } from './checkpoint.ts';
import { emptyLog } from './log.ts';

const net3d: UNetConfig = {
  inputChannels: 2,
  numClasses: 3,
  nStages: 3,
  featuresPerStage: [4, 6, 8],
  kernelSizes: [[1, 3, 3], [3, 3, 3], [3, 3, 3]],
  strides: [[1, 1, 1], [1, 2, 2], [2, 2, 2]],
  nConvPerStage: [2, 2, 1],
  nConvPerStageDecoder: [1, 2],
  convBias: true,
  deepSupervision: true,
};
const net2d: UNetConfig = {
  ...net3d,
  inputChannels: 1,
  kernelSizes: [[3, 3], [3, 3], [3, 3]],
  strides: [[1, 1], [2, 2], [2, 2]],
};

/** A network after a few SGD steps on random data, as a state dict. */
async function trainedWeights(cfg: UNetConfig, patch: number[], seed: number): Promise<StateDict> {
  const b = new CpuBackend('float32');
  const net = new PlainConvUNet(b, cfg, seed);
  const opt = new SGD(b, net.params);
  const r = rng(seed);
  const n = 2, vox = patch.reduce((a, v) => a * v, 1);
  for (let i = 0; i < 3; i++) {
    const x = b.upload(randn(n * cfg.inputChannels * vox, r), [n, cfg.inputChannels, ...patch]);
    const t = b.upload(Array.from({ length: n * vox }, () => Math.floor(r() * cfg.numClasses)), [n, 1, ...patch]);
    await trainStep(net, opt, x, t, { batchDice: false, ignoreLabel: null }, 0.05);
    b.free(x);
    b.free(t);
  }
  const sd = await net.getStateDict();
  // move norm scales/shifts and biases well away from their init so every parameter matters
  for (const [k, v] of Object.entries(sd)) if (k.endsWith('.bias') || k.endsWith('norm.weight')) for (let i = 0; i < v.data.length; i++) v.data[i] += 0.3 * randn(1, r)[0];
  return sd;
}

async function engineLogits(b: Backend, cfg: UNetConfig, sd: StateDict, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const net = new PlainConvUNet(b, cfg);
  net.loadStateDict(sd);
  const xd = b.upload(x, shape);
  const y = net.predict(xd);
  const out = Float32Array.from(await b.download(y));
  b.free(y);
  b.free(xd);
  net.dispose();
  return out;
}

function compare(a: Float32Array, e: Float32Array, classes: number): { maxAbs: number; argmaxAgree: number } {
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i] - e[i]));
  const n = a.length / classes;
  let agree = 0;
  for (let v = 0; v < n; v++) {
    let ba = 0, be = 0;
    for (let c = 1; c < classes; c++) {
      if (a[c * n + v] > a[ba * n + v]) ba = c;
      if (e[c * n + v] > e[be * n + v]) be = c;
    }
    if (ba === be) agree++;
  }
  return { maxAbs, argmaxAgree: agree / n };
}

const cases = [
  { name: '3D, anisotropic first stage, 2 input channels', cfg: net3d, patch: [4, 16, 16] },
  { name: '2D', cfg: net2d, patch: [32, 24] },
];

describe('ONNX export of a trained PlainConvUNet', () => {
  for (const c of cases) {
    it(`${c.name}: onnxruntime-node matches the CPU engine (max |Δlogit| ≤ 1e-3, argmax ≥ 99.9 %)`, async () => {
      const sd = await trainedWeights(c.cfg, c.patch, 3);
      const bytes = unetToOnnx({ ...c.cfg, deepSupervision: false }, sd, c.patch);
      const model = decodeModel(bytes);
      const ops = new Set(model.graph.nodes.map((n) => n.opType));
      expect(ops.has('ConvTranspose')).toBe(false);
      for (const op of ['Conv', 'InstanceNormalization', 'LeakyRelu', 'Concat', 'Reshape', 'Transpose']) expect(ops.has(op)).toBe(true);
      expect(model.graph.inputs[0].shape).toEqual([1, c.cfg.inputChannels, ...c.patch]);
      const shape = [1, c.cfg.inputChannels, ...c.patch];
      const x = Float32Array.from(randn(shape.reduce((a, v) => a * v, 1), rng(8)));
      const runner = await createOrtNodeRunner(bytes, { device: 'cpu', threads: 1 });
      const ort = await runner.run(x, shape);
      await runner.dispose();
      expect(ort.shape).toEqual([1, c.cfg.numClasses, ...c.patch]);
      const ref = await engineLogits(new CpuBackend('float32'), c.cfg, sd, x, shape);
      const r = compare(ort.data, ref, c.cfg.numClasses);
      console.log(`export parity ${c.name} (ORT CPU vs CPU engine): max |Δ| ${r.maxAbs.toExponential(2)}, argmax agreement ${(100 * r.argmaxAgree).toFixed(3)} %`);
      expect(r.maxAbs).toBeLessThanOrEqual(1e-3);
      expect(r.argmaxAgree).toBeGreaterThanOrEqual(0.999);
      // the logits are not trivially small: the comparison has teeth
      expect(Math.max(...Array.from(ref, Math.abs))).toBeGreaterThan(0.1);
    });
  }

  it('the native ConvTranspose form and the rewritten form give the same logits', async () => {
    const sd = await trainedWeights(net3d, [4, 16, 16], 5);
    const shape = [1, 2, 4, 16, 16];
    const x = Float32Array.from(randn(2 * 4 * 16 * 16, rng(2)));
    const outs: Float32Array[] = [];
    for (const form of ['native', 'rewrite'] as const) {
      const r = await createOrtNodeRunner(unetToOnnx({ ...net3d, deepSupervision: false }, sd, [4, 16, 16], { convTranspose: form }), { device: 'cpu', threads: 1 });
      outs.push((await r.run(x, shape)).data);
      await r.dispose();
    }
    expect(compare(outs[0], outs[1], 3).maxAbs).toBeLessThan(1e-5);
  });

  it('refuses a state dict with a missing weight, naming it', () => {
    expect(() => unetToOnnx(net2d, {}, [32, 24])).toThrow(/missing weight encoder\.stages\.0\.0\.convs\.0\.conv\.weight/);
  });

  it('bundles trained folds into a bundle that loadBundle accepts (sha256 manifest, plans patch size)', async () => {
    const sd = await trainedWeights(net2d, [32, 24], 4);
    const ck = (fold: number): CheckpointData => ({
      meta: {
        format: 'segstudio-checkpoint/1', trainer_name: 'nnUNetTrainer', dataset_name: 'Dataset999_T', plans_name: 'nnUNetPlans',
        configuration: '2d', fold, current_epoch: 3, init_args: {}, network: net2d, patch_size: [32, 24], batch_size: 2,
        logging: emptyLog(), _best_ema: null, optimizer: { initial_lr: 0.01, momentum: 0.99, weight_decay: 3e-5, nesterov: true, step: 3 },
        rng: {}, inference_allowed_mirroring_axes: [0, 1], backend: 'cpu-float32', saved_at: 0,
      },
      weights: sd,
      momentum: {},
    });
    const plans = {
      dataset_name: 'Dataset999_T', plans_name: 'nnUNetPlans', configurations: { '2d': { patch_size: [64, 64], batch_size: 2, spacing: [1, 1], normalization_schemes: ['ZScoreNormalization'] } },
    } as unknown as Parameters<typeof bundleFromCheckpoints>[1];
    const files = await bundleFromCheckpoints([{ fold: 1, checkpoint: ck(1) }, { fold: 0, checkpoint: ck(0) }], plans, { channel_names: { 0: 'MRI' }, labels: { background: 0, a: 1, b: 2 } });
    const b = await loadBundle(files, 'trained');
    expect(b.folds).toEqual([0, 1]);
    expect(b.plans.configurations['2d'].patch_size).toEqual([32, 24]);
    expect(b.allowedMirroringAxes).toEqual([0, 1]);
    files.set('fold_0.onnx', files.get('fold_1.onnx')!.slice(0, 10));
    await expect(loadBundle(files, 'trained')).rejects.toThrow(/fold_0\.onnx: sha256 mismatch/);
  });
});

const gpuExpected = Boolean(process.env.VK_ICD_FILENAMES) || fs.existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');
if (!gpuExpected) console.log('skipped: no Vulkan ICD for Node WebGPU (ONNX export vs WGSL forward)');

describe.runIf(gpuExpected)('ONNX export vs the WGSL forward (Node WebGPU)', () => {
  let gpu: WebGpuBackend;
  beforeAll(async () => {
    gpu = new WebGpuBackend((await getNodeGpuDevice()).device);
  });
  afterAll(() => gpu?.dispose());

  it('3D net: onnxruntime-node and the WebGPU engine agree (max |Δlogit| ≤ 1e-3, argmax ≥ 99.9 %)', async () => {
    const sd = await trainedWeights(net3d, [4, 16, 16], 6);
    const shape = [1, 2, 4, 16, 16];
    const x = Float32Array.from(randn(2 * 4 * 16 * 16, rng(9)));
    const net = new PlainConvUNet(gpu, { ...net3d, deepSupervision: false });
    net.loadStateDict(sd);
    const bytes = await exportNetworkOnnx(net, [4, 16, 16]);
    net.dispose();
    const runner = await createOrtNodeRunner(bytes, { device: 'cpu', threads: 1 });
    const ort = (await runner.run(x, shape)).data;
    await runner.dispose();
    const wgsl = await engineLogits(gpu, net3d, sd, x, shape);
    const r = compare(ort, wgsl, 3);
    console.log(`export parity (ORT CPU vs WGSL engine): max |Δ| ${r.maxAbs.toExponential(2)}, argmax agreement ${(100 * r.argmaxAgree).toFixed(3)} %`);
    expect(r.maxAbs).toBeLessThanOrEqual(1e-3);
    expect(r.argmaxAgree).toBeGreaterThanOrEqual(0.999);
    expect(gpu.memoryStats().liveTensors).toBe(0);
  });
});

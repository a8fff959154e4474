// PlainConvUNet + autograd + loss + SGD on the CPU reference backend.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../kernels/cpu/cpuBackend.ts';
import { Graph } from '../engine/autograd.ts';
import { PlainConvUNet, unetConfigFromPlans, type UNetConfig } from './plainConvUNet.ts';
import { deepSupervisionWeights } from './loss.ts';
import { SGD, polyLR, clipCoefficient } from './optimizer.ts';
import { trainStep } from './trainStep.ts';
import { rng, randn, assertClose } from '../kernels/testing/util.ts';

const tiny3d: UNetConfig = {
  inputChannels: 1,
  numClasses: 3,
  nStages: 3,
  featuresPerStage: [2, 3, 4],
  kernelSizes: [[1, 3, 3], [3, 3, 3], [3, 3, 3]],
  strides: [[1, 1, 1], [1, 2, 2], [2, 2, 2]],
  nConvPerStage: [1, 2, 1],
  nConvPerStageDecoder: [1, 1],
  convBias: true,
  deepSupervision: true,
};

describe('PlainConvUNet structure', () => {
  it('has PyTorch state_dict names and shapes of dynamic_network_architectures', async () => {
    const net = new PlainConvUNet(new CpuBackend('float32'), tiny3d);
    const sd = await net.getStateDict();
    const shapes = Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, v.shape]));
    expect(shapes['encoder.stages.0.0.convs.0.conv.weight']).toEqual([2, 1, 1, 3, 3]);
    expect(shapes['encoder.stages.1.0.convs.1.conv.weight']).toEqual([3, 3, 3, 3, 3]);
    expect(shapes['encoder.stages.2.0.convs.0.norm.weight']).toEqual([4]);
    // decoder stage 0 upsamples the bottleneck (4 → 3 features, stride of the last encoder stage)
    expect(shapes['decoder.transpconvs.0.weight']).toEqual([4, 3, 2, 2, 2]);
    expect(shapes['decoder.transpconvs.1.weight']).toEqual([3, 2, 1, 2, 2]);
    expect(shapes['decoder.stages.0.convs.0.conv.weight']).toEqual([3, 6, 3, 3, 3]);
    expect(shapes['decoder.stages.1.convs.0.conv.weight']).toEqual([2, 4, 1, 3, 3]);
    expect(shapes['decoder.seg_layers.1.weight']).toEqual([3, 2, 1, 1, 1]);
    expect(Object.keys(sd).length).toBe(4 * 4 + 2 * 4 + 2 * 2 + 2 * 2);
    // He init: conv biases 0, norm weight 1, weights have std ≈ sqrt(2/fan_in)
    expect(Array.from(sd['decoder.stages.0.convs.0.conv.bias'].data)).toEqual([0, 0, 0]);
    expect(Array.from(sd['encoder.stages.0.0.convs.0.norm.weight'].data)).toEqual([1, 1]);
    const w = sd['decoder.stages.0.convs.0.conv.weight'].data;
    const std = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
    expect(std).toBeGreaterThan(0.8 * Math.sqrt(2 / (6 * 27)));
    expect(std).toBeLessThan(1.2 * Math.sqrt(2 / (6 * 27)));
  });

  it('outputs one logit map per decoder stage, highest resolution first', () => {
    const b = new CpuBackend('float32');
    const net = new PlainConvUNet(b, tiny3d);
    const g = new Graph(b, { grad: false });
    const x = b.zeros([2, 1, 4, 8, 8]);
    const outs = net.forward(g, g.input(x));
    expect(outs.map((o) => o.shape)).toEqual([
      [2, 3, 4, 8, 8],
      [2, 3, 4, 4, 4],
    ]);
    g.dispose();
    net.dispose();
    b.free(x);
    expect(b.memoryStats().liveTensors).toBe(0);
  });

  it('round-trips the state dict and accepts nnU-Net all_modules aliases', async () => {
    const b = new CpuBackend('float32');
    const a = new PlainConvUNet(b, tiny3d, 1), c = new PlainConvUNet(b, tiny3d, 2);
    const sd = await a.getStateDict();
    const aliased = Object.fromEntries(
      Object.entries(sd).map(([k, v]) => [k.replace('.conv.weight', '.all_modules.0.weight'), v]),
    );
    c.loadStateDict(aliased);
    const sd2 = await c.getStateDict();
    for (const k of Object.keys(sd)) expect(Array.from(sd2[k].data)).toEqual(Array.from(sd[k].data));
    delete aliased['decoder.seg_layers.0.bias'];
    expect(() => c.loadStateDict(aliased, 'ck.bin')).toThrow(/ck.bin: missing parameter decoder.seg_layers.0.bias/);
  });
});

describe('PlainConvUNet gradients (float64, whole network vs finite differences)', () => {
  it('deep-supervision DC_and_CE loss gradient of every parameter kind', async () => {
    const b = new CpuBackend('float64');
    const net = new PlainConvUNet(b, { ...tiny3d, featuresPerStage: [2, 2, 3] }, 7);
    const r = rng(11);
    const xShape = [2, 1, 2, 4, 4];
    const x = b.upload(randn(32 * 2, r), xShape);
    const labels = Array.from({ length: 64 }, () => Math.floor(r() * 3));
    const target = b.upload(labels, [2, 1, 2, 4, 4]);
    const opts = { batchDice: false, ignoreLabel: null };
    const w = deepSupervisionWeights(2);
    const lossOf = async (record: boolean) => {
      const g = new Graph(b, { grad: record });
      const outs = net.forward(g, g.input(x));
      const t1 = b.downsampleSeg(target, outs[1].shape.slice(2));
      let L = (await g.segLoss(outs[0], target, opts, w[0])).loss;
      // weight of the lowest output is 0 for 2 outputs; give it 0.3 here to check its path too
      L += (await g.segLoss(outs[1], t1, opts, 0.3)).loss;
      if (record) g.backward();
      g.dispose();
      b.free(t1);
      return L;
    };
    await lossOf(true);
    const names = [
      'encoder.stages.0.0.convs.0.conv.weight',
      'encoder.stages.1.0.convs.1.norm.weight',
      'encoder.stages.2.0.convs.0.conv.bias',
      'decoder.transpconvs.0.weight',
      'decoder.transpconvs.1.bias',
      'decoder.stages.0.convs.0.norm.bias',
      'decoder.seg_layers.1.weight',
      'decoder.seg_layers.0.bias',
    ];
    for (const name of names) {
      const p = net.getParameter(name)!;
      const vals = Float64Array.from(await b.download(p.value));
      const ga = await b.download(p.grad!);
      const idx = [0, Math.floor(vals.length / 2), vals.length - 1];
      const an: number[] = [], fd: number[] = [];
      for (const i of idx) {
        const o = vals[i], h = 1e-6;
        vals[i] = o + h;
        b.write(p.value, vals);
        const lp = await lossOf(false);
        vals[i] = o - h;
        b.write(p.value, vals);
        const lm = await lossOf(false);
        vals[i] = o;
        b.write(p.value, vals);
        fd.push((lp - lm) / (2 * h));
        an.push(ga[i]);
      }
      assertClose(name, an, fd, 1e-4, 1e-7);
    }
  });
});

describe('optimizer helpers', () => {
  it('poly LR and clip coefficient follow the nnU-Net / torch formulas', () => {
    expect(polyLR(0.01, 0, 1000)).toBe(0.01);
    expect(polyLR(0.01, 500, 1000)).toBeCloseTo(0.01 * Math.pow(0.5, 0.9), 15);
    expect(clipCoefficient(24, 12)).toBeCloseTo(12 / (24 + 1e-6), 15);
    expect(clipCoefficient(3, 12)).toBe(1);
    expect(deepSupervisionWeights(4)).toEqual([8 / 14, 4 / 14, 2 / 14, 0]);
  });
});

describe('tiny training run (CPU backend)', () => {
  it('learns a synthetic bright-blob segmentation: loss falls by ≥ 50 %', async () => {
    const b = new CpuBackend('float32');
    const cfg: UNetConfig = {
      inputChannels: 1,
      numClasses: 2,
      nStages: 2,
      featuresPerStage: [4, 8],
      kernelSizes: [[3, 3], [3, 3]],
      strides: [[1, 1], [2, 2]],
      nConvPerStage: [1, 1],
      nConvPerStageDecoder: [1],
      convBias: true,
      deepSupervision: true,
    };
    const net = new PlainConvUNet(b, cfg, 3);
    const opt = new SGD(b, net.params);
    const r = rng(5);
    const batch = () => {
      const n = 2, S = 16;
      const img = new Float32Array(n * S * S), lab = new Float32Array(n * S * S);
      for (let k = 0; k < n; k++) {
        const cy = 4 + r() * 8, cx = 4 + r() * 8, rad = 2 + r() * 2;
        for (let y = 0; y < S; y++)
          for (let x = 0; x < S; x++) {
            const inside = (y - cy) ** 2 + (x - cx) ** 2 < rad * rad;
            lab[k * S * S + y * S + x] = inside ? 1 : 0;
            img[k * S * S + y * S + x] = (inside ? 1 : 0) + 0.3 * (r() - 0.5);
          }
      }
      return { x: b.upload(img, [n, 1, S, S]), t: b.upload(lab, [n, 1, S, S]) };
    };
    const losses: number[] = [];
    const iters = 60;
    for (let it = 0; it < iters; it++) {
      const { x, t } = batch();
      const res = await trainStep(net, opt, x, t, { batchDice: false, ignoreLabel: null }, polyLR(0.01, it, iters));
      losses.push(res.loss);
      b.free(x);
      b.free(t);
    }
    console.log('tiny training losses', losses.filter((_, i) => i % 10 === 0 || i === iters - 1).map((v) => v.toFixed(3)).join(' '));
    const first = losses.slice(0, 5).reduce((a, v) => a + v, 0) / 5;
    const last = losses.slice(-5).reduce((a, v) => a + v, 0) / 5;
    // DC_and_CE = CE (≥ 0) − soft Dice (≤ 1) is bounded below by −1: the loss measured above that floor
    // must at least halve
    expect(first - last).toBeGreaterThan(0.5 * (first + 1));
    // no per-step leaks: only parameters, their grads and momentum buffers stay alive
    opt.zeroGrad();
    expect(b.memoryStats().liveTensors).toBe(2 * net.params.length);
  });
});

describe('unetConfigFromPlans', () => {
  const arch = {
    network_class_name: 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
    arch_kwargs: {
      n_stages: 4,
      features_per_stage: [32, 64, 128, 256],
      conv_op: 'torch.nn.modules.conv.Conv3d',
      kernel_sizes: [[3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
      strides: [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
      n_conv_per_stage: [2, 2, 2, 2],
      n_conv_per_stage_decoder: [2, 2, 2],
      conv_bias: true,
      norm_op: 'torch.nn.modules.instancenorm.InstanceNorm3d',
      norm_op_kwargs: { eps: 1e-5, affine: true },
      dropout_op: null,
      dropout_op_kwargs: null,
      nonlin: 'torch.nn.LeakyReLU',
      nonlin_kwargs: { inplace: true },
    },
    _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
  };
  const config = { architecture: arch } as unknown as Parameters<typeof unetConfigFromPlans>[0];
  it("reads nnU-Net's arch_kwargs (Hippocampus 3d_fullres) and builds the network", () => {
    const cfg = unetConfigFromPlans(config, 1, 3);
    expect(cfg.nStages).toBe(4);
    expect(cfg.negativeSlope).toBe(0.01);
    const net = new PlainConvUNet(new CpuBackend('float32'), cfg);
    expect(net.totalStride).toEqual([8, 8, 8]);
    // hand count: encoder convs 1·32·27+32 … ; every conv block also has 2·C norm params
    const conv = (ci: number, co: number, k = 27) => ci * co * k + co + 2 * co;
    const enc = conv(1, 32) + conv(32, 32) + conv(32, 64) + conv(64, 64) + conv(64, 128) + conv(128, 128) + conv(128, 256) + conv(256, 256);
    const tr = 256 * 128 * 8 + 128 + 128 * 64 * 8 + 64 + 64 * 32 * 8 + 32;
    const dec = conv(256, 128) + conv(128, 128) + conv(128, 64) + conv(64, 64) + conv(64, 32) + conv(32, 32);
    const seg = 128 * 3 + 3 + 64 * 3 + 3 + 32 * 3 + 3;
    expect(net.params.reduce((a, p) => a + p.value.size, 0)).toBe(enc + tr + dec + seg);
    net.dispose();
  });
  it('rejects other network classes and inconsistent plans with SegStudioError', () => {
    const bad = { architecture: { ...arch, network_class_name: 'ResidualEncoderUNet' } } as unknown as typeof config;
    expect(() => unetConfigFromPlans(bad, 1, 3)).toThrow(/ResidualEncoderUNet is not supported/);
    const cfg = unetConfigFromPlans(config, 1, 3);
    expect(() => new PlainConvUNet(new CpuBackend('float32'), { ...cfg, nConvPerStageDecoder: [2, 2] })).toThrow(
      /n_conv_per_stage_decoder needs 3 entries/,
    );
  });
});

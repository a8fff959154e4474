// Fast CPU training backend (issue 8) vs PyTorch CPU, side by side in one run.
//  - one SGD step (forward, deep-supervision DC_and_CE, backward, clip, SGD) of nnU-Net's Hippocampus
//    3d_fullres PlainConvUNet (4 stages, 32–256 features, k3, strides 1,2,2,2, patch 40×56×40, batch 2) on the
//    fast CPU backend vs PyTorch CPU (/usr/bin/python3, torch.set_num_threads(2), same network and step);
//  - forward of one patch: fast CPU vs PyTorch, and vs the WGSL backend on Node WebGPU (SwiftShader), which is
//    measured on a smaller patch and extrapolated by FLOP count (stated in the output);
//  - RSS and backend memory over an "epoch" of a small config (SEGSTUDIO_BENCH_EPOCH_ITERS, default 250).
// Env: SEGSTUDIO_BENCH_REPEATS (3), SEGSTUDIO_BENCH_EPOCH_ITERS (250), SEGSTUDIO_BENCH_WEBGPU=0 to skip WebGPU,
// SEGSTUDIO_BENCH_WEBGPU_PATCH (16,16,16).
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { createNodeFastCpuBackend } from '../src/node/ortTrainingOps.ts';
import type { Backend } from '../src/training/engine/backend.ts';
import { PlainConvUNet, type UNetConfig } from '../src/training/nn/plainConvUNet.ts';
import { SGD } from '../src/training/nn/optimizer.ts';
import { trainStep } from '../src/training/nn/trainStep.ts';
import { unetFlops } from '../src/training/nn/flops.ts';
import { median, pythonHas, runPythonJson } from './util.ts';

export const hippocampus3d: UNetConfig = HIPPOCAMPUS_NET;
const PATCH = [40, 56, 40];
const BATCH = 2;

// PyTorch twin of PlainConvUNet + DC_and_CE + nnU-Net's SGD step (nnU-Net: nnunetv2/training/nnUNetTrainer/
// nnUNetTrainer.py train_step; dynamic_network_architectures PlainConvUNet). Prints JSON timings.
const TORCH = String.raw`
import json, sys, time, torch, resource
import torch.nn as nn
torch.set_num_threads(int(sys.argv[4]))
torch.manual_seed(0)
cfg = json.loads(sys.argv[1]); patch = json.loads(sys.argv[2]); reps = int(sys.argv[3]); batch = 2
def blk(ci, co, s):
    return [nn.Conv3d(ci, co, 3, s, 1), nn.InstanceNorm3d(co, eps=1e-5, affine=True), nn.LeakyReLU(0.01, inplace=True)]
class Net(nn.Module):
    def __init__(s):
        super().__init__()
        f = cfg['featuresPerStage']; st = cfg['strides']; n = cfg['nStages']; ci = cfg['inputChannels']
        s.enc = nn.ModuleList()
        for i in range(n):
            layers = blk(ci, f[i], st[i][0])
            for _ in range(cfg['nConvPerStage'][i] - 1): layers += blk(f[i], f[i], 1)
            s.enc.append(nn.Sequential(*layers)); ci = f[i]
        s.up = nn.ModuleList(); s.dec = nn.ModuleList(); s.seg = nn.ModuleList()
        for i in range(1, n):
            lo, sk = f[n - i], f[n - i - 1]
            s.up.append(nn.ConvTranspose3d(lo, sk, st[n - i][0], st[n - i][0]))
            layers = blk(2 * sk, sk, 1)
            for _ in range(cfg['nConvPerStageDecoder'][i - 1] - 1): layers += blk(sk, sk, 1)
            s.dec.append(nn.Sequential(*layers)); s.seg.append(nn.Conv3d(sk, cfg['numClasses'], 1))
    def forward(s, x):
        sk = []
        for e in s.enc:
            x = e(x); sk.append(x)
        outs = []; x = sk[-1]
        for i in range(len(s.dec)):
            x = s.dec[i](torch.cat((s.up[i](x), sk[-(i + 2)]), 1)); outs.append(s.seg[i](x))
        return outs[::-1]
def loss_fn(lg, y):
    ce = nn.functional.cross_entropy(lg, y)
    p = torch.softmax(lg, 1); oh = torch.zeros_like(p).scatter_(1, y[:, None], 1); ax = (2, 3, 4)
    tp = (p * oh).sum(ax)[:, 1:]; sp = p.sum(ax)[:, 1:]; sg = oh.sum(ax)[:, 1:]
    return ce - ((2 * tp + 1e-5) / torch.clip(sg + sp + 1e-5, 1e-8)).mean()
net = Net()
opt = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)
no = len(net.dec); w = [1 / 2 ** i for i in range(no)]; w[-1] = 0; w = [v / sum(w) for v in w]
x = torch.randn(batch, 1, *patch); y = torch.randint(0, cfg['numClasses'], (batch, *patch))
ys = [y] + [nn.functional.interpolate(y[:, None].float(), scale_factor=0.5 ** i, mode='nearest-exact')[:, 0].long() for i in range(1, no)]
def step():
    opt.zero_grad(set_to_none=True)
    outs = net(x)
    l = sum(w[i] * loss_fn(outs[i], ys[i]) for i in range(no) if w[i] != 0)
    l.backward(); torch.nn.utils.clip_grad_norm_(net.parameters(), 12); opt.step()
def fwd():
    with torch.no_grad(): net(x[:1])
step(); fwd()
ts = []; fs = []
for _ in range(reps):
    t = time.perf_counter(); step(); ts.append(1000 * (time.perf_counter() - t))
    t = time.perf_counter(); fwd(); fs.append(1000 * (time.perf_counter() - t))
ts.sort(); fs.sort()
print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'stepMs': ts, 'forwardMs': fs,
  'stepMedianMs': ts[len(ts) // 2], 'forwardMedianMs': fs[len(fs) // 2], 'maxRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;
import { HIPPOCAMPUS_NET } from './hippocampusNet.ts';

const progress = (s: string) => process.stderr.write(`cpu-backend bench: ${s}\n`);
const r1 = (v: number) => Math.round(v * 10) / 10;
const r2 = (v: number) => Math.round(v * 100) / 100;
const mib = (b: number) => r1(b / 2 ** 20);

function randomInputs(b: Backend, patch: number[], batch: number, classes: number) {
  const vox = patch.reduce((a, v) => a * v, 1);
  const x = b.upload(Float32Array.from({ length: batch * vox }, () => Math.random() * 2 - 1), [batch, 1, ...patch]);
  const y = b.upload(Float32Array.from({ length: batch * vox }, () => Math.floor(Math.random() * classes)), [batch, 1, ...patch]);
  const x1 = b.upload(Float32Array.from({ length: vox }, () => Math.random() * 2 - 1), [1, 1, ...patch]);
  return { x, y, x1 };
}

/** Median step and forward times of `cfg` on a backend (after one warm-up step, which creates every session). */
async function timeBackend(b: Backend, cfg: UNetConfig, patch: number[], repeats: number, forwardOnly = false) {
  const net = new PlainConvUNet(b, cfg, 1);
  const opt = new SGD(b, net.params);
  const { x, y, x1 } = randomInputs(b, patch, BATCH, cfg.numClasses);
  const opts = { batchDice: false, ignoreLabel: null };
  const fwd = async () => {
    const o = net.predict(x1);
    await b.download(o);
    b.free(o);
  };
  let t0 = performance.now();
  if (!forwardOnly) await trainStep(net, opt, x, y, opts, 0.01);
  await fwd();
  await b.sync();
  const warmMs = performance.now() - t0;
  const stepMs: number[] = [], fwdMs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    if (!forwardOnly) {
      t0 = performance.now();
      await trainStep(net, opt, x, y, opts, 0.01);
      await b.sync();
      stepMs.push(performance.now() - t0);
    }
    t0 = performance.now();
    await fwd();
    fwdMs.push(performance.now() - t0);
  }
  const mem = b.memoryStats();
  opt.dispose();
  net.dispose();
  for (const t of [x, y, x1]) b.free(t);
  return { warmMs, stepMs, fwdMs, mem };
}

export async function run(): Promise<Record<string, unknown>> {
  const repeats = Number(process.env.SEGSTUDIO_BENCH_REPEATS ?? 3);
  const epochIters = Number(process.env.SEGSTUDIO_BENCH_EPOCH_ITERS ?? 250);
  const threads = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const fl = unetFlops(hippocampus3d, PATCH, BATCH);
  const flFwd1 = unetFlops(hippocampus3d, PATCH, 1).forward;
  const result: Record<string, unknown> = {
    network: 'Hippocampus 3d_fullres PlainConvUNet (4 stages, 32/64/128/256, k3, strides 1,2,2,2, 2 convs/stage, deep supervision)',
    patch: PATCH,
    batch: BATCH,
    threads,
    repeats,
    gflop: { step: r2((fl.forward + fl.backward) / 1e9), forwardOnePatch: r2(flFwd1 / 1e9) },
    loadAverageAtStart: os.loadavg().map(r2),
  };

  // ---- PyTorch CPU (same machine, same run) -------------------------------------------------------------
  let torch = null as { stepMedianMs: number; forwardMedianMs: number } | null;
  if (pythonHas('torch')) {
    progress('PyTorch');
    try {
      torch = runPythonJson(TORCH, [JSON.stringify(hippocampus3d), JSON.stringify(PATCH), String(repeats), String(threads)]) as unknown as typeof torch;
      result.pytorch = torch;
    } catch (e) {
      result.pytorch = `failed: ${(e as Error).message.slice(0, 300)}`;
    }
  } else result.pytorch = 'unavailable (/usr/bin/python3 with torch missing)';

  // ---- fast CPU backend ---------------------------------------------------------------------------------
  progress('fast CPU backend');
  const fast = createNodeFastCpuBackend({ threads });
  const rss0 = process.memoryUsage().rss;
  const f = await timeBackend(fast, hippocampus3d, PATCH, repeats);
  const fStep = median(f.stepMs), fFwd = median(f.fwdMs);
  const perStep = (v: number) => r1(v / (repeats * 2 + 2));
  result.fastCpu = {
    stepMs: f.stepMs.map(Math.round),
    forwardMs: f.fwdMs.map(Math.round),
    stepMedianMs: Math.round(fStep),
    forwardMedianMs: Math.round(fFwd),
    firstStepAndForwardMsIncludingSessionCreation: Math.round(f.warmMs),
    stepGflops: r2((fl.forward + fl.backward) / fStep / 1e6),
    forwardGflops: r2(flFwd1 / fFwd / 1e6),
    onnxruntimeSessions: fast.sessionCount(),
    onnxruntimeMsPerStepAndForward: perStep(fast.stats.ortMs),
    typescriptKernelMsPerStepAndForward: perStep(fast.stats.tsMs),
    onnxruntimeMsByOpPerStepAndForward: Object.fromEntries(Object.entries(fast.stats.msByOp).map(([k, v]) => [k, perStep(v)])),
    liveMiB: mib(f.mem.liveBytes),
    pooledMiB: mib(f.mem.pooledBytes),
    rssGrowthMiB: mib(process.memoryUsage().rss - rss0),
  };
  fast.dispose();
  if (torch) {
    result.ratios = {
      fastCpuOverPytorchStep: r2(fStep / torch.stepMedianMs),
      fastCpuOverPytorchForward: r2(fFwd / torch.forwardMedianMs),
      targetStep: '≤ 1.5',
    };
  }

  // ---- WGSL backend on Node WebGPU (SwiftShader): forward on a small patch, extrapolated by FLOPs ---------
  if (process.env.SEGSTUDIO_BENCH_WEBGPU !== '0') {
    progress('WebGPU forward');
    const small = (process.env.SEGSTUDIO_BENCH_WEBGPU_PATCH ?? '16,16,16').split(',').map(Number);
    try {
      const { getNodeGpuDevice } = await import('../src/node/webgpuDevice.ts');
      const { WebGpuBackend } = await import('../src/training/engine/webgpuBackend.ts');
      const info = await getNodeGpuDevice({ disableRobustness: true });
      const gpu = new WebGpuBackend(info.device);
      const g = await timeBackend(gpu, hippocampus3d, small, repeats, true);
      const gFwd = median(g.fwdMs);
      const gflopsSmall = unetFlops(hippocampus3d, small, 1).forward / gFwd / 1e6;
      const fastSmall = createNodeFastCpuBackend({ threads });
      const fs = await timeBackend(fastSmall, hippocampus3d, small, repeats, true);
      fastSmall.dispose();
      const extrap = flFwd1 / gflopsSmall / 1e6;
      result.webgpu = {
        adapter: `${info.adapterInfo.vendor} ${info.adapterInfo.architecture} ${info.adapterInfo.description}`.trim(),
        measuredPatch: small,
        forwardMedianMsMeasured: Math.round(gFwd),
        fastCpuForwardMedianMsSamePatch: Math.round(median(fs.fwdMs)),
        forwardGflops: r2(gflopsSmall),
        fullPatchForwardMsExtrapolated: Math.round(extrap),
        note: 'WebGPU forward measured at measuredPatch, full-patch time extrapolated by FLOP count',
      };
      result.ratios = Object.assign((result.ratios as Record<string, unknown> | undefined) ?? {}, {
        webgpuOverFastCpuForwardSamePatch: r2(gFwd / median(fs.fwdMs)),
        webgpuExtrapolatedOverFastCpuForwardFull: r2(extrap / fFwd),
      });
      gpu.dispose();
      info.device.destroy();
    } catch (e) {
      result.webgpu = `unavailable: ${(e as Error).message.split('\n')[0]}`;
    }
  }

  // ---- memory over an epoch of a small config --------------------------------------------------------------
  if (epochIters > 0) {
    progress(`memory over ${epochIters} iterations`);
    const smallCfg: UNetConfig = { ...hippocampus3d, nStages: 3, featuresPerStage: [8, 16, 32], kernelSizes: hippocampus3d.kernelSizes.slice(0, 3), strides: hippocampus3d.strides.slice(0, 3), nConvPerStage: [2, 2, 2], nConvPerStageDecoder: [2, 2] };
    const smallPatch = [24, 32, 24];
    const b = createNodeFastCpuBackend({ threads });
    const net = new PlainConvUNet(b, smallCfg, 2);
    const opt = new SGD(b, net.params);
    const { x, y, x1 } = randomInputs(b, smallPatch, BATCH, 3);
    b.free(x1);
    const rss: number[] = [], backendBytes: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < epochIters; i++) {
      await trainStep(net, opt, x, y, { batchDice: false, ignoreLabel: null }, 0.01);
      if (i % 25 === 0 || i === epochIters - 1) {
        rss.push(mib(process.memoryUsage().rss));
        const m = b.memoryStats();
        backendBytes.push(mib(m.liveBytes + m.pooledBytes));
      }
    }
    const ms = performance.now() - t0;
    result.epochMemory = {
      config: 'Hippocampus layout with 3 stages, 8/16/32 features, patch 24×32×24, batch 2',
      iterations: epochIters,
      msPerIteration: r1(ms / epochIters),
      rssMiBEvery25: rss,
      backendLiveAndPooledMiBEvery25: backendBytes,
      onnxruntimeSessions: b.sessionCount(),
    };
    opt.dispose();
    net.dispose();
    b.free(x);
    b.free(y);
    b.dispose();
  }
  result.note = 'Shared 2-core VM, often loaded by other processes: see loadAverageAtStart; PyTorch and the fast CPU backend run back to back in the same process run.';
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().then((r) => console.log(JSON.stringify(r, null, 2)));
}

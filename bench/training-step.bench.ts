// Training-step benchmark: nnU-Net's Hippocampus 3d_fullres PlainConvUNet (4 stages, 32–256 features,
// kernels 3, strides [1,1,1],[2,2,2]×3, patch 40×56×40, batch 2, 3 classes) — one SGD step (forward, deep-
// supervision DC_and_CE loss, backward, clip, SGD) and a forward of one patch — on Node WebGPU (Dawn +
// SwiftShader, robustness off), side by side with PyTorch CPU (Debian python3-torch, 2 threads) on the
// same network, plus the adapter's measured register-tiled matmul peak.
//
// SwiftShader runs these kernels at ~0.2–2 GFLOP/s, so a full-size step takes minutes: the WebGPU side is
// measured on a smaller patch (same network, batch) and the full-size time is EXTRAPOLATED from the
// measured GFLOP/s and the exact FLOP count (reported as such). PyTorch is measured at both sizes.
import { fileURLToPath } from 'node:url';
import { getNodeGpuDevice } from '../src/node/webgpuDevice.ts';
import { WebGpuBackend } from '../src/training/engine/webgpuBackend.ts';
import { PlainConvUNet, type UNetConfig } from '../src/training/nn/plainConvUNet.ts';
import { SGD } from '../src/training/nn/optimizer.ts';
import { trainStep } from '../src/training/nn/trainStep.ts';
import { unetFlops } from '../src/training/nn/flops.ts';
import { measureMatmulPeak } from './matmulPeak.ts';
import { median, pythonHas, runPythonJson } from './util.ts';

export const hippocampusNet: UNetConfig = HIPPOCAMPUS_NET;
const FULL_PATCH = [40, 56, 40];
const BATCH = 2;

const TORCH_SCRIPT = String.raw`
import json, sys, time, torch
import torch.nn as nn
torch.set_num_threads(2)
torch.manual_seed(0)
cfg = json.loads(sys.argv[1]); patches = json.loads(sys.argv[2]); batch = int(sys.argv[3]); reps = int(sys.argv[4])
def block(cin, cout, stride):
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride, 1, bias=True), nn.InstanceNorm3d(cout, eps=1e-5, affine=True), nn.LeakyReLU(0.01, inplace=True))
class UNet(nn.Module):
    def __init__(s):
        super().__init__()
        f = cfg['featuresPerStage']; st = cfg['strides']; n = cfg['nStages']
        enc = []; cin = cfg['inputChannels']
        for i in range(n):
            enc.append(nn.Sequential(block(cin, f[i], st[i][0]), *[block(f[i], f[i], 1) for _ in range(cfg['nConvPerStage'][i] - 1)])); cin = f[i]
        s.enc = nn.ModuleList(enc)
        s.up = nn.ModuleList(); s.dec = nn.ModuleList(); s.seg = nn.ModuleList()
        for i in range(1, n):
            below, skip = f[n - i], f[n - i - 1]
            s.up.append(nn.ConvTranspose3d(below, skip, st[n - i][0], st[n - i][0], bias=True))
            s.dec.append(nn.Sequential(block(2 * skip, skip, 1), *[block(skip, skip, 1) for _ in range(cfg['nConvPerStageDecoder'][i - 1] - 1)]))
            s.seg.append(nn.Conv3d(skip, cfg['numClasses'], 1, 1, 0, bias=True))
    def forward(s, x):
        skips = []
        for e in s.enc:
            x = e(x); skips.append(x)
        outs = []; x = skips[-1]
        for i in range(len(s.dec)):
            x = s.dec[i](torch.cat((s.up[i](x), skips[-(i + 2)]), 1)); outs.append(s.seg[i](x))
        return outs[::-1]
def dc_ce(logits, y):
    ce = nn.functional.cross_entropy(logits, y)
    p = torch.softmax(logits, 1)
    oh = torch.zeros_like(p).scatter_(1, y[:, None], 1)
    ax = tuple(range(2, p.ndim))
    tp = (p * oh).sum(ax)[:, 1:]; sp = p.sum(ax)[:, 1:]; sg = oh.sum(ax)[:, 1:]
    return ce - ((2 * tp + 1e-5) / torch.clip(sg + sp + 1e-5, 1e-8)).mean()
net = UNet()
opt = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)
n_out = len(net.dec); w = [1 / 2 ** i for i in range(n_out)]; w[-1] = 0; w = [v / sum(w) for v in w]
res = {'torch': torch.__version__, 'threads': torch.get_num_threads()}
for patch in patches:
    x = torch.randn(batch, 1, *patch); y = torch.randint(0, cfg['numClasses'], (batch, *patch))
    ys = [y] + [nn.functional.interpolate(y[:, None].float(), scale_factor=0.5 ** i, mode='nearest-exact')[:, 0].long() for i in range(1, n_out)]
    def step():
        opt.zero_grad(set_to_none=True)
        outs = net(x)
        loss = sum(w[i] * dc_ce(outs[i], ys[i]) for i in range(n_out) if w[i] != 0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 12)
        opt.step()
    def fwd():
        with torch.no_grad():
            net(x[:1])
    ts = []; fs = []
    step(); fwd()
    for _ in range(reps):
        t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
        t = time.perf_counter(); fwd(); fs.append(time.perf_counter() - t)
    ts.sort(); fs.sort()
    res['x'.join(map(str, patch))] = {'stepMs': 1000 * ts[len(ts) // 2], 'forwardMs': 1000 * fs[len(fs) // 2]}
print(json.dumps(res))
`;
import { HIPPOCAMPUS_NET } from './hippocampusNet.ts';

const r2 = (v: number) => Math.round(v * 100) / 100;

export async function run(): Promise<Record<string, unknown>> {
  const smallPatch = (process.env.SEGSTUDIO_BENCH_PATCH ?? '16,16,16').split(',').map(Number);
  const repeats = Number(process.env.SEGSTUDIO_BENCH_REPEATS ?? 2);
  const result: Record<string, unknown> = {
    network: 'Hippocampus 3d_fullres PlainConvUNet (4 stages, 32/64/128/256, k3, strides 1,2,2,2, 3 classes)',
    fullPatch: FULL_PATCH,
    batch: BATCH,
  };
  const flopsFull = unetFlops(hippocampusNet, FULL_PATCH, BATCH);
  const flopsFwdFull = unetFlops(hippocampusNet, FULL_PATCH, 1).forward;
  const flopsSmall = unetFlops(hippocampusNet, smallPatch, BATCH);
  const flopsFwdSmall = unetFlops(hippocampusNet, smallPatch, 1).forward;
  result.gflop = {
    stepFull: r2((flopsFull.forward + flopsFull.backward) / 1e9),
    forwardFullOnePatch: r2(flopsFwdFull / 1e9),
    stepSmall: r2((flopsSmall.forward + flopsSmall.backward) / 1e9),
  };

  // ---- PyTorch CPU reference (same run) ---------------------------------------------------------------------
  let torch: Record<string, { stepMs: number; forwardMs: number }> | null = null;
  if (pythonHas('torch')) {
    const t = runPythonJson(TORCH_SCRIPT, [JSON.stringify(hippocampusNet), JSON.stringify([FULL_PATCH, smallPatch]), String(BATCH), '3']);
    torch = t as unknown as Record<string, { stepMs: number; forwardMs: number }>;
    result.pytorch = t;
  } else result.pytorch = 'unavailable (/usr/bin/python3 with torch missing)';

  // ---- WebGPU (SwiftShader) ---------------------------------------------------------------------------------
  const { device, adapterInfo } = await getNodeGpuDevice({ disableRobustness: true });
  result.adapter = adapterInfo;
  // the adapter's practical peak: best of several register-tiled matmul runs (before and after the network
  // runs, since the shared VM's load changes over minutes)
  const peaks = [await measureMatmulPeak(device, 512, 512, 512, 4), await measureMatmulPeak(device, 512, 512, 512, 8)];
  const gpu = new WebGpuBackend(device);
  const net = new PlainConvUNet(gpu, hippocampusNet);
  const opt = new SGD(gpu, net.params);
  const vox = smallPatch.reduce((a, b) => a * b, 1);
  const x = gpu.upload(Float32Array.from({ length: BATCH * vox }, () => Math.random() * 2 - 1), [BATCH, 1, ...smallPatch]);
  const y = gpu.upload(Float32Array.from({ length: BATCH * vox }, () => Math.floor(Math.random() * 3)), [BATCH, 1, ...smallPatch]);
  const x1 = gpu.upload(Float32Array.from({ length: vox }, () => Math.random() * 2 - 1), [1, 1, ...smallPatch]);
  const opts = { batchDice: false, ignoreLabel: null };
  let t0 = performance.now();
  await trainStep(net, opt, x, y, opts, 0.01); // warm-up: compiles every pipeline
  await gpu.sync();
  const firstStepMs = performance.now() - t0;
  const stepMs: number[] = [], fwdMs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    t0 = performance.now();
    await trainStep(net, opt, x, y, opts, 0.01);
    await gpu.sync();
    stepMs.push(performance.now() - t0);
    t0 = performance.now();
    const out = net.predict(x1);
    await gpu.download(out);
    gpu.free(out);
    fwdMs.push(performance.now() - t0);
  }
  peaks.push(await measureMatmulPeak(device, 512, 512, 512, 4), await measureMatmulPeak(device, 512, 512, 512, 8));
  const peak = Math.max(...peaks);
  const mem = gpu.memoryStats();
  const step = median(stepMs), fwd = median(fwdMs);
  const stepGflops = (flopsSmall.forward + flopsSmall.backward) / step / 1e6;
  const fwdGflops = flopsFwdSmall / fwd / 1e6;
  const extrapolatedStepMs = (flopsFull.forward + flopsFull.backward) / stepGflops / 1e6;
  const extrapolatedFwdMs = flopsFwdFull / fwdGflops / 1e6;
  result.webgpu = {
    measuredPatch: smallPatch,
    repeats,
    firstStepMsIncludingPipelineCompilation: Math.round(firstStepMs),
    stepMs: Math.round(step),
    forwardMs: Math.round(fwd),
    stepGflops: r2(stepGflops),
    forwardGflops: r2(fwdGflops),
    fullPatchStepMsExtrapolated: Math.round(extrapolatedStepMs),
    fullPatchForwardMsExtrapolated: Math.round(extrapolatedFwdMs),
    matmulPeakGflops: r2(peak),
    matmulRunsGflops: peaks.map(r2),
    stepFractionOfPeak: r2(stepGflops / peak),
    forwardFractionOfPeak: r2(fwdGflops / peak),
    dispatchesPerStepAndForward: Math.round(gpu.dispatches / (repeats + 1)),
    liveMiB: r2(mem.liveBytes / 2 ** 20),
    pooledMiB: r2(mem.pooledBytes / 2 ** 20),
  };
  if (torch) {
    const full = torch[FULL_PATCH.join('x')], small = torch[smallPatch.join('x')];
    const tStepG = (flopsFull.forward + flopsFull.backward) / full.stepMs / 1e6;
    result.pytorchGflops = { step: r2(tStepG), forward: r2(flopsFwdFull / full.forwardMs / 1e6) };
    result.ratios = {
      webgpuOverPytorchStepSamePatch: r2(step / small.stepMs),
      webgpuOverPytorchForwardSamePatch: r2(fwd / small.forwardMs),
      webgpuExtrapolatedOverPytorchStepFull: r2(extrapolatedStepMs / full.stepMs),
      webgpuExtrapolatedOverPytorchForwardFull: r2(extrapolatedFwdMs / full.forwardMs),
    };
  }
  result.note =
    'WebGPU timings are measured at measuredPatch and extrapolated to the full patch by FLOP count ' +
    '(SwiftShader is a CPU rasterizer; a full-size step would take minutes). Shared, noisy 2-core VM.';
  opt.dispose();
  net.dispose();
  for (const t of [x, y, x1]) gpu.free(t);
  gpu.dispose();
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

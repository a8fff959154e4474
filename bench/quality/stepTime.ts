// Step-time probe for choosing a reduced Hippocampus plan that fits a CPU budget (docs/quality.md).
// node bin/run-ts.mjs bench/quality/stepTime.ts [FEATURES e.g. 16,32,64,128] [BATCH] [PATCH e.g. 40,56,40] [REPEATS] [THREADS]
// Prints the median wall time of one SGD step (forward, deep-supervision DC+CE, backward, SGD) on the fast CPU
// backend, after one warm-up step that creates the onnxruntime sessions.
import { createNodeFastCpuBackend } from '../../src/node/ortTrainingOps.ts';
import { PlainConvUNet, type UNetConfig } from '../../src/training/nn/plainConvUNet.ts';
import { SGD } from '../../src/training/nn/optimizer.ts';
import { trainStep } from '../../src/training/nn/trainStep.ts';

const [feat = '16,32,64,128', batchS = '2', patchS = '40,56,40', repS = '3', thrS = '2'] = process.argv.slice(2);
const features = feat.split(',').map(Number);
const patch = patchS.split(',').map(Number);
const batch = Number(batchS);
const nd = patch.length;
const k = Array(nd).fill(3);
const cfg: UNetConfig = {
  inputChannels: 1,
  numClasses: 3,
  nStages: features.length,
  featuresPerStage: features,
  kernelSizes: features.map(() => k),
  strides: features.map((_, i) => Array(nd).fill(i === 0 ? 1 : 2)),
  nConvPerStage: features.map(() => 2),
  nConvPerStageDecoder: features.slice(1).map(() => 2),
  convBias: true,
  deepSupervision: true,
};
const b = createNodeFastCpuBackend({ threads: Number(thrS) });
const vox = patch.reduce((a, v) => a * v, 1);
const x = b.upload(Float32Array.from({ length: batch * vox }, () => Math.random() * 2 - 1), [batch, 1, ...patch]);
const y = b.upload(Float32Array.from({ length: batch * vox }, () => Math.floor(Math.random() * 3)), [batch, 1, ...patch]);
const net = new PlainConvUNet(b, cfg, 1);
const opt = new SGD(b, net.params);
const opts = { batchDice: true, ignoreLabel: null };
let t0 = performance.now();
await trainStep(net, opt, x, y, opts, 0.01);
await b.sync();
const warm = performance.now() - t0;
const ms: number[] = [];
for (let r = 0; r < Number(repS); r++) {
  t0 = performance.now();
  await trainStep(net, opt, x, y, opts, 0.01);
  await b.sync();
  ms.push(performance.now() - t0);
}
ms.sort((a, c) => a - c);
console.log(JSON.stringify({ features, batch, patch, warmMs: Math.round(warm), stepMs: ms.map(Math.round), medianMs: Math.round(ms[ms.length >> 1]) }));
process.exit(0);

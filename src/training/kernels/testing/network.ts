// Whole-network comparison (shared test body, no Node APIs): PlainConvUNet forward, deep-supervision loss,
// backward and one SGD step on two backends from identical weights and inputs.
import type { Backend } from '../../engine/backend.ts';
import { Graph } from '../../engine/autograd.ts';
import { PlainConvUNet, type UNetConfig } from '../../nn/plainConvUNet.ts';
import { SGD } from '../../nn/optimizer.ts';
import { trainStep } from '../../nn/trainStep.ts';
import { assertClose, randLabels, randn, rng, numel } from './util.ts';

export const tinyNet3d: UNetConfig = {
  inputChannels: 1,
  numClasses: 3,
  nStages: 2,
  featuresPerStage: [4, 8],
  kernelSizes: [[3, 3, 3], [3, 3, 3]],
  strides: [[1, 1, 1], [2, 2, 2]],
  nConvPerStage: [2, 2],
  nConvPerStageDecoder: [2],
  convBias: true,
  deepSupervision: true,
};

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

/** Throws CheckError when outputs, loss, any parameter gradient or the stepped weights differ. */
export async function compareNetwork(test: Backend, ref: Backend, cfg: UNetConfig = tinyNet3d, patch = [16, 16, 16], batch = 2): Promise<{ loss: number }> {
  const r = rng(21);
  const xs = [batch, cfg.inputChannels, ...patch];
  const x = randn(numel(xs), r);
  const t = randLabels(batch * numel(patch), cfg.numClasses, r);
  const opts = { batchDice: false, ignoreLabel: null };
  const run = async (b: Backend) => {
    const net = new PlainConvUNet(b, cfg, 99);
    const xd = b.upload(x, xs), td = b.upload(t, [batch, 1, ...patch]);
    // forward outputs
    const g = new Graph(b, { grad: false });
    const outs = net.forward(g, g.input(xd));
    const logits = await Promise.all(outs.map((o) => b.download(o.value)));
    g.dispose();
    // one full training step (loss, backward, clip, SGD)
    const opt = new SGD(b, net.params);
    const grads: Record<string, Float32Array | Float64Array> = {};
    const origStep = opt.step.bind(opt);
    opt.step = async (o) => {
      for (const p of net.params) if (p.grad) grads[p.name] = await b.download(p.grad);
      return origStep(o);
    };
    const res = await trainStep(net, opt, xd, td, opts, 0.01);
    const after = await net.getStateDict();
    opt.dispose();
    net.dispose();
    b.free(xd);
    b.free(td);
    return { logits, res, grads, after };
  };
  const a = await run(test), e = await run(ref);
  a.logits.forEach((l, i) => assertClose(`network output ${i}`, l, e.logits[i], 1e-3, 1e-4 * Math.max(1, maxAbs(e.logits[i]))));
  assertClose('network loss', [a.res.loss], [e.res.loss], 1e-4, 1e-6);
  // the global gradient norm sums ~all gradients squared: float32 accumulation order differs by backend
  assertClose('network grad norm', [a.res.gradNorm], [e.res.gradNorm], 1e-3, 1e-6);
  // gradients are sums over many voxels: compare relative to the tensor's largest entry, with a floor tied to
  // the largest gradient of the whole net (conv biases in front of InstanceNorm have a true gradient of 0,
  // so theirs is pure rounding noise)
  const globalMax = Math.max(...Object.values(e.grads).map(maxAbs));
  for (const name of Object.keys(e.grads)) {
    if (!a.grads[name]) throw new Error(`no gradient for ${name} on ${test.name}`);
    assertClose(`grad ${name}`, a.grads[name], e.grads[name], 2e-3, Math.max(2e-4 * maxAbs(e.grads[name]), 1e-6 * globalMax));
  }
  for (const name of Object.keys(e.after)) assertClose(`weights after step ${name}`, a.after[name].data, e.after[name].data, 1e-4, 1e-6);
  return { loss: e.res.loss };
}

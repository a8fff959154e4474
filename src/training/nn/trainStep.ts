// One nnU-Net training iteration on a backend: forward, deep-supervision DC_and_CE loss, backward, grad-norm
// clipping at 12, SGD step (nnU-Net: training/nnUNetTrainer/nnUNetTrainer.py train_step / validation_step).
import type { DeviceTensor } from '../engine/backend.ts';
import { Graph } from '../engine/autograd.ts';
import { deepSupervisionWeights, type DiceCeOptions } from './loss.ts';
import type { PlainConvUNet } from './plainConvUNet.ts';
import type { SGD } from './optimizer.ts';

export interface StepResult {
  /** total (deep-supervision weighted) loss */
  loss: number;
  /** the highest-resolution output's CE and Dice terms (unweighted) */
  ce: number;
  dice: number;
  gradNorm: number;
}

/**
 * Downsampled targets for every network output (nearest-exact; nnU-Net's DownsampleSegForDSTransform),
 * highest resolution first. The first entry is `target` itself (not copied); callers free the others.
 */
export function deepSupervisionTargets(net: PlainConvUNet, target: DeviceTensor, outSpatial: number[][]): DeviceTensor[] {
  return outSpatial.map((sp, i) =>
    i === 0 && sp.every((v, k) => v === target.shape[2 + k]) ? target : net.backend.downsampleSeg(target, sp),
  );
}

/** Forward + loss + backward + clip + SGD step. `x` [N, Cin, ...patch], `target` [N, 1, ...patch] labels. */
export async function trainStep(
  net: PlainConvUNet,
  opt: SGD,
  x: DeviceTensor,
  target: DeviceTensor,
  lossOpts: DiceCeOptions,
  lr: number,
): Promise<StepResult> {
  const B = net.backend;
  const g = new Graph(B);
  opt.zeroGrad();
  const outs = net.forward(g, g.input(x));
  const weights = deepSupervisionWeights(outs.length);
  const targets = deepSupervisionTargets(
    net,
    target,
    outs.filter((_, i) => weights[i] !== 0).map((o) => o.shape.slice(2) as number[]),
  );
  let loss = 0, ce = 0, dice = 0;
  for (let i = 0; i < outs.length; i++) {
    // outputs with weight 0 are left out of the graph (their parameters get no gradient and are not stepped)
    // nnU-Net: training/loss/deep_supervision.py skips weights[i] == 0
    if (weights[i] === 0) continue;
    const r = await g.segLoss(outs[i], targets[i], lossOpts, weights[i]);
    loss += r.loss;
    if (i === 0) {
      ce = r.ce;
      dice = r.dice;
    }
  }
  g.backward();
  for (const t of targets) if (t !== target) B.free(t);
  g.dispose();
  const gradNorm = await opt.step({ lr, maxGradNorm: 12 });
  return { loss, ce, dice, gradNorm };
}

/** Loss of the full-resolution output only, no gradients (nnU-Net's validation_step loss). */
export async function evalLoss(net: PlainConvUNet, x: DeviceTensor, target: DeviceTensor, lossOpts: DiceCeOptions) {
  const g = new Graph(net.backend, { grad: false });
  const outs = net.forward(g, g.input(x));
  const r = await g.segLoss(outs[0], target, lossOpts);
  g.dispose();
  return r;
}

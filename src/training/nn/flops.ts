// Floating-point operation counts of PlainConvUNet (multiply-add = 2 FLOPs), for GFLOP/s figures.
// Convolutions and transposed convolutions only (norm, activations and loss are < 2 % of the total).
import type { UNetConfig } from './plainConvUNet.ts';

const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);

/**
 * forward: one forward pass; backward: backward-data + backward-weights (the first conv needs no
 * backward-data since the image has no gradient), in FLOPs.
 */
export function unetFlops(cfg: UNetConfig, patch: number[], batch: number): { forward: number; backward: number } {
  let fwd = 0, bwd = 0;
  let shape = [...patch];
  const stageShapes: number[][] = [];
  let cin = cfg.inputChannels;
  for (let s = 0; s < cfg.nStages; s++) {
    const k = prod(cfg.kernelSizes[s]);
    for (let j = 0; j < cfg.nConvPerStage[s]; j++) {
      if (j === 0) shape = shape.map((v, a) => Math.floor((v - 1) / cfg.strides[s][a]) + 1);
      const c = j === 0 ? cin : cfg.featuresPerStage[s];
      const f = 2 * batch * cfg.featuresPerStage[s] * c * k * prod(shape);
      fwd += f;
      bwd += s === 0 && j === 0 ? f : 2 * f;
    }
    cin = cfg.featuresPerStage[s];
    stageShapes.push(shape);
  }
  for (let s = 1; s < cfg.nStages; s++) {
    const below = cfg.featuresPerStage[cfg.nStages - s], skip = cfg.featuresPerStage[cfg.nStages - s - 1];
    const out = stageShapes[cfg.nStages - s - 1];
    const t = 2 * batch * below * skip * prod(out);
    fwd += t;
    bwd += 2 * t;
    const k = prod(cfg.kernelSizes[cfg.nStages - s - 1]);
    for (let j = 0; j < cfg.nConvPerStageDecoder[s - 1]; j++) {
      const f = 2 * batch * skip * (j === 0 ? 2 * skip : skip) * k * prod(out);
      fwd += f;
      bwd += 2 * f;
    }
    if (cfg.deepSupervision || s === cfg.nStages - 1) {
      const f = 2 * batch * cfg.numClasses * skip * prod(out);
      fwd += f;
      bwd += 2 * f;
    }
  }
  return { forward: fwd, backward: bwd };
}

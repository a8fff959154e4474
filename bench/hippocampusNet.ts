// nnU-Net's Dataset004_Hippocampus 3d_fullres network and patch, shared by the training benchmarks
// (4 stages, 32–256 features, 3×3×3 kernels, strides 1,2,2,2, 2 convs per stage, patch 40×56×40, batch 2).
import type { UNetConfig } from '../src/training/nn/plainConvUNet.ts';

export const HIPPOCAMPUS_NET: UNetConfig = {
  inputChannels: 1,
  numClasses: 3,
  nStages: 4,
  featuresPerStage: [32, 64, 128, 256],
  kernelSizes: [[3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
  strides: [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
  nConvPerStage: [2, 2, 2, 2],
  nConvPerStageDecoder: [2, 2, 2],
  convBias: true,
  deepSupervision: true,
};
export const HIPPOCAMPUS_PATCH = [40, 56, 40];
export const HIPPOCAMPUS_BATCH = 2;

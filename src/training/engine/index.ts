// Public API of the training engine (see docs/training-engine.md).
export type {
  Backend,
  ConvSpec,
  DType,
  DeviceTensor,
  FloatArray,
  SegLossGradCoeffs,
  SegLossStats,
  SgdOptions,
} from './backend.ts';
export { convOutShape, convSpecFor, numel } from './backend.ts';
export { Graph, Parameter, Tensor } from './autograd.ts';
export { WebGpuBackend } from './webgpuBackend.ts';
export { requestGpuDevice, type GpuInfo } from './gpuDevice.ts';
export { CpuBackend } from '../kernels/cpu/cpuBackend.ts';
export { PlainConvUNet, unetConfigFromPlans, type UNetConfig } from '../nn/plainConvUNet.ts';
export { SGD, NNUNET_SGD, polyLR, clipCoefficient, type SgdConfig } from '../nn/optimizer.ts';
export { deepSupervisionWeights, diceCeFromStats, segLossWithGrad, type DiceCeOptions, type DiceCeResult } from '../nn/loss.ts';
export { trainStep, evalLoss, deepSupervisionTargets, type StepResult } from '../nn/trainStep.ts';
export { unetFlops } from '../nn/flops.ts';

import { WebGpuBackend } from './webgpuBackend.ts';
import { requestGpuDevice } from './gpuDevice.ts';

/** WebGPU backend on the browser's navigator.gpu (or a given GPU object, e.g. Node's `webgpu` create()). */
export async function createWebGpuBackend(gpu?: GPU): Promise<{ backend: WebGpuBackend; isFallbackAdapter: boolean }> {
  const info = await requestGpuDevice(gpu);
  return { backend: new WebGpuBackend(info.device), isFallbackAdapter: info.adapterInfo.isFallbackAdapter };
}

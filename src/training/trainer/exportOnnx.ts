// Export of a trained PlainConvUNet to ONNX and into the core pipeline's model bundle, so trained folds run
// through the same predictor as any nnU-Net model (src/core/inference).
// - Only the highest-resolution segmentation head (deep supervision off), input [1, C, ...patch] float32 →
//   output [1, nClasses, ...patch] logits. (nnU-Net has no official exporter; the community route is
//   deep_supervision=False at a fixed patch size: PR #1826, issue #2407.)
// - Ops: Conv (bias, padding (k−1)//2), InstanceNormalization (eps from plans), LeakyRelu, Concat; every
//   transposed conv (kernel == stride) is emitted in the Conv 1×1 + depth-to-space form that
//   src/core/inference/onnx/rewrite.ts produces, because onnxruntime-web's WebGPU backends cannot run a 3D
//   ConvTranspose.
import { SegStudioError } from '../../core/errors.ts';
import { createBundle, type DatasetJson } from '../../core/inference/bundle.ts';
import { OnnxGraphBuilder } from '../../core/inference/onnx/builder.ts';
import { encodeModel } from '../../core/inference/onnx/model.ts';
import { rewriteConvTransposeReport } from '../../core/inference/onnx/rewrite.ts';
import { storeWeightsAsFloat16 } from '../../core/inference/onnx/float16.ts';
import type { Plans } from '../../core/planning/plans.ts';
import type { PlainConvUNet, UNetConfig } from '../nn/plainConvUNet.ts';
import type { CheckpointData } from './checkpoint.ts';

export type StateDict = Record<string, { shape: number[]; data: Float32Array }>;

export interface OnnxExportOptions {
  /** 'rewrite' (default): Conv 1×1 + depth-to-space; 'native': plain ConvTranspose nodes */
  convTranspose?: 'rewrite' | 'native';
  /** extra metadata_props */
  metadata?: Record<string, string>;
  /** graph input / output names (default 'input' / 'logits') */
  inputName?: string;
  outputName?: string;
  /** 'float16': store the weights as float16 + Cast (half the file; the network still computes in float32) */
  weights?: 'float32' | 'float16';
}

/** Builds the ONNX model of a PlainConvUNet from its configuration and PyTorch-named weights. */
export function unetToOnnx(cfg: UNetConfig, weights: StateDict, patchSize: number[], opts: OnnxExportOptions = {}): Uint8Array {
  const nd = cfg.kernelSizes[0].length;
  if (patchSize.length !== nd) throw new SegStudioError('export', `patch size [${patchSize}] does not fit a ${nd}-D network`);
  const get = (name: string): { shape: number[]; data: Float32Array } => {
    const t = weights[name];
    if (!t) throw new SegStudioError('export', `missing weight ${name}`);
    return t;
  };
  const eps = cfg.normEps ?? 1e-5;
  const slope = cfg.negativeSlope ?? 1e-2;
  const b = new OnnxGraphBuilder('PlainConvUNet');
  const x0 = b.addInput(opts.inputName ?? 'input', [1, cfg.inputChannels, ...patchSize]);
  const block = (x: string, prefix: string, stride: number[]): string => {
    const w = get(`${prefix}.conv.weight`);
    const bias = cfg.convBias ? get(`${prefix}.conv.bias`).data : null;
    const y = b.conv(x, w.data, w.shape, bias, { strides: stride });
    const n = b.instanceNorm(y, get(`${prefix}.norm.weight`).data, get(`${prefix}.norm.bias`).data, eps);
    return b.leakyRelu(n, slope);
  };
  const ones = Array(nd).fill(1);
  const skips: string[] = [];
  let h = x0;
  for (let s = 0; s < cfg.nStages; s++) {
    for (let j = 0; j < cfg.nConvPerStage[s]; j++) h = block(h, `encoder.stages.${s}.0.convs.${j}`, j === 0 ? cfg.strides[s] : ones);
    skips.push(h);
  }
  let lres = skips[skips.length - 1];
  for (let i = 0; i < cfg.nStages - 1; i++) {
    const tw = get(`decoder.transpconvs.${i}.weight`);
    const tb = cfg.convBias ? get(`decoder.transpconvs.${i}.bias`).data : null;
    const up = b.convTranspose(lres, tw.data, tw.shape, tb, cfg.strides[cfg.nStages - 1 - i]);
    let y = b.concat([up, skips[skips.length - 2 - i]], 1);
    for (let j = 0; j < cfg.nConvPerStageDecoder[i]; j++) y = block(y, `decoder.stages.${i}.convs.${j}`, ones);
    lres = y;
  }
  const last = cfg.nStages - 2;
  const sw = get(`decoder.seg_layers.${last}.weight`);
  const logits = b.conv(lres, sw.data, sw.shape, get(`decoder.seg_layers.${last}.bias`).data, { pads: Array(2 * nd).fill(0) });
  b.addOutput(logits, [1, cfg.numClasses, ...patchSize], 'float32', opts.outputName ?? 'logits');
  const model = b.build({
    producerName: 'segstudio',
    docString: 'nnU-Net PlainConvUNet trained with SegStudio (highest-resolution head only)',
    metadata: { patch_size: JSON.stringify(patchSize), num_classes: String(cfg.numClasses), ...(opts.metadata ?? {}) },
  });
  const store = (m: typeof model) => encodeModel(opts.weights === 'float16' ? storeWeightsAsFloat16(m).model : m);
  if ((opts.convTranspose ?? 'rewrite') === 'native') return store(model);
  const rep = rewriteConvTransposeReport(model);
  if (rep.skipped.length) throw new SegStudioError('export', `ConvTranspose ${rep.skipped[0].node} could not be rewritten (${rep.skipped[0].reason})`);
  return store(rep.model);
}

/** ONNX bytes of a live network (weights read back from its backend). */
export async function exportNetworkOnnx(net: PlainConvUNet, patchSize: number[], opts: OnnxExportOptions = {}): Promise<Uint8Array> {
  return unetToOnnx(net.config, await net.getStateDict(), patchSize, opts);
}

/** ONNX bytes straight from a checkpoint (no backend needed). */
export function checkpointToOnnx(ck: CheckpointData, opts: OnnxExportOptions = {}): Uint8Array {
  const m = ck.meta;
  return unetToOnnx({ ...m.network, deepSupervision: false }, ck.weights, m.patch_size, {
    ...opts,
    metadata: {
      trainer: m.trainer_name,
      configuration: m.configuration,
      fold: String(m.fold),
      epoch: String(m.current_epoch),
      ...(opts.metadata ?? {}),
    },
  });
}

export interface TrainedFold {
  fold: number;
  checkpoint: CheckpointData;
}

/**
 * The model bundle (plans.json, dataset.json, fold_K.onnx, inference.json, manifest.json with sha256) of
 * one or several trained folds of the same configuration. Bundles number folds with integers: a model
 * trained on fold 'all' (nnU-Net's fold_all) is passed with the number it should carry (e.g. 0).
 */
export async function bundleFromCheckpoints(
  folds: TrainedFold[],
  plans: Plans,
  dataset: DatasetJson,
  extra: { postprocessing?: unknown; weights?: 'float32' | 'float16' } = {},
): Promise<Map<string, Uint8Array>> {
  if (folds.length === 0) throw new SegStudioError('export', 'no trained folds to export');
  const configuration = folds[0].checkpoint.meta.configuration;
  const patch = folds[0].checkpoint.meta.patch_size;
  const nets = new Map<number, Uint8Array>();
  for (const f of folds) {
    const m = f.checkpoint.meta;
    if (m.configuration !== configuration)
      throw new SegStudioError('export', `fold ${f.fold} was trained with configuration '${m.configuration}', fold ${folds[0].fold} with '${configuration}'`);
    if (m.patch_size.join() !== patch.join())
      throw new SegStudioError('export', `fold ${f.fold} has patch size [${m.patch_size}], fold ${folds[0].fold} [${patch}]`);
    if (nets.has(f.fold)) throw new SegStudioError('export', `fold ${f.fold} given twice`);
    nets.set(f.fold, checkpointToOnnx(f.checkpoint, { weights: extra.weights }));
  }
  const cfg = plans.configurations[configuration];
  if (!cfg) throw new SegStudioError('export', `plans have no configuration '${configuration}'`, 'plans.json');
  // the bundle's plans must describe the network that was trained (patch size)
  const bundlePlans: Plans = { ...plans, configurations: { ...plans.configurations, [configuration]: { ...cfg, patch_size: [...patch] } } };
  return createBundle({
    plans: bundlePlans,
    dataset,
    configuration,
    folds: nets,
    allowedMirroringAxes: folds[0].checkpoint.meta.inference_allowed_mirroring_axes,
    postprocessing: extra.postprocessing,
  });
}

// Small synthetic ONNX networks and plans for tests, benchmarks and demos: a pointwise (1×1×1) network
// whose output is computable by hand, and a PlainConvUNet-shaped network (conv–InstanceNorm–LeakyReLU
// stages, strided-conv downsampling, ConvTranspose upsampling, skip concat, 1×1×1 head) with random weights.
import type { Plans } from '../planning/plans.ts';
import { OnnxGraphBuilder } from './onnx/builder.ts';
import type { OnnxDim } from './onnx/model.ts';

/** Deterministic uniform(-0.5, 0.5) values (LCG). */
export function lcgValues(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return out;
}

/** out[k] = Σ_c w[k][c]·x[c] + b[k] as a 1×…×1 Conv; spatial dims default to symbolic. */
export function buildPointwiseOnnx(w: number[][], b: number[], spatialDims: OnnxDim[] = ['d', 'h', 'w']): Uint8Array {
  const K = w.length;
  const C = w[0].length;
  const nd = spatialDims.length;
  const g = new OnnxGraphBuilder('pointwise');
  const x = g.addInput('input', ['N', C, ...spatialDims]);
  const y = g.conv(x, Float32Array.from(w.flat()), [K, C, ...Array(nd).fill(1)], Float32Array.from(b));
  g.addOutput(y, ['N', K, ...spatialDims], 'float32', 'logits');
  return g.toBytes();
}

export interface UNetLikeOptions {
  inChannels: number;
  classes: number;
  /** features per stage, e.g. [8, 16] (2 stages: one downsampling) */
  features: number[];
  /** spatial dims of the input (fixed, as nnU-Net exports at the patch size), 2 or 3 entries */
  patch: number[];
  seed?: number;
}

/** A PlainConvUNet-like ONNX graph (no deep supervision) with He-scaled random weights. */
export function buildUNetLikeOnnx(o: UNetLikeOptions): Uint8Array {
  const nd = o.patch.length;
  const k3 = Array(nd).fill(3);
  const g = new OnnxGraphBuilder('plainconvunet_like');
  let seed = o.seed ?? 1;
  const convBlock = (x: string, cin: number, cout: number, stride: number): string => {
    const fanIn = cin * 3 ** nd;
    const w = lcgValues(cout * fanIn, seed++, 2 * Math.sqrt(6 / fanIn));
    const c = g.conv(x, w, [cout, cin, ...k3], lcgValues(cout, seed++, 0.1), { strides: Array(nd).fill(stride) });
    const n = g.instanceNorm(c, new Float32Array(cout).fill(1), new Float32Array(cout), 1e-5);
    return g.leakyRelu(n, 0.01);
  };
  let x = g.addInput('input', [1, o.inChannels, ...o.patch]);
  const skips: string[] = [];
  let cin = o.inChannels;
  o.features.forEach((f, s) => {
    x = convBlock(x, cin, f, s === 0 ? 1 : 2);
    x = convBlock(x, f, f, 1);
    skips.push(x);
    cin = f;
  });
  for (let s = o.features.length - 2; s >= 0; s--) {
    const f = o.features[s];
    const S = 2 ** nd;
    const up = g.convTranspose(x, lcgValues(cin * f * S, seed++, 2 * Math.sqrt(3 / cin)), [cin, f, ...Array(nd).fill(2)], null, Array(nd).fill(2));
    x = g.concat([up, skips[s]], 1);
    x = convBlock(x, 2 * f, f, 1);
    x = convBlock(x, f, f, 1);
    cin = f;
  }
  const head = g.conv(x, lcgValues(o.classes * cin, seed++, 2 / Math.sqrt(cin)), [o.classes, cin, ...Array(nd).fill(1)], new Float32Array(o.classes));
  g.addOutput(head, [1, o.classes, ...o.patch], 'float32', 'logits');
  return g.toBytes();
}

export interface SyntheticPlansOptions {
  configuration?: string;
  patchSize: number[];
  /** target spacing (array order) */
  spacing: number[];
  channels: number;
  normalization?: string;
  medianShape?: number[];
}

/** nnU-Net-shaped plans with one configuration (identity transpose). */
export function syntheticPlans(o: SyntheticPlansOptions): Plans {
  const name = o.configuration ?? (o.patchSize.length === 2 ? '2d' : '3d_fullres');
  const probKw = { is_seg: false, order: 1, order_z: 0, force_separate_z: null };
  return {
    dataset_name: 'Dataset999_Synthetic',
    plans_name: 'nnUNetPlans',
    original_median_spacing_after_transp: o.spacing.length === 3 ? [...o.spacing] : [1, ...o.spacing],
    original_median_shape_after_transp: o.medianShape ?? (o.patchSize.length === 3 ? [...o.patchSize] : [1, ...o.patchSize]),
    image_reader_writer: 'SimpleITKIO',
    transpose_forward: [0, 1, 2],
    transpose_backward: [0, 1, 2],
    configurations: {
      [name]: {
        data_identifier: `nnUNetPlans_${name}`,
        preprocessor_name: 'DefaultPreprocessor',
        batch_size: 2,
        patch_size: [...o.patchSize],
        median_image_size_in_voxels: o.medianShape ?? [...o.patchSize],
        spacing: [...o.spacing],
        normalization_schemes: Array(o.channels).fill(o.normalization ?? 'ZScoreNormalization'),
        use_mask_for_norm: Array(o.channels).fill(false),
        resampling_fn_data: 'resample_data_or_seg_to_shape',
        resampling_fn_seg: 'resample_data_or_seg_to_shape',
        resampling_fn_probabilities: 'resample_data_or_seg_to_shape',
        resampling_fn_data_kwargs: { is_seg: false, order: 3, order_z: 0, force_separate_z: null },
        resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
        resampling_fn_probabilities_kwargs: probKw,
        batch_dice: false,
      },
    },
    experiment_planner_used: 'ExperimentPlanner',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: Object.fromEntries(
      Array.from({ length: o.channels }, (_, c) => [String(c), { max: 1, mean: 0, median: 0, min: -1, percentile_00_5: -1, percentile_99_5: 1, std: 1 }]),
    ),
  };
}

// One case through nnU-Net's default preprocessing and back again at export.
// Forward (nnU-Net: preprocessing/preprocessors/default_preprocessor.py run_case_npy):
//   float32 -> transpose_forward -> crop to nonzero (seg −1 outside) -> normalize (per channel, uses the cropped
//   seg as mask) -> resample data (resampling_fn_data_kwargs) and seg (resampling_fn_seg_kwargs) to the
//   configuration spacing (2D configurations keep the first axis' spacing).
// Backward (nnU-Net: inference/export_prediction.py convert_predicted_logits_to_segmentation_with_correct_shape):
//   logits resampled (resampling_fn_probabilities_kwargs, order 1) to the shape after cropping -> softmax / argmax
//   (or sigmoid + regions_class_order) -> pasted into zeros at the crop box (probabilities: background 1 outside)
//   -> transpose_backward.
import { SegStudioError, throwIfCancelled } from '../errors.ts';
import { product, type CancelSignal, type Image, type LabelMap, type ProgressFn } from '../types.ts';
import { resolveConfiguration, type ConfigurationPlans, type Plans } from '../planning/plans.ts';
import { cropToNonzero, pasteIntoBox, type BBox } from './crop.ts';
import { normalizeImage } from './normalization.ts';
import {
  computeNewShape,
  optionsFromKwargs,
  resampleDataToShape,
  resampleSegmentationToShape,
} from './resampling.ts';
import { permute, transposeArray, transposeImage } from './transpose.ts';

/** What is needed to undo preprocessing (nnU-Net's properties dict keys, plus our own shape/transposes). */
export interface PreprocessingProperties {
  /** spacing of the input image, array order before transposition */
  spacing: number[];
  /** spatial shape after transpose_forward, before cropping */
  shape_before_cropping: number[];
  /** crop box in the transposed grid, half-open */
  bbox_used_for_cropping: BBox;
  shape_after_cropping_and_before_resampling: number[];
  /** spatial shape of the preprocessed data (= the network's input grid) */
  shape_after_resampling: number[];
  /** spacing of the preprocessed data (3 entries, transposed order) */
  spacing_after_resampling: number[];
  transpose_forward: number[];
  transpose_backward: number[];
  /** original image's shape [d0, d1, d2] (untransposed) */
  original_shape: number[];
}

export interface PreprocessedCase {
  /** normalized, resampled data [C, ...shape_after_resampling] */
  data: Float32Array;
  /** [C, ...shape_after_resampling] */
  shape: number[];
  /**
   * resampled segmentation (−1 outside the nonzero mask). Without a segmentation nnU-Net resamples its 0/−1 crop
   * mask and then discards it at inference, so it is only computed here when asked for (opts.resampleMask).
   */
  seg?: Int16Array;
  properties: PreprocessingProperties;
}

function configOf(plans: Plans, name: string): ConfigurationPlans {
  try {
    return resolveConfiguration(plans, name);
  } catch (e) {
    throw new SegStudioError('plans', (e as Error).message, 'plans.json');
  }
}

/** The configuration's target spacing as a 3-element list (2D configurations keep the first axis' spacing). */
export function targetSpacingFor(config: ConfigurationPlans, transposedSpacing: readonly number[]): number[] {
  const t = config.spacing;
  if (t.length === transposedSpacing.length) return [...t];
  if (t.length === transposedSpacing.length - 1) return [transposedSpacing[0], ...t];
  throw new SegStudioError('plans', `configuration spacing ${JSON.stringify(t)} does not fit a ${transposedSpacing.length}-D image`, 'plans.json');
}

/**
 * nnU-Net DefaultPreprocessor.run_case_npy for one image (and optionally its segmentation).
 * `image` is [C, d0, d1, d2] float32 with properties.spacing in array order.
 */
export interface PreprocessOptions {
  /** without a segmentation, also resample the 0/−1 nonzero mask (nnU-Net computes it; inference ignores it) */
  resampleMask?: boolean;
  /** called after each stage (transpose, crop, normalize, resample data, resample seg) */
  progress?: ProgressFn;
  /** checked between stages; a cancelled run throws SegStudioError('cancelled') */
  signal?: CancelSignal;
}

export function preprocessCase(
  image: Image,
  plans: Plans,
  configurationName: string,
  seg?: LabelMap,
  opts: PreprocessOptions = {},
): PreprocessedCase {
  const file = image.properties.fileName;
  const config = configOf(plans, configurationName);
  if (image.shape.length !== 4) throw new SegStudioError('preprocess', `image must be [C, d0, d1, d2], got ${JSON.stringify(image.shape)}`, file);
  const channels = image.shape[0];
  const tf = plans.transpose_forward ?? [0, 1, 2];
  const tb = plans.transpose_backward ?? [0, 1, 2];
  if (image.properties.spacing.length !== 3) {
    throw new SegStudioError('preprocess', `image spacing must have 3 entries, got ${JSON.stringify(image.properties.spacing)}`, file);
  }

  const step = (done: number, stage: string) => {
    throwIfCancelled(opts.signal);
    opts.progress?.(done, 5, stage);
  };
  step(0, 'transpose');
  // transpose (data, seg, spacing)
  // (cropping copies, so an identity transpose needs no copy of its own; the input is never modified)
  const identityTf = tf.every((a, i) => a === i);
  const tImage = identityTf ? image : transposeImage(image, tf);
  let tSeg: LabelMap | undefined;
  if (seg) {
    const t = identityTf ? seg : transposeArray(seg.data, 1, seg.shape, tf);
    tSeg = { data: t.data, shape: t.shape };
  }
  const originalSpacing = permute(image.properties.spacing, tf);

  step(1, 'crop');
  // crop
  const crop = cropToNonzero(tImage, tSeg);
  const cropped = crop.data;
  const spatial = cropped.shape.slice(1);

  // target shape
  const targetSpacing = targetSpacingFor(config, originalSpacing);
  const newShape = computeNewShape(spatial, originalSpacing, targetSpacing);
  // refuse absurd target grids before resampling allocates them (fuzz finding: plans with extreme spacing)
  if (!newShape.every((v) => Number.isInteger(v) && v >= 1) || product(newShape) * channels > 2 ** 31) {
    throw new SegStudioError(
      'plans',
      `resampling ${spatial.join('x')} voxels of spacing ${originalSpacing.join('x')} to the configuration's spacing ${targetSpacing.join('x')} gives an unusable grid ${newShape.join('x')}`,
      file ?? 'plans.json',
    );
  }

  step(2, 'normalize');
  // normalize (before resampling, as nnU-Net does)
  if (config.normalization_schemes.length < channels) {
    throw new SegStudioError('plans', `configuration '${configurationName}' has ${config.normalization_schemes.length} normalization schemes for ${channels} channels`, 'plans.json');
  }
  const data = normalizeImage(
    cropped.data,
    channels,
    crop.seg.data,
    config.normalization_schemes,
    config.use_mask_for_norm ?? [],
    plans.foreground_intensity_properties_per_channel,
    file,
  );

  step(3, 'resample');
  // resample
  const dataOut = resampleDataToShape(data, channels, spatial, newShape, originalSpacing, targetSpacing,
    optionsFromKwargs(config.resampling_fn_data_kwargs, 3));
  step(4, 'resample segmentation');
  const segOut = seg || opts.resampleMask
    ? resampleSegmentationToShape(crop.seg.data, spatial, newShape, originalSpacing, targetSpacing,
      optionsFromKwargs(config.resampling_fn_seg_kwargs, 1))
    : undefined;
  opts.progress?.(5, 5, 'done');

  return {
    data: dataOut,
    shape: [channels, ...newShape],
    seg: segOut,
    properties: {
      spacing: [...image.properties.spacing],
      shape_before_cropping: crop.shapeBeforeCropping,
      bbox_used_for_cropping: crop.bbox,
      shape_after_cropping_and_before_resampling: spatial,
      shape_after_resampling: newShape,
      spacing_after_resampling: targetSpacing,
      transpose_forward: [...tf],
      transpose_backward: [...tb],
      original_shape: image.shape.slice(1),
    },
  };
}

export interface ExportOptions {
  /** also return probabilities on the original grid ([nClasses, ...original shape]) */
  saveProbabilities?: boolean;
  /** region-based models: sigmoid, then label c where probability of region i > 0.5, in this order */
  regionsClassOrder?: number[];
  signal?: CancelSignal;
}

export interface ExportedPrediction {
  labels: LabelMap;
  probabilities?: Float32Array;
}

/** numpy-style argmax over channels (first maximum wins) of [C, n] data. */
function argmaxChannels(x: Float32Array, channels: number, n: number, out: Uint8Array | Uint16Array): void {
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bv = x[i];
    for (let c = 1; c < channels; c++) {
      const v = x[c * n + i];
      if (v > bv || (bv !== bv && v === v)) {
        bv = v;
        best = c;
      }
    }
    out[i] = best;
  }
}

/** torch.softmax over channels in float32 (max-subtracted exponentials, normalized), in place. */
export function softmaxChannels(x: Float32Array, channels: number, n: number): Float32Array {
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let c = 0; c < channels; c++) if (x[c * n + i] > m) m = x[c * n + i];
    let s = 0;
    for (let c = 0; c < channels; c++) {
      const e = Math.fround(Math.exp(x[c * n + i] - m));
      x[c * n + i] = e;
      s += e;
    }
    const fs = Math.fround(s);
    for (let c = 0; c < channels; c++) x[c * n + i] = Math.fround(x[c * n + i] / fs);
  }
  return x;
}

/**
 * nnU-Net export_prediction: logits on the preprocessed grid ([nClasses, ...props.shape_after_resampling]) back to
 * the original image grid: label map (uint8, uint16 when there are >= 255 foreground labels) and optionally
 * probabilities (background 1 outside the crop for label models, 0 for region models).
 */
export function exportPredictionToOriginal(
  logits: Float32Array,
  nClasses: number,
  props: PreprocessingProperties,
  plans: Plans,
  configurationName: string,
  opts: ExportOptions = {},
): ExportedPrediction {
  const config = configOf(plans, configurationName);
  const inShape = props.shape_after_resampling;
  if (logits.length !== nClasses * product(inShape)) {
    throw new SegStudioError('export', `logits have ${logits.length} values, expected ${nClasses} x ${JSON.stringify(inShape)}`);
  }
  const spacingTransposed = permute(props.spacing, props.transpose_forward);
  const cropShape = props.shape_after_cropping_and_before_resampling;
  const currentSpacing = targetSpacingFor(config, spacingTransposed);
  const resampled = resampleDataToShape(logits, nClasses, inShape, cropShape, currentSpacing, spacingTransposed,
    optionsFromKwargs(config.resampling_fn_probabilities_kwargs, 1));
  throwIfCancelled(opts.signal);
  const n = product(cropShape);
  const regions = opts.regionsClassOrder;
  const wide = nClasses - 1 >= 255 || (regions !== undefined && Math.max(0, ...regions) > 255);
  const segCrop = wide ? new Uint16Array(n) : new Uint8Array(n);
  let probs: Float32Array | undefined;
  if (regions) {
    if (regions.length !== nClasses) {
      throw new SegStudioError('export', `regions_class_order has ${regions.length} entries for ${nClasses} outputs`);
    }
    probs = resampled === logits ? logits.slice() : resampled;
    for (let i = 0; i < probs.length; i++) probs[i] = Math.fround(1 / (1 + Math.exp(-probs[i])));
    regions.forEach((c, r) => {
      for (let i = 0; i < n; i++) if (probs![r * n + i] > 0.5) segCrop[i] = c;
    });
  } else if (opts.saveProbabilities) {
    probs = softmaxChannels(resampled === logits ? logits.slice() : resampled, nClasses, n);
    argmaxChannels(probs, nClasses, n, segCrop);
  } else {
    argmaxChannels(resampled, nClasses, n, segCrop);
  }

  // revert cropping
  const before = props.shape_before_cropping;
  const full = wide ? new Uint16Array(product(before)) : new Uint8Array(product(before));
  pasteIntoBox(full, segCrop, 1, before, props.bbox_used_for_cropping);
  // revert transposition (no copy when it is the identity)
  const identity = props.transpose_backward.every((a, i) => a === i);
  const back = identity ? { data: full, shape: [...before] } : transposeArray(full, 1, before, props.transpose_backward);
  const labels: LabelMap = { data: back.data, shape: back.shape };

  if (!opts.saveProbabilities || !probs) return { labels };
  const pFull = new Float32Array(nClasses * product(before));
  if (!regions) pFull.fill(1, 0, product(before));
  pasteIntoBox(pFull, probs, nClasses, before, props.bbox_used_for_cropping);
  const pBack = identity ? pFull : transposeArray(pFull, nClasses, before, props.transpose_backward).data;
  return { labels, probabilities: pBack };
}

// One case, end to end: preprocessing → sliding window over every fold (with mirroring TTA) → export back
// to the original image grid. Works with any NetworkRunner (onnxruntime-node in the CLI, onnxruntime-web
// in the browser worker, plain functions in tests).
//   bundle (nnU-Net trained): nnU-Net: inference/predict_from_raw_data.py predict_from_files →
//     preprocessing/preprocessors/default_preprocessor.py run_case, predict_logits_from_preprocessed_data,
//     inference/export_prediction.py export_prediction_from_logits
//   model card (third-party ONNX): the card's own normalization, whole volume or tiled, argmax.
import { SegStudioError, throwIfCancelled } from '../errors.ts';
import { resolveConfiguration } from '../planning/plans.ts';
import { pasteIntoBox } from '../preprocessing/crop.ts';
import { exportPredictionToOriginal, preprocessCase, softmaxChannels, targetSpacingFor, type PreprocessingProperties } from '../preprocessing/preprocess.ts';
import { optionsFromKwargs, resampleDataToShape } from '../preprocessing/resampling.ts';
import { permute, transposeArray } from '../preprocessing/transpose.ts';
import type { Plans } from '../planning/plans.ts';
import { product, type CancelSignal, type Image, type LabelMap, type ProgressFn } from '../types.ts';
import { labelNames, type ModelBundle } from './bundle.ts';
import { estimateCardPrediction, estimatePrediction, memoryBudgetError, networkCost, nonzeroBoxExtent, type MemoryBudget, type NetworkCost, type PredictionEstimate } from './memory.ts';
import { cardChannelNames, cardLabelNames, normalizeForCard, type CardModel } from './modelCard.ts';
import type { NetworkRunner } from './runner.ts';
import { predictSlidingWindow } from './slidingWindow.ts';

export type LoadedModel = ModelBundle | CardModel;

export interface PredictOptions {
  /** mirroring test-time augmentation (default: on for bundles, as nnU-Net; for cards: on when the card lists mirror_axes) */
  tta?: boolean;
  /** sliding-window step as a fraction of the patch (default 0.5, or the card's step_size) */
  stepSize?: number;
  /** also return per-class probabilities on the original grid */
  saveProbabilities?: boolean;
  /**
   * bundles with several runners: also return each fold's own label map (`foldLabels`, one per runner,
   * in order). The ensemble is then the mean of the per-fold sliding-window logits, which equals the
   * all-runner sliding window up to float rounding (nnU-Net averages folds' logits the same way).
   */
  perFold?: boolean;
  onProgress?: ProgressFn;
  signal?: CancelSignal;
  /**
   * Memory (default true): the sliding window keeps Gaussian weight sums for one tile depth only; without
   * resampling back (label models, no probabilities, no per-fold maps) the logits too live for one tile depth
   * and each finished slice is argmaxed into the label map; with resampling the label export resamples one
   * class at a time with a running argmax. The labels are identical to `lowMemory: false` (the reference path:
   * whole-volume logits and weights map, all classes resampled at once).
   */
  lowMemory?: boolean;
  /**
   * Refuse before preprocessing (SegStudioError 'memory-budget' naming the image file, the estimate, the
   * budget and a suggestion) when the estimated peak exceeds this budget (memoryBudget(...) in memory.ts).
   * Without it the estimate is still made and returned, never enforced.
   */
  memoryBudget?: MemoryBudget;
  /** measured network throughput (FLOP/s, measureThroughput) for the time estimate */
  flopsPerSecond?: number;
  /** memory the runtime already uses (Node: process.memoryUsage().rss); default 200 MB */
  baselineBytes?: number;
  /** where this runs, for the refusal's suggestion */
  environment?: 'node' | 'browser';
  /** called with the estimate before anything large is allocated */
  onEstimate?: (estimate: PredictionEstimate) => void;
}

export interface PredictTimings {
  preprocessMs: number;
  /** whole sliding window (network + tiling + accumulation) */
  inferenceMs: number;
  /** time inside runner.run only */
  networkMs: number;
  exportMs: number;
  totalMs: number;
}

export interface PredictResult {
  /** label map on the input image's spatial grid */
  labels: LabelMap;
  /** float32 [nClasses, ...image spatial shape] when saveProbabilities */
  probabilities?: Float32Array;
  probabilitiesShape?: number[];
  /** with `perFold` and more than one runner: each runner's (fold's) own label map, in runner order */
  foldLabels?: LabelMap[];
  /** class names, index = label value (regions: region names) */
  classNames: string[];
  device: string;
  timings: PredictTimings;
  tiles: number;
  runs: number;
  /** bundles: the preprocessing properties (nnU-Net's properties dict) */
  properties?: PreprocessingProperties;
  /** bundles: the memory / time estimate made before starting */
  estimate?: PredictionEstimate;
}

const costCache = new WeakMap<Uint8Array, NetworkCost | null>();
/** The network's FLOPs and activation sizes per voxel (cached per ONNX buffer; null when the graph cannot be read). */
export function cachedNetworkCost(bytes: Uint8Array, name?: string): NetworkCost | null {
  if (costCache.has(bytes)) return costCache.get(bytes)!;
  let c: NetworkCost | null = null;
  try {
    c = networkCost(bytes, name);
  } catch {
    c = null; // an unreadable graph fails later with onnxruntime's own message; the estimate just lacks its cost
  }
  costCache.set(bytes, c);
  return c;
}

/**
 * Label export with one class resampled at a time and a running argmax (first maximum wins, NaN rule of
 * argmaxChannels): the same labels as exportPredictionToOriginal for label models, with one class's
 * resampled logits + a float32 maximum instead of all K classes on the crop grid.
 * nnU-Net: inference/export_prediction.py convert_predicted_logits_to_segmentation_with_correct_shape
 */
export function exportLabelsStreaming(logits: Float32Array, K: number, props: PreprocessingProperties, plans: Plans, configurationName: string, signal?: CancelSignal): LabelMap {
  const config = resolveConfiguration(plans, configurationName);
  const inShape = props.shape_after_resampling;
  const nIn = product(inShape);
  if (logits.length !== K * nIn) throw new SegStudioError('export', `logits have ${logits.length} values, expected ${K} x ${JSON.stringify(inShape)}`);
  const spacingTransposed = permute(props.spacing, props.transpose_forward);
  const cropShape = props.shape_after_cropping_and_before_resampling;
  const currentSpacing = targetSpacingFor(config, spacingTransposed);
  const rOpts = optionsFromKwargs(config.resampling_fn_probabilities_kwargs, 1);
  const n = product(cropShape);
  const wide = K - 1 >= 255;
  const segCrop = wide ? new Uint16Array(n) : new Uint8Array(n);
  let best: Float32Array | null = null;
  for (let k = 0; k < K; k++) {
    throwIfCancelled(signal);
    const src = logits.subarray(k * nIn, (k + 1) * nIn);
    let ch: Float32Array | null = resampleDataToShape(src, 1, inShape, cropShape, currentSpacing, spacingTransposed, rOpts);
    if (!best) {
      best = ch === src ? src.slice() : ch;
      ch = null;
      continue;
    }
    const bv = best;
    for (let i = 0; i < n; i++) {
      const v = ch[i];
      const b = bv[i];
      if (v > b || (b !== b && v === v)) {
        bv[i] = v;
        segCrop[i] = k;
      }
    }
    ch = null;
  }
  best = null;
  return labelsFromCrop(segCrop, props);
}

/** A label map on the crop grid pasted into the uncropped grid (zeros outside) and transposed back. */
function labelsFromCrop(segCrop: Uint8Array | Uint16Array, props: PreprocessingProperties): LabelMap {
  const before = props.shape_before_cropping;
  const full = segCrop instanceof Uint16Array ? new Uint16Array(product(before)) : new Uint8Array(product(before));
  pasteIntoBox(full, segCrop, 1, before, props.bbox_used_for_cropping);
  if (props.transpose_backward.every((a, i) => a === i)) return { data: full, shape: [...before] };
  const back = transposeArray(full, 1, before, props.transpose_backward);
  return { data: back.data, shape: back.shape };
}

/** argmax over the K channels of one slice ([K, plane]) into out[offset …] (first maximum wins, NaN rule of argmaxChannels). */
function argmaxSliceInto(slice: Float32Array, K: number, plane: number, out: Uint8Array | Uint16Array, offset: number): void {
  for (let i = 0; i < plane; i++) {
    let best = 0;
    let bv = slice[i];
    for (let k = 1; k < K; k++) {
      const v = slice[k * plane + i];
      if (v > bv || (bv !== bv && v === v)) {
        bv = v;
        best = k;
      }
    }
    out[offset + i] = best;
  }
}

/** Input channel names the model expects, in order. */
export function modelChannelNames(model: LoadedModel): string[] {
  if (model.kind === 'card') return cardChannelNames(model.card);
  return Object.keys(model.dataset.channel_names)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => model.dataset.channel_names[k]);
}

/** Output class names, index = output channel. */
export function modelClassNames(model: LoadedModel): string[] {
  if (model.kind === 'card') return cardLabelNames(model.card);
  if (model.dataset.regions_class_order) {
    return Object.entries(model.dataset.labels)
      .filter(([k, v]) => k !== 'ignore' && k !== 'background' && v !== 0)
      .map(([k]) => k);
  }
  return labelNames(model.dataset);
}

/** The ONNX networks to create runners for: one per fold (bundle) or the single network (card). */
export function modelNetworks(model: LoadedModel): { name: string; bytes: Uint8Array }[] {
  if (model.kind === 'card') return [{ name: model.sourceName, bytes: model.onnx }];
  return model.networks.map((n) => ({ name: `${model.sourceName}/${n.name}`, bytes: n.bytes }));
}

/** Throws "model expects 2 channels (T1, T2); got 1 file" style errors. */
export function checkChannelCount(model: LoadedModel, got: number, unit = 'channel', fileName?: string): void {
  const names = modelChannelNames(model);
  if (names.length !== got) {
    throw new SegStudioError(
      'channels',
      `model expects ${names.length} channel${names.length === 1 ? '' : 's'} (${names.join(', ')}); got ${got} ${unit}${got === 1 ? '' : 's'}`,
      fileName,
    );
  }
}

function argmaxLabels(x: Float32Array, K: number, n: number): LabelMap['data'] {
  const out = K - 1 > 255 ? new Uint16Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bv = x[i];
    for (let k = 1; k < K; k++) {
      const v = x[k * n + i];
      if (v > bv) {
        bv = v;
        best = k;
      }
    }
    out[i] = best;
  }
  return out;
}

/** [C, a, b, c] → [C, c, b, a] (reverse the spatial axes). */
function reverseSpatial(x: Float32Array, C: number, s: readonly number[]): Float32Array {
  const [a, b, c] = s;
  const out = new Float32Array(x.length);
  const vol = a * b * c;
  for (let ch = 0; ch < C; ch++) {
    const o = ch * vol;
    for (let i = 0; i < a; i++)
      for (let j = 0; j < b; j++) {
        const src = o + (i * b + j) * c;
        for (let k = 0; k < c; k++) out[o + (k * b + j) * a + i] = x[src + k];
      }
  }
  return out;
}

async function predictBundle(image: Image, model: ModelBundle, runners: readonly NetworkRunner[], opts: PredictOptions, t0: number): Promise<PredictResult> {
  const cfgName = model.configuration;
  const cfg = resolveConfiguration(model.plans, cfgName);
  if (cfg.previous_stage) {
    // nnU-Net cascades feed the previous stage's segmentation as extra input channels (one-hot)
    throw new SegStudioError('inference', `configuration '${cfgName}' is a cascade stage (needs '${cfg.previous_stage}' predictions first); cascades are not supported`, model.sourceName);
  }
  const classNames = modelClassNames(model);
  const regions = model.dataset.regions_class_order;
  const expectedK = regions ? regions.length : classNames.length;
  const lowMemory = opts.lowMemory !== false;
  // estimate before anything large is allocated; refuse when a budget is given and it does not fit
  const spatialIn = image.shape.slice(1);
  const extent = nonzeroBoxExtent(image.data, image.shape[0], spatialIn);
  const estimate = estimatePrediction({ shape: image.shape, spacing: image.properties.spacing, fileName: image.properties.fileName }, model.plans, cfgName, {
    classes: expectedK,
    folds: runners.length,
    tta: opts.tta !== false,
    mirrorAxes: model.allowedMirroringAxes ?? null,
    stepSize: opts.stepSize ?? 0.5,
    saveProbabilities: opts.saveProbabilities,
    perFold: opts.perFold && runners.length > 1,
    regions: Boolean(regions),
    lowMemory,
    cropShape: permute(extent, model.plans.transpose_forward ?? [0, 1, 2]),
    network: cachedNetworkCost(model.networks[0]?.bytes ?? new Uint8Array(0), model.networks[0]?.name) ?? undefined,
    flopsPerSecond: opts.flopsPerSecond,
    baselineBytes: opts.baselineBytes,
    budget: opts.memoryBudget,
    environment: opts.environment,
  });
  opts.onEstimate?.(estimate);
  if (opts.memoryBudget && !estimate.fits) throw memoryBudgetError(estimate, image.properties.fileName);
  opts.onProgress?.(0, 1, 'preprocessing');
  const pre = preprocessCase(image, model.plans, cfgName);
  throwIfCancelled(opts.signal);
  const t1 = performance.now();
  const patch = cfg.patch_size;
  const mirrorAxes = opts.tta === false ? null : (model.allowedMirroringAxes ?? patch.map((_, i) => i));
  const swOpts = { patchSize: patch, stepSize: opts.stepSize ?? 0.5, mirrorAxes, signal: opts.signal, lowMemory };
  let sw: Awaited<ReturnType<typeof predictSlidingWindow>>;
  let foldLogits: Float32Array[] | null = null;
  const props = pre.properties;
  const resamples = props.shape_after_resampling.some((v, i) => v !== props.shape_after_cropping_and_before_resampling[i]);
  const streamSlices = lowMemory && !resamples && !regions && !opts.saveProbabilities && !(opts.perFold && runners.length > 1);
  let streamedSeg: Uint8Array | Uint16Array | null = null;
  if (opts.perFold && runners.length > 1) {
    // one sliding window per fold (same tiles, same network runs in total), then the mean of the logits
    const F = runners.length;
    const per: Awaited<ReturnType<typeof predictSlidingWindow>>[] = [];
    for (let f = 0; f < F; f++) {
      per.push(
        await predictSlidingWindow(pre.data, pre.shape, [runners[f]], {
          ...swOpts,
          onProgress: opts.onProgress ? (d, t, st) => opts.onProgress!(f * t + d, F * t, st) : undefined,
        }),
      );
    }
    const mean = new Float32Array(per[0].logits.length);
    for (const p of per) {
      const l = p.logits;
      for (let i = 0; i < mean.length; i++) mean[i] += l[i];
    }
    for (let i = 0; i < mean.length; i++) mean[i] /= F;
    foldLogits = per.map((p) => p.logits);
    sw = {
      ...per[0],
      logits: mean,
      tiles: per[0].tiles,
      runs: per.reduce((a, p) => a + p.runs, 0),
      networkMs: per.reduce((a, p) => a + p.networkMs, 0),
    };
  } else if (streamSlices) {
    // no resampling back: each finished slice is argmaxed straight into the crop-grid label map, so the logits
    // only ever exist for one tile depth (same labels as the accumulated logits + exportPredictionToOriginal)
    const plane = pre.shape[2] * pre.shape[3];
    const nCrop = pre.shape[1] * plane;
    sw = await predictSlidingWindow(pre.data, pre.shape, runners, {
      ...swOpts,
      onProgress: opts.onProgress,
      onSlice: (z, slice, Kc) => {
        if (!streamedSeg) streamedSeg = Kc - 1 >= 255 ? new Uint16Array(nCrop) : new Uint8Array(nCrop);
        argmaxSliceInto(slice, Kc, plane, streamedSeg, z * plane);
      },
    });
  } else {
    sw = await predictSlidingWindow(pre.data, pre.shape, runners, { ...swOpts, onProgress: opts.onProgress });
  }
  const t2 = performance.now();
  pre.data = new Float32Array(0); // the preprocessed image is no longer needed: let it go before export
  const K = sw.shape[0];
  if (K !== expectedK) {
    throw new SegStudioError('inference', `network outputs ${K} channels but dataset.json defines ${expectedK} ${regions ? 'regions' : 'labels'} (${classNames.join(', ')})`, model.sourceName);
  }
  throwIfCancelled(opts.signal);
  opts.onProgress?.(0, 1, 'export');
  // streaming (one class at a time) only pays when the logits are resampled; label models only
  const stream = lowMemory && resamples && !regions;
  const exp = streamSlices
    ? { labels: labelsFromCrop(streamedSeg!, props), probabilities: undefined }
    : stream && !opts.saveProbabilities
    ? { labels: exportLabelsStreaming(sw.logits, K, pre.properties, model.plans, cfgName, opts.signal), probabilities: undefined }
    : exportPredictionToOriginal(sw.logits, K, pre.properties, model.plans, cfgName, {
      saveProbabilities: opts.saveProbabilities,
      regionsClassOrder: regions,
    });
  sw.logits = new Float32Array(0);
  const foldLabels = foldLogits?.map((l, f) => {
    throwIfCancelled(opts.signal);
    const labels = stream
      ? exportLabelsStreaming(l, K, pre.properties, model.plans, cfgName, opts.signal)
      : exportPredictionToOriginal(l, K, pre.properties, model.plans, cfgName, { regionsClassOrder: regions }).labels;
    foldLogits![f] = new Float32Array(0);
    return labels;
  });
  const t3 = performance.now();
  opts.onProgress?.(1, 1, 'export');
  return {
    labels: exp.labels,
    foldLabels,
    probabilities: exp.probabilities,
    probabilitiesShape: exp.probabilities ? [K, ...image.shape.slice(1)] : undefined,
    classNames,
    device: runners[0].device,
    timings: { preprocessMs: t1 - t0, inferenceMs: t2 - t1, networkMs: sw.networkMs, exportMs: t3 - t2, totalMs: t3 - t0 },
    tiles: sw.tiles,
    runs: sw.runs,
    properties: pre.properties,
    estimate,
  };
}

async function predictCard(image: Image, model: CardModel, runners: readonly NetworkRunner[], opts: PredictOptions, t0: number): Promise<PredictResult> {
  const card = model.card;
  const file = image.properties.fileName;
  const C = image.shape[0];
  const spatial = image.shape.slice(1);
  if (card.input.shape && !card.input.shape.every((v, i) => v === spatial[i])) {
    throw new SegStudioError('shape', `model ${card.name} needs an image of shape [${card.input.shape}] (array order z, y, x), got [${spatial}]`, file);
  }
  if (card.input.spacing) {
    const tol = card.input.spacing_tolerance ?? 0.05;
    const sp = image.properties.spacing;
    if (!card.input.spacing.every((v, i) => Math.abs(v - sp[i]) <= tol * Math.max(v, 1e-6))) {
      throw new SegStudioError('spacing', `model ${card.name} needs spacing [${card.input.spacing}] mm, got [${sp.map((v) => +v.toFixed(4))}]`, file);
    }
  }
  const zFastestIn = card.input.axis_order === 'z-fastest';
  const is2dIn = card.input.layout === 'NCHW';
  const mirrorIn = opts.tta === true ? true : opts.tta === false ? false : Boolean(card.mirror_axes?.length);
  const cardPatch = card.input.patch_size === 'full' ? (is2dIn || runners.length > 1 || mirrorIn ? (is2dIn ? spatial.slice(1) : spatial) : 'full') : card.input.patch_size;
  const estimate = estimateCardPrediction({ shape: image.shape, spacing: image.properties.spacing, fileName: file }, {
    classes: cardLabelNames(card).length,
    patch: cardPatch,
    reverseAxes: zFastestIn,
    mirror: mirrorIn,
    stepSize: opts.stepSize ?? card.input.step_size ?? 0.5,
    saveProbabilities: opts.saveProbabilities,
    network: cachedNetworkCost(model.onnx, model.sourceName) ?? undefined,
    flopsPerSecond: opts.flopsPerSecond,
    baselineBytes: opts.baselineBytes,
    budget: opts.memoryBudget,
    environment: opts.environment,
  });
  opts.onEstimate?.(estimate);
  if (opts.memoryBudget && !estimate.fits) throw memoryBudgetError(estimate, file);
  opts.onProgress?.(0, 1, 'preprocessing');
  const vol = product(spatial);
  let data: Float32Array = new Float32Array(image.data);
  for (let c = 0; c < C; c++) normalizeForCard(data.subarray(c * vol, (c + 1) * vol), card);
  const zFastest = card.input.axis_order === 'z-fastest';
  let netSpatial = spatial;
  if (zFastest) {
    data = reverseSpatial(data, C, spatial);
    netSpatial = [...spatial].reverse();
  }
  throwIfCancelled(opts.signal);
  const t1 = performance.now();
  const is2d = card.input.layout === 'NCHW';
  const mirrorAxes = opts.tta === true ? (card.mirror_axes ?? (is2d ? [0, 1] : [0, 1, 2])) : opts.tta === false ? null : (card.mirror_axes ?? null);
  const full = card.input.patch_size === 'full';
  let logits: Float32Array;
  let K: number;
  let networkMs = 0;
  let tiles = 1;
  let runs = 0;
  if (full && !is2d && runners.length === 1 && (!mirrorAxes || mirrorAxes.length === 0)) {
    // whole volume in one run (brainchop style): no tiling buffers at all
    throwIfCancelled(opts.signal);
    opts.onProgress?.(0, 1, 'network');
    const ta = performance.now();
    const out = await runners[0].run(data, [1, C, ...netSpatial]);
    networkMs = performance.now() - ta;
    runs = 1;
    if (out.shape.length !== 5 || out.shape[0] !== 1 || !out.shape.slice(2).every((v, i) => v === netSpatial[i])) {
      throw new SegStudioError('inference', `network output shape [${out.shape}] does not match its input [1, ${C}, ${netSpatial}]`, model.sourceName);
    }
    K = out.shape[1];
    logits = out.data;
    opts.onProgress?.(1, 1, 'network');
  } else {
    const patch = full ? (is2d ? netSpatial.slice(1) : netSpatial) : (card.input.patch_size as number[]);
    const sw = await predictSlidingWindow(data, [C, ...netSpatial], runners, {
      patchSize: patch,
      stepSize: opts.stepSize ?? card.input.step_size ?? 0.5,
      useGaussian: full ? false : (card.input.gaussian ?? true),
      mirrorAxes,
      onProgress: opts.onProgress,
      signal: opts.signal,
    });
    logits = sw.logits;
    K = sw.shape[0];
    networkMs = sw.networkMs;
    tiles = sw.tiles;
    runs = sw.runs;
  }
  const t2 = performance.now();
  const classNames = cardLabelNames(card);
  if (K !== classNames.length) {
    throw new SegStudioError('inference', `network outputs ${K} channels but the model card lists ${classNames.length} labels (${classNames.join(', ')})`, model.sourceName);
  }
  if (zFastest) logits = reverseSpatial(logits, K, netSpatial);
  const labels: LabelMap = { data: argmaxLabels(logits, K, vol), shape: [...spatial] };
  let probabilities: Float32Array | undefined;
  if (opts.saveProbabilities) {
    probabilities = card.output?.kind === 'probabilities' ? logits : softmaxChannels(logits === data ? logits.slice() : logits, K, vol);
  }
  const t3 = performance.now();
  return {
    labels,
    probabilities,
    probabilitiesShape: probabilities ? [K, ...spatial] : undefined,
    classNames,
    device: runners[0].device,
    timings: { preprocessMs: t1 - t0, inferenceMs: t2 - t1, networkMs, exportMs: t3 - t2, totalMs: t3 - t0 },
    tiles,
    runs,
    estimate,
  };
}

/**
 * Predicts one case. `image` is [C, d0, d1, d2] with channels in the model's order; `runners` holds one
 * runner per fold to ensemble (bundle) or the card's single network. Errors are SegStudioErrors that
 * name the image file or the model.
 */
export async function predictCase(image: Image, model: LoadedModel, runners: readonly NetworkRunner[], opts: PredictOptions = {}): Promise<PredictResult> {
  const t0 = performance.now();
  if (runners.length === 0) throw new SegStudioError('inference', 'no network runner given', model.sourceName);
  if (image.shape.length !== 4) throw new SegStudioError('inference', `image must be [C, d0, d1, d2], got [${image.shape}]`, image.properties.fileName);
  checkChannelCount(model, image.shape[0], 'channel', image.properties.fileName);
  return model.kind === 'bundle' ? predictBundle(image, model, runners, opts, t0) : predictCard(image, model, runners, opts, t0);
}

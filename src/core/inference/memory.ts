// Memory and time before a prediction starts: the device's memory budget, the network's cost per voxel,
// and an estimate of the peak memory of predictCase (phase by phase, array by array, following the code
// paths of preprocessCase → predictSlidingWindow → export), so the page, the CLI and predictCase can refuse
// a scan that would not fit with a clear message and a suggestion instead of running out of memory.
// The formulas are documented in docs/inference.md ("Memory").
//   Sliding-window tile count: nnU-Net: inference/sliding_window_prediction.py compute_steps_for_sliding_window
//   Resampled grid: nnU-Net: preprocessing/resampling/default_resampling.py compute_new_shape
//   Cropping to nonzero: nnU-Net: preprocessing/cropping/cropping.py crop_to_nonzero
import { SegStudioError } from '../errors.ts';
import { resolveConfiguration, type Plans } from '../planning/plans.ts';
import { targetSpacingFor } from '../preprocessing/preprocess.ts';
import { computeNewShape } from '../preprocessing/resampling.ts';
import { permute } from '../preprocessing/transpose.ts';
import { product } from '../types.ts';
import { decodeModel, getAttribute, type OnnxModel } from './onnx/index.ts';
import type { NetworkRunner } from './runner.ts';
import { computeSteps } from './slidingWindow.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** Budget when nothing is known about the device (documented default). */
export const DEFAULT_BUDGET_BYTES = 2 * GiB;
/** Browser tabs: at most this much, whatever navigator.deviceMemory says. */
export const BROWSER_BUDGET_CAP_BYTES = 4 * GiB;
/** Memory of the runtime itself (JS engine, onnxruntime, model weights) when the caller does not measure it. */
export const DEFAULT_BASELINE_BYTES = 200 * MiB;
/** Network throughput assumed when none was measured (FLOP/s; a few CPU cores running onnxruntime). */
export const DEFAULT_FLOPS_PER_SECOND = 1e10;

// ------------------------------------------------------------------------------------------- the budget

/** What a runtime can tell about its memory. Every field is optional. */
export interface DeviceMemoryInfo {
  /** Node: os.totalmem() (bytes) */
  totalBytes?: number;
  /** Node: os.freemem() (Linux: MemAvailable, bytes) */
  availableBytes?: number;
  /** Node: process.constrainedMemory() (cgroup limit, bytes) */
  constrainedBytes?: number;
  /** Node: the process's resident set when the budget is taken (counted as already in use) */
  currentRssBytes?: number;
  /** browser: navigator.deviceMemory (GiB, a rounded-down power of two, at most 8 in Chrome) */
  deviceMemoryGiB?: number;
  /** browser (Chrome): performance.memory.jsHeapSizeLimit (bytes; the JS heap only, ArrayBuffers live outside) */
  jsHeapSizeLimit?: number;
  /** WebGPU adapter limits: the largest single tensor the GPU can hold / bind */
  maxBufferSize?: number;
  maxStorageBufferBindingSize?: number;
  /** an explicit budget (CLI --memory-budget, SEGSTUDIO_MEMORY_BUDGET_GB) wins over everything */
  overrideBytes?: number;
}

export interface MemoryBudget {
  /** bytes the whole process / tab may use at its peak */
  bytes: number;
  /** how it was computed, for messages ("80 % of 23.6 GB total memory") */
  source: string;
  /** the largest single GPU buffer (WebGPU limits), when known */
  gpuMaxBufferBytes?: number;
}

/** Human-readable bytes: 1.5 GB, 312 MB (powers of 1024, as the targets are stated). */
export function formatBytes(b: number): string {
  if (b >= GiB) return `${(b / GiB).toFixed(b >= 10 * GiB ? 0 : 1)} GB`;
  if (b >= MiB) return `${Math.round(b / MiB)} MB`;
  return `${Math.max(0, Math.round(b / 1024))} KB`;
}

/**
 * The memory budget from what the device reports (docs/inference.md "Memory budget"):
 * - override (CLI / environment) when given;
 * - Node: min(80 % of min(total, cgroup limit), current RSS + 90 % of the available memory);
 * - browser: navigator.deviceMemory / 2, at most 4 GB (a tab shares the device with everything else);
 * - nothing known: 2 GB.
 * WebGPU's maxBufferSize / maxStorageBufferBindingSize do not limit the budget (RAM) but the largest
 * tensor of one network run on the GPU (checked separately).
 */
export function memoryBudget(info: DeviceMemoryInfo): MemoryBudget {
  const gpuLimits = [info.maxBufferSize, info.maxStorageBufferBindingSize].filter((v): v is number => typeof v === 'number' && v > 0);
  const gpuMaxBufferBytes = gpuLimits.length ? Math.min(...gpuLimits) : undefined;
  if (info.overrideBytes !== undefined && info.overrideBytes > 0) {
    return { bytes: info.overrideBytes, source: `set to ${formatBytes(info.overrideBytes)}`, gpuMaxBufferBytes };
  }
  if (info.totalBytes !== undefined && info.totalBytes > 0) {
    const limit = info.constrainedBytes !== undefined && info.constrainedBytes > 0 && info.constrainedBytes < info.totalBytes ? info.constrainedBytes : info.totalBytes;
    const byTotal = 0.8 * limit;
    const parts = [`80 % of ${formatBytes(limit)} ${limit === info.totalBytes ? 'total memory' : 'cgroup limit'}`];
    let bytes = byTotal;
    if (info.availableBytes !== undefined && info.availableBytes >= 0) {
      const byAvail = (info.currentRssBytes ?? 0) + 0.9 * info.availableBytes;
      if (byAvail < byTotal) {
        bytes = byAvail;
        parts[0] = `${formatBytes(info.availableBytes)} available now${info.currentRssBytes ? ` + ${formatBytes(info.currentRssBytes)} in use by this process` : ''}, less 10 %`;
      }
    }
    return { bytes: Math.floor(bytes), source: parts[0], gpuMaxBufferBytes };
  }
  if (info.deviceMemoryGiB !== undefined && info.deviceMemoryGiB > 0) {
    const bytes = Math.min((info.deviceMemoryGiB * GiB) / 2, BROWSER_BUDGET_CAP_BYTES);
    return { bytes, source: `half of the device's ${info.deviceMemoryGiB} GB (navigator.deviceMemory), at most ${formatBytes(BROWSER_BUDGET_CAP_BYTES)}`, gpuMaxBufferBytes };
  }
  return { bytes: DEFAULT_BUDGET_BYTES, source: `default ${formatBytes(DEFAULT_BUDGET_BYTES)} (the device does not report its memory)`, gpuMaxBufferBytes };
}

/** What the page / a worker can read about memory (no DOM types: reads globalThis defensively). */
export function browserMemoryInfo(gpuLimits?: { maxBufferSize?: number; maxStorageBufferBindingSize?: number }): DeviceMemoryInfo {
  const g = globalThis as unknown as { navigator?: { deviceMemory?: unknown }; performance?: { memory?: { jsHeapSizeLimit?: unknown } } };
  const dm = g.navigator?.deviceMemory;
  const heap = g.performance?.memory?.jsHeapSizeLimit;
  return {
    deviceMemoryGiB: typeof dm === 'number' && dm > 0 ? dm : undefined,
    jsHeapSizeLimit: typeof heap === 'number' && heap > 0 ? heap : undefined,
    maxBufferSize: gpuLimits?.maxBufferSize,
    maxStorageBufferBindingSize: gpuLimits?.maxStorageBufferBindingSize,
  };
}

// ------------------------------------------------------------------------------------ network cost

export interface NetworkCost {
  /** multiply-adds × 2 per input voxel of one run (Conv, ConvTranspose, Gemm/MatMul with constant weights) */
  flopsPerVoxel: number;
  /** float32 bytes per input voxel of the largest single tensor of a run */
  largestTensorBytesPerVoxel: number;
  /**
   * float32 bytes per input voxel an onnxruntime session keeps for a run (rough: the three largest tensors,
   * input + output of the biggest layer and one skip connection; the arena keeps its peak after the run)
   */
  activationBytesPerVoxel: number;
  /** bytes of the weights (initializers) */
  weightBytes: number;
  /** convolutions counted */
  convolutions: number;
}

/**
 * FLOPs and activation sizes per input voxel, by walking the ONNX graph in order and tracking each tensor's
 * resolution relative to the input (strided Conv / pooling divide it, ConvTranspose multiplies it) and its
 * channel count (from the weights). Shape-agnostic, so it works on nnU-Net exports with dynamic axes.
 */
export function networkCost(model: Uint8Array | OnnxModel, fileName = 'model.onnx'): NetworkCost {
  const m = model instanceof Uint8Array ? decodeModel(model, fileName) : model;
  const g = m.graph;
  const dims = new Map<string, number[]>();
  let weightBytes = 0;
  for (const t of g.initializers) {
    dims.set(t.name, t.dims);
    weightBytes += product(t.dims) * 4;
  }
  for (const n of g.nodes) {
    // weights stored as float16 reach their Conv through a Cast (onnx/float16.ts); it keeps the shape
    if (n.opType === 'Cast' && n.inputs[0] && dims.has(n.inputs[0]) && n.outputs[0]) dims.set(n.outputs[0], dims.get(n.inputs[0])!);
    if (n.opType === 'Constant') {
      const t = getAttribute(n, 'value')?.t;
      if (t && n.outputs[0]) dims.set(n.outputs[0], t.dims);
    }
  }
  const scale = new Map<string, number>();
  const channels = new Map<string, number>();
  const init = new Set(g.initializers.map((t) => t.name));
  for (const inp of g.inputs) {
    if (init.has(inp.name)) continue;
    scale.set(inp.name, 1);
    const c = inp.shape?.[1];
    if (typeof c === 'number') channels.set(inp.name, c);
  }
  const sizes: number[] = [];
  let flops = 0;
  let convolutions = 0;
  const strideProduct = (n: (typeof g.nodes)[number]) => (getAttribute(n, 'strides')?.ints ?? []).reduce((a, b) => a * Number(b), 1);
  for (const n of g.nodes) {
    const dataIn = n.inputs.find((x) => x && scale.has(x));
    const sIn = dataIn ? scale.get(dataIn)! : 1;
    const cIn = dataIn ? channels.get(dataIn) : undefined;
    let sOut = sIn;
    let cOut = cIn;
    const w = n.inputs[1] ? dims.get(n.inputs[1]) : undefined;
    if (n.opType === 'Conv' && w && w.length >= 3) {
      sOut = sIn / strideProduct(n);
      cOut = w[0];
      flops += 2 * w[0] * w[1] * product(w.slice(2)) * sOut;
      convolutions++;
    } else if (n.opType === 'ConvTranspose' && w && w.length >= 3) {
      const group = Number(getAttribute(n, 'group')?.i ?? 1);
      sOut = sIn * strideProduct(n);
      cOut = w[1] * group;
      flops += 2 * w[0] * w[1] * product(w.slice(2)) * sIn;
      convolutions++;
    } else if ((n.opType === 'MatMul' || n.opType === 'Gemm') && w && w.length === 2) {
      cOut = w[1];
      flops += 2 * w[0] * w[1] * sIn;
    } else if (n.opType === 'MaxPool' || n.opType === 'AveragePool') {
      sOut = sIn / strideProduct(n);
    } else if (n.opType === 'Concat') {
      const cs = n.inputs.map((x) => channels.get(x));
      cOut = cs.every((c) => c !== undefined) ? (cs as number[]).reduce((a, b) => a + b, 0) : cIn;
    }
    for (const o of n.outputs) {
      if (!o) continue;
      scale.set(o, sOut);
      if (cOut !== undefined) channels.set(o, cOut);
      if (cOut !== undefined) sizes.push(cOut * sOut * 4);
    }
  }
  sizes.sort((a, b) => b - a);
  const largest = sizes[0] ?? 0;
  return {
    flopsPerVoxel: flops,
    largestTensorBytesPerVoxel: largest,
    activationBytesPerVoxel: sizes.slice(0, 3).reduce((a, b) => a + b, 0),
    weightBytes,
    convolutions,
  };
}

/**
 * Measured throughput: times `runs` network runs of a zero tile after one warm-up run. Returns seconds per
 * run and, with the network's FLOPs per voxel, FLOP/s.
 */
export async function measureThroughput(runner: NetworkRunner, inputShape: readonly number[], flopsPerVoxel: number, runs = 1): Promise<{ secondsPerRun: number; flopsPerSecond: number }> {
  const input = new Float32Array(product(inputShape));
  await runner.run(input, [...inputShape]);
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await runner.run(input, [...inputShape]);
  const secondsPerRun = Math.max(1e-6, (performance.now() - t0) / 1000 / runs);
  return { secondsPerRun, flopsPerSecond: (flopsPerVoxel * product(inputShape.slice(2))) / secondsPerRun };
}

// ------------------------------------------------------------------------------------------ estimate

export interface ImageInfo {
  /** [C, d0, d1, d2] */
  shape: readonly number[];
  /** spacing of the spatial axes, array order */
  spacing: readonly number[];
  fileName?: string;
}

export interface EstimateOptions {
  /** network output channels (labels or regions) */
  classes: number;
  /** networks run per tile (bundle folds) */
  folds?: number;
  /** mirroring TTA (default true, as nnU-Net); mirror axes default to every patch axis */
  tta?: boolean;
  mirrorAxes?: readonly number[] | null;
  stepSize?: number;
  saveProbabilities?: boolean;
  /** per-fold label maps next to the ensemble (folds > 1) */
  perFold?: boolean;
  /** regions (sigmoid) model */
  regions?: boolean;
  /** low-memory sliding window and streaming export (default true, as predictCase) */
  lowMemory?: boolean;
  /** crop box extent after transpose_forward, when known (default: the whole image, an upper bound) */
  cropShape?: readonly number[];
  /** cost of the network (networkCost); without it, runtime activations are not counted and time uses a default */
  network?: NetworkCost;
  /** measured (or assumed) network throughput, FLOP/s */
  flopsPerSecond?: number;
  /** memory already in use by the runtime (JS engine, onnxruntime, weights); default 200 MB */
  baselineBytes?: number;
  /** the budget to compare with (memoryBudget) */
  budget?: MemoryBudget;
  /** where the prediction runs, for the suggestion (browser: "use the CLI") */
  environment?: 'node' | 'browser';
}

export interface EstimatePhase {
  name: 'preprocessing' | 'sliding window' | 'export';
  bytes: number;
  /** array → bytes */
  items: Record<string, number>;
}

export interface PredictionEstimate {
  /** estimated peak memory of the whole process (baseline included), bytes */
  peakBytes: number;
  peakPhase: EstimatePhase['name'];
  /** the peak phase's arrays (bytes), baseline included */
  breakdown: Record<string, number>;
  phases: EstimatePhase[];
  /** grid the network sees (after transpose, crop, resampling) */
  networkGrid: number[];
  tiles: number;
  runs: number;
  estimatedSeconds: number;
  /** 'measured' when flopsPerSecond was given, else 'assumed' */
  throughput: 'measured' | 'assumed';
  budgetBytes: number;
  budgetSource: string;
  fits: boolean;
  /** why it does not fit, beyond the budget (e.g. a GPU buffer limit) */
  reason?: string;
  /** what to change when it does not fit (null when it fits) */
  suggestion: string | null;
}

function sumItems(items: Record<string, number>): number {
  let s = 0;
  for (const v of Object.values(items)) s += v;
  return s;
}

/**
 * Peak memory and time of predictCase for a bundle configuration, before anything is allocated.
 * Follows the arrays predictCase allocates (docs/inference.md lists them):
 *   input image 4·C·V (held by the caller) throughout;
 *   preprocessing: transposed copy, nonzero mask + hole filling (2 bytes/voxel), crop copy 4·C·Vc,
 *     crop mask + int16 seg (3·Vc), resampled data 4·C·Vr and its per-channel temporaries;
 *   sliding window: preprocessed data 4·C·Vr, padded copy, logits 4·K·Vp, Gaussian weight sums (one tile
 *     depth, or the whole volume without lowMemory), tile buffers, the networks' activations;
 *     per-fold results (perFold) 4·K·Vr each plus their mean;
 *   export: logits 4·K·Vr, resampled logits (one class at a time when streaming) + running maximum,
 *     label maps, probabilities 4·K·V (saveProbabilities).
 */
export function estimatePrediction(image: ImageInfo, plans: Plans, configuration: string, opts: EstimateOptions): PredictionEstimate {
  const file = image.fileName;
  if (image.shape.length !== 4) throw new SegStudioError('inference', `image must be [C, d0, d1, d2], got [${image.shape}]`, file);
  let cfg;
  try {
    cfg = resolveConfiguration(plans, configuration);
  } catch (e) {
    throw new SegStudioError('plans', (e as Error).message, 'plans.json');
  }
  const C = image.shape[0];
  const spatial = image.shape.slice(1);
  const V0 = product(spatial);
  const tf = plans.transpose_forward ?? [0, 1, 2];
  const identityTf = tf.every((a, i) => a === i);
  const tShape = permute(spatial, tf);
  const tSpacing = permute(image.spacing, tf);
  const cropShape = opts.cropShape ? [...opts.cropShape] : tShape;
  const Vc = product(cropShape);
  const target = targetSpacingFor(cfg, tSpacing);
  const rShape = computeNewShape(cropShape, tSpacing, target);
  const Vr = product(rShape);
  const resamples = rShape.some((v, i) => v !== cropShape[i]);
  const K = Math.max(1, opts.classes);
  const F = Math.max(1, opts.folds ?? 1);
  const lowMemory = opts.lowMemory !== false;
  const patch = cfg.patch_size;
  const is2d = patch.length === 2;
  const tile3 = is2d ? [1, ...patch] : [...patch];
  const padded = rShape.map((s, i) => Math.max(s, tile3[i]));
  const needsPad = padded.some((p, i) => p !== rShape[i]);
  const Vp = product(padded);
  const tVol = product(tile3);
  let tiles = 1;
  try {
    const st = is2d ? [Array.from({ length: padded[0] }, (_, i) => i), ...computeSteps(padded.slice(1), patch, opts.stepSize ?? 0.5)] : computeSteps(padded, patch, opts.stepSize ?? 0.5);
    tiles = st.reduce((a, s) => a * s.length, 1);
  } catch (e) {
    throw new SegStudioError('inference', (e as Error).message, file);
  }
  const mirrorAxes = opts.tta === false ? [] : (opts.mirrorAxes ?? patch.map((_, i) => i));
  const runs = tiles * F * 2 ** mirrorAxes.length;
  const f4 = 4;
  const baseline = opts.baselineBytes ?? DEFAULT_BASELINE_BYTES;
  const input = f4 * C * V0;
  const activations = opts.network ? F * opts.network.activationBytesPerVoxel * tVol : 0;

  // preprocessing (the union of the crop and resampling steps: conservative)
  const pre: Record<string, number> = { runtime: baseline, 'input image': input };
  if (!identityTf) pre['transposed image'] = input;
  pre['nonzero mask + hole filling'] = 2 * V0;
  pre['cropped image'] = f4 * C * Vc;
  pre['crop mask + segmentation'] = 3 * Vc;
  if (resamples) {
    pre['resampled image'] = f4 * C * Vr;
    pre['resampling temporaries'] = 2 * f4 * Math.max(Vc, Vr);
  }

  // sliding window; without resampling back (label models, no probabilities) the slices stream straight into
  // the label map and the logits exist for one tile depth only
  const wideLabels = K - 1 >= 255 ? 2 : 1;
  const streamSlices = lowMemory && !resamples && !opts.saveProbabilities && !opts.regions && !(opts.perFold && F > 1);
  const ringSlices = Math.min(tile3[0], padded[0]) * padded[1] * padded[2];
  const sw: Record<string, number> = { runtime: baseline, 'input image': input, 'preprocessed image': f4 * C * Vr };
  if (needsPad) sw['padded image'] = f4 * C * Vp;
  sw['logits accumulator'] = f4 * K * (streamSlices ? ringSlices : Vp);
  sw['Gaussian weight sums'] = f4 * (lowMemory ? ringSlices : Vp);
  sw['tile buffers'] = f4 * tVol * (2 * C + 3 * K);
  if (activations) sw['network activations'] = activations;
  if (streamSlices) sw['label map (crop grid)'] = wideLabels * Vr;
  else if (needsPad) sw['unpadded logits'] = f4 * K * Vr;
  if (opts.perFold && F > 1) {
    // every fold's own logits, then their mean (the accumulator of the fold in flight is one of them)
    sw['logits accumulator'] = f4 * K * Vp;
    sw['per-fold logits'] = f4 * K * Vr * (F - 1);
    sw['mean of folds'] = f4 * K * Vr;
  }

  // export
  const ex: Record<string, number> = { runtime: baseline, 'input image': input };
  if (!streamSlices) ex['logits'] = f4 * K * Vr * (opts.perFold && F > 1 ? F + 1 : 1);
  const streaming = lowMemory && !opts.saveProbabilities && !opts.regions;
  if (opts.saveProbabilities || opts.regions) {
    ex['resampled logits / probabilities'] = f4 * K * Vc;
    if (resamples) ex['resampling temporaries'] = 2 * f4 * Math.max(Vc, Vr);
  } else if (resamples) {
    if (streaming) {
      ex['resampled class (one at a time)'] = f4 * Vc;
      ex['running maximum'] = f4 * Vc;
    } else ex['resampled logits'] = f4 * K * Vc;
    ex['resampling temporaries'] = 2 * f4 * Math.max(Vc, Vr);
  }
  ex['label maps'] = wideLabels * (Vc + V0 * (identityTf ? 1 : 2));
  if (opts.saveProbabilities) ex['probabilities on the image grid'] = f4 * K * V0 * (identityTf ? 1 : 2);

  const phases: EstimatePhase[] = [
    { name: 'preprocessing', bytes: sumItems(pre), items: pre },
    { name: 'sliding window', bytes: sumItems(sw), items: sw },
    { name: 'export', bytes: sumItems(ex), items: ex },
  ];
  const peak = phases.reduce((a, p) => (p.bytes > a.bytes ? p : a));

  // time: network FLOPs at the measured throughput, plus the JavaScript work per voxel
  const flopsPerSecond = opts.flopsPerSecond ?? DEFAULT_FLOPS_PER_SECOND;
  const netSeconds = opts.network ? (runs * tVol * opts.network.flopsPerVoxel) / flopsPerSecond : 0;
  // tile extraction, flips and Gaussian accumulation ≈ 1 ns per value; preprocessing + export ≈ 50 ns per voxel and channel
  const jsSeconds = runs * tVol * (C + 2 * K) * 1e-9 + (V0 * (C + K) + Vr * (C + K)) * 50e-9;
  const estimatedSeconds = netSeconds + jsSeconds;

  const budget = opts.budget ?? memoryBudget({});
  let fits = peak.bytes <= budget.bytes;
  let reason: string | undefined;
  if (budget.gpuMaxBufferBytes !== undefined && opts.network) {
    const largest = opts.network.largestTensorBytesPerVoxel * tVol;
    if (largest > budget.gpuMaxBufferBytes) {
      fits = false;
      reason = `the network's largest tensor (${formatBytes(largest)} for a ${patch.join('×')} patch) exceeds the GPU's largest buffer (${formatBytes(budget.gpuMaxBufferBytes)})`;
    }
  }
  const est: PredictionEstimate = {
    peakBytes: peak.bytes,
    peakPhase: peak.name,
    breakdown: { ...peak.items },
    phases,
    networkGrid: rShape,
    tiles,
    runs,
    estimatedSeconds,
    throughput: opts.flopsPerSecond !== undefined ? 'measured' : 'assumed',
    budgetBytes: budget.bytes,
    budgetSource: budget.source,
    fits,
    reason,
    suggestion: null,
  };
  if (!fits) est.suggestion = suggest(est, image, plans, configuration, opts, reason !== undefined && peak.bytes <= budget.bytes);
  return est;
}

function suggest(est: PredictionEstimate, image: ImageInfo, plans: Plans, configuration: string, opts: EstimateOptions, gpuOnly: boolean): string {
  if (gpuOnly) return 'run on the CPU/WASM device instead of WebGPU';
  const out: string[] = [];
  const items = est.breakdown;
  if (opts.saveProbabilities) out.push(`do not save probabilities (saves ≈ ${formatBytes((items['probabilities on the image grid'] ?? 0) + (items['resampled logits / probabilities'] ?? 0))})`);
  if (opts.perFold && (opts.folds ?? 1) > 1) out.push('do not keep per-fold results');
  if (opts.lowMemory === false) out.push('use the low-memory path (lowMemory)');
  const cfgs = Object.keys(plans.configurations ?? {});
  const lowres = cfgs.find((c) => c === '3d_lowres' && c !== configuration);
  if (lowres) {
    try {
      const lo = estimatePrediction(image, plans, lowres, { ...opts, budget: { bytes: Infinity, source: '' } });
      // only when it would fit
      if (lo.peakBytes <= est.budgetBytes) out.push(`use the 3d_lowres configuration (≈ ${formatBytes(lo.peakBytes)})`);
    } catch {
      // a configuration that does not resolve is simply not suggested
    }
  }
  out.push('crop the scan to the region of interest');
  if (opts.environment === 'browser') out.push('use the segstudio CLI (Node can use more of the machine\'s memory)');
  else out.push('run on a machine with more memory (or raise the budget with --memory-budget GB if it is too cautious)');
  return out.join('; or ');
}

/** The refusal: names the file, the estimate (peak phase and its largest arrays), the budget and what to try. */
export function memoryBudgetError(est: PredictionEstimate, fileName?: string): SegStudioError {
  const top = Object.entries(est.breakdown)
    .filter(([k]) => k !== 'runtime')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, v]) => `${k} ${formatBytes(v)}`)
    .join(', ');
  const why = est.reason ?? `needs about ${formatBytes(est.peakBytes)} at its peak (${est.peakPhase}: ${top}) but the memory budget is ${formatBytes(est.budgetBytes)} (${est.budgetSource})`;
  return new SegStudioError('memory-budget', `not started: this scan ${why}. Try: ${est.suggestion ?? 'a smaller scan'}`, fileName);
}

/**
 * Extent of the box around the voxels where any channel is nonzero (the box nnU-Net's crop_to_nonzero keeps:
 * filling holes never grows it), without allocating a mask. All zeros → the whole extent, as getBboxFromMask.
 */
export function nonzeroBoxExtent(data: ArrayLike<number>, channels: number, spatial: readonly number[]): number[] {
  const [d0, d1, d2] = spatial;
  const n = d0 * d1 * d2;
  let lo0 = d0, hi0 = -1, lo1 = d1, hi1 = -1, lo2 = d2, hi2 = -1;
  for (let c = 0; c < channels; c++) {
    const o = c * n;
    let i = o;
    for (let z = 0; z < d0; z++)
      for (let y = 0; y < d1; y++) {
        let first = -1;
        let last = -1;
        for (let x = 0; x < d2; x++, i++) {
          if (data[i] !== 0) {
            if (first < 0) first = x;
            last = x;
          }
        }
        if (first >= 0) {
          if (z < lo0) lo0 = z;
          if (z > hi0) hi0 = z;
          if (y < lo1) lo1 = y;
          if (y > hi1) hi1 = y;
          if (first < lo2) lo2 = first;
          if (last > hi2) hi2 = last;
        }
      }
  }
  if (hi0 < 0) return [d0, d1, d2];
  return [hi0 - lo0 + 1, hi1 - lo1 + 1, hi2 - lo2 + 1];
}

export interface CardEstimateOptions {
  classes: number;
  /** the card's patch: 'full' (one whole-volume run) or the sliding-window patch */
  patch: 'full' | readonly number[];
  /** z-fastest cards reverse the image (and the logits) into a new array */
  reverseAxes?: boolean;
  mirror?: boolean;
  stepSize?: number;
  saveProbabilities?: boolean;
  network?: NetworkCost;
  flopsPerSecond?: number;
  baselineBytes?: number;
  budget?: MemoryBudget;
  environment?: 'node' | 'browser';
}

/**
 * Peak memory of predictCard (third-party ONNX + model card): input 4·C·V, normalized copy 4·C·V (plus the
 * reversed copy for z-fastest cards), then either one whole-volume run (onnxruntime's activations for the
 * whole volume + its K-channel output) or the sliding window (logits 4·K·V, weight sums, tiles), then the
 * label map (and probabilities). One phase: the arrays overlap.
 */
export function estimateCardPrediction(image: ImageInfo, opts: CardEstimateOptions): PredictionEstimate {
  const C = image.shape[0];
  const spatial = image.shape.slice(1);
  const V = product(spatial);
  const K = Math.max(1, opts.classes);
  const f4 = 4;
  const items: Record<string, number> = { runtime: opts.baselineBytes ?? DEFAULT_BASELINE_BYTES, 'input image': f4 * C * V, 'normalized image': f4 * C * V };
  if (opts.reverseAxes) items['reversed image'] = f4 * C * V;
  let tiles = 1;
  let runs = 1;
  let voxelsThroughNetwork = V;
  if (opts.patch === 'full') {
    if (opts.network) items['network activations (whole volume)'] = opts.network.activationBytesPerVoxel * V;
    items['network output'] = f4 * K * V;
  } else {
    const patch = [...opts.patch];
    const tile3 = patch.length === 2 ? [1, ...patch] : patch;
    const padded = spatial.map((s, i) => Math.max(s, tile3[i]));
    const st = patch.length === 2 ? [Array.from({ length: padded[0] }, (_, i) => i), ...computeSteps(padded.slice(1), patch, opts.stepSize ?? 0.5)] : computeSteps(padded, patch, opts.stepSize ?? 0.5);
    tiles = st.reduce((a, s) => a * s.length, 1);
    runs = tiles * (opts.mirror ? 2 ** patch.length : 1);
    const tVol = product(tile3);
    voxelsThroughNetwork = runs * tVol;
    items['logits accumulator'] = f4 * K * product(padded);
    items['Gaussian weight sums'] = f4 * Math.min(tile3[0], padded[0]) * padded[1] * padded[2];
    items['tile buffers'] = f4 * tVol * (2 * C + 3 * K);
    if (opts.network) items['network activations'] = opts.network.activationBytesPerVoxel * tVol;
  }
  if (opts.reverseAxes) items['reversed logits'] = f4 * K * V;
  items['label map'] = V;
  if (opts.saveProbabilities) items.probabilities = f4 * K * V;
  const peakBytes = sumItems(items);
  const flopsPerSecond = opts.flopsPerSecond ?? DEFAULT_FLOPS_PER_SECOND;
  const estimatedSeconds = (opts.network ? (voxelsThroughNetwork * opts.network.flopsPerVoxel) / flopsPerSecond : 0) + voxelsThroughNetwork * (C + 2 * K) * 1e-9 + V * (C + K) * 50e-9;
  const budget = opts.budget ?? memoryBudget({});
  let fits = peakBytes <= budget.bytes;
  let reason: string | undefined;
  if (budget.gpuMaxBufferBytes !== undefined && opts.network) {
    const largest = opts.network.largestTensorBytesPerVoxel * (opts.patch === 'full' ? V : product(opts.patch));
    if (largest > budget.gpuMaxBufferBytes) {
      fits = false;
      reason = `the network's largest tensor (${formatBytes(largest)}) exceeds the GPU's largest buffer (${formatBytes(budget.gpuMaxBufferBytes)})`;
    }
  }
  const phase: EstimatePhase = { name: 'sliding window', bytes: peakBytes, items };
  const suggestion = fits
    ? null
    : reason && peakBytes <= budget.bytes
      ? 'run on the CPU/WASM device instead of WebGPU'
      : [
        opts.saveProbabilities ? 'do not save probabilities' : null,
        'crop the scan to the region of interest',
        opts.environment === 'browser' ? 'use the segstudio CLI (Node can use more of the machine\'s memory)' : 'run on a machine with more memory (or raise the budget with --memory-budget GB if it is too cautious)',
      ].filter((s): s is string => s !== null).join('; or ');
  return {
    peakBytes,
    peakPhase: phase.name,
    breakdown: { ...items },
    phases: [phase],
    networkGrid: [...spatial],
    tiles,
    runs,
    estimatedSeconds,
    throughput: opts.flopsPerSecond !== undefined ? 'measured' : 'assumed',
    budgetBytes: budget.bytes,
    budgetSource: budget.source,
    fits,
    reason,
    suggestion,
  };
}

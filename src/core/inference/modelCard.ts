// Model cards: how to run a plain .onnx that was not trained by SegStudio/nnU-Net (e.g. brainchop's
// MeshNet). The card says what the network expects; the predictor does the rest.
//
// {
//   "format": "segstudio-model-card/1",
//   "name": "…", "description"?: "…",
//   "labels": {"background": 0, "white_matter": 1, …},      output channel k = label value k
//   "channels": {"0": "T1"},                                  input channels, in order
//   "input": {
//     "layout": "NCDHW" | "NCHW",
//     "axis_order": "x-fastest" | "z-fastest",  x-fastest: the NIfTI voxel buffer as stored (array [z][y][x]);
//                                               z-fastest: transposed to [x][y][z] (brainchop's TF.js models)
//     "patch_size": "full" | [d, h, w],         full: the whole volume in one run; else nnU-Net sliding window
//     "step_size"?: 0.5, "gaussian"?: true,
//     "shape"?: [256, 256, 256],                required spatial shape (array order), e.g. conformed volumes
//     "spacing"?: [1, 1, 1], "spacing_tolerance"?: 0.05   required spacing (array order), checked
//   },
//   "normalization": "minmax" | "zscore" | "quantile" | "ct" | "none",
//   "normalization_params"?: {"lower_quantile": 0.05, "upper_quantile": 0.95}     quantile
//                          | {"mean", "std", "percentile_00_5", "percentile_99_5"} ct
//   "output"?: {"kind": "logits" | "probabilities"},   what the network returns (argmax works on either)
//   "mirror_axes"?: [0, 1, 2],                          TTA axes (patch axes); default none
//   "source"?: {…}, "license"?: "…"
// }
import { SegStudioError } from '../errors.ts';
import { MAX_PATCH_VOXELS } from '../planning/plans.ts';

export const MODEL_CARD_FORMAT = 'segstudio-model-card/1';

export type CardNormalization = 'minmax' | 'zscore' | 'quantile' | 'ct' | 'none';

export interface ModelCard {
  format: typeof MODEL_CARD_FORMAT;
  name: string;
  description?: string;
  labels: Record<string, number>;
  channels: Record<string, string>;
  input: {
    layout: 'NCDHW' | 'NCHW';
    axis_order: 'x-fastest' | 'z-fastest';
    patch_size: 'full' | number[];
    step_size?: number;
    gaussian?: boolean;
    shape?: number[];
    spacing?: number[];
    spacing_tolerance?: number;
  };
  normalization: CardNormalization;
  normalization_params?: {
    lower_quantile?: number;
    upper_quantile?: number;
    mean?: number;
    std?: number;
    percentile_00_5?: number;
    percentile_99_5?: number;
  };
  output?: { kind: 'logits' | 'probabilities' };
  mirror_axes?: number[];
  source?: Record<string, unknown>;
  license?: string;
  [k: string]: unknown;
}

export interface CardModel {
  kind: 'card';
  sourceName: string;
  card: ModelCard;
  onnx: Uint8Array;
}

const NORMS: CardNormalization[] = ['minmax', 'zscore', 'quantile', 'ct', 'none'];

/** Parses and validates a model card; errors name the card file. */
export function parseModelCard(json: string | Uint8Array, fileName: string): ModelCard {
  let c: Partial<ModelCard>;
  try {
    c = JSON.parse(typeof json === 'string' ? json : new TextDecoder().decode(json));
  } catch (e) {
    throw new SegStudioError('model-card', `not valid JSON (${(e as Error).message})`, fileName);
  }
  const bad = (msg: string): never => {
    throw new SegStudioError('model-card', msg, fileName);
  };
  if (!c || typeof c !== 'object') bad('not an object');
  if (c.format !== MODEL_CARD_FORMAT) bad(`unsupported format ${JSON.stringify(c.format)} (expected "${MODEL_CARD_FORMAT}")`);
  if (typeof c.name !== 'string') bad('"name" must be a string');
  if (!c.labels || typeof c.labels !== 'object') bad('"labels" must map names to label values');
  const values = Object.values(c.labels!);
  if (!values.every((v) => Number.isInteger(v) && v >= 0)) bad('"labels" values must be non-negative integers');
  const sorted = [...values].sort((a, b) => a - b);
  if (!sorted.every((v, i) => v === i)) bad('"labels" values must be consecutive from 0 (output channel k = label k)');
  if (!c.channels || typeof c.channels !== 'object' || Object.keys(c.channels).length === 0) bad('"channels" must name at least one input channel');
  const keys = Object.keys(c.channels!).map(Number).sort((a, b) => a - b);
  if (!keys.every((k, i) => k === i)) bad('"channels" keys must be "0", "1", …');
  const inp = c.input;
  if (!inp || typeof inp !== 'object') bad('"input" is missing');
  if (inp!.layout !== 'NCDHW' && inp!.layout !== 'NCHW') bad('"input.layout" must be "NCDHW" or "NCHW"');
  if (inp!.axis_order !== 'x-fastest' && inp!.axis_order !== 'z-fastest') bad('"input.axis_order" must be "x-fastest" or "z-fastest"');
  const nd = inp!.layout === 'NCDHW' ? 3 : 2;
  if (inp!.patch_size !== 'full') {
    if (!Array.isArray(inp!.patch_size) || inp!.patch_size.length !== nd || !inp!.patch_size.every((p) => Number.isInteger(p) && p > 0 && p <= 4096)) {
      bad(`"input.patch_size" must be "full" or ${nd} positive integers (at most 4096)`);
    }
    // fuzz finding: a 1e20-voxel patch reached the sliding window's allocation
    if ((inp!.patch_size as number[]).reduce((a, b) => a * b, 1) > MAX_PATCH_VOXELS) bad(`"input.patch_size" exceeds ${MAX_PATCH_VOXELS} voxels`);
  }
  if (inp!.step_size !== undefined && !(inp!.step_size > 0 && inp!.step_size <= 1)) bad('"input.step_size" must be in (0, 1]');
  if (inp!.shape !== undefined && (!Array.isArray(inp!.shape) || inp!.shape.length !== 3 || !inp!.shape.every((v) => Number.isInteger(v) && v > 0))) bad('"input.shape" must be 3 positive integers');
  if (inp!.spacing !== undefined && (!Array.isArray(inp!.spacing) || inp!.spacing.length !== 3 || !inp!.spacing.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0))) bad('"input.spacing" must be 3 positive numbers');
  if (!NORMS.includes(c.normalization as CardNormalization)) bad(`"normalization" must be one of ${NORMS.join(', ')}`);
  if (c.normalization === 'ct') {
    const p = c.normalization_params ?? {};
    if (![p.mean, p.std, p.percentile_00_5, p.percentile_99_5].every((v) => typeof v === 'number')) {
      bad('"ct" normalization needs normalization_params mean, std, percentile_00_5, percentile_99_5');
    }
  }
  if (c.mirror_axes !== undefined && (!Array.isArray(c.mirror_axes) || !c.mirror_axes.every((a) => Number.isInteger(a) && a >= 0 && a < nd))) {
    bad(`"mirror_axes" must list axes 0..${nd - 1}`);
  }
  return c as ModelCard;
}

export function cardLabelNames(card: ModelCard): string[] {
  return Object.entries(card.labels)
    .sort((a, b) => a[1] - b[1])
    .map(([k]) => k);
}

export function cardChannelNames(card: ModelCard): string[] {
  return Object.keys(card.channels)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => card.channels[k]);
}

function quantileSorted(sorted: Float32Array, q: number): number {
  // numpy default (linear interpolation between closest ranks)
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Normalizes one channel in place per the card. */
export function normalizeForCard(x: Float32Array, card: ModelCard): void {
  const n = x.length;
  switch (card.normalization) {
    case 'none':
      return;
    case 'minmax': {
      // min-max to [0, 1] as brainchop / niivue-onnx feed MeshNet
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < n; i++) {
        const v = x[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const range = hi - lo;
      if (range === 0) {
        x.fill(0);
        return;
      }
      for (let i = 0; i < n; i++) x[i] = (x[i] - lo) / range;
      return;
    }
    case 'zscore': {
      let s = 0;
      for (let i = 0; i < n; i++) s += x[i];
      const mean = s / n;
      let v = 0;
      for (let i = 0; i < n; i++) v += (x[i] - mean) ** 2;
      const std = Math.max(Math.sqrt(v / n), 1e-8);
      for (let i = 0; i < n; i++) x[i] = (x[i] - mean) / std;
      return;
    }
    case 'quantile': {
      // brainchop: (x − q_lo) / (q_hi − q_lo), no clipping
      const p = card.normalization_params ?? {};
      const sorted = Float32Array.from(x).sort();
      const qlo = quantileSorted(sorted, p.lower_quantile ?? 0.05);
      const qhi = quantileSorted(sorted, p.upper_quantile ?? 0.95);
      const range = qhi - qlo || 1;
      for (let i = 0; i < n; i++) x[i] = (x[i] - qlo) / range;
      return;
    }
    case 'ct': {
      // nnU-Net CTNormalization with the card's fixed statistics
      const p = card.normalization_params!;
      const lo = p.percentile_00_5!;
      const hi = p.percentile_99_5!;
      const std = Math.max(p.std!, 1e-8);
      for (let i = 0; i < n; i++) x[i] = (Math.min(Math.max(x[i], lo), hi) - p.mean!) / std;
      return;
    }
  }
}

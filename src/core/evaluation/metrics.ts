// Segmentation metrics and summary.json exactly as nnU-Net v2 computes and writes them.
// nnU-Net: evaluation/evaluate_predictions.py (compute_tp_fp_fn_tn, compute_metrics, compute_metrics_on_folder,
// save_summary_json / load_summary_json, label_or_region_to_key / key_to_label_or_region).
//  - per label or region: TP, FP, FN, TN over voxels not marked by the ignore label in the reference,
//    Dice = 2TP / (2TP + FP + FN), IoU = TP / (TP + FP + FN) — NaN when TP + FP + FN = 0 (0/0 in numpy),
//    n_pred = TP + FP, n_ref = TP + FN;
//  - mean[label][metric] = nanmean over cases; foreground_mean[metric] = plain mean over the labels
//    except 0 (so a label whose mean is NaN makes it NaN, as np.mean does);
//  - summary.json keys: labels as str(int) "1", regions as str(tuple) "(1, 2)".
import { SegStudioError } from '../errors.ts';
import { flattenLabels, labelOrRegionMask, type LabelOrRegion } from '../postprocessing/components.ts';
import { pyFloat, pyJsonDumps, pyJsonParse } from './pyjson.ts';

export type { LabelOrRegion } from '../postprocessing/components.ts';

export interface LabelMetrics {
  Dice: number;
  IoU: number;
  FP: number;
  TP: number;
  FN: number;
  TN: number;
  n_pred: number;
  n_ref: number;
}

export const METRIC_NAMES = ['Dice', 'IoU', 'FP', 'TP', 'FN', 'TN', 'n_pred', 'n_ref'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export interface CaseMetrics {
  reference_file: string;
  prediction_file: string;
  /** key = labelOrRegionKey(label or region) */
  metrics: Record<string, LabelMetrics>;
}

export interface Summary {
  foreground_mean: LabelMetrics;
  mean: Record<string, LabelMetrics>;
  metric_per_case: CaseMetrics[];
}

/** str(label) / str(tuple) as Python prints them: 1 → "1", [1, 2] → "(1, 2)", [3] → "(3,)". */
export function labelOrRegionKey(l: LabelOrRegion): string {
  if (typeof l === 'number') return String(l);
  if (l.length === 1) return `(${l[0]},)`;
  return `(${l.join(', ')})`;
}

/** Inverse of labelOrRegionKey ("(1, 2)" → [1, 2], "3" → 3). */
export function keyToLabelOrRegion(key: string): LabelOrRegion {
  const t = key.trim();
  if (/^-?\d+$/.test(t)) return Number(t);
  const parts = t
    .replace(/[()[\]\s]/g, '')
    .split(',')
    .filter((s) => s.length > 0);
  if (parts.length === 0 || parts.some((p) => !/^-?\d+$/.test(p)))
    throw new SegStudioError('summary', `cannot read label or region key '${key}'`);
  return parts.map(Number);
}

function fromCounts(tp: number, fp: number, fn: number, tn: number): LabelMetrics {
  const den = tp + fp + fn;
  return {
    Dice: den === 0 ? NaN : (2 * tp) / (2 * tp + fp + fn),
    IoU: den === 0 ? NaN : tp / den,
    FP: fp,
    TP: tp,
    FN: fn,
    TN: tn,
    n_pred: fp + tp,
    n_ref: fn + tp,
  };
}

/**
 * Metrics of one case for each label or region. `reference` and `prediction` are label maps on the same grid
 * (flat arrays of equal length). Voxels where reference == ignoreLabel are left out of every count.
 */
export function computeMetrics(
  reference: ArrayLike<number>,
  prediction: ArrayLike<number>,
  labelsOrRegions: readonly LabelOrRegion[],
  ignoreLabel?: number | null,
  fileForErrors?: string,
): Record<string, LabelMetrics> {
  const n = reference.length;
  if (prediction.length !== n)
    throw new SegStudioError(
      'shape',
      `prediction has ${prediction.length} voxels but the reference has ${n} (different image grids)`,
      fileForErrors,
    );
  const hasIgnore = ignoreLabel !== undefined && ignoreLabel !== null;
  const out: Record<string, LabelMetrics> = {};
  const plain = labelsOrRegions.every((l) => typeof l === 'number' && Number.isInteger(l) && l >= 0 && l < 65536);
  if (plain) {
    // one pass: histograms of reference, prediction and agreement
    let maxL = 0;
    for (const l of labelsOrRegions as number[]) if (l > maxL) maxL = l;
    const size = maxL + 2;
    const other = maxL + 1; // bucket for values that are not a requested label
    const hr = new Float64Array(size);
    const hp = new Float64Array(size);
    const hb = new Float64Array(size);
    let used = 0;
    for (let i = 0; i < n; i++) {
      let r = reference[i];
      if (hasIgnore && r === ignoreLabel) continue;
      used++;
      let p = prediction[i];
      if (!(r >= 0 && r <= maxL && r === Math.floor(r))) r = other;
      if (!(p >= 0 && p <= maxL && p === Math.floor(p))) p = other;
      hr[r]++;
      hp[p]++;
      if (r === p) hb[r]++;
    }
    for (const l of labelsOrRegions as number[]) {
      const tp = hb[l];
      const fp = hp[l] - tp;
      const fn = hr[l] - tp;
      out[labelOrRegionKey(l)] = fromCounts(tp, fp, fn, used - tp - fp - fn);
    }
    return out;
  }
  for (const l of labelsOrRegions) {
    const values = flattenLabels(l);
    const mr = labelOrRegionMask(reference, values);
    const mp = labelOrRegionMask(prediction, values);
    let tp = 0,
      fp = 0,
      fn = 0,
      tn = 0;
    for (let i = 0; i < n; i++) {
      if (hasIgnore && reference[i] === ignoreLabel) continue;
      const a = mr[i],
        b = mp[i];
      if (a && b) tp++;
      else if (b) fp++;
      else if (a) fn++;
      else tn++;
    }
    out[labelOrRegionKey(l)] = fromCounts(tp, fp, fn, tn);
  }
  return out;
}

/**
 * numpy's float64 sum (pairwise summation with 8 accumulators, blocks of 128), so means match nnU-Net's
 * summary.json to the last bit. numpy: core/src/umath/loops_utils.h.src pairwise_sum.
 */
export function numpySum(a: ArrayLike<number>, start = 0, n = a.length): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i];
    return res;
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let j = 0; j < 8; j++) r[j] = a[start + j];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
    let res = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return numpySum(a, start, n2) + numpySum(a, start + n2, n - n2);
}

/** np.nanmean: NaNs replaced by 0, summed, divided by the count of non-NaN values (NaN when none). */
export function nanmean(v: readonly number[]): number {
  let c = 0;
  const z = v.map((x) => (Number.isNaN(x) ? 0 : (c++, x)));
  return c === 0 ? NaN : numpySum(z) / c;
}

/** np.mean (NaN propagates; empty → NaN). */
export function npMean(v: readonly number[]): number {
  return v.length === 0 ? NaN : numpySum(v) / v.length;
}

/** mean (nanmean over cases) and foreground_mean (mean over labels ≠ 0) as compute_metrics_on_folder builds them. */
export function summarize(cases: CaseMetrics[], labelsOrRegions?: readonly LabelOrRegion[]): Summary {
  const keys = labelsOrRegions
    ? labelsOrRegions.map(labelOrRegionKey)
    : cases.length > 0
      ? Object.keys(cases[0].metrics)
      : [];
  const mean: Record<string, LabelMetrics> = {};
  for (const k of keys) {
    const m = {} as LabelMetrics;
    for (const name of METRIC_NAMES) m[name] = nanmean(cases.map((c) => c.metrics[k]?.[name] ?? NaN));
    mean[k] = m;
  }
  const foreground_mean = {} as LabelMetrics;
  const fgKeys = keys.filter((k) => k !== '0');
  for (const name of METRIC_NAMES) {
    // np.mean: NaN propagates; empty → NaN
    foreground_mean[name] = npMean(fgKeys.map((k) => mean[k][name]));
  }
  return { foreground_mean, mean, metric_per_case: cases };
}

const FLOAT_IN_CASE = new Set(['Dice', 'IoU']);

function floats(m: LabelMetrics): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(m)) o[k] = pyFloat((m as unknown as Record<string, number>)[k]);
  return o;
}

/**
 * summary.json text as nnU-Net writes it (json.dump indent=4, sort_keys=True; NaN tokens; per-case counts
 * as ints, Dice/IoU and all means as floats).
 */
export function summaryToJson(s: Summary): string {
  const out = {
    foreground_mean: floats(s.foreground_mean),
    mean: Object.fromEntries(Object.entries(s.mean).map(([k, v]) => [k, floats(v)])),
    metric_per_case: s.metric_per_case.map((c) => ({
      ...c,
      metrics: Object.fromEntries(
        Object.entries(c.metrics).map(([k, m]) => [
          k,
          Object.fromEntries(
            Object.entries(m).map(([name, v]) => [name, FLOAT_IN_CASE.has(name) ? pyFloat(v as number) : v]),
          ),
        ]),
      ),
    })),
  };
  return pyJsonDumps(out);
}

/** Reads a summary.json (ours or nnU-Net's), NaN tokens included. */
export function parseSummaryJson(text: string, fileName = 'summary.json'): Summary {
  let obj: Summary;
  try {
    obj = pyJsonParse<Summary>(text);
  } catch (e) {
    throw new SegStudioError('summary', `not valid JSON: ${(e as Error).message}`, fileName);
  }
  if (!obj || typeof obj !== 'object' || !obj.mean || !obj.foreground_mean || !Array.isArray(obj.metric_per_case))
    throw new SegStudioError('summary', 'expected keys foreground_mean, mean and metric_per_case', fileName);
  return obj;
}

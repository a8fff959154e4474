// determine_postprocessing / apply_postprocessing with nnU-Net v2's decision rules, on in-memory label maps.
// nnU-Net: postprocessing/remove_connected_components.py (determine_postprocessing,
// apply_postprocessing, remove_all_but_largest_component_from_segmentation).
//
// Rules reproduced:
//  1. "foreground as one": remove all but the largest component of the union of all foreground labels.
//     Accepted only if foreground_mean Dice strictly improves AND no class's mean Dice gets worse.
//  2. If there is more than one label (or region), then for each in dataset.json order, on top of the result
//     so far: remove all but the largest component of that label alone; accepted if that label's mean Dice
//     strictly improves. (NaN comparisons are false, as in Python.)
//
// postprocessing.json (our design, same meaning as nnU-Net's postprocessing.pkl + .json):
//   { "postprocessing_fns": [ { "fn": "remove_all_but_largest_component", "labels_or_regions": [1, 2],
//                               "background_label": 0 }, ... ],
//     "input_folder":  { "foreground_mean": {...}, "mean": {...} },   // metrics before (nnU-Net's key names)
//     "postprocessed": { "foreground_mean": {...}, "mean": {...} },   // metrics after all accepted steps
//     "considered": [ { step, accepted, dice_before, dice_after } ] }  // every candidate tried, in order
// nnU-Net's own postprocessing.json layout (postprocessing_fns as names + postprocessing_kwargs) is read too.
import { SegStudioError, throwIfCancelled } from '../errors.ts';
import type { CancelSignal, LabelMap, ProgressFn } from '../types.ts';
import {
  computeMetrics,
  labelOrRegionKey,
  summarize,
  type CaseMetrics,
  type LabelMetrics,
  type Summary,
} from '../evaluation/metrics.ts';
import { pyFloat, pyJsonDumps, pyJsonParse } from '../evaluation/pyjson.ts';
import { removeAllButLargestComponent, type LabelOrRegion } from './components.ts';

export const REMOVE_ALL_BUT_LARGEST = 'remove_all_but_largest_component';

export interface PostprocessingStep {
  fn: typeof REMOVE_ALL_BUT_LARGEST;
  /** a label, a region, or a list of them (their union is one mask) */
  labels_or_regions: LabelOrRegion | LabelOrRegion[];
  background_label: number;
}

export interface MetricsDigest {
  foreground_mean: LabelMetrics;
  mean: Record<string, LabelMetrics>;
}

export interface ConsideredStep {
  step: PostprocessingStep;
  accepted: boolean;
  /** the Dice the decision compared: foreground_mean Dice for step 1, the label's mean Dice for the others */
  dice_before: number;
  dice_after: number;
}

export interface PostprocessingJson {
  postprocessing_fns: PostprocessingStep[];
  input_folder?: MetricsDigest;
  postprocessed?: MetricsDigest;
  considered?: ConsideredStep[];
}

/** Applies the steps in order. Returns a new label map (the input is not modified). */
export function applyPostprocessing<T extends LabelMap>(seg: T, pp: PostprocessingJson | readonly PostprocessingStep[]): T {
  const steps = Array.isArray(pp) ? (pp as readonly PostprocessingStep[]) : (pp as PostprocessingJson).postprocessing_fns;
  let out = seg;
  for (const s of steps) {
    if (s.fn !== REMOVE_ALL_BUT_LARGEST)
      throw new SegStudioError('postprocessing', `unknown postprocessing function '${String(s.fn)}'`);
    out = removeAllButLargestComponent(out, s.labels_or_regions, s.background_label ?? 0);
  }
  if (out === seg) out = { ...seg, data: seg.data.slice(), shape: [...seg.shape] };
  return out;
}

export interface PostprocessingCase {
  /** used in summaries (reference_file / prediction_file) */
  referenceFile?: string;
  predictionFile?: string;
  reference: LabelMap;
  prediction: LabelMap;
}

export interface DeterminePostprocessingOptions {
  /** foreground labels (label_manager.foreground_labels): the "foreground as one" union */
  foregroundLabels: number[];
  /** what is evaluated and tried one by one: foreground regions in region mode, else the foreground labels */
  labelsOrRegions?: LabelOrRegion[];
  ignoreLabel?: number | null;
  onProgress?: ProgressFn;
  signal?: CancelSignal;
}

export interface DeterminePostprocessingResult {
  pp: PostprocessingJson;
  /** summary of the input predictions */
  before: Summary;
  /** summary after the accepted steps */
  after: Summary;
  /** the predictions with the accepted steps applied (same order as the input) */
  postprocessed: LabelMap[];
}

function evaluateAll(cases: PostprocessingCase[], preds: LabelMap[], lor: LabelOrRegion[], ignore?: number | null): Summary {
  const per: CaseMetrics[] = cases.map((c, i) => ({
    reference_file: c.referenceFile ?? `case_${i}`,
    prediction_file: c.predictionFile ?? `case_${i}`,
    metrics: computeMetrics(c.reference.data, preds[i].data, lor, ignore, c.predictionFile),
  }));
  return summarize(per, lor);
}

function digest(s: Summary): MetricsDigest {
  return { foreground_mean: s.foreground_mean, mean: s.mean };
}

/** nnU-Net's determine_postprocessing on in-memory cases. */
export function determinePostprocessing(
  cases: PostprocessingCase[],
  opts: DeterminePostprocessingOptions,
): DeterminePostprocessingResult {
  const lor = opts.labelsOrRegions ?? opts.foregroundLabels;
  if (cases.length === 0) throw new SegStudioError('postprocessing', 'determine postprocessing needs at least one case');
  if (lor.length === 0) throw new SegStudioError('postprocessing', 'no foreground labels to evaluate');
  const totalSteps = 1 + (lor.length > 1 ? lor.length : 0);
  let done = 0;
  const tick = (stage: string) => opts.onProgress?.(++done, totalSteps + 1, stage);

  const baselinePreds = cases.map((c) => c.prediction);
  const before = evaluateAll(cases, baselinePreds, lor, opts.ignoreLabel);
  tick('baseline');
  const steps: PostprocessingStep[] = [];
  const considered: ConsideredStep[] = [];

  // 1. all foreground labels as one
  throwIfCancelled(opts.signal);
  const fgStep: PostprocessingStep = {
    fn: REMOVE_ALL_BUT_LARGEST,
    labels_or_regions: [...opts.foregroundLabels],
    background_label: 0,
  };
  let preds = baselinePreds.map((p) => applyPostprocessing(p, [fgStep]));
  let candidate = evaluateAll(cases, preds, lor, opts.ignoreLabel);
  let accept = candidate.foreground_mean.Dice > before.foreground_mean.Dice;
  if (accept) {
    for (const k of Object.keys(candidate.mean)) {
      if (candidate.mean[k].Dice < before.mean[k].Dice) {
        accept = false;
        break;
      }
    }
  }
  considered.push({
    step: fgStep,
    accepted: accept,
    dice_before: before.foreground_mean.Dice,
    dice_after: candidate.foreground_mean.Dice,
  });
  let source: LabelMap[];
  let sourceSummary: Summary;
  if (accept) {
    steps.push(fgStep);
    source = preds;
    sourceSummary = candidate;
  } else {
    source = baselinePreds;
    sourceSummary = before;
  }
  tick('foreground as one');

  // 2. per label or region, in declaration order, on top of the current best
  if (lor.length > 1) {
    for (const l of lor) {
      throwIfCancelled(opts.signal);
      const step: PostprocessingStep = { fn: REMOVE_ALL_BUT_LARGEST, labels_or_regions: l, background_label: 0 };
      preds = source.map((p) => applyPostprocessing(p, [step]));
      candidate = evaluateAll(cases, preds, lor, opts.ignoreLabel);
      const key = labelOrRegionKey(l);
      const b = sourceSummary.mean[key].Dice;
      const a = candidate.mean[key].Dice;
      const ok = a > b;
      considered.push({ step, accepted: ok, dice_before: b, dice_after: a });
      if (ok) {
        steps.push(step);
        source = preds;
        sourceSummary = candidate;
      }
      tick(`label ${key}`);
    }
  }
  const postprocessed = source === baselinePreds ? baselinePreds.map((p) => ({ ...p, data: p.data.slice() })) : source;
  return {
    pp: { postprocessing_fns: steps, input_folder: digest(before), postprocessed: digest(sourceSummary), considered },
    before,
    after: sourceSummary,
    postprocessed,
  };
}

function floatDigest(d: MetricsDigest | undefined): unknown {
  if (!d) return undefined;
  const f = (m: LabelMetrics) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, pyFloat(v as number)]));
  return { foreground_mean: f(d.foreground_mean), mean: Object.fromEntries(Object.entries(d.mean).map(([k, v]) => [k, f(v)])) };
}

/** postprocessing.json text (Python-style JSON: NaN tokens, indent 4, sorted keys). */
export function postprocessingToJson(pp: PostprocessingJson): string {
  return pyJsonDumps({
    postprocessing_fns: pp.postprocessing_fns,
    input_folder: floatDigest(pp.input_folder),
    postprocessed: floatDigest(pp.postprocessed),
    considered: pp.considered?.map((c) => ({ ...c, dice_before: pyFloat(c.dice_before), dice_after: pyFloat(c.dice_after) })),
  });
}

const NNUNET_FN_NAMES = new Set([REMOVE_ALL_BUT_LARGEST, 'remove_all_but_largest_component_from_segmentation']);

function validLor(v: unknown): v is LabelOrRegion | LabelOrRegion[] {
  if (typeof v === 'number') return Number.isInteger(v);
  if (Array.isArray(v)) return v.length > 0 && v.every((x) => validLor(x));
  return false;
}

/** Reads postprocessing.json: ours, or nnU-Net's (postprocessing_fns names + postprocessing_kwargs). */
export function parsePostprocessingJson(text: string, fileName = 'postprocessing.json'): PostprocessingJson {
  let raw: Record<string, unknown>;
  try {
    raw = pyJsonParse<Record<string, unknown>>(text);
  } catch (e) {
    throw new SegStudioError('postprocessing', `not valid JSON: ${(e as Error).message}`, fileName);
  }
  const fns = raw?.postprocessing_fns;
  if (!Array.isArray(fns)) throw new SegStudioError('postprocessing', 'missing the "postprocessing_fns" list', fileName);
  const kwargs = Array.isArray(raw.postprocessing_kwargs) ? (raw.postprocessing_kwargs as Record<string, unknown>[]) : [];
  const steps: PostprocessingStep[] = fns.map((f, i) => {
    const o: Record<string, unknown> = typeof f === 'string' ? { fn: f, ...(kwargs[i] ?? {}) } : (f as Record<string, unknown>);
    const name = String(o?.fn ?? '');
    if (!NNUNET_FN_NAMES.has(name))
      throw new SegStudioError('postprocessing', `step ${i}: unsupported function '${name}'`, fileName);
    if (!validLor(o.labels_or_regions))
      throw new SegStudioError('postprocessing', `step ${i}: "labels_or_regions" must be an int or a list of ints/regions`, fileName);
    const bg = o.background_label ?? 0;
    if (typeof bg !== 'number' || !Number.isInteger(bg))
      throw new SegStudioError('postprocessing', `step ${i}: "background_label" must be an integer`, fileName);
    return { fn: REMOVE_ALL_BUT_LARGEST, labels_or_regions: o.labels_or_regions as LabelOrRegion, background_label: bg };
  });
  return {
    postprocessing_fns: steps,
    input_folder: raw.input_folder as MetricsDigest | undefined,
    postprocessed: raw.postprocessed as MetricsDigest | undefined,
    considered: raw.considered as ConsideredStep[] | undefined,
  };
}

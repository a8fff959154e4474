// Ensembling of softmax probabilities: float32 mean over members, then argmax over channels (or, for region
// models, label = regions_class_order[i] where p_i > 0.5, later regions overwriting earlier ones).
// nnU-Net: ensembling/ensemble.py (average_probabilities, merge_files),
//          utilities/label_handling/label_handling.py (convert_probabilities_to_segmentation).
import { SegStudioError } from '../errors.ts';
import type { LabelMap, NdArray } from '../types.ts';

/**
 * Mean of probability arrays [C, ...spatial], accumulated in float32 exactly as numpy does
 * (avg = first.astype(float32); avg += next ...; avg /= n): each float32 add/divide is rounded to float32.
 */
export function averageProbabilities(members: readonly NdArray[], names?: readonly string[]): { data: Float32Array; shape: number[] } {
  if (members.length === 0) throw new SegStudioError('ensemble', 'at least one probability array is needed');
  const shape = members[0].shape;
  const acc = Float32Array.from(members[0].data as ArrayLike<number>);
  for (let m = 1; m < members.length; m++) {
    const a = members[m];
    if (a.shape.length !== shape.length || a.shape.some((s, i) => s !== shape[i]))
      throw new SegStudioError(
        'ensemble',
        `probabilities have shape [${a.shape.join(', ')}] but the first member has [${shape.join(', ')}]`,
        names?.[m],
      );
    const d = a.data;
    for (let i = 0; i < acc.length; i++) acc[i] += d[i];
  }
  const n = members.length;
  if (n > 1) for (let i = 0; i < acc.length; i++) acc[i] /= n;
  return { data: acc, shape: [...shape] };
}

/**
 * Probabilities [C, ...spatial] → label map on the spatial grid. argmax over C (first maximum wins, as
 * numpy's argmax); with `regionsClassOrder`, region model semantics (sigmoid outputs thresholded at 0.5).
 */
export function probabilitiesToSegmentation(probs: NdArray, regionsClassOrder?: readonly number[] | null): LabelMap {
  const [C, ...spatial] = probs.shape;
  const n = spatial.reduce((a, b) => a * b, 1);
  if (C * n !== probs.data.length) throw new SegStudioError('ensemble', 'probability array shape does not match its data');
  const p = probs.data;
  if (regionsClassOrder && regionsClassOrder.length > 0) {
    if (regionsClassOrder.length !== C)
      throw new SegStudioError('ensemble', `regions_class_order has ${regionsClassOrder.length} entries but there are ${C} channels`);
    const seg = new Uint8Array(n);
    for (let c = 0; c < C; c++) {
      const lab = regionsClassOrder[c];
      const base = c * n;
      for (let i = 0; i < n; i++) if (p[base + i] > 0.5) seg[i] = lab;
    }
    return { data: seg, shape: spatial };
  }
  const seg = C <= 256 ? new Uint8Array(n) : new Uint16Array(n);
  const best = Float32Array.from({ length: n }, (_, i) => p[i]);
  for (let c = 1; c < C; c++) {
    const base = c * n;
    for (let i = 0; i < n; i++) {
      const v = p[base + i];
      // NaN: numpy's argmax returns the first NaN; treat NaN as the maximum once seen
      if (v > best[i] || (v !== v && best[i] === best[i])) {
        best[i] = v;
        seg[i] = c;
      }
    }
  }
  return { data: seg, shape: spatial };
}

export interface EnsembleResult {
  probabilities: { data: Float32Array; shape: number[] };
  segmentation: LabelMap;
}

/** average_probabilities + convert_probabilities_to_segmentation for one case. */
export function ensembleCase(
  members: readonly NdArray[],
  opts: { regionsClassOrder?: readonly number[] | null; names?: readonly string[] } = {},
): EnsembleResult {
  const probabilities = averageProbabilities(members, opts.names);
  return { probabilities, segmentation: probabilitiesToSegmentation(probabilities, opts.regionsClassOrder) };
}

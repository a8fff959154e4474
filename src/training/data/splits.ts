// nnU-Net's 5-fold cross-validation split, identical to splits_final.json for the same case list.
// nnU-Net: utilities/crossval_split.py (generate_crossval_split) uses sklearn KFold(n_splits, shuffle=True,
// random_state=seed) on the SORTED case ids (training/nnUNetTrainer/nnUNetTrainer.py do_split sorts them).
// KFold (sklearn model_selection/_split.py): indices = arange(n), shuffled in place by
// check_random_state(seed).shuffle (numpy legacy RandomState); fold sizes n // k, the first n % k folds one
// larger; fold i's validation = the i-th contiguous block of the shuffled indices; train/val index lists are
// each returned in ascending index order.
import { SegStudioError } from '../../core/errors.ts';
import { RandomState } from './random.ts';

export interface Split {
  train: string[];
  val: string[];
}

/** Code-point order, as numpy's np.sort / Python's sorted() order strings. */
export function sortIdentifiers(ids: readonly string[]): string[] {
  return [...ids].sort((a, b) => {
    const aa = Array.from(a);
    const bb = Array.from(b);
    const n = Math.min(aa.length, bb.length);
    for (let i = 0; i < n; i++) {
      const d = aa[i].codePointAt(0)! - bb[i].codePointAt(0)!;
      if (d !== 0) return d;
    }
    return aa.length - bb.length;
  });
}

/** KFold(n_splits, shuffle=True, random_state=seed).split(range(n)) → [trainIdx, valIdx] per fold. */
export function kfoldIndices(n: number, nFolds = 5, seed = 12345): { train: number[]; val: number[] }[] {
  if (!Number.isInteger(nFolds) || nFolds < 2)
    throw new SegStudioError('splits', `number of folds must be an integer >= 2, got ${nFolds}`);
  if (nFolds > n)
    throw new SegStudioError('splits', `cannot make ${nFolds} folds from ${n} cases (need at least as many cases as folds)`);
  const indices = Array.from({ length: n }, (_, i) => i);
  new RandomState(seed).shuffle(indices);
  const folds: { train: number[]; val: number[] }[] = [];
  let start = 0;
  for (let f = 0; f < nFolds; f++) {
    const size = Math.floor(n / nFolds) + (f < n % nFolds ? 1 : 0);
    const inVal = new Uint8Array(n);
    for (let i = start; i < start + size; i++) inVal[indices[i]] = 1;
    start += size;
    const train: number[] = [];
    const val: number[] = [];
    for (let i = 0; i < n; i++) (inVal[i] ? val : train).push(i);
    folds.push({ train, val });
  }
  return folds;
}

/**
 * nnU-Net's splits_final.json content for these case ids (sorted first, as nnU-Net does):
 * `generateCrossvalSplit(ids)` → [{train, val}] × 5.
 */
export function generateCrossvalSplit(caseIds: readonly string[], seed = 12345, nFolds = 5): Split[] {
  const uniq = new Set(caseIds);
  if (uniq.size !== caseIds.length) throw new SegStudioError('splits', 'case identifiers must be unique');
  const sorted = sortIdentifiers(caseIds);
  return kfoldIndices(sorted.length, nFolds, seed).map(({ train, val }) => ({
    train: train.map((i) => sorted[i]),
    val: val.map((i) => sorted[i]),
  }));
}

// The Results panel's tables from the training worker's cross-validation (find-best over configurations and
// pairwise ensembles, postprocessing) or, before every fold is validated, from the trainer's pseudo Dice.
// Pure functions (tested). nnU-Net: evaluation/find_best_configuration.py, postprocessing/remove_connected_components.py.
import type { CrossValidationResult } from '../../../workers/training.worker.ts';
import type { PostprocessingJson } from '../../core/postprocessing/postprocessing.ts';
import type { RunRecord, TrainResults } from './types.ts';

const mean = (v: number[]) => (v.length ? v.reduce((x, y) => x + y, 0) / v.length : NaN);

/** dataset.json labels → key as nnU-Net's summary.json writes it ('1', '(1, 2)') → name; background left out. */
export function labelNames(labels: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(labels)) if (name !== 'background' && v !== 0) out[Array.isArray(v) ? `(${v.join(', ')})` : String(v)] = name;
  return out;
}

/** 'nnUNetTrainer__nnUNetPlans__3d_fullres' → '3d_fullres' (other trainers / plans keep their full name). */
export function shortModelName(identifier: string): string {
  return identifier.replace(/nnUNetTrainer__nnUNetPlans__/g, '');
}

/** postprocessing.json in words: each step keeps the largest connected component of a label or of a union. */
export function describePostprocessing(pp: PostprocessingJson, names: Record<string, string>): string {
  if (!pp.postprocessing_fns.length) return 'none (keeping only the largest component did not improve Dice)';
  const name = (x: number | readonly number[]) => names[Array.isArray(x) ? `(${x.join(', ')})` : String(x)] ?? (Array.isArray(x) ? `(${x.join(', ')})` : String(x));
  return pp.postprocessing_fns
    .map((s) => {
      const l = s.labels_or_regions;
      // a list of labels (or regions) is one mask: their union (nnU-Net's "foreground as one" step)
      const parts = Array.isArray(l) ? (l as readonly (number | readonly number[])[]).map(name) : [name(l)];
      return `keep the largest component of ${parts.length > 1 ? `the union of ${parts.join(' + ')}` : parts[0]}`;
    })
    .join('; ');
}

/** The cross-validation decision as the Results panel shows it. */
export function resultsFromCrossValidation(cv: CrossValidationResult, datasetLabels: Record<string, unknown>, runIds: string[]): TrainResults {
  const names = { ...labelNames(datasetLabels), ...cv.labelNames };
  return {
    source: 'validation',
    table: cv.candidates.map((c) => ({
      name: shortModelName(c.identifier),
      mean: c.result,
      perLabel: Object.fromEntries(Object.entries(c.dice).map(([k, v]) => [names[k] ?? k, v])),
    })),
    best: {
      name: shortModelName(cv.best),
      mean: cv.resultPostPp,
      prePp: cv.resultPrePp,
      postprocessing: describePostprocessing(cv.postprocessing, names),
      ensemble: cv.bestRuns.length > 1,
    },
    textTable: cv.table,
    text: `Cross-validation over fold${cv.folds.length === 1 ? '' : 's'} ${cv.folds.join(', ')} (full-case validation predictions of each fold, as nnU-Net's find_best_configuration).`,
    runIds,
  };
}

/**
 * Before the cross-validation: per configuration, the mean over its finished folds of each label's Dice —
 * the fold's validation Dice when it has one, else the trainer's pseudo Dice of the last epoch.
 */
export function pseudoResults(finished: RunRecord[], datasetLabels: Record<string, unknown>): TrainResults {
  const labelList = Object.values(labelNames(datasetLabels));
  const byConfig = new Map<string, RunRecord[]>();
  for (const r of finished) byConfig.set(r.configuration, [...(byConfig.get(r.configuration) ?? []), r]);
  const table: TrainResults['table'] = [];
  for (const [cfg, runs] of byConfig) {
    const perLabel: Record<string, number> = {};
    labelList.forEach((name, i) => {
      perLabel[name] = mean(runs.map((r) => r.validation?.perLabel[name] ?? r.log.dice_per_class_or_region.at(-1)?.[i] ?? NaN));
    });
    table.push({ name: `${cfg} (fold${runs.length === 1 ? '' : 's'} ${runs.map((r) => r.fold).join(', ')})`, mean: mean(Object.values(perLabel)), perLabel });
  }
  table.sort((a, b) => b.mean - a.mean);
  return {
    source: 'pseudo',
    table,
    best: null,
    textTable: null,
    runIds: finished.map((r) => r.runId),
    text: "Pseudo Dice of the last epoch (the trainer's validation patches, as in nnU-Net's progress plot): the cross-validation decision needs the full-case validation of every fold.",
  };
}

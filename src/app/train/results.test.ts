// The Results panel's tables: the cross-validation decision mapped to label names, the postprocessing in
// words, and the pre-validation per-configuration means (hand-computed).
import { describe, expect, it } from 'vitest';
import type { CrossValidationResult } from '../../../workers/training.worker.ts';
import { emptyLog } from '../../training/trainer/log.ts';
import { describePostprocessing, labelNames, pseudoResults, resultsFromCrossValidation, shortModelName } from './results.ts';
import type { RunRecord } from './types.ts';

const labels = { background: 0, Anterior: 1, Posterior: 2 };

function run(configuration: string, fold: number, lastPseudo: number[], validation: RunRecord['validation'] = null): RunRecord {
  return {
    runId: `${configuration}-${fold}`,
    datasetId: 'd',
    datasetName: 'D',
    configuration,
    fold,
    plans: null,
    options: { numEpochs: 2, iterationsPerEpoch: 1, valIterationsPerEpoch: 1 },
    backendChoice: 'auto',
    backend: null,
    backendReason: null,
    status: 'finished',
    epoch: 2,
    log: { ...emptyLog(), dice_per_class_or_region: [[0, 0], lastPseudo] },
    bestEma: null,
    error: null,
    createdAt: 0,
    updatedAt: 0,
    logLines: [],
    validation,
  };
}

describe('results', () => {
  it('label names by summary.json key, background left out; model names shortened', () => {
    expect(labelNames(labels)).toEqual({ '1': 'Anterior', '2': 'Posterior' });
    expect(labelNames({ background: 0, whole: [1, 2], core: [2] })).toEqual({ '(1, 2)': 'whole', '(2)': 'core' });
    expect(shortModelName('ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_fullres___0_1')).toBe('ensemble___2d___3d_fullres___0_1');
  });

  it('postprocessing in words', () => {
    const names = labelNames(labels);
    expect(describePostprocessing({ postprocessing_fns: [] }, names)).toMatch(/^none/);
    expect(
      describePostprocessing(
        {
          postprocessing_fns: [
            { fn: 'remove_all_but_largest_component', labels_or_regions: [1, 2], background_label: 0 },
            { fn: 'remove_all_but_largest_component', labels_or_regions: 2, background_label: 0 },
          ],
        },
        names,
      ),
    ).toBe('keep the largest component of the union of Anterior + Posterior; keep the largest component of Posterior');
  });

  it('cross-validation → table rows, best with Dice before/after postprocessing', () => {
    const cv = {
      folds: [0, 1],
      labelNames: { '1': 'Anterior', '2': 'Posterior' },
      candidates: [
        { identifier: 'nnUNetTrainer__nnUNetPlans__2d', members: [], result: 0.8, dice: { '1': 0.78, '2': 0.82 } },
        { identifier: 'nnUNetTrainer__nnUNetPlans__3d_fullres', members: [], result: 0.85, dice: { '1': 0.84, '2': 0.86 } },
      ],
      best: 'nnUNetTrainer__nnUNetPlans__3d_fullres',
      bestRuns: [{ identifier: 'nnUNetTrainer__nnUNetPlans__3d_fullres', runs: [] }],
      resultPrePp: 0.85,
      resultPostPp: 0.851,
      postprocessing: { postprocessing_fns: [{ fn: 'remove_all_but_largest_component', labels_or_regions: 1, background_label: 0 }] },
      table: 'TABLE',
    } as unknown as CrossValidationResult;
    const r = resultsFromCrossValidation(cv, labels, ['a', 'b']);
    expect(r.source).toBe('validation');
    expect(r.table).toEqual([
      { name: '2d', mean: 0.8, perLabel: { Anterior: 0.78, Posterior: 0.82 } },
      { name: '3d_fullres', mean: 0.85, perLabel: { Anterior: 0.84, Posterior: 0.86 } },
    ]);
    expect(r.best).toEqual({ name: '3d_fullres', mean: 0.851, prePp: 0.85, postprocessing: 'keep the largest component of Anterior', ensemble: false });
    expect(r.text).toMatch(/folds 0, 1/);
    expect(r.textTable).toBe('TABLE');
  });

  it('before the cross-validation: per-configuration means of validation Dice, else last-epoch pseudo Dice', () => {
    const r = pseudoResults(
      [
        run('3d_fullres', 0, [0.2, 0.4]),
        run('3d_fullres', 1, [0.9, 0.9], { perLabel: { Anterior: 0.6, Posterior: 0.8 }, mean: 0.7, cases: 3, source: 'validation' }),
        run('2d', 0, [0.1, 0.3]),
      ],
      labels,
    );
    expect(r.source).toBe('pseudo');
    expect(r.best).toBeNull();
    expect(r.table.map((x) => x.name)).toEqual(['3d_fullres (folds 0, 1)', '2d (fold 0)']);
    // Anterior (0.2 + 0.6) / 2 = 0.4, Posterior (0.4 + 0.8) / 2 = 0.6, mean 0.5
    expect(r.table[0].perLabel.Anterior).toBeCloseTo(0.4, 12);
    expect(r.table[0].perLabel.Posterior).toBeCloseTo(0.6, 12);
    expect(r.table[0].mean).toBeCloseTo(0.5, 12);
    expect(r.table[1].mean).toBeCloseTo(0.2, 12);
  });
});

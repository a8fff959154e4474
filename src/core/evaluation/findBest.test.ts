import { describe, expect, it } from 'vitest';
import {
  buildInferenceInformation,
  candidateModels,
  crossvalFolderName,
  ensembleName,
  inferenceInstructions,
  membersOfIdentifier,
  modelIdentifier,
  pairwiseEnsembles,
  parseModelIdentifier,
  findBestInMemory,
  pickBest,
  resultsTable,
  type CandidateResult,
} from './findBest.ts';
import { isSegStudioError } from '../errors.ts';

const m2d = { trainer: 'nnUNetTrainer', plans: 'nnUNetPlans', configuration: '2d' };
const m3d = { trainer: 'nnUNetTrainer', plans: 'nnUNetPlans', configuration: '3d_fullres' };

describe('names (nnU-Net file_path_utilities)', () => {
  it('model identifiers and ensemble names', () => {
    expect(modelIdentifier(m2d)).toBe('nnUNetTrainer__nnUNetPlans__2d');
    expect(parseModelIdentifier('nnUNetTrainer__nnUNetPlans__3d_fullres')).toEqual(m3d);
    expect(crossvalFolderName([0, 1, 2, 3, 4])).toBe('crossval_results_folds_0_1_2_3_4');
    const e = ensembleName(m2d, m3d, [0, 1, 2, 3, 4]);
    expect(e).toBe('ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_fullres___0_1_2_3_4');
    expect(membersOfIdentifier(e)).toEqual([m2d, m3d]);
    expect(membersOfIdentifier('nnUNetTrainer__nnUNetPlans__2d')).toEqual([m2d]);
  });

  it('rejects malformed identifiers with a SegStudioError', () => {
    for (const bad of ['nnUNetTrainer__2d', 'a__b__c__d', '__b__c']) {
      let err: unknown;
      try {
        parseModelIdentifier(bad);
      } catch (e) {
        err = e;
      }
      expect(isSegStudioError(err)).toBe(true);
    }
  });

  it('candidate order: trainer, then configuration, then plans; pairs i < j', () => {
    const c = candidateModels(['T1', 'T2'], ['2d', '3d'], ['P']);
    expect(c.map(modelIdentifier)).toEqual(['T1__P__2d', 'T1__P__3d', 'T2__P__2d', 'T2__P__3d']);
    expect(pairwiseEnsembles(['a', 'b', 'c'])).toEqual([
      ['a', 'b'],
      ['a', 'c'],
      ['b', 'c'],
    ]);
    expect(pairwiseEnsembles(['a'])).toEqual([]);
  });
});

describe('pickBest', () => {
  it('highest wins; a tie goes to the first (single configurations come before ensembles)', () => {
    expect(pickBest([{ result: 0.5 }, { result: 0.9 }, { result: 0.7 }])).toEqual({ index: 1, ties: [1] });
    expect(pickBest([{ result: 0.8 }, { result: 0.9 }, { result: 0.9 }])).toEqual({ index: 1, ties: [1, 2] });
  });
  it('NaN never wins; all NaN → the first; empty → error', () => {
    expect(pickBest([{ result: NaN }, { result: 0.1 }]).index).toBe(1);
    expect(pickBest([{ result: NaN }, { result: NaN }]).index).toBe(0);
    expect(() => pickBest([])).toThrow(/no trained configuration/);
  });
});

describe('inference information and instructions', () => {
  const results: CandidateResult[] = [
    { identifier: modelIdentifier(m2d), members: [m2d], source: '/r/2d/cv', result: 0.8 },
    { identifier: modelIdentifier(m3d), members: [m3d], source: '/r/3d/cv', result: 0.85 },
    { identifier: ensembleName(m2d, m3d, [0, 1]), members: [m2d, m3d], source: '/r/ensembles/e', result: 0.86 },
  ];
  it('an ensemble winner lists both members and ensembles their probabilities', () => {
    const info = buildInferenceInformation({
      datasetName: 'Dataset004_Hippocampus',
      folds: [0, 1],
      considered: [m2d, m3d],
      ensemblingAllowed: true,
      results,
      bestIndex: 2,
      resultPostPp: 0.87,
      postprocessingFile: '/r/ensembles/e/postprocessing.json',
      plansFile: '/r/ensembles/e/plans.json',
    });
    expect(info.all_results).toEqual({ [results[0].identifier]: 0.8, [results[1].identifier]: 0.85, [results[2].identifier]: 0.86 });
    expect(info.best_model_or_ensemble.selected_model_or_models).toEqual([
      { configuration: '2d', trainer: 'nnUNetTrainer', plans_identifier: 'nnUNetPlans' },
      { configuration: '3d_fullres', trainer: 'nnUNetTrainer', plans_identifier: 'nnUNetPlans' },
    ]);
    expect(info.best_model_or_ensemble.result_on_crossval_pre_pp).toBe(0.86);
    const text = inferenceInstructions(info);
    expect(text).toContain('-o OUTPUT_FOLDER_MODEL_1 -m BUNDLE_nnUNetTrainer__nnUNetPlans__2d --folds 0 1 --save-probabilities');
    expect(text).toContain('segstudio ensemble -i OUTPUT_FOLDER_MODEL_1 OUTPUT_FOLDER_MODEL_2 -o OUTPUT_FOLDER');
    expect(text).toContain('--pp /r/ensembles/e/postprocessing.json');
  });
  it('a single winner: one predict command without probabilities, bundle path when exported', () => {
    const info = buildInferenceInformation({
      datasetName: 'D',
      folds: [0],
      considered: [m2d],
      ensemblingAllowed: false,
      results: results.slice(0, 1),
      bestIndex: 0,
      resultPostPp: 0.8,
      postprocessingFile: 'pp.json',
      plansFile: 'plans.json',
      bundles: ['/out/best.zip'],
    });
    const text = inferenceInstructions(info);
    expect(text).toContain('segstudio predict -i INPUT_FOLDER -o OUTPUT_FOLDER -m /out/best.zip --folds 0\n');
    expect(text).not.toContain('segstudio ensemble');
  });
  it('table: one row per candidate, winner marked, per-label Dice', () => {
    const withSummary = results.map((r, i) => ({
      ...r,
      summary: { foreground_mean: {} as never, metric_per_case: [], mean: { '1': { Dice: 0.5 + i / 10 } as never, '2': { Dice: NaN } as never } },
    }));
    const t = resultsTable(withSummary, 2, { '1': 'Anterior' }).split('\n');
    expect(t[0]).toMatch(/fg mean Dice\s+Dice Anterior \(1\)\s+Dice 2$/);
    expect(t[1]).toMatch(/^ +nnUNetTrainer__nnUNetPlans__2d +0\.8000 +0\.5000 +NaN$/);
    expect(t[3]).toMatch(/^\* +ensemble___.* +0\.8600 +0\.7000 +NaN$/);
  });
});

describe('findBestInMemory (the page path)', () => {
  // 1×1×10 volumes, two cases alike. ref: label 1 at 0-3, label 2 at 6-7.
  //   A: label 1 at 0-2 (FN at 3), label 2 at 6-7 and a stray 9: Dice1 = 6/7, Dice2 = 4/5, fg = 29/35
  //   B: label 1 exact, label 2 only at 6 (FN at 7):            Dice1 = 1,   Dice2 = 2/3, fg = 5/6
  const shape = [1, 1, 10];
  const ref = Uint8Array.from([1, 1, 1, 1, 0, 0, 2, 2, 0, 0]);
  const segA = Uint8Array.from([1, 1, 1, 0, 0, 0, 2, 2, 0, 2]);
  const segB = Uint8Array.from([1, 1, 1, 1, 0, 0, 2, 0, 0, 0]);
  /** 0.8 predicted / 0.1 others; where wrong: 0.6 predicted, 0.3 on the right class */
  const probs = (seg: Uint8Array) => {
    const d = new Float32Array(30).fill(0.1);
    for (let i = 0; i < 10; i++) {
      d[seg[i] * 10 + i] = seg[i] === ref[i] ? 0.8 : 0.6;
      if (seg[i] !== ref[i]) d[ref[i] * 10 + i] = 0.3;
    }
    return { data: d, shape: [3, ...shape] };
  };
  const refs = new Map([
    ['c1', { data: ref, shape }],
    ['c2', { data: ref.slice(), shape }],
  ]);
  const cv = (model: typeof m2d, seg: Uint8Array, withProbs = true) => ({
    model,
    cases: ['c2', 'c1'].map((id) => ({ id, segmentation: { data: seg.slice(), shape }, probabilities: withProbs ? probs(seg) : undefined })),
  });
  const opts = { folds: [0, 1], foregroundLabels: [1, 2] };

  it('ranks A < B, and the ensemble of their soft probabilities (exact) above both', () => {
    const r = findBestInMemory([cv(m2d, segA), cv(m3d, segB)], refs, opts);
    expect(r.results.map((x) => x.result)).toEqual([expect.closeTo(29 / 35, 12), expect.closeTo(5 / 6, 12), 1]);
    expect(r.results[0].summary!.mean['1'].Dice).toBeCloseTo(6 / 7, 12);
    expect(r.results[0].summary!.mean['2'].Dice).toBeCloseTo(4 / 5, 12);
    expect(r.bestIndex).toBe(2);
    expect(r.results[2].identifier).toBe(ensembleName(m2d, m3d, [0, 1]));
    expect(Array.from(r.bestPredictions[0].data)).toEqual(Array.from(ref));
    expect(r.postprocessing.pp.postprocessing_fns).toEqual([]);
  });

  it('without ensembles B wins; with A alone, per-label postprocessing removes the stray label-2 voxel', () => {
    const r = findBestInMemory([cv(m2d, segA), cv(m3d, segB)], refs, { ...opts, allowEnsembles: false });
    expect(r.results.length).toBe(2);
    expect(r.bestIndex).toBe(1);
    const a = findBestInMemory([cv(m2d, segA)], refs, opts);
    expect(a.postprocessing.pp.postprocessing_fns).toEqual([{ fn: 'remove_all_but_largest_component', labels_or_regions: 2, background_label: 0 }]);
    expect(a.postprocessing.after.foreground_mean.Dice).toBeCloseTo((6 / 7 + 1) / 2, 12);
  });

  it('missing probabilities skip the ensemble; mismatched case sets are an error', () => {
    const r = findBestInMemory([cv(m2d, segA, false), cv(m3d, segB)], refs, opts);
    expect(r.results.length).toBe(2);
    expect(r.skippedEnsembles[0].reason).toBe('no validation probabilities for nnUNetTrainer__nnUNetPlans__2d');
    const partial = { model: m3d, cases: cv(m3d, segB).cases.slice(0, 1) };
    expect(() => findBestInMemory([cv(m2d, segA), partial], refs, opts)).toThrow(/does not have the same validation cases/);
    expect(() => findBestInMemory([cv(m2d, segA)], new Map([['c1', refs.get('c1')!]]), opts)).toThrow(/no reference segmentation for case c2/);
  });
});

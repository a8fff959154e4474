import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test/sharedData.ts';
import {
  computeMetrics,
  keyToLabelOrRegion,
  labelOrRegionKey,
  nanmean,
  numpySum,
  parseSummaryJson,
  summarize,
  summaryToJson,
  type CaseMetrics,
  type LabelOrRegion,
} from './metrics.ts';
import { pyJsonDumps, pyJsonParse, pyFloat, pythonFloatRepr } from './pyjson.ts';

const fx = (name: string) => path.join(repoRoot, 'test/fixtures/postprocessing', name);

describe('computeMetrics (hand-computed)', () => {
  // ref  = 0 1 1 2 2 0 1 0
  // pred = 0 1 2 2 0 1 1 0
  const ref = new Uint8Array([0, 1, 1, 2, 2, 0, 1, 0]);
  const pred = new Uint8Array([0, 1, 2, 2, 0, 1, 1, 0]);
  it('labels 1, 2, absent 3 and region (1, 2)', () => {
    const m = computeMetrics(ref, pred, [1, 2, 3, [1, 2]]);
    // label 1: ref {1,2,6}, pred {1,5,6}: TP 2, FP 1, FN 1, TN 4
    expect(m['1']).toEqual({ Dice: 4 / 6, IoU: 0.5, FP: 1, TP: 2, FN: 1, TN: 4, n_pred: 3, n_ref: 3 });
    // label 2: ref {3,4}, pred {2,3}: TP 1, FP 1, FN 1, TN 5
    expect(m['2']).toEqual({ Dice: 0.5, IoU: 1 / 3, FP: 1, TP: 1, FN: 1, TN: 5, n_pred: 2, n_ref: 2 });
    // label 3 absent from both: 0/0 → NaN
    expect(m['3'].Dice).toBeNaN();
    expect(m['3'].IoU).toBeNaN();
    expect(m['3'].TN).toBe(8);
    // region {1,2}: ref {1,2,3,4,6}, pred {1,2,3,5,6}: TP 4, FP 1, FN 1, TN 2
    expect(m['(1, 2)']).toEqual({ Dice: 0.8, IoU: 4 / 6, FP: 1, TP: 4, FN: 1, TN: 2, n_pred: 5, n_ref: 5 });
  });
  it('ignore label: voxels marked in the reference are left out', () => {
    const r = new Uint8Array([3, 1, 1, 2, 2, 0, 1, 3]);
    const p = new Uint8Array([1, 1, 2, 2, 0, 1, 1, 1]);
    const m = computeMetrics(r, p, [1], 3);
    expect(m['1']).toEqual({ Dice: 4 / 6, IoU: 0.5, FP: 1, TP: 2, FN: 1, TN: 2, n_pred: 3, n_ref: 3 });
  });
  it('different voxel counts are an error naming the file', () => {
    expect(() => computeMetrics(ref, new Uint8Array(3), [1], null, 'case_1.nii.gz')).toThrow(/case_1.nii.gz/);
  });
});

describe('summary.json like Python writes it', () => {
  const inputs = JSON.parse(fs.readFileSync(fx('summary_python_cases.json'), 'utf8')) as {
    labels: LabelOrRegion[];
    ignore: number;
    cases: { name: string; reference: number[]; prediction: number[] }[];
  };
  const expected = fs.readFileSync(fx('summary_python.json'), 'utf8');
  it('byte-identical to numpy + json.dump(indent=4, sort_keys=True) for the same cases', () => {
    const cases: CaseMetrics[] = inputs.cases.map((c) => ({
      reference_file: `ref/${c.name}.nii.gz`,
      prediction_file: `pred/${c.name}.nii.gz`,
      metrics: computeMetrics(c.reference, c.prediction, inputs.labels, inputs.ignore),
    }));
    const s = summarize(cases, inputs.labels);
    expect(summaryToJson(s)).toBe(expected);
  });
  it('parses Python output back, NaN included', () => {
    const s = parseSummaryJson(expected);
    expect(s.metric_per_case[0].metrics['3'].Dice).toBeNaN();
    expect(s.mean['3'].Dice).toBe(0); // nanmean of [NaN, 0, NaN]
    expect(s.mean['(1, 2)'].TP).toBeCloseTo(8 / 3, 12);
    expect(summaryToJson(s).replace(/\.0\b/g, '')).toBe(expected.replace(/\.0\b/g, ''));
  });
});

describe('numpy-compatible reductions', () => {
  it('pairwise sum differs from naive summation the way numpy does', () => {
    // numpy: np.sum([0.1]*10) == 1.0 (pairwise with 8 accumulators) while sequential gives 0.9999999999999999
    const tenth = new Array(10).fill(0.1);
    expect(numpySum(tenth)).toBe(1.0);
    expect(tenth.reduce((a, b) => a + b, 0)).toBe(0.9999999999999999);
    // np.sum(np.arange(1000) * 0.1) == 49950.0 (recorded from numpy 1.24.2)
    const ar = Array.from({ length: 1000 }, (_, i) => i * 0.1);
    expect(numpySum(ar)).toBe(49950.0);
  });
  it('nanmean skips NaN; all-NaN gives NaN', () => {
    expect(nanmean([1, NaN, 2])).toBe(1.5);
    expect(nanmean([NaN, NaN])).toBeNaN();
  });
});

describe('label keys', () => {
  it('match Python str()', () => {
    expect(labelOrRegionKey(1)).toBe('1');
    expect(labelOrRegionKey([1, 2])).toBe('(1, 2)');
    expect(labelOrRegionKey([3])).toBe('(3,)');
    expect(keyToLabelOrRegion('(1, 2)')).toEqual([1, 2]);
    expect(keyToLabelOrRegion('(3,)')).toEqual([3]);
    expect(keyToLabelOrRegion('7')).toBe(7);
    expect(() => keyToLabelOrRegion('x')).toThrow();
  });
});

describe('Python json', () => {
  it('matches json.dumps(indent=4, sort_keys=True) output recorded from CPython 3.11', () => {
    const v = {
      b: [1, pyFloat(2), NaN],
      a: {
        x: 1e-5,
        y: pyFloat(1e16),
        z: pyFloat(-0),
        w: 0.1 + 0.2,
        v: 123456789.125,
        u: Infinity,
        t: -Infinity,
        s: 1.5e-300,
        r: pyFloat(2.5e22),
      },
      'é\n"q': [],
      e: {},
    };
    const py = `{
    "a": {
        "r": 2.5e+22,
        "s": 1.5e-300,
        "t": -Infinity,
        "u": Infinity,
        "v": 123456789.125,
        "w": 0.30000000000000004,
        "x": 1e-05,
        "y": 1e+16,
        "z": -0.0
    },
    "b": [
        1,
        2.0,
        NaN
    ],
    "e": {},
    "\\u00e9\\n\\"q": []
}`;
    expect(pyJsonDumps(v)).toBe(py);
    const back = pyJsonParse<Record<string, Record<string, number>>>(py);
    expect(back.a.t).toBe(-Infinity);
    expect(back.b[2]).toBeNaN();
    expect(Object.keys(back)).toContain('é\n"q');
  });
  it('float repr', () => {
    expect(pythonFloatRepr(0.0001)).toBe('0.0001');
    expect(pythonFloatRepr(2 / 3)).toBe('0.6666666666666666');
    expect(pythonFloatRepr(1e15)).toBe('1000000000000000.0');
    expect(pythonFloatRepr(1.25e15)).toBe('1250000000000000.0');
    expect(pythonFloatRepr(100)).toBe('100.0');
  });
  it('NaN inside strings is left alone', () => {
    expect(pyJsonParse<{ s: string; n: number }>('{"s": "NaN Infinity", "n": NaN}').s).toBe('NaN Infinity');
  });
});

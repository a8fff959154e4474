import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test/sharedData.ts';
import { generateCrossvalSplit, kfoldIndices, sortIdentifiers } from './splits.ts';

interface KFoldCase {
  ids: string[];
  seed: number;
  n_splits: number;
  splits: { train: string[]; val: string[] }[];
}
const fixture = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/planning/kfold_splits.json'), 'utf8')) as {
  cases: KFoldCase[];
};

// Recorded with sklearn's KFold(n_splits, shuffle=True, random_state) by scripts/fixtures/numpy_random.py,
// exactly as nnU-Net's utilities/crossval_split.py calls it.
describe('generateCrossvalSplit equals sklearn KFold (nnU-Net splits_final.json)', () => {
  for (const c of fixture.cases) {
    it(`${c.ids.length} cases, seed ${c.seed}, ${c.n_splits} folds (${c.ids[0]}…)`, () => {
      // give the ids unsorted: the function must sort them as nnU-Net does
      const shuffled = [...c.ids].reverse();
      expect(generateCrossvalSplit(shuffled, c.seed, c.n_splits)).toEqual(c.splits);
    });
  }

  it('folds partition the cases; sizes follow n // k (+1 for the first n % k)', () => {
    const folds = kfoldIndices(23, 5);
    expect(folds.map((f) => f.val.length)).toEqual([5, 5, 5, 4, 4]);
    const all = folds.flatMap((f) => f.val).sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 23 }, (_, i) => i));
    for (const f of folds) expect(f.train.length + f.val.length).toBe(23);
  });

  it('sorts by code point like numpy', () => {
    expect(sortIdentifiers(['b', 'B', 'a10', 'a9', 'A'])).toEqual(['A', 'B', 'a10', 'a9', 'b']);
  });

  it('rejects too few cases and duplicates', () => {
    expect(() => generateCrossvalSplit(['a', 'b', 'c'])).toThrow(/5 folds from 3 cases/);
    expect(() => generateCrossvalSplit(['a', 'a', 'b', 'c', 'd', 'e'])).toThrow(/unique/);
  });
});

// determine_postprocessing decisions on constructed cases where the right answer is known by hand.
import { describe, expect, it } from 'vitest';
import {
  applyPostprocessing,
  determinePostprocessing,
  parsePostprocessingJson,
  postprocessingToJson,
  REMOVE_ALL_BUT_LARGEST,
} from './postprocessing.ts';

const row = (v: number[]) => ({ data: new Uint8Array(v), shape: [1, 1, v.length] });
const kase = (ref: number[], pred: number[]) => ({ reference: row(ref), prediction: row(pred) });

describe('determinePostprocessing (nnU-Net rules)', () => {
  it('accepts foreground-as-one when the foreground Dice improves and no class worsens', () => {
    // a stray label-1 blob away from the main object: removing it helps label 1 and leaves label 2 alone
    const c = kase([1, 1, 1, 2, 2, 0, 0, 0, 0], [1, 1, 1, 2, 2, 0, 1, 1, 0]);
    const r = determinePostprocessing([c], { foregroundLabels: [1, 2] });
    expect(r.pp.postprocessing_fns).toEqual([
      { fn: REMOVE_ALL_BUT_LARGEST, labels_or_regions: [1, 2], background_label: 0 },
    ]);
    expect(r.before.mean['1'].Dice).toBeCloseTo(6 / 8, 12);
    expect(r.after.mean['1'].Dice).toBe(1);
    // per-label steps were tried on top of step 1 and changed nothing, so they were rejected (strictly better needed)
    expect(r.pp.considered!.map((s) => s.accepted)).toEqual([true, false, false]);
    expect(Array.from(r.postprocessed[0].data)).toEqual([1, 1, 1, 2, 2, 0, 0, 0, 0]);
  });

  it('rejects foreground-as-one when it deletes a class, then accepts the per-label step that helps', () => {
    // label 1 and label 2 are separate objects; a stray label-2 voxel at the end
    const c = kase([1, 1, 1, 1, 1, 0, 2, 2, 2, 0, 0], [1, 1, 1, 1, 1, 0, 2, 2, 2, 0, 2]);
    const r = determinePostprocessing([c], { foregroundLabels: [1, 2] });
    expect(r.pp.postprocessing_fns).toEqual([{ fn: REMOVE_ALL_BUT_LARGEST, labels_or_regions: 2, background_label: 0 }]);
    expect(r.pp.considered!.map((s) => s.accepted)).toEqual([false, false, true]);
    expect(r.pp.considered![0].dice_after).toBeLessThan(r.pp.considered![0].dice_before);
    expect(r.after.mean['2'].Dice).toBe(1);
    expect(r.before.mean['2'].Dice).toBeCloseTo(6 / 7, 12);
  });

  it('rejects foreground-as-one when the mean improves but one class gets worse', () => {
    // idx 0-5 label 1, 6-9 label 2 (touching), 11 a lone true label-2 voxel, 13-16 a false label-1 blob
    const ref = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 2, 0, 0, 0, 0, 0, 0];
    const pred = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 2, 0, 1, 1, 1, 1, 0];
    const r = determinePostprocessing([kase(ref, pred)], { foregroundLabels: [1, 2] });
    const [fg, l1, l2] = r.pp.considered!;
    // foreground mean would go from (0.75 + 1)/2 to (1 + 8/9)/2 — better — but label 2 drops from 1 to 8/9
    expect(fg.dice_before).toBeCloseTo(0.875, 12);
    expect(fg.dice_after).toBeCloseTo((1 + 8 / 9) / 2, 12);
    expect(fg.accepted).toBe(false);
    expect(l1.accepted).toBe(true); // label 1 alone: drop the false blob
    expect(l2.accepted).toBe(false); // label 2 alone would drop the lone true voxel
    expect(r.pp.postprocessing_fns).toEqual([{ fn: REMOVE_ALL_BUT_LARGEST, labels_or_regions: 1, background_label: 0 }]);
    expect(Array.from(r.postprocessed[0].data)).toEqual(ref);
  });

  it('single foreground label: only the foreground-as-one step is considered', () => {
    const r = determinePostprocessing([kase([1, 1, 0, 0], [1, 1, 0, 1])], { foregroundLabels: [1] });
    expect(r.pp.considered!.length).toBe(1);
    expect(r.pp.postprocessing_fns.length).toBe(1);
  });

  it('means are over all cases (NaN-aware): a case without the label does not block a decision', () => {
    const a = kase([1, 1, 0, 0, 0], [1, 1, 0, 0, 1]);
    const b = kase([0, 0, 0, 0, 0], [0, 0, 0, 0, 0]); // Dice NaN for label 1
    const r = determinePostprocessing([a, b], { foregroundLabels: [1] });
    expect(r.before.metric_per_case[1].metrics['1'].Dice).toBeNaN();
    expect(r.pp.postprocessing_fns.length).toBe(1);
    expect(r.after.mean['1'].Dice).toBe(1);
  });
});

describe('postprocessing.json', () => {
  it('round-trips and applies', () => {
    const c = kase([1, 1, 1, 1, 1, 0, 2, 2, 2, 0, 0], [1, 1, 1, 1, 1, 0, 2, 2, 2, 0, 2]);
    const r = determinePostprocessing([c], { foregroundLabels: [1, 2] });
    const text = postprocessingToJson(r.pp);
    expect(text).toContain('"fn": "remove_all_but_largest_component"');
    const back = parsePostprocessingJson(text);
    expect(back.postprocessing_fns).toEqual(r.pp.postprocessing_fns);
    expect(Array.from(applyPostprocessing(c.prediction, back).data)).toEqual([1, 1, 1, 1, 1, 0, 2, 2, 2, 0, 0]);
  });
  it("reads nnU-Net's layout (function names + kwargs)", () => {
    const nn = `{"postprocessing_fns": ["remove_all_but_largest_component_from_segmentation"],
                 "postprocessing_kwargs": [{"labels_or_regions": [1, 2]}],
                 "input_folder": {"foreground_mean": {"Dice": NaN}, "mean": {}}}`;
    const pp = parsePostprocessingJson(nn);
    expect(pp.postprocessing_fns).toEqual([{ fn: REMOVE_ALL_BUT_LARGEST, labels_or_regions: [1, 2], background_label: 0 }]);
    expect(pp.input_folder!.foreground_mean.Dice).toBeNaN();
  });
  it('rejects unknown functions and malformed steps, naming the file', () => {
    expect(() => parsePostprocessingJson('{"postprocessing_fns": [{"fn": "dilate", "labels_or_regions": 1}]}', 'pp.json')).toThrow(
      /pp.json.*dilate/,
    );
    expect(() => parsePostprocessingJson('{"postprocessing_fns": [{"fn": "remove_all_but_largest_component"}]}')).toThrow(
      /labels_or_regions/,
    );
    expect(() => parsePostprocessingJson('{nope')).toThrow(/not valid JSON/);
  });
  it('applying an empty list copies the input', () => {
    const s = row([1, 0, 1]);
    const o = applyPostprocessing(s, []);
    expect(o.data).not.toBe(s.data);
    expect(Array.from(o.data)).toEqual([1, 0, 1]);
  });
});

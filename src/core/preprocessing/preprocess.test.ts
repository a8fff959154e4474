import { describe, expect, it } from 'vitest';
import { loadArray, loadFloat, meta } from '../../../test/fixtures/preprocessing/load.ts';
import { exportPredictionToOriginal, preprocessCase, softmaxChannels } from './preprocess.ts';
import { inverseAxes, transposeArray, transposeImage } from './transpose.ts';
import type { Plans } from '../planning/plans.ts';
import type { Image } from '../types.ts';
import { SegStudioError } from '../errors.ts';

const c = meta.case;

function plansFor(): Plans {
  const kw = (order: number, isSeg: boolean) => ({ is_seg: isSeg, order, order_z: 0, force_separate_z: null });
  return {
    dataset_name: 'Dataset004_Hippocampus',
    plans_name: 'nnUNetPlans',
    original_median_spacing_after_transp: [1, 1, 1],
    original_median_shape_after_transp: [36, 50, 35],
    image_reader_writer: 'SimpleITKIO',
    transpose_forward: c.transpose_forward,
    transpose_backward: c.transpose_backward,
    configurations: {
      '3d_fullres': {
        data_identifier: 'nnUNetPlans_3d_fullres',
        preprocessor_name: 'DefaultPreprocessor',
        batch_size: 2,
        patch_size: [40, 56, 40],
        median_image_size_in_voxels: [36, 50, 35],
        spacing: c.config_spacing,
        normalization_schemes: ['ZScoreNormalization'],
        use_mask_for_norm: [true],
        resampling_fn_data: 'resample_data_or_seg_to_shape',
        resampling_fn_seg: 'resample_data_or_seg_to_shape',
        resampling_fn_probabilities: 'resample_data_or_seg_to_shape',
        resampling_fn_data_kwargs: kw(3, false),
        resampling_fn_seg_kwargs: kw(1, true),
        resampling_fn_probabilities_kwargs: kw(1, false),
        batch_dice: false,
      },
      '3d_alias': { inherits_from: '3d_fullres' } as never,
    },
    experiment_planner_used: 'ExperimentPlanner',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: {
      '0': { max: 1, mean: 0, median: 0, min: 0, percentile_00_5: 0, percentile_99_5: 1, std: 1 },
    },
  };
}

function caseImage(): Image {
  const img = loadArray(c.image);
  return { data: img.data as Float32Array, shape: [1, ...img.shape], properties: { format: 'nifti', spacing: c.spacing, fileName: 'hippocampus_003_0000.nii.gz' } };
}

describe('transpose', () => {
  it('matches numpy.transpose and round-trips', () => {
    // 2x3x4 array with value = its flat index; transpose [2, 0, 1]: out[i][j][k] = in[j][k][i]
    const a = Float32Array.from({ length: 24 }, (_, i) => i);
    const t = transposeArray(a, 1, [2, 3, 4], [2, 0, 1]);
    expect(t.shape).toEqual([4, 2, 3]);
    expect(t.data[1 * 6 + 1 * 3 + 2]).toBe(1 * 12 + 2 * 4 + 1);
    const back = transposeArray(t.data, 1, t.shape, inverseAxes([2, 0, 1]));
    expect(Array.from(back.data)).toEqual(Array.from(a));
    const im = transposeImage({ data: a, shape: [1, 2, 3, 4], properties: { format: 'nifti', spacing: [3, 2, 1] } }, [2, 0, 1]);
    expect(im.properties.spacing).toEqual([1, 3, 2]);
    expect(() => transposeArray(a, 1, [2, 3, 4], [0, 0, 1])).toThrow(SegStudioError);
  });
});

describe('preprocessCase vs the Python re-implementation of run_case_npy (real hippocampus region)', () => {
  const plans = plansFor();
  const lab = loadArray(c.label);
  const pre = preprocessCase(caseImage(), plans, '3d_fullres', { data: lab.data as Uint8Array, shape: lab.shape });
  it('records the properties nnU-Net records', () => {
    expect(pre.properties.shape_before_cropping).toEqual(c.shape_before_cropping);
    expect(pre.properties.bbox_used_for_cropping).toEqual(c.bbox);
    expect(pre.properties.shape_after_cropping_and_before_resampling).toEqual(c.shape_after_cropping);
    expect(pre.properties.shape_after_resampling).toEqual(c.new_shape);
    expect(pre.shape).toEqual([1, ...c.new_shape]);
    expect(pre.properties.spacing).toEqual(c.spacing);
  });
  it('data within 1e-4 of the range, segmentation identical', () => {
    const exp = loadFloat(c.data);
    let lo = Infinity;
    let hi = -Infinity;
    let maxd = 0;
    for (let i = 0; i < exp.length; i++) {
      lo = Math.min(lo, exp[i]);
      hi = Math.max(hi, exp[i]);
      maxd = Math.max(maxd, Math.abs(pre.data[i] - exp[i]));
    }
    expect(pre.data.length).toBe(exp.length);
    expect(maxd).toBeLessThanOrEqual(1e-4 * (hi - lo));
    const seg = loadArray(c.seg).data;
    let diff = 0;
    for (let i = 0; i < seg.length; i++) if (pre.seg![i] !== seg[i]) diff++;
    expect(diff).toBe(0);
    expect(pre.seg!.some((v) => v === -1)).toBe(true);
  });
  it('inherits_from configurations resolve; unknown configuration is a SegStudioError', () => {
    const again = preprocessCase(caseImage(), plans, '3d_alias');
    expect(again.shape).toEqual(pre.shape);
    expect(again.seg).toBeUndefined();
    const withMask = preprocessCase(caseImage(), plans, '3d_alias', undefined, { resampleMask: true });
    expect(withMask.seg!.length).toBe(pre.seg!.length);
    expect(withMask.seg!.some((v) => v === -1)).toBe(true);
    expect(withMask.seg!.every((v) => v === 0 || v === -1)).toBe(true);
    expect(() => preprocessCase(caseImage(), plans, '2d')).toThrow(/no configuration '2d'/);
  });
  it('reports progress per stage and honours cancellation', () => {
    const seen: string[] = [];
    preprocessCase(caseImage(), plans, '3d_fullres', undefined, { progress: (d, t, s) => seen.push(`${d}/${t} ${s}`) });
    expect(seen).toEqual(['0/5 transpose', '1/5 crop', '2/5 normalize', '3/5 resample', '4/5 resample segmentation', '5/5 done']);
    let calls = 0;
    const signal = { get aborted() { return ++calls > 2; } };
    expect(() => preprocessCase(caseImage(), plans, '3d_fullres', undefined, { signal })).toThrow(/cancelled/);
  });
});

describe('exportPredictionToOriginal vs nnU-Net export_prediction (Python re-implementation)', () => {
  const plans = plansFor();
  const pre = preprocessCase(caseImage(), plans, '3d_fullres');
  const logits = loadFloat(meta.export.logits);
  it('labels identical (>= 99.9 %) and probabilities on the original grid', () => {
    const out = exportPredictionToOriginal(logits, 3, pre.properties, plans, '3d_fullres', { saveProbabilities: true });
    const exp = loadArray(meta.export.labels);
    expect(out.labels.shape).toEqual(exp.shape);
    expect(out.labels.shape).toEqual(caseImage().shape.slice(1));
    expect(out.labels.data).toBeInstanceOf(Uint8Array);
    let same = 0;
    for (let i = 0; i < exp.data.length; i++) if (out.labels.data[i] === exp.data[i]) same++;
    expect(same / exp.data.length).toBeGreaterThanOrEqual(0.999);
    const p = out.probabilities!;
    const n = exp.data.length;
    const p1 = loadFloat(meta.export.prob1);
    let maxd = 0;
    for (let i = 0; i < n; i++) maxd = Math.max(maxd, Math.abs(p[n + i] - p1[i]));
    expect(maxd).toBeLessThan(1e-5);
    for (let ch = 0; ch < 3; ch++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += p[ch * n + i];
      expect(Math.abs(s - meta.export.prob_sums[ch])).toBeLessThan(1e-5 * n);
    }
    // outside the crop box: background probability 1
    expect(p[0]).toBe(1);
    expect(out.labels.data[0]).toBe(0);
    // without probabilities: the same labels
    const labelsOnly = exportPredictionToOriginal(logits, 3, pre.properties, plans, '3d_fullres');
    expect(labelsOnly.probabilities).toBeUndefined();
    expect(Array.from(labelsOnly.labels.data)).toEqual(Array.from(out.labels.data));
  });
  it('rejects logits of the wrong size', () => {
    expect(() => exportPredictionToOriginal(new Float32Array(5), 3, pre.properties, plans, '3d_fullres')).toThrow(SegStudioError);
  });
  it('softmax is normalized and order preserving', () => {
    const x = new Float32Array([1, 3, 2, 0, 0, 1000]);
    softmaxChannels(x, 3, 2);
    expect(x[0] + x[2] + x[4]).toBeCloseTo(1, 6);
    expect(x[2]).toBeGreaterThan(x[0]);
    expect(x[5]).toBe(1);
  });
});

describe('2D configuration on a real EM PNG region (spacing 999, 2-entry target spacing)', () => {
  const c2 = meta.case2d;
  it('keeps the first axis, resamples in-plane like nnU-Net', () => {
    const plans = plansFor();
    plans.transpose_forward = [0, 1, 2];
    plans.transpose_backward = [0, 1, 2];
    plans.configurations['2d'] = {
      ...plans.configurations['3d_fullres'],
      spacing: c2.config_spacing,
      patch_size: [64, 80],
      use_mask_for_norm: [false],
    };
    const img = loadArray(c2.image);
    const lab = loadArray(c2.label);
    const untouched = img.data.slice();
    const pre = preprocessCase(
      { data: img.data as Float32Array, shape: [1, ...img.shape], properties: { format: 'png', spacing: c2.spacing } },
      plans,
      '2d',
      { data: lab.data as Uint8Array, shape: lab.shape },
    );
    expect(pre.shape).toEqual([1, ...c2.new_shape]);
    // the caller's image is not modified (identity transpose, normalization works on the cropped copy)
    expect(img.data.every((v, i) => v === untouched[i])).toBe(true);
    expect(pre.properties.spacing_after_resampling).toEqual([999, ...c2.config_spacing]);
    expect(pre.properties.bbox_used_for_cropping).toEqual(c2.bbox);
    const exp = loadFloat(c2.data);
    let lo = Infinity;
    let hi = -Infinity;
    let maxd = 0;
    for (let i = 0; i < exp.length; i++) {
      lo = Math.min(lo, exp[i]);
      hi = Math.max(hi, exp[i]);
      maxd = Math.max(maxd, Math.abs(pre.data[i] - exp[i]));
    }
    expect(maxd).toBeLessThanOrEqual(1e-4 * (hi - lo));
    const seg = loadArray(c2.seg).data;
    let diff = 0;
    for (let i = 0; i < seg.length; i++) if (pre.seg![i] !== seg[i]) diff++;
    expect(diff).toBe(0);
  });
});

describe('region-based export (sigmoid + regions_class_order, hand-computed)', () => {
  it('later regions overwrite earlier ones where their probability > 0.5; outside the crop stays 0', () => {
    const plans = plansFor();
    plans.transpose_forward = [0, 1, 2];
    plans.transpose_backward = [0, 1, 2];
    plans.configurations['3d_fullres'].spacing = [1, 1, 1];
    const props = {
      spacing: [1, 1, 1],
      shape_before_cropping: [1, 2, 3],
      bbox_used_for_cropping: [[0, 1], [0, 2], [1, 3]] as [number, number][],
      shape_after_cropping_and_before_resampling: [1, 2, 2],
      shape_after_resampling: [1, 2, 2],
      spacing_after_resampling: [1, 1, 1],
      transpose_forward: [0, 1, 2],
      transpose_backward: [0, 1, 2],
      original_shape: [1, 2, 3],
    };
    // two regions (e.g. whole tumour -> label 1, core -> label 2), 4 voxels in the crop
    const logits = new Float32Array([5, 5, -5, 0.1, /* region 2 */ -5, 3, 3, -0.1]);
    const out = exportPredictionToOriginal(logits, 2, props, plans, '3d_fullres', { regionsClassOrder: [1, 2], saveProbabilities: true });
    // crop voxels at (0,0,1),(0,0,2),(0,1,1),(0,1,2)
    expect(Array.from(out.labels.data)).toEqual([0, 1, 2, 0, 2, 1]);
    expect(out.probabilities![0]).toBe(0);
    expect(out.probabilities![1]).toBeCloseTo(1 / (1 + Math.exp(-5)), 6);
  });
});

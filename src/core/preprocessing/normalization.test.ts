import { describe, expect, it } from 'vitest';
import { loadArray, loadFloat, meta } from '../../../test/fixtures/preprocessing/load.ts';
import {
  determineUseMaskForNorm,
  normalizationForChannelName,
  normalizeChannel,
  normalizeImage,
  numpyMeanStdFloat32,
  numpySumFloat32,
} from './normalization.ts';
import { SegStudioError } from '../errors.ts';

describe('channel name -> scheme (map_channel_name_to_normalization)', () => {
  it('maps the five names case-insensitively and defaults to ZScore', () => {
    expect(normalizationForChannelName('CT')).toBe('CTNormalization');
    expect(normalizationForChannelName('ct')).toBe('CTNormalization');
    expect(normalizationForChannelName('noNorm')).toBe('NoNormalization');
    expect(normalizationForChannelName('zscore')).toBe('ZScoreNormalization');
    expect(normalizationForChannelName('rescale_to_0_1')).toBe('RescaleTo01Normalization');
    expect(normalizationForChannelName('RGB_to_0_1')).toBe('RGBTo01Normalization');
    expect(normalizationForChannelName('T2')).toBe('ZScoreNormalization');
    expect(normalizationForChannelName('MRI')).toBe('ZScoreNormalization');
  });
  it('use_mask_for_norm only for ZScore when cropping shrank below 3/4', () => {
    expect(determineUseMaskForNorm('ZScoreNormalization', 0.5)).toBe(true);
    expect(determineUseMaskForNorm('ZScoreNormalization', 0.75)).toBe(false);
    expect(determineUseMaskForNorm('CTNormalization', 0.5)).toBe(false);
  });
});

describe('numpy float32 reductions (values recorded from numpy)', () => {
  it('sum/mean/std bit-identical to numpy across pairwise-block and 8192-buffer boundaries', () => {
    const all = Float32Array.from({ length: 70001 }, (_, i) => ((i * 7919) % 10007) / 3.7 - 1234.5);
    for (const c of meta.float32_sums.cases) {
      const x = all.subarray(0, c.n);
      expect(numpySumFloat32(x)).toBe(c.sum);
      const { mean, std } = numpyMeanStdFloat32(x.slice());
      expect(mean).toBe(c.mean);
      expect(std).toBe(c.std);
    }
  });
  for (const c of meta.normalization) {
    it(`${c.name}: mean/std and output identical to numpy`, () => {
      const x = loadFloat(c.input);
      const seg = c.use_mask ? Int16Array.from(x, (v) => (v > c.mask_threshold ? 0 : -1)) : undefined;
      if (c.scheme === 'ZScoreNormalization') {
        const vals = seg ? x.filter((_, i) => seg[i] >= 0) : x;
        const { mean, std } = numpyMeanStdFloat32(vals);
        expect(mean).toBe(c.mean);
        expect(std).toBe(c.std);
      }
      const out = normalizeChannel(x.slice(), c.scheme, { useMaskForNorm: c.use_mask, seg, intensityProperties: c.properties });
      const exp = loadArray(c.expected).data;
      let diff = 0;
      let maxd = 0;
      for (let i = 0; i < out.length; i++) {
        if (out[i] !== exp[i]) diff++;
        maxd = Math.max(maxd, Math.abs(out[i] - exp[i]));
      }
      expect(maxd).toBe(0);
      expect(diff).toBe(0);
      if (seg) for (let i = 0; i < x.length; i++) if (seg[i] < 0) expect(out[i]).toBe(x[i]);
    });
  }
});

describe('normalization schemes (hand-computed)', () => {
  it('RescaleTo01, RGBTo01, NoNormalization, constant image z-score', () => {
    expect(Array.from(normalizeChannel(new Float32Array([2, 4, 6]), 'RescaleTo01Normalization'))).toEqual([0, 0.5, 1]);
    expect(Array.from(normalizeChannel(new Float32Array([0, 51, 255]), 'RGBTo01Normalization'))).toEqual([0, 0.2, 1].map(Math.fround));
    expect(Array.from(normalizeChannel(new Float32Array([7, -3]), 'NoNormalization'))).toEqual([7, -3]);
    // std 0 -> divide by 1e-8: (5 - 5) / 1e-8 = 0
    expect(Array.from(normalizeChannel(new Float32Array([5, 5, 5]), 'ZScoreNormalization'))).toEqual([0, 0, 0]);
    // z-score of [1, 2, 3, 4]: mean 2.5, std sqrt(1.25)
    const z = normalizeChannel(new Float32Array([1, 2, 3, 4]), 'ZScoreNormalization');
    expect(z[0]).toBeCloseTo(-1.5 / Math.sqrt(1.25), 6);
  });
  it('CTNormalization clips to the percentiles before standardizing', () => {
    const p = { mean: 10, std: 20, percentile_00_5: -100, percentile_99_5: 200, median: 0, min: -1000, max: 1000 };
    const out = normalizeChannel(new Float32Array([-1000, 10, 30, 5000]), 'CTNormalization', { intensityProperties: p });
    expect(Array.from(out)).toEqual([-5.5, 0, 1, 9.5]);
  });
  it('errors are SegStudioErrors naming the problem', () => {
    expect(() => normalizeChannel(new Float32Array([300]), 'RGBTo01Normalization', { fileName: 'a.png' })).toThrow(/a\.png.*\[0, 255\]/);
    expect(() => normalizeChannel(new Float32Array([1]), 'CTNormalization')).toThrow(SegStudioError);
    expect(() => normalizeChannel(new Float32Array([1]), 'ZScoreNormalization', { useMaskForNorm: true })).toThrow(SegStudioError);
    expect(() => normalizeChannel(new Float32Array([1]), 'Bogus')).toThrow(/unknown normalization scheme/);
  });
  it('normalizeImage applies per-channel schemes with the channel\'s fingerprint', () => {
    const d = new Float32Array([1, 2, 3, 4, 100, 200, 300, 400]);
    const props = { '1': { mean: 0, std: 100, percentile_00_5: 0, percentile_99_5: 250, median: 0, min: 0, max: 0 } };
    normalizeImage(d, 2, undefined, ['RescaleTo01Normalization', 'CTNormalization'], [false, false], props);
    expect(Array.from(d)).toEqual([0, 1 / 3, 2 / 3, 1, 1, 2, 2.5, 2.5].map(Math.fround));
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataPath, describeWithData, repoRoot } from '../../../test/sharedData.ts';
import { niftiToImage, readNifti } from '../io/nifti.ts';
import type { Image, LabelMap } from '../types.ts';
import {
  aggregateFingerprint,
  analyzeCase,
  extractFingerprint,
  fingerprintToJson,
  meanF32,
  pairwiseSumF32,
  percentilesF32,
  stdF32,
  type DatasetFingerprint,
} from './fingerprint.ts';

interface FpFixture {
  case_ids: string[];
  total_samples: number;
  fingerprint: DatasetFingerprint;
  bboxes?: number[][][];
  fingerprint_text?: string;
}
// Computed by scripts/fixtures/numpy_plans.py with nnU-Net's own crop_to_nonzero and collect_foreground_intensities
// and the numpy aggregation of DatasetFingerprintExtractor.run.
const fixture = JSON.parse(
  fs.readFileSync(path.join(repoRoot, 'test/fixtures/planning/fingerprint_hippocampus.json'), 'utf8'),
) as Record<string, FpFixture>;

function loadCase(id: string): { image: Image; seg: LabelMap; fileName: string } {
  const imgFile = dataPath('Dataset004_Hippocampus', 'imagesTr', `${id}_0000.nii.gz`);
  const segFile = dataPath('Dataset004_Hippocampus', 'labelsTr', `${id}.nii.gz`);
  const image = niftiToImage(readNifti(fs.readFileSync(imgFile), imgFile), imgFile);
  const segImg = niftiToImage(readNifti(fs.readFileSync(segFile), segFile), segFile);
  return { image, seg: { data: Int16Array.from(segImg.data), shape: segImg.shape.slice(1) }, fileName: imgFile };
}

describeWithData('fingerprint of real hippocampus cases equals nnU-Net', () => {
  for (const key of ['twenty_1e6', 'six_1e8']) {
    it(`${key}`, async () => {
      const fx = fixture[key];
      const fp = await extractFingerprint(
        { caseIds: [...fx.case_ids].reverse(), numChannels: 1, load: async (id) => loadCase(id) },
        { numForegroundVoxels: fx.total_samples },
      );
      expect(fp.spacings).toEqual(fx.fingerprint.spacings);
      expect(fp.shapes_after_crop).toEqual(fx.fingerprint.shapes_after_crop);
      expect(fp.median_relative_size_after_cropping).toBe(fx.fingerprint.median_relative_size_after_cropping);
      // bit-exact: same RandomState draws, float32 pairwise sums, numpy percentile interpolation
      expect(fp.foreground_intensity_properties_per_channel).toEqual(fx.fingerprint.foreground_intensity_properties_per_channel);
      if (fx.fingerprint_text) expect(fingerprintToJson(fp)).toBe(fx.fingerprint_text);
    }, 120_000);
  }

  it('all 190 cases: geometry', async () => {
    const fx = fixture.all_geometry;
    const cases = fx.case_ids.map((id) => {
      const { image, seg } = loadCase(id);
      return analyzeCase(image, seg, 1);
    });
    const fp = aggregateFingerprint(cases, 1);
    expect(fp.spacings).toEqual(fx.fingerprint.spacings);
    expect(fp.shapes_after_crop).toEqual(fx.fingerprint.shapes_after_crop);
    expect(fp.median_relative_size_after_cropping).toBe(fx.fingerprint.median_relative_size_after_cropping);
  }, 120_000);
});

describe('streaming pooled statistics equal the materialized samples', () => {
  function synthCase(seed: number, channels: number, shape: number[], fgFrac: number): { image: Image; seg: LabelMap } {
    let x = seed;
    const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const n = shape[0] * shape[1] * shape[2];
    const data = new Float32Array(channels * n);
    for (let i = 0; i < data.length; i++) data[i] = Math.fround(1 + rnd() * 1000);
    const seg = new Uint8Array(n);
    for (let i = 0; i < n; i++) seg[i] = rnd() < fgFrac ? 1 + (i % 2) : 0;
    return { image: { data, shape: [channels, ...shape], properties: { format: 'nifti', spacing: [1, 1, 1] } }, seg: { data: seg, shape } };
  }
  for (const [label, total] of [
    ['foreground-value mode (few foreground voxels)', 200000],
    ['sample mode (many foreground voxels)', 3000],
    ['mixed', 9000],
  ] as const) {
    it(label, async () => {
      const cases = [synthCase(1, 2, [6, 7, 8], 0.3), synthCase(2, 2, [5, 9, 9], 0.05), synthCase(3, 2, [4, 4, 4], 0), synthCase(4, 2, [9, 9, 9], 0.6)];
      const ids = ['a', 'b', 'c', 'd'];
      const fp = await extractFingerprint({ caseIds: ids, numChannels: 2, load: async (id) => cases[ids.indexOf(id)] }, { numForegroundVoxels: total });
      const per = Math.floor(total / 4);
      const ref = aggregateFingerprint(cases.map((c) => analyzeCase(c.image, c.seg, per)), 2);
      expect(fp).toEqual(ref);
    });
  }
});

describe('numpy float32 statistics (hand-computed)', () => {
  it('pairwise sum follows numpy blocking, not sequential order', () => {
    // 1e8 + 1 + 1 … sequentially in float32 loses every 1; numpy's 8 accumulators keep them apart too,
    // but the < 8 path is sequential: [2^24, 1, 1] → 2^24 (each +1 rounds away)
    expect(pairwiseSumF32(Float32Array.from([2 ** 24, 1, 1]))).toBe(2 ** 24);
    // 16 values: accumulators r0 = 2^24 + 1 → 2^24, r1 = 1 + 1 = 2, ... total = 2^24 + 14 + 0 (r0 lost its 1)
    const a = new Float32Array(16).fill(1);
    a[0] = 2 ** 24;
    expect(pairwiseSumF32(a)).toBe(2 ** 24 + 14);
  });

  it('mean / std / percentiles of a small float32 array', () => {
    const a = Float32Array.from([1, 2, 3, 4]);
    expect(meanF32(a)).toBe(2.5);
    expect(stdF32(a)).toBe(Math.fround(Math.sqrt(1.25)));
    expect(percentilesF32(Float32Array.from([4, 1, 3, 2]), [0.5, 50, 99.5])).toEqual([
      1 + 0.015, // idx 0.015 between 1 and 2
      2.5,
      4 - 1 * (1 - 0.985), // idx 2.985 → from the upper end
    ]);
  });

  it('a case without foreground contributes no samples', () => {
    const image: Image = { data: new Float32Array(8).fill(5), shape: [1, 2, 2, 2], properties: { format: 'nifti', spacing: [1, 2, 3] } };
    const seg: LabelMap = { data: new Uint8Array(8), shape: [2, 2, 2] };
    const r = analyzeCase(image, seg, 10);
    expect(r.samples[0].length).toBe(0);
    expect(r.shapeAfterCrop).toEqual([2, 2, 2]);
    const fp = aggregateFingerprint([r], 1);
    expect(Number.isNaN(fp.foreground_intensity_properties_per_channel['0'].mean)).toBe(true);
  });

  it('rejects NaN images naming the file', () => {
    const image: Image = { data: Float32Array.from([1, NaN]), shape: [1, 1, 1, 2], properties: { format: 'nifti', spacing: [1, 1, 1] } };
    expect(() => analyzeCase(image, { data: new Uint8Array(2), shape: [1, 1, 2] }, 1, 'x.nii.gz')).toThrow(/x.nii.gz: image contains NaN/);
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test/sharedData.ts';
import { PatchSampler, sampleClassLocations, type TrainingCase } from './sampler.ts';

const ref = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/planning/augment_reference.json'), 'utf8'));

describe('class locations equal nnU-Net _sample_foreground_locations', () => {
  it('labels, a region and an absent label (seed 1234)', () => {
    const cl = ref.class_locations;
    const b = Buffer.from(cl.seg, 'base64');
    const seg = new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    const got = sampleClassLocations(seg, cl.classes);
    expect(Object.keys(got)).toEqual(Object.keys(cl.locations));
    for (const k of Object.keys(cl.locations)) expect(Array.from(got[k]), k).toEqual(cl.locations[k]);
    expect(got['1'].length).toBe(10000); // capped
    expect(got['2'].length).toBe(80); // all of them
  });
});

function makeCase(id: string, shape: number[], fgBox: number[][] | null): TrainingCase {
  const n = shape[0] * shape[1] * shape[2];
  const data = new Float32Array(n);
  const seg = new Int16Array(n);
  for (let i = 0; i < n; i++) data[i] = i;
  if (fgBox)
    for (let z = fgBox[0][0]; z < fgBox[0][1]; z++)
      for (let y = fgBox[1][0]; y < fgBox[1][1]; y++)
        for (let x = fgBox[2][0]; x < fgBox[2][1]; x++) seg[(z * shape[1] + y) * shape[2] + x] = 1;
  return { id, data, seg, channels: 1, shape, classLocations: sampleClassLocations(seg, [1]) };
}

describe('PatchSampler (nnUNetDataLoader)', () => {
  it('forces foreground for the last samples: i >= round(bs · 0.67)', () => {
    const s = new PatchSampler([makeCase('a', [20, 20, 20], [[1, 3], [1, 3], [1, 3]])], { batchSize: 9, patchSize: [8, 8, 8], finalPatchSize: [8, 8, 8] });
    const b = s.nextBatch();
    expect(b.forcedForeground).toEqual([false, false, false, false, false, false, true, true, true]);
    const s2 = new PatchSampler(s.cases, { batchSize: 2, patchSize: [8, 8, 8], finalPatchSize: [8, 8, 8] });
    expect(s2.nextBatch().forcedForeground).toEqual([false, true]); // round(1.34) = 1
  });

  it('forced samples contain foreground; the foreground fraction over many batches is ≈ 33 % + chance', () => {
    // a tiny foreground box in a large volume: random patches rarely hit it
    const c = makeCase('a', [40, 40, 40], [[30, 32], [5, 7], [20, 22]]);
    const s = new PatchSampler([c], { batchSize: 3, patchSize: [8, 8, 8], finalPatchSize: [8, 8, 8], seed: 7 });
    let withFg = 0;
    let total = 0;
    let forcedWithoutFg = 0;
    for (let it = 0; it < 300; it++) {
      const b = s.nextBatch();
      for (let j = 0; j < 3; j++) {
        const patch = b.seg.subarray(j * 512, (j + 1) * 512);
        const has = patch.some((v) => v > 0);
        total++;
        if (has) withFg++;
        if (b.forcedForeground[j] && !has) forcedWithoutFg++;
      }
    }
    expect(forcedWithoutFg).toBe(0);
    const frac = withFg / total;
    // 1/3 forced + a small chance for the others (box 2³ in 40³ with 8³ patches: ≈ (9·9·9)/(33³) ≈ 2 %)
    expect(frac).toBeGreaterThan(0.33);
    expect(frac).toBeLessThan(0.33 + 0.06);
  });

  it('pads beyond the image: data 0, seg -1; patch larger than the image is centred by need_to_pad', () => {
    const c = makeCase('small', [4, 5, 6], null);
    const s = new PatchSampler([c], { batchSize: 1, patchSize: [8, 8, 8], finalPatchSize: [8, 8, 8], oversampleForegroundPercent: 0 });
    const b = s.nextBatch();
    // need_to_pad = patch − shape → lbs = −need//2 … ubs = lbs (only one position possible)
    expect(b.bboxes[0]).toEqual([[-2, 6], [-2, 6], [-1, 7]]);
    // voxel (0,0,0) of the case lands at (2,2,1) of the patch
    expect(b.data[(2 * 8 + 2) * 8 + 1]).toBe(0 + 0);
    expect(b.seg[(2 * 8 + 2) * 8 + 1]).toBe(0);
    expect(b.seg[0]).toBe(-1);
    expect(b.data[(3 * 8 + 2) * 8 + 1]).toBe(30); // case voxel (1,0,0) = 1·5·6
    expect(Array.from(b.seg).filter((v) => v === 0).length).toBe(4 * 5 * 6);
  });

  it('2D configurations sample one slice: patch [1, X, Y] returned as [X, Y]', () => {
    const c = makeCase('img', [5, 16, 16], [[2, 3], [4, 6], [4, 6]]);
    const s = new PatchSampler([c], { batchSize: 3, patchSize: [8, 8], finalPatchSize: [8, 8], seed: 3 });
    const b = s.nextBatch();
    expect(b.patchShape).toEqual([8, 8]);
    expect(b.data.length).toBe(3 * 64);
    // the forced sample's slice is the foreground slice
    expect(b.bboxes[2][0]).toEqual([2, 3]);
  });

  it('is deterministic for a seed', () => {
    const c = makeCase('a', [20, 20, 20], [[5, 9], [5, 9], [5, 9]]);
    const a = new PatchSampler([c], { batchSize: 4, patchSize: [8, 8, 8], finalPatchSize: [8, 8, 8], seed: 1 }).nextBatch();
    const b = new PatchSampler([c], { batchSize: 4, patchSize: [8, 8, 8], finalPatchSize: [8, 8, 8], seed: 1 }).nextBatch();
    expect(a.bboxes).toEqual(b.bboxes);
    expect(a.data).toEqual(b.data);
  });
});

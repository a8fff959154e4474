import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test/sharedData.ts';
import {
  affine2d,
  affine3d,
  augmentSample,
  blurAxis,
  configureAugmentation,
  contrastChannel,
  flipAxis,
  gammaChannel,
  getInitialPatchSize,
  sampleLinear,
  simulateLowResolution,
  spatialTransform,
  type Sample,
} from './augment.ts';
import { RandomState } from './random.ts';

// Outputs of batchgeneratorsv2's own transforms (the ones nnU-Net v2 trains with), run with fixed parameters by
// scripts/fixtures/numpy_augment.py, plus scipy.ndimage.map_coordinates.
const ref = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/planning/augment_reference.json'), 'utf8'));
const f32 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const i16 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('spatial transform equals batchgeneratorsv2 SpatialTransform', () => {
  ref.spatial.forEach((c: Record<string, unknown>, k: number) => {
    it(`case ${k}: shape [${c.shape}] → patch [${c.patch}]${c.affine ? ' rotated/scaled' : ' crop only'}`, () => {
      const shape = c.shape as number[];
      const patch = c.patch as number[];
      const A = c.affine ? (shape.length === 3 ? affine3d(c.angles as number[], c.scales as number[]) : affine2d((c.angles as number[])[1], c.scales as number[])) : null;
      if (A) expect(maxAbsDiff(A.flat(), (c.affine as number[][]).flat())).toBeLessThan(1e-12);
      const out = spatialTransform({ image: f32(c.image as string), seg: i16(c.seg as string), channels: 2, shape }, patch, A);
      // torch computes the grid in float32: allow float32-level differences in intensities
      expect(maxAbsDiff(out.image, f32(c.out_image as string))).toBeLessThan(2e-3);
      const expSeg = i16(c.out_seg as string);
      let mismatches = 0;
      for (let i = 0; i < expSeg.length; i++) if (out.seg[i] !== expSeg[i]) mismatches++;
      // labels can only differ where float32 rounding decides a tie
      expect(mismatches).toBeLessThanOrEqual(Math.ceil(expSeg.length * 0.002));
      expect(new Set(out.seg)).toEqual(new Set(expSeg));
    });
  });

  it('linear sampling equals scipy map_coordinates(order=1, mode="grid-constant")', () => {
    const m = ref.map_coordinates;
    const coords = (m.coords as number[][]).map((r) => Float64Array.from(r));
    const out = new Float64Array(coords[0].length);
    sampleLinear(m.volume, m.shape, coords, out);
    expect(maxAbsDiff(out, m.values)).toBeLessThan(1e-12);
  });
});

describe('intensity transforms equal batchgeneratorsv2', () => {
  it('Gaussian blur (separable, reflect padding, truncate 6)', () => {
    const x = f32(ref.blur.input);
    ref.blur.sigmas.forEach((s: number, d: number) => blurAxis(x, ref.blur.shape, d, s));
    expect(maxAbsDiff(x, f32(ref.blur.output))).toBeLessThan(1e-5);
  });
  it('simulate low resolution (nearest-exact down, trilinear up)', () => {
    const x = f32(ref.lowres.input);
    simulateLowResolution(x, ref.lowres.shape, [0.6, 0.6, 0.6].map(Math.fround));
    expect(maxAbsDiff(x, f32(ref.lowres.output))).toBeLessThan(1e-5);
  });
  it('gamma with inversion and retained statistics', () => {
    const a = f32(ref.gamma.input);
    gammaChannel(a, Math.fround(1.3), true, true);
    expect(maxAbsDiff(a, f32(ref.gamma.inverted_1_3))).toBeLessThan(1e-4);
    const b = f32(ref.gamma.input);
    gammaChannel(b, Math.fround(0.8), false, true);
    expect(maxAbsDiff(b, f32(ref.gamma.plain_0_8))).toBeLessThan(1e-4);
  });
  it('contrast with preserved range', () => {
    const x = f32(ref.contrast.input);
    contrastChannel(x, Math.fround(1.2));
    expect(maxAbsDiff(x, f32(ref.contrast.output))).toBeLessThan(1e-4);
  });
});

function randomSample(rs: RandomState, channels: number, shape: number[]): Sample {
  const n = shape.reduce((a, b) => a * b, 1);
  const image = new Float32Array(channels * n);
  for (let i = 0; i < image.length; i++) image[i] = rs.normal();
  const seg = new Int16Array(n);
  for (let i = 0; i < n; i++) seg[i] = rs.randint(0, 3);
  return { image, seg, channels, shape };
}

describe('augmentation invariants', () => {
  it('initial patch size and rotation setup as nnU-Net configures them', () => {
    // 2D [56, 40]: ratio 1.4 → ±180°, rotated by 90° → [40, 56]; max with the patch → [56, 56]; / 0.85 → 65
    expect(configureAugmentation([56, 40])).toMatchObject({ doDummy2D: false, initialPatchSize: [65, 65], mirrorAxes: [0, 1] });
    // 2D [512, 256]: ratio 2 → ±15°: rotating [512, 256] by 15°: |512c + 256s|, |−512s + 256c| → 560.8…, 114.…
    const c = Math.cos((15 * Math.PI) / 180);
    const s = Math.sin((15 * Math.PI) / 180);
    expect(getInitialPatchSize([512, 256], (15 * Math.PI) / 180)).toEqual([Math.trunc((512 * c + 256 * s) / 0.85), Math.trunc(256 / 0.85)]);
    // anisotropic 3D patch → dummy 2D, axis 0 keeps its size
    const a = configureAugmentation([12, 256, 224]);
    expect(a.doDummy2D).toBe(true);
    expect(a.initialPatchSize[0]).toBe(12);
    expect(configureAugmentation([40, 56, 40]).doDummy2D).toBe(false);
  });

  it('mirroring twice is the identity; rotation 0 / scale 1 equals the centre crop', () => {
    const rs = new RandomState(3);
    const s = randomSample(rs, 2, [7, 6, 5]);
    const img = s.image.slice();
    flipAxis(img, 2, s.shape, 1);
    expect(img).not.toEqual(s.image);
    flipAxis(img, 2, s.shape, 1);
    expect(img).toEqual(s.image);
    // identity affine: x = i + (S − P)/2 is an integer grid when S − P is even → exact copy of the crop
    const crop = spatialTransform(s, [5, 4, 3], null);
    const viaGrid = spatialTransform(s, [5, 4, 3], affine3d([0, 0, 0], [1, 1, 1]));
    expect(maxAbsDiff(viaGrid.image, crop.image)).toBeLessThan(1e-6);
    expect(viaGrid.seg).toEqual(crop.seg);
  });

  it('labels stay a subset of the input labels; -1 padding becomes 0; deterministic for a seed', () => {
    const rs = new RandomState(11);
    const base = randomSample(rs, 1, [30, 30, 30]);
    const setup = configureAugmentation([20, 20, 20]);
    const run = (seed: number) =>
      augmentSample(base, new RandomState(seed), {
        patchSize: [20, 20, 20],
        setup,
        params: { pRotation: 1, pScaling: 1, pNoise: 1, pBlur: 1, pBrightness: 1, pContrast: 1, pLowRes: 1, pInvertedGamma: 1, pGamma: 1 },
      });
    const a = run(5);
    const b = run(5);
    expect(a.sample.image).toEqual(b.sample.image);
    expect(a.sample.seg).toEqual(b.sample.seg);
    expect(a.record.rotated && a.record.scaled).toBe(true);
    for (const v of new Set(a.sample.seg)) expect([0, 1, 2]).toContain(v);
    expect(a.sample.shape).toEqual([20, 20, 20]);
    expect(Array.from(a.sample.image).every(Number.isFinite)).toBe(true);
  });

  it('probabilities: over many samples each transform fires about as often as nnU-Net says', () => {
    const rs = new RandomState(1);
    const base = randomSample(rs, 1, [10, 10, 10]);
    const setup = { ...configureAugmentation([8, 8, 8]), initialPatchSize: [10, 10, 10] };
    const counts: Record<string, number> = { rotated: 0, scaled: 0, noise: 0, blur: 0, brightness: 0, contrast: 0, lowRes: 0, invertedGamma: 0, gamma: 0, mirror0: 0 };
    const N = 1500;
    const rng = new RandomState(99);
    for (let i = 0; i < N; i++) {
      const r = augmentSample(base, rng, { patchSize: [8, 8, 8], setup }).record;
      for (const k of Object.keys(counts)) if (k !== 'mirror0' && (r as unknown as Record<string, boolean>)[k]) counts[k]++;
      if (r.mirrored.includes(0)) counts.mirror0++;
    }
    const expected: Record<string, number> = { rotated: 0.2, scaled: 0.2, noise: 0.1, blur: 0.2, brightness: 0.15, contrast: 0.15, lowRes: 0.25, invertedGamma: 0.1, gamma: 0.3, mirror0: 0.5 };
    for (const [k, p] of Object.entries(expected)) {
      const sd = Math.sqrt((p * (1 - p)) / N);
      expect(Math.abs(counts[k] / N - p), k).toBeLessThan(4 * sd);
    }
  });

  it('dummy 2D equals the 2D transform of every slice (image and labels)', () => {
    const rs = new RandomState(21);
    const base = randomSample(rs, 2, [4, 20, 18]);
    const setup = { ...configureAugmentation([4, 12, 12]), doDummy2D: true, initialPatchSize: [4, 20, 18] };
    const none = { pNoise: 0, pBlur: 0, pBrightness: 0, pContrast: 0, pLowRes: 0, pInvertedGamma: 0, pGamma: 0, pMirrorPerAxis: 0 };
    const out = augmentSample(base, new RandomState(2), { patchSize: [4, 12, 12], setup, params: { ...none, pRotation: 1, pScaling: 1 } });
    const A = affine2d(out.record.angles[1], [out.record.scale, out.record.scale]);
    for (let c = 0; c < 2; c++)
      for (let z = 0; z < 4; z++) {
        const n = 20 * 18;
        const slice: Sample = {
          image: base.image.slice((c * 4 + z) * n, (c * 4 + z + 1) * n),
          seg: base.seg.slice(z * n, (z + 1) * n),
          channels: 1,
          shape: [20, 18],
        };
        const ref2 = spatialTransform(slice, [12, 12], A);
        expect(out.sample.image.subarray((c * 4 + z) * 144, (c * 4 + z + 1) * 144)).toEqual(ref2.image);
        const seg = Int16Array.from(ref2.seg, (v) => (v === -1 ? 0 : v));
        expect(out.sample.seg.subarray(z * 144, (z + 1) * 144)).toEqual(seg);
      }
  });

  it('dummy 2D keeps axis 0 untouched by rotation (each slice transformed on its own)', () => {
    const rs = new RandomState(4);
    const shape = [3, 24, 24];
    const base = randomSample(rs, 1, shape);
    // make slice 1 constant: a 2D rotation of a constant slice stays constant inside the image
    const n2 = 24 * 24;
    base.image.fill(7, n2, 2 * n2);
    const setup = { ...configureAugmentation([3, 16, 16]), doDummy2D: true, initialPatchSize: [3, 24, 24] };
    const out = augmentSample(base, new RandomState(8), {
      patchSize: [3, 16, 16],
      setup,
      params: { pRotation: 1, pScaling: 0, pNoise: 0, pBlur: 0, pBrightness: 0, pContrast: 0, pLowRes: 0, pInvertedGamma: 0, pGamma: 0, pMirrorPerAxis: 0 },
    });
    expect(out.record.angles.length).toBe(2);
    const mid = out.sample.image.subarray(256, 512);
    // centre voxel of the slice is always inside: stays 7
    expect(mid[8 * 16 + 8]).toBeCloseTo(7, 5);
  });
});

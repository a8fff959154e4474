import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test/sharedData.ts';
import { OnnxGraphBuilder } from './onnx/builder.ts';
import { functionRunner, type NetworkRunner } from './runner.ts';
import { computeSteps, flip3, gaussianImportanceMap, mirrorCombinations, predictSlidingWindow } from './slidingWindow.ts';
import { createOrtNodeRunner } from '../../node/ortNodeRunner.ts';

interface GaussCase {
  patch_size: number[];
  values: number[];
}
const gaussFixture = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/inference/gaussian_scipy.json'), 'utf8')) as { cases: GaussCase[] };

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** pointwise affine network: out[k] = Σ_c w[k][c]·x[c] + b[k] (mirror- and translation-equivariant) */
function pointwise(w: number[][], b: number[]): NetworkRunner {
  return functionRunner((x, shape) => {
    const C = shape[1];
    const vol = x.length / C;
    const K = w.length;
    const out = new Float32Array(K * vol);
    for (let k = 0; k < K; k++) for (let i = 0; i < vol; i++) {
      let v = b[k];
      for (let c = 0; c < C; c++) v += w[k][c] * x[c * vol + i];
      out[k * vol + i] = v;
    }
    return { data: out, shape: [1, K, ...shape.slice(2)] };
  });
}

function applyPointwise(data: Float32Array, C: number, w: number[][], b: number[]): Float32Array {
  const vol = data.length / C;
  const out = new Float32Array(w.length * vol);
  for (let k = 0; k < w.length; k++) for (let i = 0; i < vol; i++) {
    let v = b[k];
    for (let c = 0; c < C; c++) v += w[k][c] * data[c * vol + i];
    out[k * vol + i] = v;
  }
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('computeSteps (nnU-Net compute_steps_for_sliding_window)', () => {
  it('matches hand-computed positions', () => {
    // 110 / 64 / 0.5: n = ceil(46/32)+1 = 3, step 23 (the example in nnU-Net's comment)
    expect(computeSteps([110], [64], 0.5)).toEqual([[0, 23, 46]]);
    // image == patch → a single tile at 0
    expect(computeSteps([64, 64], [64, 64], 0.5)).toEqual([[0], [0]]);
    // 129 / 64: n = ceil(65/32)+1 = 4, step 65/3 = 21.67 → 0, 22, 43, 65
    expect(computeSteps([129], [64], 0.5)).toEqual([[0, 22, 43, 65]]);
    // 13 / 8: n = ceil(5/4)+1 = 3, step 2.5 → np.round(2.5) = 2 (half to even), 5
    expect(computeSteps([13], [8], 0.5)).toEqual([[0, 2, 5]]);
    // step 1: n = ceil(72/128)+1 = 2 → 0, 72 ; step 0.25: n = ceil(72/32)+1 = 4, 24 apart
    expect(computeSteps([200], [128], 1)).toEqual([[0, 72]]);
    expect(computeSteps([200], [128], 0.25)).toEqual([[0, 24, 48, 72]]);
    // anisotropic 3D
    expect(computeSteps([20, 160, 100], [20, 64, 96], 0.5)).toEqual([[0], [0, 32, 64, 96], [0, 4]]);
  });
  it('refuses bad step sizes and images smaller than the patch', () => {
    expect(() => computeSteps([10], [8], 0)).toThrow(/step size/);
    expect(() => computeSteps([10], [8], 1.5)).toThrow(/step size/);
    expect(() => computeSteps([6], [8], 0.5)).toThrow(/smaller than patch/);
  });
});

describe('gaussianImportanceMap vs scipy.ndimage.gaussian_filter (fixture)', () => {
  for (const c of gaussFixture.cases) {
    it(`patch [${c.patch_size}]`, () => {
      const g = gaussianImportanceMap(c.patch_size);
      expect(g.length).toBe(c.values.length);
      for (let i = 0; i < g.length; i++) expect(Math.abs(g[i] - c.values[i])).toBeLessThanOrEqual(1e-6 * Math.max(c.values[i], 1e-3));
      expect(Math.max(...g)).toBeCloseTo(10, 5);
    });
  }
  it('replaces zeros by the smallest non-zero value', () => {
    // σ = 9/40 → radius 1: only the centre and its neighbours are non-zero before the replacement
    const g = gaussianImportanceMap([9], 1 / 40);
    const e = Math.exp(-0.5 / (0.225 * 0.225)); // neighbour / centre
    expect(g[4]).toBeCloseTo(10, 5);
    expect(g[3]).toBeCloseTo(10 * e, 6);
    for (const i of [0, 1, 2, 6, 7, 8]) expect(g[i]).toBe(g[3]);
  });
});

describe('mirroring helpers', () => {
  it('lists every non-empty combination in itertools order', () => {
    expect(mirrorCombinations([0, 1, 2])).toEqual([[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]]);
    expect(mirrorCombinations([0, 1])).toEqual([[0], [1], [0, 1]]);
    expect(mirrorCombinations([])).toEqual([]);
  });
  it('flip3 flips the requested axes', () => {
    const src = Float32Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => i); // [C=2, 2, 2, 3]
    const dst = new Float32Array(src.length);
    flip3(src, dst, 2, [2, 2, 3], [2]);
    expect([...dst.slice(0, 6)]).toEqual([2, 1, 0, 5, 4, 3]);
    flip3(src, dst, 2, [2, 2, 3], [0, 1]);
    expect([...dst.slice(12, 18)]).toEqual([21, 22, 23, 18, 19, 20]);
  });
});

describe('predictSlidingWindow', () => {
  const w = [
    [1.5, -0.5],
    [-1, 2],
    [0.25, 0.75],
  ];
  const b = [0.1, -0.2, 0.3];

  it('weights overlapping tiles by the Gaussian (hand-computed 1-D case)', async () => {
    // image [1,1,1,6], patch [1,1,4], step 0.5 → tiles at x = 0 and 2; the network answers 10 then 20
    let call = 0;
    const net = functionRunner((x, shape) => ({ data: new Float32Array(4).fill(++call === 1 ? 10 : 20), shape: [1, 1, ...shape.slice(2)] }));
    const r = await predictSlidingWindow(new Float32Array(6), [1, 1, 1, 6], [net], { patchSize: [1, 1, 4], mirrorAxes: null });
    // σ = 0.5, centre 2: g ∝ exp(-2·(i-2)²) → g0 = e^-8, g1 = e^-2, g2 = 1, g3 = e^-2
    const g = [Math.exp(-8), Math.exp(-2), 1, Math.exp(-2)];
    const expected = [10, 10, (g[2] * 10 + g[0] * 20) / (g[2] + g[0]), (g[3] * 10 + g[1] * 20) / (g[3] + g[1]), 20, 20];
    expect(r.shape).toEqual([1, 1, 1, 6]);
    for (let i = 0; i < 6; i++) expect(r.logits[i]).toBeCloseTo(expected[i], 4);
    expect(r.tiles).toBe(2);
  });

  it('equals whole-image application for a pointwise network (3D, several tiles, odd sizes)', async () => {
    const shape = [2, 11, 17, 9];
    const data = rand(2 * 11 * 17 * 9, 3);
    const r = await predictSlidingWindow(data, shape, [pointwise(w, b)], { patchSize: [8, 8, 8], mirrorAxes: null });
    expect(r.shape).toEqual([3, 11, 17, 9]);
    // tiles per axis: ceil((11-8)/4)+1 = 2, ceil((17-8)/4)+1 = 4, ceil((9-8)/4)+1 = 2
    expect(r.tiles).toBe(2 * 4 * 2);
    expect(maxAbsDiff(r.logits, applyPointwise(data, 2, w, b))).toBeLessThan(1e-5);
  });

  it('pads images smaller than the patch (diff//2 low) and crops back', async () => {
    const shape = [2, 3, 10, 5];
    const data = rand(2 * 3 * 10 * 5, 5);
    const seen: number[][] = [];
    const inner = pointwise(w, b);
    const spy = functionRunner(async (x, s) => {
      // the padded tile: channel 0, z = 2 (pad 2 low for 3 → 8, diff 5 → 2 low), y = 0, x = 1 (5 → 8: 1 low)
      seen.push([x[(2 * 8 + 0) * 8 + 1], x[0]]);
      return inner.run(x, s);
    });
    const r = await predictSlidingWindow(data, shape, [spy], { patchSize: [8, 8, 8], mirrorAxes: null });
    expect(seen[0][0]).toBe(data[0]); // first voxel of the image sits at the pad offset
    expect(seen[0][1]).toBe(0); // padding is zero
    expect(r.shape).toEqual([3, 3, 10, 5]);
    expect(maxAbsDiff(r.logits, applyPointwise(data, 2, w, b))).toBeLessThan(1e-5);
  });

  it('mirroring TTA: a mirror-equivariant network gives the same logits as without TTA; progress counts every run', async () => {
    const shape = [2, 9, 12, 10];
    const data = rand(2 * 9 * 12 * 10, 9);
    const progress: [number, number][] = [];
    const r1 = await predictSlidingWindow(data, shape, [pointwise(w, b)], { patchSize: [8, 8, 8], mirrorAxes: null });
    const r2 = await predictSlidingWindow(data, shape, [pointwise(w, b)], { patchSize: [8, 8, 8], onProgress: (d, t) => progress.push([d, t]) });
    expect(maxAbsDiff(r1.logits, r2.logits)).toBeLessThan(1e-5);
    expect(r2.runs).toBe(r1.tiles * 8);
    expect(progress.at(-1)).toEqual([r1.tiles * 8, r1.tiles * 8]);
  });

  it('mirroring TTA flips predictions back before averaging (a coordinate-ramp network)', async () => {
    // the "network" outputs the x index inside the tile, whatever the input: with mirroring along x the
    // flipped-back prediction is (t-1-x), so the average is (t-1)/2 everywhere
    const net = functionRunner((_x, s) => {
      const [p0, p1, p2] = s.slice(2);
      const out = new Float32Array(p0 * p1 * p2);
      for (let i = 0; i < out.length; i++) out[i] = i % p2;
      return { data: out, shape: [1, 1, p0, p1, p2] };
    });
    const r = await predictSlidingWindow(new Float32Array(6 * 6 * 6), [1, 6, 6, 6], [net], { patchSize: [6, 6, 6], mirrorAxes: [2] });
    for (const v of r.logits) expect(v).toBeCloseTo(2.5, 5);
    const r0 = await predictSlidingWindow(new Float32Array(6 * 6 * 6), [1, 6, 6, 6], [net], { patchSize: [6, 6, 6], mirrorAxes: [0, 1] });
    expect([...r0.logits.slice(0, 6)]).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('averages the logits of several folds', async () => {
    const w2 = [
      [0, 1],
      [1, 0],
      [-2, 1],
    ];
    const b2 = [1, 1, 1];
    const shape = [2, 7, 9, 8];
    const data = rand(2 * 7 * 9 * 8, 13);
    const r = await predictSlidingWindow(data, shape, [pointwise(w, b), pointwise(w2, b2)], { patchSize: [6, 6, 6], mirrorAxes: [0] });
    const e1 = applyPointwise(data, 2, w, b);
    const e2 = applyPointwise(data, 2, w2, b2);
    const avg = e1.map((v, i) => (v + e2[i]) / 2);
    expect(maxAbsDiff(r.logits, avg)).toBeLessThan(1e-5);
    expect(r.runs).toBe(r.tiles * 2 * 2);
  });

  it('2D configurations run slice by slice over axis 0 with a 2-D network', async () => {
    const shape = [2, 4, 13, 11];
    const data = rand(2 * 4 * 13 * 11, 17);
    const shapes: string[] = [];
    const inner = pointwise(w, b);
    const spy = functionRunner((x, s) => {
      shapes.push(s.join('x'));
      return inner.run(x, s);
    });
    const r = await predictSlidingWindow(data, shape, [spy], { patchSize: [8, 8] });
    expect(new Set(shapes)).toEqual(new Set(['1x2x8x8']));
    // 4 slices × (ceil(5/4)+1 = 3) × (ceil(3/4)+1 = 2) tiles, × (1 + 3 mirror combinations)
    expect(r.tiles).toBe(24);
    expect(r.runs).toBe(96);
    expect(maxAbsDiff(r.logits, applyPointwise(data, 2, w, b))).toBeLessThan(1e-5);
  });

  it('stops when cancelled', async () => {
    const signal = { aborted: false };
    let n = 0;
    const inner = pointwise(w, b);
    const net = functionRunner((x, s) => {
      if (++n === 3) signal.aborted = true;
      return inner.run(x, s);
    });
    await expect(predictSlidingWindow(rand(2 * 16 ** 3, 1), [2, 16, 16, 16], [net], { patchSize: [8, 8, 8], signal })).rejects.toMatchObject({ code: 'cancelled' });
    expect(n).toBe(3);
  });

  it('with a real ONNX network on onnxruntime-node equals the hand-computed whole-image result', async () => {
    const bld = new OnnxGraphBuilder('pw');
    const x = bld.addInput('input', [1, 2, 8, 8, 8]);
    bld.addOutput(bld.conv(x, Float32Array.from(w.flat()), [3, 2, 1, 1, 1], Float32Array.from(b)), [1, 3, 8, 8, 8], 'float32', 'logits');
    const runner = await createOrtNodeRunner(bld.toBytes(), { device: 'cpu', threads: 1 });
    const shape = [2, 10, 12, 9];
    const data = rand(2 * 10 * 12 * 9, 23);
    const r = await predictSlidingWindow(data, shape, [runner], { patchSize: [8, 8, 8] });
    await runner.dispose();
    expect(runner.device).toBe('onnxruntime-node/cpu');
    expect(maxAbsDiff(r.logits, applyPointwise(data, 2, w, b))).toBeLessThan(1e-5);
  });
});

import { describe, expect, it } from 'vitest';
import { loadArray, loadFloat, meta } from '../../../test/fixtures/preprocessing/load.ts';
import {
  computeNewShape,
  determineSeparateZ,
  getLowresAxis,
  resampleDataToShape,
  resampleSegmentationToShape,
  roundHalfEven,
  type LabelArray,
} from './resampling.ts';
import { resizeLikeSkimage, splineWeights, zoomAxis } from './spline.ts';

describe('computeNewShape / separate-z rules (hand-computed)', () => {
  it('rounds like Python (half to even)', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 3.5].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, 4]);
    // 3 mm -> 2 mm on 5 voxels = 7.5 -> 8 ; on 3 voxels 4.5 -> 4
    expect(computeNewShape([5, 3, 10], [3, 3, 1], [2, 2, 1])).toEqual([8, 4, 10]);
  });
  it('lowres axis and ties', () => {
    expect(getLowresAxis([5, 1, 1])).toEqual([0]);
    expect(getLowresAxis([3.2, 3.2, 1])).toEqual([0, 1]);
    expect(determineSeparateZ(null, [5, 1, 1], [1, 1, 1])).toEqual({ doSeparateZ: true, axis: 0 });
    // current is isotropic, target anisotropic: axis from the target
    expect(determineSeparateZ(null, [1, 1, 1], [1, 0.9, 3.4])).toEqual({ doSeparateZ: true, axis: 2 });
    // exactly 3 is not > 3
    expect(determineSeparateZ(null, [3, 1, 1], [3, 1, 1])).toEqual({ doSeparateZ: false, axis: null });
    // two axes tie for the largest spacing -> no separate z
    expect(determineSeparateZ(null, [3.2, 3.2, 1], [1, 1, 1])).toEqual({ doSeparateZ: false, axis: null });
    expect(determineSeparateZ(true, [1.4, 1, 1], [1, 1, 1])).toEqual({ doSeparateZ: true, axis: 0 });
    expect(determineSeparateZ(false, [5, 1, 1], [1, 1, 1])).toEqual({ doSeparateZ: false, axis: null });
  });
});

describe('B-spline zoom basics (independent truths)', () => {
  it('cubic weights sum to 1 and equal the B-spline at integer offsets', () => {
    const w = new Float64Array(4);
    splineWeights(2.0, 3, w);
    // at a knot the cubic B-spline weights are 1/6, 4/6, 1/6, 0
    expect(w[0]).toBeCloseTo(1 / 6, 15);
    expect(w[1]).toBeCloseTo(4 / 6, 15);
    expect(w[2]).toBeCloseTo(1 / 6, 15);
    expect(w[3]).toBeCloseTo(0, 15);
    splineWeights(7.3, 3, w);
    expect(w[0] + w[1] + w[2] + w[3]).toBeCloseTo(1, 15);
  });
  it('a constant volume stays constant and a linear ramp is reproduced by order 1 and 3 inside', () => {
    const c = new Float32Array(5 * 6 * 7).fill(3.25);
    for (const order of [0, 1, 3, 5]) {
      const r = resizeLikeSkimage(c, [5, 6, 7], [9, 4, 11], order);
      for (const v of r) expect(v).toBeCloseTo(3.25, 5);
    }
    // ramp along one axis, 12 -> 30 samples: linear interpolation is exact inside; the cubic spline is exact far
    // from the edges (the 'nearest' edge padding bends it near the ends, decaying like 0.268^distance) and
    // antisymmetric about the centre
    const n = 12;
    const ramp = Float32Array.from({ length: n }, (_, i) => 2 * i + 1);
    const out1 = zoomAxis(ramp, [n], 0, 30, 1);
    const out3 = zoomAxis(ramp, [n], 0, 30, 3);
    for (let k = 2; k < 28; k++) {
      const x = (k + 0.5) * (n / 30) - 0.5;
      expect(out1[k]).toBeCloseTo(2 * x + 1, 4);
      if (k >= 12 && k < 18) expect(Math.abs(out3[k] - (2 * x + 1))).toBeLessThan(1e-3);
      expect(out3[k] - (2 * x + 1)).toBeCloseTo(-(out3[29 - k] - (2 * (11 - x) + 1)), 4);
    }
  });
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('nnU-Net resampling vs scipy/skimage reference fixtures (real data)', () => {
  for (const c of meta.resample) {
    it(`${c.name}: ${JSON.stringify(c.shape)} ${JSON.stringify(c.current_spacing)} -> ${JSON.stringify(c.new_spacing)} ${c.is_seg ? 'seg' : 'data'} order ${c.order}`, () => {
      const exp = loadArray(c.expected);
      // (the logits case resamples to a given shape, as the export does)
      if (c.name !== 'logits_to_shape') expect(computeNewShape(c.shape, c.current_spacing, c.new_spacing)).toEqual(c.new_shape);
      expect(determineSeparateZ(c.force_separate_z, c.current_spacing, c.new_spacing)).toEqual({ doSeparateZ: c.do_separate_z, axis: c.axis });
      const opts = { order: c.order, orderZ: c.order_z, forceSeparateZ: c.force_separate_z };
      if (c.is_seg) {
        const inp = loadArray(c.input).data as LabelArray;
        const out = resampleSegmentationToShape(inp, c.shape, c.new_shape, c.current_spacing, c.new_spacing, opts);
        expect(out.length).toBe(exp.data.length);
        let same = 0;
        for (let i = 0; i < out.length; i++) if (out[i] === exp.data[i]) same++;
        // identical to scipy (the order-1 one-hot path replays scipy's arithmetic, ties at 0.5 included)
        expect(same).toBe(out.length);
        // the float entry point with isSeg gives the same labels
        const viaFloat = resampleDataToShape(Float32Array.from(inp), 1, c.shape, c.new_shape, c.current_spacing, c.new_spacing, { ...opts, isSeg: true });
        let same2 = 0;
        for (let i = 0; i < out.length; i++) if (viaFloat[i] === exp.data[i]) same2++;
        expect(same2).toBe(out.length);
      } else {
        const inp = loadFloat(c.input);
        const out = resampleDataToShape(inp, c.channels, c.shape, c.new_shape, c.current_spacing, c.new_spacing, opts);
        const ref = exp.data as Float32Array;
        expect(out.length).toBe(ref.length);
        let lo = Infinity;
        let hi = -Infinity;
        for (const v of inp) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        expect(maxAbsDiff(out, ref)).toBeLessThanOrEqual(1e-4 * (hi - lo));
      }
    });
  }
});

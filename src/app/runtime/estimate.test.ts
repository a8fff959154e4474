import { describe, expect, it } from 'vitest';
import { estimateRun } from './estimate.ts';

describe('estimateRun (hand-computed nnU-Net tile counts)', () => {
  it('demo phantom, 3D patch 32×48×48, step 0.5, TTA: 2×2×2 tiles, 8 mirrorings', () => {
    const e = estimateRun([1, 48, 64, 64], [1.5, 1.5, 1.5], [32, 48, 48], [1.5, 1.5, 1.5], { tta: true, stepSize: 0.5, folds: 1, classes: 4 });
    expect(e.grid).toEqual([48, 64, 64]);
    expect(e.tiles).toBe(8); // ceil(16/16)+1, ceil(16/24)+1, ceil(16/24)+1
    expect(e.runs).toBe(64);
    expect(e.memoryMB).toBeCloseTo((6 * 48 * 64 * 64 * 4) / 2 ** 20, 6);
  });

  it('resamples to the target spacing and pads small images up to the patch', () => {
    // 20×100×100 at 3×1×1 mm → 1.5 mm: 40×67×67; patch 64³: 1 × 2 × 2 tiles (ceil(3/32)+1 = 2); 5 folds, no TTA
    const e = estimateRun([2, 20, 100, 100], [3, 1, 1], [64, 64, 64], [1.5, 1.5, 1.5], { tta: false, stepSize: 0.5, folds: 5, classes: 3 });
    expect(e.grid).toEqual([40, 67, 67]);
    expect(e.tiles).toBe(4);
    expect(e.runs).toBe(20);
    expect(e.memoryMB).toBeCloseTo((6 * 64 * 67 * 67 * 4) / 2 ** 20, 6);
  });

  it('2D networks run slice by slice over the first axis, mirroring 2 axes', () => {
    const e = estimateRun([1, 1, 512, 512], [999, 1, 1], [256, 256], [1, 1], { tta: true, stepSize: 0.5, folds: 1, classes: 2 });
    expect(e.grid).toEqual([1, 512, 512]);
    expect(e.tiles).toBe(9); // (ceil(256/128)+1)²
    expect(e.runs).toBe(36);
  });

  it('whole-image models run once (times the mirrorings)', () => {
    const e = estimateRun([1, 256, 256, 256], [1, 1, 1], 'full', null, { tta: false, stepSize: 0.5, folds: 1, classes: 3 });
    expect(e.tiles).toBe(1);
    expect(e.runs).toBe(1);
  });
});

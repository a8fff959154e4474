import { describe, expect, it } from 'vitest';
import { segmentationToRegions } from './regions.ts';

describe('segmentationToRegions', () => {
  it('BraTS-style nested regions (whole tumour, tumour core, enhancing) by hand', () => {
    const seg = [0, 1, 2, 3, 2, 0];
    const r = segmentationToRegions(seg, [[1, 2, 3], [2, 3], 3]);
    expect(Array.from(r)).toEqual([0, 1, 1, 1, 1, 0, /* core */ 0, 0, 1, 1, 1, 0, /* enh */ 0, 0, 0, 1, 0, 0]);
  });
  it('needs at least one region', () => {
    expect(() => segmentationToRegions([0, 1], [])).toThrow(/no regions/);
  });
});

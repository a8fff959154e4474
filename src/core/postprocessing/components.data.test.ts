// Connected components on real label maps from shared/data vs scipy.ndimage.label recorded offline
// (scripts/fixtures/scipy_label_fixtures.py): hippocampus labels, TotalSegmentator CT/MR segmentations, the
// NiiVue lesion drawing; foreground and every label separately, full and face connectivity.
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { dataPath, describeWithData } from '../../../test/sharedData.ts';
import { readImageFile } from '../io/index.ts';
import { checkAgainst, scipyFixture } from './components.testutil.ts';

describeWithData('labelComponents vs scipy on shared/data label maps', () => {
  for (const entry of scipyFixture.real) {
    it(entry.file, () => {
      const img = readImageFile(new Uint8Array(fs.readFileSync(dataPath(entry.file))), entry.file);
      expect(img.shape.slice(1)).toEqual(entry.shape);
      for (const [name, rec] of Object.entries(entry.masks)) {
        const mask = new Uint8Array(img.data.length);
        const v = name === 'fg' ? null : Number(name.slice(2));
        for (let i = 0; i < mask.length; i++) mask[i] = v === null ? (img.data[i] > 0 ? 1 : 0) : img.data[i] === v ? 1 : 0;
        expect(mask.reduce((a, b) => a + b, 0)).toBe(rec.foreground);
        checkAgainst(mask, entry.shape, 'full', rec.full);
        // face connectivity is covered by the smaller maps; skip it on the 16.7 M-voxel one to keep CI fast
        if (mask.length < 4_000_000) checkAgainst(mask, entry.shape, 'face', rec.face);
      }
    });
  }
});

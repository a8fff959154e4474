import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { dataPath, describeWithData, repoRoot } from '../../../test/sharedData.ts';
import { readImageFile } from '../io/index.ts';
import { memoryDatasetFiles } from './dataset.ts';
import { planRawDataset } from './planDataset.ts';

describeWithData('planRawDataset over in-memory files (the page: dropped folder / zip)', () => {
  it('ISBI 2012 EM: the same files nnU-Net writes', async () => {
    const root = dataPath('Dataset901_ISBI2012EM');
    const entries: Record<string, Uint8Array> = {};
    for (const sub of ['', 'imagesTr', 'labelsTr'])
      for (const f of fs.readdirSync(path.join(root, sub))) {
        const p = path.join(root, sub, f);
        if (fs.statSync(p).isFile()) entries[`Dataset901_ISBI2012EM/${sub ? sub + '/' : ''}${f}`] = new Uint8Array(fs.readFileSync(p));
      }
    const ref = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/planning/plans_reference.json'), 'utf8')).cases.find(
      (c: { name: string }) => c.name === 'Dataset901_ISBI2012EM',
    );
    const progress: number[] = [];
    const r = await planRawDataset(memoryDatasetFiles(entries), 'Dataset901_ISBI2012EM', {
      readImage: readImageFile,
      numForegroundVoxels: 1e6,
      datasetName: 'Dataset901_ISBI2012EM',
      onProgress: (d) => progress.push(d),
    });
    expect(r.fingerprintJson).toBe(ref.fingerprint_text);
    expect(r.plansJson).toBe(ref.plans_text);
    expect(r.caseIds.length).toBe(23);
    expect(r.splits!.map((s) => s.val.length)).toEqual([5, 5, 5, 4, 4]);
    expect(progress.at(-1)).toBe(23);
  }, 60_000);
});

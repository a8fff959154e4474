// Dataset intake for the Train view: root detection in dropped folders / zips, the fingerprint summary
// (hand-computed medians), and verify → plans on real hippocampus cases checked against cases.json
// (shapes and spacings recorded with nibabel, in x,y,z order).
import fs from 'node:fs';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import type { DatasetFingerprint } from '../../core/planning/planner.ts';
import { dataPath, describeWithData } from '../../../test/sharedData.ts';
import { analyzeDataset, configurationNames, datasetEntriesFromPaths, datasetEntriesFromZip, looksLikeRawDataset, summarizeFingerprint } from './datasetIntake.ts';

const b = (s: string) => new TextEncoder().encode(s);

describe('dataset entries', () => {
  const dropped = new Map<string, Uint8Array>([
    ['MyDs/dataset.json', b('{"name": "Tiny", "labels": {"background": 0}, "channel_names": {"0": "CT"}, "numTraining": 0, "file_ending": ".nii.gz"}')],
    ['MyDs/imagesTr/a_0000.nii.gz', b('x')],
    ['MyDs/labelsTr/a.nii.gz', b('y')],
    ['MyDs/.DS_Store', b('junk')],
    ['__MACOSX/MyDs/._dataset.json', b('junk')],
    ['other/readme.txt', b('outside')],
  ]);

  it('finds the dataset root, keeps only its files (relative), drops OS junk, names it from dataset.json', () => {
    const e = datasetEntriesFromPaths(dropped, 'MyDs');
    expect(e.root).toBe('MyDs');
    expect(e.name).toBe('Tiny');
    expect([...e.files.keys()].sort()).toEqual(['dataset.json', 'imagesTr/a_0000.nii.gz', 'labelsTr/a.nii.gz']);
  });

  it('tells a raw dataset folder from a model bundle folder or images', () => {
    const p = (...paths: string[]) => paths.map((path) => ({ path }));
    expect(looksLikeRawDataset(p('Ds/dataset.json', 'Ds/imagesTr/a_0000.nii.gz', 'Ds/labelsTr/a.nii.gz'))).toBe(true);
    expect(looksLikeRawDataset(p('model/dataset.json', 'model/plans.json', 'model/fold_0.onnx', 'model/manifest.json'))).toBe(false);
    expect(looksLikeRawDataset(p('case_0000.nii.gz', 'case_0001.nii.gz'))).toBe(false);
  });

  it('reads the same from a zip, and refuses a drop without dataset.json naming it', () => {
    const zip = zipSync(Object.fromEntries(dropped));
    const e = datasetEntriesFromZip(zip, 'tiny.zip');
    expect(e.root).toBe('MyDs');
    expect([...e.files.keys()].sort()).toEqual(['dataset.json', 'imagesTr/a_0000.nii.gz', 'labelsTr/a.nii.gz']);
    expect(() => datasetEntriesFromPaths(new Map([['x/y.nii.gz', b('1')]]), 'scans')).toThrow(/^scans: no dataset\.json found/);
    expect(() => datasetEntriesFromZip(b('not a zip'), 'bad.zip')).toThrow(/bad\.zip/);
  });
});

describe('fingerprint summary', () => {
  it('per-axis median / min / max (even count: mean of the middle two) and channel statistics', () => {
    const fp: DatasetFingerprint = {
      spacings: [[1, 2, 3], [3, 1, 2], [2, 3, 1], [4, 4, 4]],
      shapes_after_crop: [[10, 20, 30], [12, 22, 32], [14, 24, 34], [100, 200, 300]],
      median_relative_size_after_cropping: 1,
      foreground_intensity_properties_per_channel: {
        '0': { max: 9, mean: 4, median: 3.5, min: -1, percentile_00_5: 0, percentile_99_5: 8, std: 2 },
      },
    };
    const s = summarizeFingerprint(fp, { '0': 'MRI' });
    expect(s.cases).toBe(4);
    expect(s.medianSpacing).toEqual([2.5, 2.5, 2.5]);
    expect(s.minSpacing).toEqual([1, 1, 1]);
    expect(s.maxSpacing).toEqual([4, 4, 4]);
    expect(s.medianShape).toEqual([13, 23, 33]);
    expect(s.maxShape).toEqual([100, 200, 300]);
    expect(s.channels).toEqual([{ channel: '0', name: 'MRI', mean: 4, median: 3.5, std: 2, min: -1, max: 9, p005: 0, p995: 8 }]);
    expect(s.text).toMatch(/^4 training cases/);
  });
});

describeWithData('analyzeDataset on 5 real hippocampus cases', () => {
  const root = dataPath('Dataset004_Hippocampus');
  const meta = JSON.parse(fs.readFileSync(`${root}/cases.json`, 'utf8')) as { training: { case: string; shape: number[]; spacing: number[] }[] };
  const cases = meta.training.slice(0, 5);
  const ds = JSON.parse(fs.readFileSync(`${root}/dataset.json`, 'utf8'));
  const entries = () => {
    const m = new Map<string, Uint8Array>([[`Hippo5/dataset.json`, b(JSON.stringify({ ...ds, numTraining: 5 }))]]);
    for (const c of cases) {
      m.set(`Hippo5/imagesTr/${c.case}_0000.nii.gz`, fs.readFileSync(`${root}/imagesTr/${c.case}_0000.nii.gz`));
      m.set(`Hippo5/labelsTr/${c.case}.nii.gz`, fs.readFileSync(`${root}/labelsTr/${c.case}.nii.gz`));
    }
    return m;
  };

  it('clean report with nibabel shapes/spacings, fingerprint, 2d + 3d_fullres plans with explanations, 5 folds', async () => {
    const stages = new Set<string>();
    // 1e6 foreground samples instead of nnU-Net's 1e8 keeps this fast; the intensity statistics are not asserted here
    const r = await analyzeDataset(datasetEntriesFromPaths(entries(), 'Hippo5'), { onProgress: (s) => stages.add(s), numForegroundVoxels: 1e6 });
    expect(r.report.ok).toBe(true);
    expect(r.report.errors).toBe(0);
    expect(r.caseIds).toEqual(cases.map((c) => c.case));
    for (const c of cases) {
      const rc = r.report.cases.find((x) => x.id === c.case)!;
      expect(rc.shape).toEqual([...c.shape].reverse()); // nibabel x,y,z → our z,y,x
      expect(rc.spacing).toEqual([...c.spacing].reverse());
      expect(rc.labelValues).toEqual([0, 1, 2]);
    }
    expect(r.fingerprint!.cases).toBe(5);
    expect(r.fingerprint!.medianSpacing).toEqual([1, 1, 1]);
    expect(r.fingerprint!.channels.map((c) => c.name)).toEqual(['MRI']);
    expect(configurationNames(r.plans!)).toEqual(['2d', '3d_fullres']);
    expect(r.explanations['3d_fullres']).toMatch(/^3d_fullres: 3D U-Net at full resolution/);
    expect(r.explanations['2d']).toMatch(/^2d: 2D U-Net on single slices/);
    expect(r.splits).toHaveLength(5);
    expect(r.splits!.every((s) => s.val.length === 1 && s.train.length === 4)).toBe(true);
    expect(JSON.parse(r.plansJson!).configurations['3d_fullres'].patch_size).toEqual(r.plans!.configurations['3d_fullres'].patch_size);
    expect([...stages]).toEqual(['verifying the dataset', 'fingerprint and plans']);
  });

  it('a missing label file is an error naming the case: no plans, the reason says why', async () => {
    const m = entries();
    m.delete(`Hippo5/labelsTr/${cases[2].case}.nii.gz`);
    const r = await analyzeDataset(datasetEntriesFromPaths(m, 'Hippo5'));
    expect(r.report.ok).toBe(false);
    expect(r.report.problems.some((p) => p.severity === 'error' && p.case === cases[2].case)).toBe(true);
    expect(r.plans).toBeNull();
    expect(r.planError).toMatch(/integrity check found \d+ error/);
  });
});

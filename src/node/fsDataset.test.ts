// Folder wrappers on temp folders with a tiny JSON "image format" (the codec is injected), so the folder logic
// (file matching, label discovery, outputs) is tested apart from the NIfTI/PNG codecs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Image, ImageProperties, LabelMap } from '../core/types.ts';
import { parseSummaryJson } from '../core/evaluation/metrics.ts';
import { parsePostprocessingJson } from '../core/postprocessing/postprocessing.ts';
import { writeNpz } from '../core/ensembling/npz.ts';
import {
  applyPostprocessingFolder,
  determinePostprocessingFolders,
  ensembleFolders,
  evaluateFolders,
  nodeDatasetFiles,
  type SegmentationCodec,
} from './fsDataset.ts';

const codec: SegmentationCodec = {
  readImage(bytes: Uint8Array, name: string): Image {
    const o = JSON.parse(new TextDecoder().decode(bytes));
    return { data: Float32Array.from(o.values), shape: [1, ...o.shape], properties: { format: 'nifti', spacing: [1, 1, 1], fileName: name, ...o.props } };
  },
  writeSegmentation(labels: LabelMap, props: ImageProperties): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ shape: labels.shape, values: Array.from(labels.data), props }));
  },
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-fsds-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const put = (rel: string, shape: number[], values: number[], props: Record<string, unknown> = {}) => {
  const f = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, JSON.stringify({ shape, values, props }));
};
const get = (rel: string) => JSON.parse(fs.readFileSync(path.join(tmp, rel), 'utf8'));

describe('folder wrappers', () => {
  put('ref/a.nii.gz', [1, 1, 6], [1, 1, 2, 2, 0, 0]);
  put('ref/b.nii.gz', [1, 1, 6], [1, 1, 0, 0, 0, 0]);
  put('ref/extra.nii.gz', [1, 1, 6], [0, 0, 0, 0, 0, 0]);
  put('pred/a.nii.gz', [1, 1, 6], [1, 1, 2, 0, 0, 1]);
  put('pred/b.nii.gz', [1, 1, 6], [1, 0, 0, 0, 0, 0]);

  it('evaluateFolders: labels discovered, label absent from a case gives NaN, summary.json written', async () => {
    const out = path.join(tmp, 'pred/summary.json');
    const s = await evaluateFolders(path.join(tmp, 'ref'), path.join(tmp, 'pred'), { codec, fileEnding: '.nii.gz', outputFile: out });
    expect(Object.keys(s.mean)).toEqual(['1', '2']);
    // case a, label 1: ref {0,1}, pred {0,1,5}: TP 2 FP 1 → 4/5; case b: ref {0,1}, pred {0}: 2/3
    expect(s.metric_per_case[0].metrics['1'].Dice).toBeCloseTo(0.8, 12);
    expect(s.metric_per_case[1].metrics['1'].Dice).toBeCloseTo(2 / 3, 12);
    // label 2 absent in case b
    expect(s.metric_per_case[1].metrics['2'].Dice).toBeNaN();
    expect(s.metric_per_case[1].metrics['2'].TN).toBe(6);
    expect(s.mean['2'].Dice).toBeCloseTo(2 / 3, 12); // only case a: TP 1, FN 1
    const text = fs.readFileSync(out, 'utf8');
    expect(text).toContain('NaN');
    expect(parseSummaryJson(text).metric_per_case.map((m) => path.basename(m.prediction_file))).toEqual(['a.nii.gz', 'b.nii.gz']);
  });

  it('evaluateFolders: a prediction without reference is an error naming it', async () => {
    put('pred2/zzz.nii.gz', [1, 1, 1], [0]);
    await expect(evaluateFolders(path.join(tmp, 'ref'), path.join(tmp, 'pred2'), { codec })).rejects.toThrow(/zzz.nii.gz/);
  });

  it('determinePostprocessingFolders + applyPostprocessingFolder', async () => {
    const ppFile = path.join(tmp, 'pp.json');
    const r = await determinePostprocessingFolders(path.join(tmp, 'pred'), path.join(tmp, 'ref'), {
      codec,
      fileEnding: '.nii.gz',
      foregroundLabels: [1, 2],
      ppFile,
      outputDir: path.join(tmp, 'pred_pp'),
    });
    // the stray label-1 voxel at index 5 of case a is removed by the "foreground as one" step
    expect(r.pp.postprocessing_fns[0]).toEqual({ fn: 'remove_all_but_largest_component', labels_or_regions: [1, 2], background_label: 0 });
    expect(get('pred_pp/a.nii.gz').values).toEqual([1, 1, 2, 0, 0, 0]);
    const pp = parsePostprocessingJson(fs.readFileSync(ppFile, 'utf8'));
    const done = await applyPostprocessingFolder(path.join(tmp, 'pred'), path.join(tmp, 'pred_pp2'), pp, { codec, fileEnding: '.nii.gz' });
    expect(done).toEqual(['a.nii.gz', 'b.nii.gz']);
    expect(get('pred_pp2/a.nii.gz').values).toEqual([1, 1, 2, 0, 0, 0]);
    await expect(applyPostprocessingFolder(path.join(tmp, 'pred'), path.join(tmp, 'pred'), pp, { codec })).rejects.toThrow(/differ/);
  });

  it('ensembleFolders: mean of npz probabilities, argmax, geometry from CASE.json', async () => {
    const p1 = Float32Array.from([0.6, 0.2, 0.4, 0.8]); // C=2, 2 voxels: channel 0 = [0.6, 0.2], channel 1 = [0.4, 0.8]
    const p2 = Float32Array.from([0.2, 0.6, 0.8, 0.4]);
    fs.mkdirSync(path.join(tmp, 'm1'));
    fs.mkdirSync(path.join(tmp, 'm2'));
    fs.writeFileSync(path.join(tmp, 'm1/c.npz'), writeNpz({ probabilities: { data: p1, shape: [2, 1, 1, 2] } }));
    fs.writeFileSync(path.join(tmp, 'm2/c.npz'), writeNpz({ probabilities: { data: p2, shape: [2, 1, 1, 2] } }));
    fs.writeFileSync(path.join(tmp, 'm1/c.json'), JSON.stringify({ format: 'nifti', spacing: [3, 2, 1] }));
    const ids = await ensembleFolders([path.join(tmp, 'm1'), path.join(tmp, 'm2')], path.join(tmp, 'ens'), {
      codec,
      fileEnding: '.nii.gz',
      saveProbabilities: true,
    });
    expect(ids).toEqual(['c']);
    // mean: channel 0 = [0.4, 0.4], channel 1 = [0.6, 0.6] → argmax 1, 1
    const seg = get('ens/c.nii.gz');
    expect(seg.values).toEqual([1, 1]);
    expect(seg.props.spacing).toEqual([3, 2, 1]);
    expect(fs.existsSync(path.join(tmp, 'ens/c.npz'))).toBe(true);
    fs.rmSync(path.join(tmp, 'm2/c.npz'));
    await expect(ensembleFolders([path.join(tmp, 'm1'), path.join(tmp, 'm2')], path.join(tmp, 'ens2'), { codec, fileEnding: '.nii.gz' })).rejects.toThrow(
      /m2.*missing c.npz/,
    );
  });

  it('nodeDatasetFiles lists files only and reports unreadable paths', async () => {
    const f = nodeDatasetFiles(tmp);
    expect(f.list('ref')).toEqual(['a.nii.gz', 'b.nii.gz', 'extra.nii.gz']);
    expect(f.list('nope')).toEqual([]);
    await expect(f.read('nope/x')).rejects.toThrow(/nope\/x/);
  });
});

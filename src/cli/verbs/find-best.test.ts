// `segstudio find-best` on five real hippocampus label maps (shared/data) perturbed in known ways, one case
// per fold; expected Dice values are counted directly in the test:
//   A ("2d"):         every label-1 voxel whose flat index is a multiple of 4 → background
//                     Dice1 = 2(n1 − k)/(2 n1 − k) (k = removed voxels), Dice2 = 1
//   B ("3d_fullres"): every label-2 voxel whose flat index is a multiple of 3 → background (same formula)
//   soft probabilities (0.8 / 0.1, unsure 0.6 / 0.3 where wrong): the A+B mean is right everywhere → Dice 1.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { dataPath, describeWithData } from '../../../test/sharedData.ts';
import { readImageFile } from '../../core/io/index.ts';
import { loadBundle, unzipBundle } from '../../core/inference/bundle.ts';
import { pyJsonParse } from '../../core/evaluation/pyjson.ts';
import { readNpzKey } from '../../core/ensembling/npz.ts';
import { softProbabilities, writeFakeModel, writeRawDataset, type FakeCase } from '../../node/crossval.testutil.ts';
import { main } from '../main.ts';

async function cli(args: string[]): Promise<{ rc: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    return { rc: await main(args), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const IDS = ['hippocampus_003', 'hippocampus_006', 'hippocampus_007', 'hippocampus_008', 'hippocampus_011'];
const DATASET = { channel_names: { '0': 'MRI' }, labels: { background: 0, Anterior: 1, Posterior: 2 }, numTraining: 5, file_ending: '.nii.gz' };

/** `label` voxels whose flat index is a multiple of `every` → background; Dice of that label per the formula */
function perturb(ref: Uint8Array, label: number, every: number): { seg: Uint8Array; unsure: Map<number, number>; dice: number } {
  const seg = ref.slice();
  const unsure = new Map<number, number>();
  let n = 0;
  let k = 0;
  for (let i = 0; i < ref.length; i++) {
    if (ref[i] !== label) continue;
    n++;
    if (i % every === 0) {
      seg[i] = 0;
      unsure.set(i, label);
      k++;
    }
  }
  return { seg, unsure, dice: (2 * (n - k)) / (2 * n - k) };
}

describeWithData('segstudio find-best (real hippocampus labels, perturbed)', () => {
  let tmp = '';
  let ds = '';
  let results = '';
  const refs: Uint8Array[] = [];
  const cases: FakeCase[] = [];
  const diceA: number[] = [];
  const diceB: number[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-find-best-'));
    ds = path.join(tmp, 'Dataset004_Hippocampus');
    results = path.join(tmp, 'results', 'Dataset004_Hippocampus');
    for (const id of IDS) {
      const f = dataPath('Dataset004_Hippocampus', 'labelsTr', `${id}.nii.gz`);
      const img = readImageFile(new Uint8Array(fs.readFileSync(f)), f);
      refs.push(Uint8Array.from(img.data));
      cases.push({ id, shape: img.shape.slice(1), properties: img.properties });
    }
    writeRawDataset(ds, DATASET, cases, (_c, i) => refs[i]);
    await writeFakeModel(results, '2d', DATASET, cases, (_c, k) => {
      const p = perturb(refs[k], 1, 4);
      diceA.push(p.dice);
      return { seg: p.seg, probabilities: softProbabilities(p.seg, 3, p.unsure) };
    });
    await writeFakeModel(results, '3d_fullres', DATASET, cases, (_c, k) => {
      const p = perturb(refs[k], 2, 3);
      diceB.push(p.dice);
      return { seg: p.seg, probabilities: softProbabilities(p.seg, 3, p.unsure) };
    });
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

  it('prints the table with the counted Dice values, picks the perfect ensemble, writes the files', async () => {
    const out = path.join(tmp, 'export');
    const r = await cli(['find-best', results, '-d', ds, '--export-bundle', out]);
    expect(r.err).not.toMatch(/error/);
    expect(r.rc).toBe(0);
    const fgA = (mean(diceA) + 1) / 2;
    const fgB = (1 + mean(diceB)) / 2;
    expect(fgA).toBeLessThan(1);
    expect(fgB).toBeLessThan(1);
    const lines = r.out.split('\n');
    const row = (id: string) => lines.find((l) => l.includes(id) && !l.startsWith('Best') && !l.startsWith('skipped'))!;
    expect(row('nnUNetTrainer__nnUNetPlans__2d ')).toContain(`${fgA.toFixed(4)}  `);
    expect(row('nnUNetTrainer__nnUNetPlans__2d ')).toContain(mean(diceA).toFixed(4));
    expect(row('nnUNetTrainer__nnUNetPlans__3d_fullres ')).toContain(fgB.toFixed(4));
    expect(row('ensemble___')).toMatch(/^\* +ensemble___\S+ +1\.0000 +1\.0000 +1\.0000$/);
    expect(lines[1]).toMatch(/Dice Anterior \(1\)\s+Dice Posterior \(2\)$/);
    expect(r.out).toContain('Best: ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_fullres___0_1_2_3_4: 1');
    expect(r.out).toContain('Postprocessing: none');
    const info = pyJsonParse<{ all_results: Record<string, number> }>(fs.readFileSync(path.join(results, 'inference_information.json'), 'utf8'));
    expect(info.all_results['nnUNetTrainer__nnUNetPlans__2d']).toBeCloseTo(fgA, 10);
    expect(info.all_results['nnUNetTrainer__nnUNetPlans__3d_fullres']).toBeCloseTo(fgB, 10);
    for (const id of ['nnUNetTrainer__nnUNetPlans__2d', 'nnUNetTrainer__nnUNetPlans__3d_fullres']) {
      const dir = path.join(out, id);
      const files = new Map(fs.readdirSync(dir).map((n) => [n, new Uint8Array(fs.readFileSync(path.join(dir, n)))]));
      expect((await loadBundle(files, dir)).folds).toEqual([0, 1, 2, 3, 4]);
    }
    expect(fs.existsSync(path.join(out, 'postprocessing.json'))).toBe(true);
  });

  it('--no-ensembles picks the configuration with the higher counted Dice; the zip bundle loads', async () => {
    const out = path.join(tmp, 'best.zip');
    const r = await cli(['find-best', results, '-d', ds, '--no-ensembles', '-f', '0', '1', '2', '3', '4', '--export-bundle', out]);
    expect(r.rc).toBe(0);
    const fgA = (mean(diceA) + 1) / 2;
    const fgB = (1 + mean(diceB)) / 2;
    expect(fgA).not.toBe(fgB);
    const winner = fgA >= fgB ? '2d' : '3d_fullres';
    expect(r.out).toContain(`Best: nnUNetTrainer__nnUNetPlans__${winner}: `);
    expect(r.out).not.toContain('ensemble___');
    const b = await loadBundle(unzipBundle(new Uint8Array(fs.readFileSync(out)), out), out);
    expect(b.configuration).toBe(winner);
    expect(b.postprocessing).toHaveProperty('postprocessing_fns');
  });

  it('--predict-probabilities predicts the missing CASE.npz with the fold bundles, so the ensemble is ranked', async () => {
    const res2 = path.join(tmp, 'results2', 'Dataset004_Hippocampus');
    fs.mkdirSync(path.join(ds, 'imagesTr'), { recursive: true });
    for (const id of IDS)
      fs.symlinkSync(dataPath('Dataset004_Hippocampus', 'imagesTr', `${id}_0000.nii.gz`), path.join(ds, 'imagesTr', `${id}_0000.nii.gz`));
    await writeFakeModel(res2, '2d', DATASET, cases, (_c, k) => {
      const p = perturb(refs[k], 1, 4);
      return { seg: p.seg, probabilities: softProbabilities(p.seg, 3, p.unsure) };
    });
    // no probabilities; a patch as large as the images (one window per case)
    await writeFakeModel(res2, '3d_lowres', DATASET, cases, (_c, k) => ({ seg: refs[k] }), [48, 64, 48]);
    // folds 0 and 1 only (two predicted cases keep the test short)
    const before = await cli(['find-best', res2, '-d', ds, '-f', '0', '1']);
    expect(before.rc).toBe(0);
    expect(before.out).toContain('skipped ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_lowres___0_1');
    const r = await cli(['find-best', res2, '-d', ds, '-f', '0', '1', '--predict-probabilities']);
    expect(r.rc).toBe(0);
    expect(r.out).not.toContain('skipped');
    expect(r.out).toMatch(/ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_lowres___0_1 +\d\.\d{4}/);
    for (const [k, id] of IDS.entries()) {
      const f = path.join(res2, 'nnUNetTrainer__nnUNetPlans__3d_lowres', `fold_${k}`, 'validation', `${id}.npz`);
      expect(fs.existsSync(f)).toBe(k < 2);
      if (k >= 2) continue;
      const npz = readNpzKey(new Uint8Array(fs.readFileSync(path.join(res2, 'nnUNetTrainer__nnUNetPlans__3d_lowres', `fold_${k}`, 'validation', `${id}.npz`))), 'probabilities');
      expect(npz.shape).toEqual([3, ...cases[k].shape]);
      // softmax probabilities: the classes sum to 1 at a voxel
      const n = npz.shape.slice(1).reduce((a, b) => a * b, 1);
      expect(npz.data[0] + npz.data[n] + npz.data[2 * n]).toBeCloseTo(1, 5);
    }
  });

  it('usage errors name the problem', async () => {
    const noD = await cli(['find-best', results]);
    expect(noD.rc).toBe(1);
    expect(noD.err).toContain('missing required option -d DATASET_DIR');
    const missing = await cli(['find-best', path.join(tmp, 'nope'), '-d', ds]);
    expect(missing.rc).toBe(1);
    expect(missing.err).toContain(`${path.join(tmp, 'nope')}: results folder not found`);
    const untrained = await cli(['find-best', results, '-d', ds, '-c', '3d_lowres']);
    expect(untrained.rc).toBe(1);
    expect(untrained.err).toMatch(/configuration 3d_lowres .*was not trained/);
    const badFold = await cli(['find-best', results, '-d', ds, '-f', 'x']);
    expect(badFold.err).toContain("-f expects fold numbers, got 'x'");
  });
});

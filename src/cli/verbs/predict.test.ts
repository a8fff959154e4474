import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpzKey } from '../../core/ensembling/npz.ts';
import { createBundle, bundleToZip } from '../../core/inference/bundle.ts';
import { buildPointwiseOnnx, lcgValues, syntheticPlans } from '../../core/inference/syntheticModels.ts';
import { readImageFile } from '../../core/io/files.ts';
import { writeNifti } from '../../core/io/nifti.ts';
import { writeLabelPng } from '../../core/io/png.ts';
import { createNiftiHeader } from '../../core/io/niftiHeader.ts';
import { readPropertiesJson } from '../../node/fsDataset.ts';
import { main } from '../main.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-predict-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// label = argmax of the fold-mean logits [x0 - x1 + 0.005, x1 - x0]: 1 where x1 > x0 + 0.0025
const W = [
  [1, -1],
  [-1, 1],
];

async function writeBundle(dir: string) {
  const files = await createBundle({
    plans: syntheticPlans({ patchSize: [8, 8, 8], spacing: [2, 1, 1], channels: 2, normalization: 'NoNormalization' }),
    dataset: { channel_names: { '0': 'T1', '1': 'T2' }, labels: { background: 0, brighter: 1 }, file_ending: '.nii.gz' },
    configuration: '3d_fullres',
    folds: { 0: buildPointwiseOnnx(W, [0, 0]), 1: buildPointwiseOnnx(W, [0.01, 0]) },
  });
  fs.mkdirSync(dir, { recursive: true });
  for (const [k, v] of files) fs.writeFileSync(path.join(dir, k), v);
  return files;
}

function writeCase(dir: string, caseId: string, seed: number): Float32Array[] {
  fs.mkdirSync(dir, { recursive: true });
  const [nx, ny, nz] = [9, 7, 5];
  const chans = [lcgValues(nx * ny * nz, seed, 10).map((v) => v + 20), lcgValues(nx * ny * nz, seed + 1, 10).map((v) => v + 20)];
  chans.forEach((c, i) => {
    const f = path.join(dir, `${caseId}_${String(i).padStart(4, '0')}.nii.gz`);
    const h = createNiftiHeader({ dims: [nx, ny, nz], spacingXYZ: [1, 1, 2], datatype: 'float32' });
    fs.writeFileSync(f, writeNifti(h, c, { fileName: f }));
  });
  return chans;
}

function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const w = process.stderr.write.bind(process.stderr);
  const o = process.stdout.write.bind(process.stdout);
  process.stderr.write = (() => true) as typeof process.stderr.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  return fn().finally(() => {
    process.stderr.write = w;
    process.stdout.write = o;
  });
}

describe('segstudio predict', () => {
  it('predicts a folder of nnU-Net-named cases with a bundle folder, writing segmentations, .npz and .json', async () => {
    const model = path.join(tmp, 'bundle');
    await writeBundle(model);
    const inDir = path.join(tmp, 'imagesTs');
    const a = writeCase(inDir, 'caseA', 1);
    writeCase(inDir, 'caseB', 7);
    const out = path.join(tmp, 'pred');
    const code = await quiet(() => main(['predict', '-i', inDir, '-o', out, '-m', model, '--save-probabilities', '--no-tta', '--threads', '1']));
    expect(code).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['caseA.json', 'caseA.nii.gz', 'caseA.npz', 'caseB.json', 'caseB.nii.gz', 'caseB.npz']);
    const seg = readImageFile(new Uint8Array(fs.readFileSync(path.join(out, 'caseA.nii.gz'))), 'caseA.nii.gz');
    expect(seg.shape).toEqual([1, 5, 7, 9]);
    expect(seg.properties.spacing).toEqual([2, 1, 1]);
    for (let i = 0; i < a[0].length; i++) expect(seg.data[i]).toBe(a[1][i] > a[0][i] + 0.0025 ? 1 : 0);
    const probs = readNpzKey(new Uint8Array(fs.readFileSync(path.join(out, 'caseA.npz'))), 'probabilities');
    expect(probs.shape).toEqual([2, 5, 7, 9]);
    expect(probs.data).toBeInstanceOf(Float32Array);
    const n = 5 * 7 * 9;
    for (let i = 0; i < n; i += 17) expect(probs.data[i] + probs.data[n + i]).toBeCloseTo(1, 5);
    // the ensembling verb can read the geometry we saved
    const props = readPropertiesJson(path.join(out, 'caseA.json'));
    expect(props.spacing).toEqual([2, 1, 1]);
  });

  it('takes a zipped bundle, one case given as channel files, and a single output file; --folds selects folds', async () => {
    const files = await writeBundle(path.join(tmp, 'b2'));
    const zip = path.join(tmp, 'model.zip');
    fs.writeFileSync(zip, bundleToZip(files));
    const inDir = path.join(tmp, 'single');
    writeCase(inDir, 'x', 3);
    const out = path.join(tmp, 'single_out', 'seg.nii.gz');
    const code = await quiet(() =>
      main(['predict', '-i', path.join(inDir, 'x_0000.nii.gz'), path.join(inDir, 'x_0001.nii.gz'), '-o', out, '-m', zip, '--folds', '1', '--step', '1']),
    );
    expect(code).toBe(0);
    expect(fs.existsSync(out)).toBe(true);
  });

  it('predicts a PNG with a 2D bundle and writes a PNG label map', async () => {
    // one channel, labels: 1 where the pixel is > 100 (logits [100 − x, x − 100])
    const files = await createBundle({
      plans: syntheticPlans({ patchSize: [8, 8], spacing: [1, 1], channels: 1, normalization: 'NoNormalization' }),
      dataset: { channel_names: { '0': 'EM' }, labels: { background: 0, bright: 1 }, file_ending: '.png' },
      configuration: '2d',
      folds: { 0: buildPointwiseOnnx([[-1], [1]], [100, -100], ['h', 'w']) },
    });
    const model = path.join(tmp, 'b2d');
    fs.mkdirSync(model);
    for (const [k, v] of files) fs.writeFileSync(path.join(model, k), v);
    const inDir = path.join(tmp, 'png_in');
    fs.mkdirSync(inDir);
    const [X, Y] = [13, 10];
    const px = Uint8Array.from({ length: X * Y }, (_, i) => (i * 37 + 11) % 251);
    fs.writeFileSync(path.join(inDir, 'em_0000.png'), writeLabelPng({ data: px, shape: [1, X, Y] }, 'em_0000.png'));
    const out = path.join(tmp, 'png_out');
    expect(await quiet(() => main(['predict', '-i', inDir, '-o', out, '-m', model]))).toBe(0);
    const seg = readImageFile(new Uint8Array(fs.readFileSync(path.join(out, 'em.png'))), 'em.png');
    expect(seg.shape).toEqual([1, 1, X, Y]);
    for (let i = 0; i < px.length; i++) expect(seg.data[i]).toBe(px[i] > 100 ? 1 : 0);
  });

  it('fails with one line naming the problem: channel count, bad fold, tampered bundle', async () => {
    const model = path.join(tmp, 'b3');
    await writeBundle(model);
    const inDir = path.join(tmp, 'c3');
    writeCase(inDir, 'y', 5);
    const errs: string[] = [];
    const w = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (errs.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await main(['predict', '-i', path.join(inDir, 'y_0000.nii.gz'), '-o', path.join(tmp, 'o3'), '-m', model])).toBe(1);
      expect(await main(['predict', '-i', inDir, '-o', path.join(tmp, 'o3'), '-m', model, '--folds', '4'])).toBe(1);
      fs.appendFileSync(path.join(model, 'fold_0.onnx'), 'x');
      expect(await main(['predict', '-i', inDir, '-o', path.join(tmp, 'o3'), '-m', model])).toBe(1);
    } finally {
      process.stderr.write = w;
    }
    const lines = errs.filter((l) => l.startsWith('segstudio predict: error:'));
    expect(lines[0]).toContain('y_0000.nii.gz: model expects 2 channels (T1, T2); got 1 file');
    expect(lines[1]).toContain('fold 4 is not in this bundle (folds: 0, 1)');
    expect(lines[2]).toContain('fold_0.onnx: sha256 mismatch');
  });
});

// The shipped Hippocampus bundle (public/models/hippocampus, made by bench/quality/hippocampus.ts from the
// 5-fold cross-validation run documented in docs/quality.md).
// Truths: the manifest's sha256 of every file (recomputed by loadBundle), the model card's own claims
// (folds, labels, CV figures), and Dice counted here voxel by voxel against the MSD reference labels in
// ../shared/data for cases that the predicting fold never trained on (its validation cases in the bundle's
// splits_final.json): a held-out check of the cross-validation figure.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBundle, type ModelBundle } from '../src/core/inference/bundle.ts';
import { predictCase } from '../src/core/inference/predictor.ts';
import type { NetworkRunner } from '../src/core/inference/runner.ts';
import { readImageFile } from '../src/core/io/index.ts';
import { applyPostprocessing, parsePostprocessingJson } from '../src/core/postprocessing/postprocessing.ts';
import { createOrtNodeRunner } from '../src/node/ortNodeRunner.ts';
import { dataPath, describeWithData, repoRoot } from './sharedData.ts';

const dir = path.join(repoRoot, 'public/models/hippocampus');

function readFolder(d: string): Map<string, Uint8Array> {
  return new Map(fs.readdirSync(d).map((n) => [n, new Uint8Array(fs.readFileSync(path.join(d, n)))]));
}

interface Card {
  not_for_clinical_use: boolean;
  architecture: { folds: number[]; configuration: string };
  evaluation: { per_label: { label: string; key: string; after: number; sdAfter: number; n: number }[]; foreground_mean: { before: number; after: number } };
}

/**
 * Per-case floor for the held-out check: the cross-validation mean Dice (after postprocessing, as the card
 * states it) minus 2.5 of its standard deviations, then minus 0.05 because the check runs without mirroring
 * TTA (the CV figure of a run validated with TTA has it). Tight enough to catch a broken export, preprocessing or fold mix-up (those give
 * Dice near 0), loose enough for the spread between cases.
 */
function floorFor(row: Card['evaluation']['per_label'][number]): number | null {
  const f = row.after - 2.5 * row.sdAfter - 0.05;
  // a label the model has not learnt (CV Dice near 0: posterior in the short CPU schedule) gives no floor
  return f > 0.02 ? f : null;
}

function dice(pred: ArrayLike<number>, ref: ArrayLike<number>, label: number): number {
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < ref.length; i++) {
    const p = pred[i] === label, r = Math.round(ref[i]) === label;
    if (p && r) tp++;
    else if (p) fp++;
    else if (r) fn++;
  }
  return tp + fp + fn === 0 ? NaN : (2 * tp) / (2 * tp + fp + fn);
}

describe('public/models/hippocampus bundle', () => {
  it('verifies: manifest lists every file with its sha256, an altered file is refused', async () => {
    const files = readFolder(dir);
    const b = await loadBundle(files, dir);
    const card = JSON.parse(new TextDecoder().decode(files.get('model-card.json'))) as Card;
    expect(b.configuration).toBe(card.architecture.configuration);
    expect([...b.folds]).toEqual(card.architecture.folds);
    expect(b.folds.length).toBe(5);
    expect(b.networks.map((n) => n.fold)).toEqual([0, 1, 2, 3, 4]);
    expect(card.not_for_clinical_use).toBe(true);
    expect(files.has('postprocessing.json')).toBe(true);
    expect(files.has('model-card.md')).toBe(true);
    expect(Object.keys(b.dataset.labels).sort()).toEqual(['Anterior', 'Posterior', 'background']);
    // small enough to ship with the page
    const bytes = [...files.values()].reduce((s, v) => s + v.length, 0);
    expect(bytes).toBeLessThan(4 * 2 ** 20); // float16 weights (bench/quality/hippocampus.ts --weights)
    const altered = new Map(files);
    const p = new Uint8Array(altered.get('postprocessing.json')!);
    p[p.length - 2] ^= 1;
    altered.set('postprocessing.json', p);
    await expect(loadBundle(altered, dir)).rejects.toThrow(/postprocessing\.json/);
  });
});

describeWithData('public/models/hippocampus on held-out MSD cases', () => {
  const files = readFolder(dir);
  const card = JSON.parse(new TextDecoder().decode(files.get('model-card.json'))) as Card;
  const splits = JSON.parse(new TextDecoder().decode(files.get('splits_final.json'))) as { train: string[]; val: string[] }[];
  let bundle: ModelBundle;
  const runners: NetworkRunner[] = [];
  afterAll(async () => {
    await Promise.all(runners.map((r) => r.dispose()));
  });

  // one validation case from each of three folds, predicted by that fold's network alone (it never saw it)
  const picks = [0, 2, 4].map((fold) => ({ fold, id: splits[fold].val[0] }));
  it.each(picks)('fold $fold on its validation case $id: Dice above the CV-derived floor', async ({ fold, id }) => {
    bundle ??= await loadBundle(files, dir);
    const net = bundle.networks.find((n) => n.fold === fold)!;
    const runner = await createOrtNodeRunner(net.bytes, { device: 'cpu', threads: 1, fileName: net.name });
    runners.push(runner);
    const imgFile = dataPath('Dataset004_Hippocampus', 'imagesTr', `${id}_0000.nii.gz`);
    const refFile = dataPath('Dataset004_Hippocampus', 'labelsTr', `${id}.nii.gz`);
    expect(splits[fold].train).not.toContain(id);
    const image = readImageFile(new Uint8Array(fs.readFileSync(imgFile)), imgFile);
    const ref = readImageFile(new Uint8Array(fs.readFileSync(refFile)), refFile).data;
    const res = await predictCase(image, bundle, [runner], { tta: false });
    const labels = applyPostprocessing(res.labels, parsePostprocessingJson(new TextDecoder().decode(files.get('postprocessing.json')), 'postprocessing.json'));
    const checked = card.evaluation.per_label.filter((row) => floorFor(row) !== null);
    expect(checked.length).toBeGreaterThan(0);
    for (const row of checked) {
      const d = dice(labels.data, ref, Number(row.key));
      expect(d, `${row.label} Dice ${d.toFixed(4)} (floor ${floorFor(row)!.toFixed(4)})`).toBeGreaterThan(floorFor(row)!);
    }
  }, 60_000);
});

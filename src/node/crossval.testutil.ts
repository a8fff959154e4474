// Test helpers for find-best: fake-but-valid results folders as `segstudio train` leaves them
// (RESULTS/<Dataset>/<Trainer>__<Plans>__<CONFIG>/{plans.json, dataset.json, fold_K/{validation/CASE.nii.gz
// [+ CASE.npz], bundle/}}), predictions given by the test, and a raw dataset with labelsTr/.
import fs from 'node:fs';
import path from 'node:path';
import { writeSegmentation } from '../core/io/index.ts';
import { writeNpz } from '../core/ensembling/npz.ts';
import { createBundle } from '../core/inference/bundle.ts';
import { buildPointwiseOnnx, syntheticPlans } from '../core/inference/syntheticModels.ts';
import type { ImageProperties } from '../core/types.ts';
import { writeBundleFolder } from './trainerFiles.ts';

export interface FakeCase {
  id: string;
  shape: number[];
  properties: ImageProperties;
}

export interface FakePrediction {
  seg: Uint8Array;
  /** float32 [C, ...shape]; omitted → no CASE.npz */
  probabilities?: Float32Array;
}

export interface FakeDataset {
  [key: string]: unknown;
  channel_names: Record<string, string>;
  labels: Record<string, number>;
  numTraining: number;
  file_ending: string;
}

/** DATASET_DIR/{dataset.json, labelsTr/CASE<ending>} */
export function writeRawDataset(dir: string, dataset: FakeDataset, cases: FakeCase[], labels: (c: FakeCase, i: number) => Uint8Array): void {
  fs.mkdirSync(path.join(dir, 'labelsTr'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify(dataset));
  cases.forEach((c, i) => {
    const f = path.join(dir, 'labelsTr', c.id + dataset.file_ending);
    fs.writeFileSync(f, writeSegmentation({ data: labels(c, i), shape: c.shape }, c.properties, f));
  });
}

/**
 * One trained model: fold k validates cases[k] (one case per fold) with prediction `predict(case, k)`, and
 * holds a one-fold bundle (a 1×1 network: its weights are irrelevant to find-best).
 */
export async function writeFakeModel(
  results: string,
  configuration: string,
  dataset: FakeDataset,
  cases: FakeCase[],
  predict: (c: FakeCase, k: number) => FakePrediction,
  patchSize?: number[],
): Promise<string> {
  const dir = path.join(results, `nnUNetTrainer__nnUNetPlans__${configuration}`);
  const nClasses = Object.keys(dataset.labels).length;
  const is2d = configuration === '2d';
  const plans = syntheticPlans({ configuration, patchSize: patchSize ?? (is2d ? [8, 8] : [4, 8, 8]), spacing: is2d ? [1, 1] : [1, 1, 1], channels: 1 });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'plans.json'), JSON.stringify(plans));
  fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify(dataset));
  for (let k = 0; k < cases.length; k++) {
    const c = cases[k];
    const p = predict(c, k);
    const val = path.join(dir, `fold_${k}`, 'validation');
    fs.mkdirSync(val, { recursive: true });
    const f = path.join(val, c.id + dataset.file_ending);
    fs.writeFileSync(f, writeSegmentation({ data: p.seg, shape: c.shape }, c.properties, f));
    if (p.probabilities) fs.writeFileSync(path.join(val, `${c.id}.npz`), writeNpz({ probabilities: { data: p.probabilities, shape: [nClasses, ...c.shape] } }));
    const w = Array.from({ length: nClasses }, (_, j) => [j + k]);
    const onnx = buildPointwiseOnnx(w, new Array(nClasses).fill(0), is2d ? ['h', 'w'] : ['d', 'h', 'w']);
    writeBundleFolder(
      path.join(dir, `fold_${k}`, 'bundle'),
      await createBundle({ plans, dataset, configuration, folds: { [k]: onnx }, allowedMirroringAxes: [0, 1] }),
    );
  }
  return dir;
}

/**
 * Probabilities for a prediction: 0.8 on the predicted class and 0.1 elsewhere, except where the prediction
 * is wrong ("unsure": voxel → right class): 0.6 on the predicted class, 0.3 on the right one.
 */
export function softProbabilities(seg: Uint8Array, nClasses: number, unsure: Map<number, number>): Float32Array {
  const n = seg.length;
  const out = new Float32Array(nClasses * n).fill(0.1);
  for (let i = 0; i < n; i++) {
    const right = unsure.get(i);
    out[seg[i] * n + i] = right === undefined ? 0.8 : 0.6;
    if (right !== undefined) out[right * n + i] = 0.3;
  }
  return out;
}

export function readFolder(dir: string): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>();
  for (const n of fs.readdirSync(dir)) m.set(n, new Uint8Array(fs.readFileSync(path.join(dir, n))));
  return m;
}

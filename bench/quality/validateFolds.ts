// The folds' final validation (nnU-Net's perform_actual_validation) as its own step, for runs that were
// trained with `segstudio train --no-validation` or stopped during validation: each fold's bundle
// (fold_K/bundle, written by `train`) predicts that fold's validation cases (splits_final.json) →
// fold_K/validation/CASE<ending> + summary.json, the layout find-best reads.
//
//   node bin/run-ts.mjs bench/quality/validateFolds.ts MODEL_DIR DATASET_DIR [--folds 0,1,2,3,4] [--no-tta] [--threads N]
//
// MODEL_DIR is RESULTS/<Dataset>/<Trainer>__<Plans>__<CONFIG>. Same code path as `segstudio train`'s own
// validation (validateFold: the core predictor on the exported ONNX); --no-tta skips mirroring (8× fewer
// network runs in 3D; nnU-Net validates with mirroring, so say so wherever such figures are reported).
// nnU-Net: training/nnUNetTrainer/nnUNetTrainer.py perform_actual_validation.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readImageFile, writeSegmentation } from '../../src/core/io/index.ts';
import { loadBundle } from '../../src/core/inference/bundle.ts';
import { summaryToJson } from '../../src/core/evaluation/metrics.ts';
import { loadRawCase } from '../../src/core/planning/fingerprint.ts';
import { openRawDataset } from '../../src/training/trainer/dataset.ts';
import { validateFold, type ValidationCase } from '../../src/training/trainer/validation.ts';
import { nodeDatasetFiles } from '../../src/node/fsDataset.ts';
import { createOrtNodeRunner } from '../../src/node/ortNodeRunner.ts';

function readFolder(d: string): Map<string, Uint8Array> {
  return new Map(fs.readdirSync(d).map((n) => [n, new Uint8Array(fs.readFileSync(path.join(d, n)))]));
}

export async function validateFolds(modelDir: string, datasetDir: string, folds: number[], opts: { tta: boolean; threads?: number; log?: (s: string) => void }) {
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const files = nodeDatasetFiles(datasetDir);
  const raw = await openRawDataset(files);
  const byId = new Map(raw.cases.map((c) => [c.id, c]));
  const splits = JSON.parse(fs.readFileSync(path.join(path.dirname(modelDir), 'splits_final.json'), 'utf8')) as { train: string[]; val: string[] }[];
  const fe = raw.dataset.file_ending;
  const out: Record<number, number> = {};
  for (const fold of folds) {
    const foldDir = path.join(modelDir, `fold_${fold}`);
    const bundleDir = path.join(foldDir, 'bundle');
    const bundle = await loadBundle(readFolder(bundleDir), bundleDir);
    const runner = await createOrtNodeRunner(bundle.networks[0].bytes, { device: 'cpu', threads: opts.threads, fileName: bundle.networks[0].name });
    const valDir = path.join(foldDir, 'validation');
    fs.mkdirSync(valDir, { recursive: true });
    const cases: ValidationCase[] = [];
    for (const id of splits[fold].val) {
      const r = await loadRawCase(files, byId.get(id)!, readImageFile);
      cases.push({ id, image: r.image, reference: r.seg, referenceFile: path.join(datasetDir, byId.get(id)!.label!), predictionFile: path.join(valDir, id + fe) });
    }
    const t0 = performance.now();
    try {
      const s = await validateFold(bundle, [runner], cases, {
        tta: opts.tta,
        onPrediction: (c, labels) => fs.writeFileSync(c.predictionFile, writeSegmentation(labels, c.image.properties, c.predictionFile)),
      });
      fs.writeFileSync(path.join(valDir, 'summary.json'), summaryToJson(s));
      out[fold] = s.foreground_mean.Dice;
      log(`validate: fold ${fold}: ${cases.length} cases, foreground mean Dice ${s.foreground_mean.Dice.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s, TTA ${opts.tta ? 'on' : 'off'})`);
    } finally {
      await runner.dispose();
    }
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  const get = (n: string) => {
    const i = argv.indexOf(n);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const [modelDir, datasetDir] = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && ['--folds', '--threads'].includes(argv[i - 1])));
  if (!modelDir || !datasetDir) {
    process.stderr.write('usage: validateFolds.ts MODEL_DIR DATASET_DIR [--folds 0,1,2,3,4] [--no-tta] [--threads N]\n');
    process.exit(2);
  }
  validateFolds(path.resolve(modelDir), path.resolve(datasetDir), (get('--folds') ?? '0,1,2,3,4').split(',').map(Number), {
    tta: !argv.includes('--no-tta'),
    threads: get('--threads') ? Number(get('--threads')) : undefined,
  }).catch((e) => {
    process.stderr.write(`validate: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}

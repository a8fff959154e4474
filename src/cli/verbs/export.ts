// segstudio export RESULTS_FOLD_DIR [RESULTS_FOLD_DIR ...] -o BUNDLE_DIR|BUNDLE.zip [--checkpoint final|best|latest]
// Makes a model bundle (plans.json, dataset.json, fold_K.onnx, inference.json, manifest.json with sha256) from
// trained folds. Each argument is a fold folder (fold_N/ with checkpoint_*.json|bin) or a configuration folder
// (<Trainer>__<Plans>__<CONFIG>/ holding fold_* folders: every fold with the checkpoint is taken). plans.json and
// dataset.json come from the configuration folder, as nnU-Net's export/predict read them
// (nnU-Net: model_sharing/model_export.py, inference/predict_from_raw_data.py initialize_from_trained_model_folder).
import fs from 'node:fs';
import path from 'node:path';
import { SegStudioError } from '../../core/errors.ts';
import { bundleToZip, type DatasetJson } from '../../core/inference/bundle.ts';
import type { Plans } from '../../core/planning/plans.ts';
import { checkpointFiles, loadCheckpoint, type CheckpointName } from '../../training/trainer/checkpoint.ts';
import { bundleFromCheckpoints, type TrainedFold } from '../../training/trainer/exportOnnx.ts';
import { NodeTrainerFiles, writeBundleFolder } from '../../node/trainerFiles.ts';
import { parseArgs, requireFlag } from '../args.ts';

export const summary = 'make a model bundle (ONNX per fold + plans + manifest) from trained fold checkpoints';

const USAGE = `usage: segstudio export RESULTS_FOLD_DIR [RESULTS_FOLD_DIR ...] -o BUNDLE_DIR|BUNDLE.zip [--checkpoint final|best|latest] [--weights float32|float16]
  RESULTS_FOLD_DIR   fold_N folder of 'segstudio train' (or the configuration folder holding fold_* folders)
  -o OUT             bundle folder, or a .zip file
  --checkpoint C     which checkpoint to export (default final, as nnU-Net predicts with checkpoint_final)
  --weights W        float32 (default) or float16: weights stored as float16 + Cast, half the download; the
                     network still computes in float32 (onnxruntime folds the Cast when it loads the model)
`;

function readJson(file: string): unknown {
  if (!fs.existsSync(file)) throw new SegStudioError('export', 'file not found (expected beside the fold folders, as train writes it)', file);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SegStudioError('export', `not valid JSON (${(e as Error).message})`, file);
  }
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const p = parseArgs('export', argv, [
    { names: ['-o', '--output'], key: 'out', kind: 'string' },
    { names: ['--checkpoint', '-chk'], key: 'checkpoint', kind: 'string' },
    { names: ['--weights'], key: 'weights', kind: 'string' },
  ]);
  const weights = ((p.flags.weights as string | undefined) ?? 'float32') as 'float32' | 'float16';
  if (!['float32', 'float16'].includes(weights)) throw new SegStudioError('usage', `export: --weights must be float32 or float16, got '${weights}'`);
  if (p.positional.length === 0) throw new SegStudioError('usage', `export: expected at least one RESULTS_FOLD_DIR\n${USAGE}`);
  const out = path.resolve(requireFlag('export', p, 'out', '-o BUNDLE_DIR|ZIP'));
  const which = ((p.flags.checkpoint as string | undefined) ?? 'final') as CheckpointName;
  if (!['final', 'best', 'latest'].includes(which)) throw new SegStudioError('usage', `export: --checkpoint must be final, best or latest, got '${which}'`);

  // expand configuration folders into their fold folders
  const foldDirs: string[] = [];
  for (const a of p.positional) {
    const d = path.resolve(a);
    if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) throw new SegStudioError('folder', 'folder not found', a);
    if (fs.existsSync(path.join(d, checkpointFiles(which).json))) foldDirs.push(d);
    else {
      const subs = fs.readdirSync(d).filter((n) => /^fold_(\d+|all)$/.test(n) && fs.existsSync(path.join(d, n, checkpointFiles(which).json))).sort();
      if (subs.length === 0) throw new SegStudioError('export', `no ${checkpointFiles(which).json} here or in fold_* subfolders`, a);
      foldDirs.push(...subs.map((s) => path.join(d, s)));
    }
  }
  const bases = [...new Set(foldDirs.map((d) => path.dirname(d)))];
  const plans = readJson(path.join(bases[0], 'plans.json')) as Plans;
  const dataset = readJson(path.join(bases[0], 'dataset.json')) as DatasetJson;
  const folds: TrainedFold[] = [];
  for (const d of foldDirs) {
    const ck = await loadCheckpoint(new NodeTrainerFiles(d), which);
    const f = ck.meta.fold === 'all' ? 0 : ck.meta.fold;
    if (ck.meta.fold === 'all' && foldDirs.length > 1) throw new SegStudioError('export', "a fold 'all' model cannot be combined with other folds in one bundle", d);
    if (folds.some((x) => x.fold === f)) throw new SegStudioError('export', `fold ${f} is given twice`, d);
    folds.push({ fold: f, checkpoint: ck });
  }
  const files = await bundleFromCheckpoints(folds, plans, dataset, { weights });
  if (out.toLowerCase().endsWith('.zip')) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, bundleToZip(files));
  } else writeBundleFolder(out, files);
  process.stderr.write(
    `export: ${folds.length} fold(s) [${folds.map((f) => f.fold).join(', ')}] of ${folds[0].checkpoint.meta.configuration} (checkpoint_${which}, epoch ${folds.map((f) => f.checkpoint.meta.current_epoch).join('/')}) → ${out}\n`,
  );
  return 0;
}

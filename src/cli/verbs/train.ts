// segstudio train DATASET_DIR -c CONFIG -f FOLD -o RESULTS_DIR [--epochs N] [--iterations N] [--val-iterations N]
//                 [--resume] [--backend cpu|webgpu] [--plans FILE] [...]
// nnUNetv2_train in Node: plans (given or planned), preprocessing, the trainer loop, then nnU-Net's results
// layout RESULTS_DIR/<Dataset>/<Trainer>__<Plans>__<CONFIG>/{plans.json, dataset.json, fold_N/{checkpoint_*,
// progress.svg, training_log.txt, debug.json, validation/summary.json, bundle/}}.
// nnU-Net: run/run_training.py (run_training, --c continue), training/nnUNetTrainer/nnUNetTrainer.py
// (output folders, perform_actual_validation), utilities/file_path_utilities.py (get_output_folder).
import fs from 'node:fs';
import path from 'node:path';
import { SegStudioError } from '../../core/errors.ts';
import { readImageFile } from '../../core/io/index.ts';
import { loadBundle } from '../../core/inference/bundle.ts';
import { pyJsonDumps } from '../../core/evaluation/pyjson.ts';
import { fingerprintRawDataset, fingerprintToJson, loadRawCase } from '../../core/planning/fingerprint.ts';
import { planExperiment, plansToJson } from '../../core/planning/planner.ts';
import { resolveConfiguration, type Plans } from '../../core/planning/plans.ts';
import { generateCrossvalSplit, type Split } from '../../training/data/splits.ts';
import type { Backend } from '../../training/engine/backend.ts';
import { Trainer, type TrainerOptions } from '../../training/trainer/trainer.ts';
import { foldSplit, openRawDataset, preprocessTrainingCases, verifyForTraining } from '../../training/trainer/dataset.ts';
import { bundleFromCheckpoints } from '../../training/trainer/exportOnnx.ts';
import { loadCheckpoint, removeCheckpoint } from '../../training/trainer/checkpoint.ts';
import { writeFoldValidation, type ValidationCase } from '../../training/trainer/validation.ts';
import { nodeDatasetFiles } from '../../node/fsDataset.ts';
import { createOrtNodeRunner } from '../../node/ortNodeRunner.ts';
import { NodeTrainerFiles, writeBundleFolder } from '../../node/trainerFiles.ts';
import { parseArgs, requireFlag, stderrProgress } from '../args.ts';

export const summary = 'train an nnU-Net fold (checkpoints, progress plot, validation summary.json, model bundle)';

const USAGE = `usage: segstudio train DATASET_DIR -c CONFIG -f FOLD -o RESULTS_DIR [options]
  DATASET_DIR        nnU-Net raw dataset (dataset.json, imagesTr/, labelsTr/)
  -c CONFIG          configuration in the plans (2d, 3d_fullres, 3d_lowres, …)
  -f FOLD            0..4, or 'all' (train and validate on every case)
  -o RESULTS_DIR     results root; writes RESULTS_DIR/<Dataset>/<Trainer>__<Plans>__<CONFIG>/fold_<FOLD>/
  --plans FILE       nnUNetPlans.json to use (default: fingerprint + plan the dataset now)
  --epochs N         epochs (default 1000, nnU-Net)
  --iterations N     training iterations per epoch (default 250)
  --val-iterations N validation iterations per epoch (default 50)
  --resume           continue from checkpoint_final, else _latest, else _best (nnU-Net --c)
  --backend B        auto (default: webgpu on a hardware GPU adapter, else the fast CPU backend), webgpu, cpu,
                     or cpu-reference (plain TypeScript kernels: slow, but quickest for tiny networks)
  --save-every N     write checkpoint_latest every N epochs (default 1: a kill loses at most one epoch)
  --seed N           seed for network init and patch sampling (default 12345)
  --lr X             initial learning rate (default 0.01)
  --no-augmentation  train without nnU-Net's data augmentation
  --no-validation    skip the final validation of the fold's cases
  --no-npz           validation without CASE.npz probabilities (find-best then cannot rank ensembles)
  --trainer NAME     trainer name used in the output folder (default nnUNetTrainer)
Ctrl-C stops after the current iteration; --resume continues from the last checkpoint.
`;

/** Picks the backend (src/training/engine/selectBackend.ts rules) and says which and why on stderr. */
export async function chooseBackend(requested: string | undefined, log: (s: string) => void): Promise<Backend> {
  const { selectTrainingBackend } = await import('../../node/ortTrainingOps.ts');
  const choice = await selectTrainingBackend({ prefer: requested ?? 'auto' });
  log(`train: ${choice.reason}`);
  return choice.backend;
}

function positiveInt(v: unknown, flag: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || (v as number) < min) throw new SegStudioError('usage', `train: ${flag} must be an integer ≥ ${min}, got ${v}`);
  return v as number;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new SegStudioError('read', `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SegStudioError('json', `not valid JSON (${(e as Error).message})`, file);
  }
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const p = parseArgs('train', argv, [
    { names: ['-c', '--configuration'], key: 'config', kind: 'string' },
    { names: ['-f', '--fold'], key: 'fold', kind: 'string' },
    { names: ['-o', '--output'], key: 'out', kind: 'string' },
    { names: ['--plans', '-p'], key: 'plans', kind: 'string' },
    { names: ['--epochs'], key: 'epochs', kind: 'number' },
    { names: ['--iterations'], key: 'iterations', kind: 'number' },
    { names: ['--val-iterations'], key: 'valIterations', kind: 'number' },
    { names: ['--resume', '--c'], key: 'resume', kind: 'boolean' },
    { names: ['--backend'], key: 'backend', kind: 'string' },
    { names: ['--save-every'], key: 'saveEvery', kind: 'number' },
    { names: ['--seed'], key: 'seed', kind: 'number' },
    { names: ['--lr'], key: 'lr', kind: 'number' },
    { names: ['--no-augmentation'], key: 'noAug', kind: 'boolean' },
    { names: ['--no-validation'], key: 'noVal', kind: 'boolean' },
    { names: ['--no-npz'], key: 'noNpz', kind: 'boolean' },
    { names: ['--trainer', '-tr'], key: 'trainer', kind: 'string' },
  ]);
  if (p.positional.length !== 1) throw new SegStudioError('usage', `train: expected one DATASET_DIR\n${USAGE}`);
  const datasetDir = path.resolve(p.positional[0]);
  if (!fs.existsSync(path.join(datasetDir, 'dataset.json'))) throw new SegStudioError('folder', 'not an nnU-Net raw dataset (no dataset.json)', p.positional[0]);
  const configuration = requireFlag('train', p, 'config', '-c CONFIG');
  const foldArg = requireFlag('train', p, 'fold', '-f FOLD');
  const fold: number | 'all' = foldArg === 'all' ? 'all' : Number(foldArg);
  if (fold !== 'all' && !(Number.isInteger(fold) && fold >= 0)) throw new SegStudioError('usage', `train: -f must be a fold number or 'all', got '${foldArg}'`);
  const resultsDir = path.resolve(requireFlag('train', p, 'out', '-o RESULTS_DIR'));
  const options: Partial<TrainerOptions> = {};
  const set = <K extends keyof TrainerOptions>(k: K, v: TrainerOptions[K] | undefined) => {
    if (v !== undefined) options[k] = v;
  };
  set('numEpochs', positiveInt(p.flags.epochs, '--epochs'));
  set('iterationsPerEpoch', positiveInt(p.flags.iterations, '--iterations'));
  set('valIterationsPerEpoch', positiveInt(p.flags.valIterations, '--val-iterations', 0));
  set('saveEvery', positiveInt(p.flags.saveEvery, '--save-every'));
  set('seed', positiveInt(p.flags.seed, '--seed', 0));
  if (p.flags.lr !== undefined) {
    if (!((p.flags.lr as number) > 0)) throw new SegStudioError('usage', `train: --lr must be > 0, got ${p.flags.lr}`);
    options.initialLr = p.flags.lr as number;
  }
  if (p.flags.noAug) options.augmentation = false;
  const trainerName = (p.flags.trainer as string | undefined) ?? 'nnUNetTrainer';
  const log = (s: string) => process.stderr.write(`${s}\n`);

  // ---- dataset, plans, split
  const files = nodeDatasetFiles(datasetDir);
  const raw = await openRawDataset(files);
  // nnU-Net --verify_dataset_integrity: refuse to train on a dataset with errors (each case and problem named)
  await verifyForTraining(files, readImageFile, { onProgress: stderrProgress('verify'), datasetLabel: datasetDir });
  const datasetName = path.basename(datasetDir);
  let plans: Plans;
  let fingerprintText: string | null = null;
  if (p.flags.plans) {
    plans = readJson(p.flags.plans as string) as Plans;
    if (!plans || typeof plans !== 'object' || !plans.configurations) throw new SegStudioError('plans', 'no "configurations" in the plans', p.flags.plans as string);
  } else {
    log(`train: no --plans given: fingerprinting and planning ${datasetName}`);
    const { fingerprint, datasetJson } = await fingerprintRawDataset(files, '', { readImage: readImageFile, onProgress: stderrProgress('fingerprint') });
    plans = planExperiment(fingerprint, datasetJson, { datasetName });
    fingerprintText = fingerprintToJson(fingerprint);
  }
  try {
    resolveConfiguration(plans, configuration);
  } catch (e) {
    throw new SegStudioError('plans', (e as Error).message, (p.flags.plans as string | undefined) ?? 'plans.json');
  }
  const plansDatasetName = typeof plans.dataset_name === 'string' && plans.dataset_name ? plans.dataset_name : datasetName;
  const datasetResults = path.join(resultsDir, plansDatasetName);
  const base = path.join(datasetResults, `${trainerName}__${plans.plans_name ?? 'nnUNetPlans'}__${configuration}`);
  const foldDir = path.join(base, `fold_${fold}`);
  fs.mkdirSync(foldDir, { recursive: true });
  fs.writeFileSync(path.join(base, 'plans.json'), plansToJson(plans));
  fs.writeFileSync(path.join(base, 'dataset.json'), JSON.stringify(raw.dataset, null, 4) + '\n');
  if (fingerprintText) fs.writeFileSync(path.join(base, 'dataset_fingerprint.json'), fingerprintText);
  const caseIds = raw.cases.map((c) => c.id);
  let splits: Split[] | undefined;
  const splitsFile = path.join(datasetResults, 'splits_final.json');
  if (fold !== 'all') {
    if (fs.existsSync(splitsFile)) {
      splits = readJson(splitsFile) as Split[];
      log(`train: using ${splitsFile}`);
    } else {
      splits = generateCrossvalSplit(caseIds);
      fs.writeFileSync(splitsFile, pyJsonDumps(splits));
      log(`train: wrote ${splitsFile} (5-fold split, nnU-Net's KFold seed 12345)`);
    }
  }
  const split = foldSplit(caseIds, fold, splits);
  const byId = new Map(raw.cases.map((c) => [c.id, c]));
  for (const id of [...split.train, ...split.val])
    if (!byId.has(id)) throw new SegStudioError('splits', `case ${id} of fold ${fold} is not in the dataset`, splitsFile);

  // ---- preprocess (every case once; fold 'all' validates on the training cases)
  const ids = [...new Set([...split.train, ...split.val])].sort();
  const pre = await preprocessTrainingCases(files, ids.map((id) => byId.get(id)!), plans, configuration, readImageFile, {
    onProgress: stderrProgress('preprocess'),
  });
  const preById = new Map(pre.map((c) => [c.id, c]));

  // ---- train
  const backend = await chooseBackend(p.flags.backend as string | undefined, log);
  const storage = new NodeTrainerFiles(foldDir);
  const trainer = await Trainer.create({
    backend,
    plans,
    configuration,
    dataset: raw.dataset,
    fold,
    trainCases: split.train.map((id) => preById.get(id)!),
    valCases: split.val.map((id) => preById.get(id)!),
    storage,
    options,
    trainerName,
    onEvent: (e) => {
      if (e.type === 'log' && e.line) log(`train: ${e.line}`);
    },
  });
  if (p.flags.resume) {
    const used = await trainer.restore('auto');
    if (!used) log('train: --resume but no checkpoint in the fold folder: starting from epoch 0');
  } else {
    for (const n of ['final', 'latest', 'best'] as const) await removeCheckpoint(storage, n);
    fs.rmSync(path.join(foldDir, 'training_log.txt'), { force: true });
  }
  const onSigint = () => {
    log('train: stopping after the current iteration (Ctrl-C again to kill)…');
    trainer.stop();
    process.removeListener('SIGINT', onSigint);
  };
  process.on('SIGINT', onSigint);
  let result;
  try {
    result = await trainer.run();
  } finally {
    process.removeListener('SIGINT', onSigint);
    trainer.dispose();
    backend.dispose();
  }
  if (result.status === 'stopped') {
    log(`train: stopped at epoch ${result.epoch}; continue with --resume (${foldDir})`);
    return 130;
  }

  // ---- bundle from checkpoint_final, then the fold's validation through the predictor
  const final = await loadCheckpoint(storage, 'final');
  const bundleFiles = await bundleFromCheckpoints([{ fold: fold === 'all' ? 0 : fold, checkpoint: final }], plans, raw.dataset);
  const bundleDir = path.join(foldDir, 'bundle');
  writeBundleFolder(bundleDir, bundleFiles);
  log(`train: wrote model bundle ${bundleDir}`);
  if (!p.flags.noVal) {
    const bundle = await loadBundle(bundleFiles, bundleDir);
    const runners = [await createOrtNodeRunner(bundle.networks[0].bytes, { device: 'cpu', fileName: bundle.networks[0].name })];
    const valDir = path.join(foldDir, 'validation');
    fs.rmSync(valDir, { recursive: true, force: true });
    fs.mkdirSync(valDir, { recursive: true });
    const fe = raw.dataset.file_ending;
    const cases: ValidationCase[] = [];
    for (const id of split.val) {
      const r = await loadRawCase(files, byId.get(id)!, readImageFile);
      cases.push({
        id,
        image: r.image,
        reference: r.seg,
        referenceFile: path.join(datasetDir, byId.get(id)!.label!),
        predictionFile: path.join(valDir, id + fe),
      });
    }
    try {
      // CASE<ending> + CASE.npz (nnU-Net --npz: find-best's ensembles reuse them) + summary.json
      const s = await writeFoldValidation(bundle, runners, cases, new NodeTrainerFiles(valDir), {
        fileEnding: fe,
        saveProbabilities: !p.flags.noNpz,
        onProgress: stderrProgress('validation'),
      });
      log(`train: validation Dice (foreground mean) ${s.foreground_mean.Dice.toFixed(4)} over ${cases.length} case(s): ${path.join(valDir, 'summary.json')}`);
    } finally {
      await Promise.all(runners.map((r) => r.dispose()));
    }
  }
  log(`train: done: ${foldDir}`);
  return 0;
}

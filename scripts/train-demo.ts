// Trains the app's demo model with SegStudio's own trainer on phantoms generated in code, and writes the
// model bundle (with its model card) to public/models/demo/. Reproducible: every phantom, the network init
// and the patch sampling are seeded.
//
//   node bin/run-ts.mjs scripts/train-demo.ts [--work DIR] [--stage all|data|train|bundle]
//        [--cases N] [--epochs N] [--iterations N] [--seed N] [--lr X] [--out DIR] [--checkpoint final|latest|best]
//        [--note TEXT (into the card)] [--heldout N (first N held-out seeds, default all)] [--export-patch Z,Y,X (default DEMO_EXPORT_PATCH)]
//
// Stages: data (phantoms → an nnU-Net raw dataset under WORK/raw, plans under WORK), train (`segstudio
// train` in a child process, fold 'all', resumable), bundle (export the final checkpoint, measure Dice on
// held-out phantoms and on the default demo phantom through the core predictor + onnxruntime-node, write
// the bundle + model card to --out). `all` runs the three in order; train resumes a killed run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makePhantom, randomPhantomOptions, PHANTOM_LABELS, type PhantomOptions } from '../src/core/demo/phantom.ts';
import { encodeNifti1 } from '../src/core/demo/nifti1.ts';
import { readImageFile } from '../src/core/io/index.ts';
import { fingerprintRawDataset } from '../src/core/planning/fingerprint.ts';
import { planExperiment } from '../src/core/planning/planner.ts';
import type { Plans } from '../src/core/planning/plans.ts';
import { createBundle, loadBundle, type DatasetJson } from '../src/core/inference/bundle.ts';
import { predictCase } from '../src/core/inference/predictor.ts';
import { computeMetrics } from '../src/core/evaluation/metrics.ts';
import { unetToOnnx } from '../src/training/trainer/exportOnnx.ts';
import { loadCheckpoint } from '../src/training/trainer/checkpoint.ts';
import { nodeDatasetFiles } from '../src/node/fsDataset.ts';
import { NodeTrainerFiles } from '../src/node/trainerFiles.ts';
import { createRunnersForModel } from '../src/node/predictFiles.ts';
import { DEMO_ARCH, DEMO_DATASET_NAME, DEMO_EXPORT_PATCH, DEMO_HELDOUT_SEEDS, DEMO_TRAIN_PATCH, demoCardMarkdown } from '../src/core/demo/demoTraining.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Args {
  work: string;
  stage: string;
  cases: number;
  epochs: number;
  iterations: number;
  seed: number;
  lr: number;
  out: string;
  checkpoint: 'final' | 'latest' | 'best';
  heldout: number;
  exportPatch: number[];
  note: string | null;
}

function parse(argv: string[]): Args {
  const a: Args = {
    work: path.join(os.tmpdir(), 'segstudio-demo-training'),
    stage: 'all',
    cases: 60,
    epochs: 32,
    iterations: 25,
    seed: 12345,
    lr: 0.02,
    out: path.join(repo, 'public/models/demo'),
    checkpoint: 'final',
    heldout: DEMO_HELDOUT_SEEDS.length,
    exportPatch: [...DEMO_EXPORT_PATCH],
    note: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i];
    if (v === undefined) throw new Error(`train-demo: ${k} needs a value`);
    if (k === '--work') a.work = path.resolve(v);
    else if (k === '--stage') a.stage = v;
    else if (k === '--out') a.out = path.resolve(v);
    else if (k === '--cases') a.cases = Number(v);
    else if (k === '--epochs') a.epochs = Number(v);
    else if (k === '--iterations') a.iterations = Number(v);
    else if (k === '--seed') a.seed = Number(v);
    else if (k === '--lr') a.lr = Number(v);
    else if (k === '--checkpoint' && (v === 'final' || v === 'latest' || v === 'best')) a.checkpoint = v;
    else if (k === '--heldout') a.heldout = Number(v);
    else if (k === '--export-patch') a.exportPatch = v.split(',').map(Number);
    else if (k === '--note') a.note = v;
    else throw new Error(`train-demo: unknown option ${k}`);
  }
  return a;
}

const log = (s: string) => process.stderr.write(`[train-demo ${new Date().toISOString()}] ${s}\n`);
const rawDir = (a: Args) => path.join(a.work, 'raw', DEMO_DATASET_NAME);
const plansFile = (a: Args) => path.join(a.work, 'demo_plans.json');
const resultsDir = (a: Args) => path.join(a.work, 'results');
const foldDir = (a: Args) => path.join(resultsDir(a), DEMO_DATASET_NAME, 'nnUNetTrainer__nnUNetPlans__3d_fullres', 'fold_all');

/** Training case i uses randomPhantomOptions(1 + i); held-out phantoms use DEMO_HELDOUT_SEEDS (disjoint). */
export function trainingPhantomOptions(i: number): PhantomOptions {
  return randomPhantomOptions(1 + i);
}

function writeCase(dir: string, id: string, opts: PhantomOptions): void {
  const p = makePhantom(opts);
  const [, nz, ny, nx] = p.image.shape;
  const affine = p.image.properties.affine!;
  fs.writeFileSync(path.join(dir, 'imagesTr', `${id}_0000.nii`), encodeNifti1(p.image.data, [nx, ny, nz], affine, 'SegStudio phantom'));
  fs.writeFileSync(path.join(dir, 'labelsTr', `${id}.nii`), encodeNifti1(p.truth.data, [nx, ny, nz], affine, 'SegStudio phantom labels'));
}

async function stageData(a: Args): Promise<void> {
  const dir = rawDir(a);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'imagesTr'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'labelsTr'), { recursive: true });
  for (let i = 0; i < a.cases; i++) writeCase(dir, `phantom_${String(i).padStart(3, '0')}`, trainingPhantomOptions(i));
  const dataset = {
    channel_names: { '0': 'T2 (synthetic)' },
    labels: { ...PHANTOM_LABELS },
    numTraining: a.cases,
    file_ending: '.nii',
    name: DEMO_DATASET_NAME,
    description: 'Synthetic head phantoms generated by SegStudio (src/core/demo/phantom.ts randomPhantomOptions). Not for clinical use.',
  };
  fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify(dataset, null, 2) + '\n');
  log(`wrote ${a.cases} phantoms to ${dir}`);
  // nnU-Net's planner on the generated dataset (fingerprint → plans), then a small network in 3d_fullres:
  // fixed 1.5 mm spacing (the demo's), few stages and features so that the model is small and fast in the browser.
  const files = nodeDatasetFiles(dir);
  const { fingerprint, datasetJson } = await fingerprintRawDataset(files, '', { readImage: readImageFile });
  const planned = planExperiment(fingerprint, datasetJson, { datasetName: DEMO_DATASET_NAME });
  const cfg = planned.configurations['3d_fullres'];
  if (!cfg) throw new Error('train-demo: the planner made no 3d_fullres configuration');
  const n = DEMO_ARCH.features.length;
  const plans: Plans = {
    ...planned,
    experiment_planner_used: `${planned.experiment_planner_used} + scripts/train-demo.ts (small demo network)`,
    configurations: {
      '3d_fullres': {
        ...cfg,
        spacing: [1.5, 1.5, 1.5],
        patch_size: [...DEMO_TRAIN_PATCH],
        batch_size: 2,
        architecture: {
          network_class_name: 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
          arch_kwargs: {
            n_stages: n,
            features_per_stage: [...DEMO_ARCH.features],
            conv_op: 'torch.nn.modules.conv.Conv3d',
            kernel_sizes: DEMO_ARCH.features.map(() => [3, 3, 3]),
            strides: DEMO_ARCH.features.map((_, i) => (i === 0 ? [1, 1, 1] : [2, 2, 2])),
            n_conv_per_stage: DEMO_ARCH.features.map(() => DEMO_ARCH.convsPerStage),
            n_conv_per_stage_decoder: DEMO_ARCH.features.slice(1).map(() => DEMO_ARCH.convsPerStage),
            conv_bias: true,
            norm_op: 'torch.nn.modules.instancenorm.InstanceNorm3d',
            norm_op_kwargs: { eps: 1e-5, affine: true },
            dropout_op: null,
            dropout_op_kwargs: null,
            nonlin: 'torch.nn.LeakyReLU',
            nonlin_kwargs: { inplace: true },
          },
          _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
        },
      },
    },
  };
  fs.writeFileSync(plansFile(a), JSON.stringify(plans, null, 2) + '\n');
  log(`wrote ${plansFile(a)} (normalization ${cfg.normalization_schemes.join(', ')})`);
}

function trainCommand(a: Args): string[] {
  return [
    'train', rawDir(a), '-c', '3d_fullres', '-f', 'all', '-o', resultsDir(a), '--plans', plansFile(a),
    '--epochs', String(a.epochs), '--iterations', String(a.iterations), '--val-iterations', '2',
    '--lr', String(a.lr), '--seed', String(a.seed), '--no-augmentation', '--no-validation', '--resume',
  ];
}

function stageTrain(a: Args): void {
  const args = [path.join(repo, 'bin/segstudio.mjs'), ...trainCommand(a)];
  log(`node ${args.join(' ')}`);
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`train-demo: segstudio train exited with ${r.status}`);
}

function dice(truth: ArrayLike<number>, pred: ArrayLike<number>): number[] {
  const m = computeMetrics(truth, pred, [1, 2, 3]);
  return [1, 2, 3].map((l) => m[String(l)].Dice);
}

async function stageBundle(a: Args): Promise<void> {
  const plans = JSON.parse(fs.readFileSync(plansFile(a), 'utf8')) as Plans;
  const ck = await loadCheckpoint(new NodeTrainerFiles(foldDir(a)), a.checkpoint);
  const m = ck.meta;
  const net = unetToOnnx({ ...m.network, deepSupervision: false }, ck.weights, a.exportPatch, {
    metadata: { trainer: m.trainer_name, configuration: m.configuration, fold: String(m.fold), epoch: String(m.current_epoch) },
  });
  const cfg = plans.configurations['3d_fullres'];
  const bundlePlans: Plans = { ...plans, configurations: { '3d_fullres': { ...cfg, patch_size: [...a.exportPatch] } } };
  const dataset: DatasetJson = {
    channel_names: { '0': 'T2 (synthetic)' },
    labels: { ...PHANTOM_LABELS },
    numTraining: a.cases,
    file_ending: '.nii.gz',
    name: 'SegStudio demo phantom',
    description: 'Synthetic head-like phantoms generated in code by SegStudio. Not for clinical use.',
  };
  const parts = { plans: bundlePlans, dataset, configuration: '3d_fullres', folds: new Map([[0, net]]), allowedMirroringAxes: m.inference_allowed_mirroring_axes };
  // measure: held-out phantoms (seeds never trained on) and the default demo phantom, TTA on (the app default)
  const model = await loadBundle(await createBundle(parts), 'demo-candidate');
  const runners = await createRunnersForModel(model, { device: 'cpu', threads: 2 });
  const perCase: { seed: number | 'demo'; dice: number[] }[] = [];
  try {
    const cases: [number | 'demo', PhantomOptions][] = [['demo', {}], ...DEMO_HELDOUT_SEEDS.slice(0, a.heldout).map((s) => [s, randomPhantomOptions(s)] as [number, PhantomOptions])];
    for (const [seed, opts] of cases) {
      const p = makePhantom(opts);
      const r = await predictCase(p.image, model, runners, { tta: true });
      const d = dice(p.truth.data, r.labels.data);
      perCase.push({ seed, dice: d });
      log(`Dice ${seed}: ${d.map((x) => x.toFixed(4)).join(' ')}`);
    }
  } finally {
    await Promise.all(runners.map((r) => r.dispose()));
  }
  const held = perCase.filter((c) => c.seed !== 'demo');
  const mean = (k: number) => held.reduce((s, c) => s + (Number.isNaN(c.dice[k]) ? 0 : c.dice[k]), 0) / held.filter((c) => !Number.isNaN(c.dice[k])).length;
  const demoDice = perCase[0].dice;
  const log0 = ck.meta.logging as unknown as { epoch_end_timestamps?: number[]; epoch_start_timestamps?: number[]; train_losses?: number[] };
  const t0 = log0.epoch_start_timestamps?.[0];
  const t1 = log0.epoch_end_timestamps?.at(-1);
  const wallMin = t0 !== undefined && t1 !== undefined ? Math.round(((t1 - t0) / 60) * 10) / 10 : null;
  const nParams = Object.values(ck.weights).reduce((s, t) => s + t.data.length, 0);
  const r4 = (x: number) => Math.round(x * 10000) / 10000;
  const card = {
    name: 'SegStudio demo (synthetic phantom)',
    version: '2',
    summary: 'Segments brain, ventricles and lesions in SegStudio\'s synthetic head phantoms. A small 3D nnU-Net (PlainConvUNet) trained by SegStudio\'s own trainer on generated phantoms.',
    intended_use: 'Demonstrating SegStudio offline on its generated demo phantom. Synthetic data only; not for clinical use.',
    not_for_clinical_use: true,
    input: { channels: { '0': 'T2 (synthetic)' }, spacing_mm: [1.5, 1.5, 1.5], normalization: cfg.normalization_schemes[0] },
    labels: { ...PHANTOM_LABELS },
    architecture: {
      network: 'PlainConvUNet (nnU-Net 3d_fullres layout)',
      features_per_stage: DEMO_ARCH.features,
      convs_per_stage: DEMO_ARCH.convsPerStage,
      strides: plans.configurations['3d_fullres'].architecture!.arch_kwargs.strides,
      parameters: nParams,
      training_patch_size: m.patch_size,
      inference_patch_size: a.exportPatch,
    },
    training: {
      data: `${a.cases} phantoms generated in code: makePhantom(randomPhantomOptions(seed)), seeds 1..${a.cases} (src/core/demo/phantom.ts); no patient data`,
      command: `node bin/run-ts.mjs scripts/train-demo.ts --cases ${a.cases} --epochs ${a.epochs} --iterations ${a.iterations} --seed ${a.seed} --lr ${a.lr}`,
      trainer_command: `segstudio ${trainCommand(a).map((s) => s.replace(a.work, 'WORK')).join(' ')}`,
      schedule: { epochs: a.epochs, iterations_per_epoch: a.iterations, batch_size: cfg.batch_size, initial_lr: a.lr, lr_schedule: 'poly 0.9', optimizer: 'SGD momentum 0.99 Nesterov, weight decay 3e-5', loss: 'Dice + CE, deep supervision', augmentation: 'none (the phantoms are randomised instead)' },
      seed: a.seed,
      backend: ck.meta.backend,
      wall_time_min: wallMin,
      final_train_loss: log0.train_losses?.at(-1) ?? null,
      epochs_run: ck.meta.current_epoch,
      ...(a.note ? { note: a.note } : {}),
    },
    evaluation: {
      method: 'core predictor (sliding window, Gaussian weights, mirroring TTA) + onnxruntime-node; Dice of src/core/evaluation/metrics.ts against makePhantom\'s own labels',
      demo_phantom_dice: { brain: r4(demoDice[0]), ventricles: r4(demoDice[1]), lesion: r4(demoDice[2]) },
      heldout: { seeds: DEMO_HELDOUT_SEEDS.slice(0, a.heldout), mean_dice: { brain: r4(mean(0)), ventricles: r4(mean(1)), lesion: r4(mean(2)) }, min_dice: {
        brain: r4(Math.min(...held.map((c) => c.dice[0]))),
        ventricles: r4(Math.min(...held.map((c) => c.dice[1]))),
        lesion: r4(Math.min(...held.filter((c) => !Number.isNaN(c.dice[2])).map((c) => c.dice[2]))),
      } },
      per_case: perCase.map((c) => ({ seed: c.seed, dice: c.dice.map((x) => (Number.isNaN(x) ? null : r4(x))) })),
    },
  };
  const enc = new TextEncoder();
  const files = await createBundle({
    ...parts,
    extraFiles: new Map([
      ['model-card.json', enc.encode(JSON.stringify(card, null, 2) + '\n')],
      ['model-card.md', enc.encode(demoCardMarkdown(card))],
    ]),
  });
  fs.rmSync(a.out, { recursive: true, force: true });
  fs.mkdirSync(a.out, { recursive: true });
  for (const [name, bytes] of files) fs.writeFileSync(path.join(a.out, name), bytes);
  log(`wrote ${[...files.keys()].join(', ')} to ${a.out}`);
}

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  fs.mkdirSync(a.work, { recursive: true });
  if (a.stage === 'all' || a.stage === 'data') await stageData(a);
  if (a.stage === 'all' || a.stage === 'train') stageTrain(a);
  if (a.stage === 'all' || a.stage === 'bundle') await stageBundle(a);
}

await main();

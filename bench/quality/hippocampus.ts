// Ships the cross-validated Hippocampus model (issue 6): find-best over the trained folds of one
// configuration (nnU-Net's cross-validation merge + postprocessing decision), then the model bundle with every
// fold the winner uses, postprocessing.json, the folds' splits and a model card (JSON + Markdown), and the
// quality report (JSON + Markdown table for docs/quality.md).
//
//   node bin/run-ts.mjs bench/quality/hippocampus.ts --results /work/runs/quality/results \
//     [--plans-name nnUNetPlansCPU] [--planner-plans PLANNER_nnUNetPlans.json] [--folds 0,1,2,3,4]
//     [--config 3d_fullres] [--out public/models/hippocampus] [--report bench/out/quality-hippocampus]
//     [--command "how the folds were trained"] [--note "free text for the card"]
//
// nnU-Net: evaluation/find_best_configuration.py (accumulate_cv_results, determine_postprocessing, the
// winner's inference instructions); the bundle replaces nnU-Net's exported model folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleForModel, findBestConfiguration, readDatasetJson } from '../../src/node/crossval.ts';
import { createBundle, loadBundle, type DatasetJson } from '../../src/core/inference/bundle.ts';
import { evaluationLabels, labelInfo } from '../../src/core/planning/dataset.ts';
import { labelOrRegionKey, type Summary } from '../../src/core/evaluation/metrics.ts';
import { parsePostprocessingJson } from '../../src/core/postprocessing/postprocessing.ts';
import type { Plans } from '../../src/core/planning/plans.ts';
import { onnxWithFloat16Weights } from '../../src/core/inference/onnx/float16.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const sharedData = process.env.SEGSTUDIO_SHARED_DATA ?? path.resolve(repoRoot, '../shared/data');
const DATASET = 'Dataset004_Hippocampus';

/** nnU-Net's published Hippocampus Dice (see docs/quality.md for the source and its caveats). */
export const NNUNET_REFERENCE = {
  source: 'Isensee et al., nnU-Net, arXiv:1809.10486 (2018): Medical Segmentation Decathlon test set, Hippocampus',
  dice: { Anterior: 0.9, Posterior: 0.89 } as Record<string, number>,
};

export interface HippoOptions {
  results: string;
  plansName: string;
  plannerPlans?: string;
  folds: number[];
  config: string;
  out: string;
  report: string;
  command: string;
  note?: string;
  /** the folds' validation predictions were made without mirroring TTA (bench/quality/validateFolds.ts --no-tta) */
  cvNoTta?: boolean;
  /** what else ran on the machine while the folds trained (model card → training.machine) */
  machine?: string;
  /** model card version */
  version?: string;
  /** how the shipped ONNX files store their weights (default float16: half the download, float32 compute) */
  weights?: 'float32' | 'float16';
}

function parse(argv: string[]): HippoOptions {
  const get = (n: string) => {
    const i = argv.indexOf(n);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const results = get('--results');
  if (!results) throw new Error('hippocampus: --results RESULTS_ROOT is required (the -o of segstudio train)');
  return {
    results: path.resolve(results),
    plansName: get('--plans-name') ?? 'nnUNetPlansCPU',
    plannerPlans: get('--planner-plans'),
    folds: (get('--folds') ?? '0,1,2,3,4').split(',').map(Number),
    config: get('--config') ?? '3d_fullres',
    out: path.resolve(get('--out') ?? path.join(repoRoot, 'public/models/hippocampus')),
    report: path.resolve(get('--report') ?? path.join(repoRoot, 'bench/out/quality-hippocampus')),
    command: get('--command') ?? '',
    note: get('--note'),
    machine: get('--machine'),
    version: get('--version'),
    cvNoTta: argv.includes('--cv-no-tta'),
    weights: (get('--weights') ?? 'float16') as 'float32' | 'float16',
  };
}

const readJson = <T>(f: string): T => JSON.parse(fs.readFileSync(f, 'utf8')) as T;
const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const sd = (a: number[]) => {
  if (a.length < 2) return NaN;
  const m = mean(a);
  return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / (a.length - 1));
};
const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** Leaf-wise differences between two JSON values (the planner's plans vs the trained ones), as path → {planner, used}. */
export function jsonDiff(a: unknown, b: unknown, prefix = ''): Record<string, { planner: unknown; used: unknown }> {
  const out: Record<string, { planner: unknown; used: unknown }> = {};
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) Object.assign(out, jsonDiff(a[k], b[k], prefix ? `${prefix}.${k}` : k));
    return out;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out[prefix] = { planner: a ?? null, used: b ?? null };
  return out;
}

interface FoldFacts {
  fold: number;
  epochs: number;
  iterations: number;
  valIterations: number;
  trainingSeconds: number;
  wallSeconds: number | null;
  secondsPerIteration: number;
  backend: string;
  validationDice: number | null;
  parameters: number;
  /** learning rate of each epoch (the checkpoint's log) */
  lrs: number[];
}

/** What one fold's checkpoint_final and training_log say about its run. */
function foldFacts(modelDir: string, fold: number): FoldFacts {
  const dir = path.join(modelDir, `fold_${fold}`);
  const ck = readJson<{
    init_args: { numEpochs: number; iterationsPerEpoch: number; valIterationsPerEpoch: number };
    logging: { epoch_times_sec: number[]; lrs: number[] };
    backend?: string;
    tensors: { group: string; length: number }[];
  }>(path.join(dir, 'checkpoint_final.json'));
  const times = ck.logging.epoch_times_sec;
  const trainingSeconds = times.reduce((s, v) => s + v, 0);
  // wall: first log line to the validation summary (covers restarts, preprocessing and validation prediction)
  let wallSeconds: number | null = null;
  const logFile = path.join(dir, 'training_log.txt');
  const summaryFile = path.join(dir, 'validation', 'summary.json');
  if (fs.existsSync(logFile) && fs.existsSync(summaryFile)) {
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d+)/.exec(fs.readFileSync(logFile, 'utf8'));
    if (m) wallSeconds = (fs.statSync(summaryFile).mtimeMs - Date.parse(`${m[1]}T${m[2]}Z`)) / 1000;
  }
  const a = ck.init_args;
  const val = fs.existsSync(summaryFile) ? readJson<{ foreground_mean?: { Dice?: number } }>(summaryFile) : null;
  return {
    fold,
    epochs: a.numEpochs,
    iterations: a.iterationsPerEpoch,
    valIterations: a.valIterationsPerEpoch,
    trainingSeconds,
    wallSeconds,
    secondsPerIteration: trainingSeconds / (times.length * (a.iterationsPerEpoch + a.valIterationsPerEpoch)),
    backend: typeof ck.backend === 'string' ? ck.backend : JSON.stringify(ck.backend ?? null),
    validationDice: val?.foreground_mean?.Dice ?? null,
    parameters: ck.tensors.filter((t) => t.group === 'weights').reduce((s, t) => s + t.length, 0),
    lrs: ck.logging.lrs,
  };
}

interface LabelRow {
  label: string;
  key: string;
  before: number;
  after: number;
  sdAfter: number;
  n: number;
  nnunet: number | null;
}

function labelRows(before: Summary, after: Summary, names: Record<number, string>, keys: string[]): LabelRow[] {
  return keys.map((key) => {
    const per = after.metric_per_case.map((c) => c.metrics[key]?.Dice).filter((v): v is number => typeof v === 'number' && !Number.isNaN(v));
    const name = names[Number(key)] ?? key;
    return { label: name, key, before: before.mean[key].Dice, after: after.mean[key].Dice, sdAfter: sd(per), n: per.length, nnunet: NNUNET_REFERENCE.dice[name] ?? null };
  });
}

/** nnU-Net's full schedule at a measured time per (training or validation) iteration: 1000 × (250 + 50) per fold. */
export function fullScheduleHours(secondsPerIteration: number): { perFold: number; fiveFolds: number } {
  const perFold = (secondsPerIteration * 1000 * (250 + 50)) / 3600;
  return { perFold, fiveFolds: 5 * perFold };
}

export function cardMarkdown(card: ReturnType<typeof buildCard>): string {
  const t = card.training;
  const e = card.evaluation;
  const f4 = (x: number | null) => (x === null || Number.isNaN(x) ? '–' : x.toFixed(4));
  return `# ${card.name}

**Research software. Not for clinical use.** ${card.intended_use}

- Task: ${card.task}
- Input: ${Object.values(card.input.channels).join(', ')}, ${card.input.spacing_mm.join(' × ')} mm, ${card.input.normalization}.
- Network: nnU-Net PlainConvUNet (${card.architecture.configuration}), features ${card.architecture.features_per_stage.join('/')}, ` +
    `${card.architecture.parameters} parameters per fold, patch ${card.architecture.patch_size.join('×')}, ${card.architecture.folds.length}-fold ensemble ` +
    `(folds ${card.architecture.folds.join(', ')}), mirroring test-time augmentation.
- Training data: ${t.data}
- Data licence and provenance: ${t.license}
- Trained by SegStudio's own trainer (nnU-Net's loop: SGD 0.99 Nesterov, learning rate per epoch ${t.schedule.learning_rates.join(', ')}, Dice + CE with deep supervision, ` +
    `nnU-Net's augmentation), backend ${t.backend}: ${t.schedule.epochs} epochs × ${t.schedule.iterations_per_epoch} iterations × batch ${t.schedule.batch_size} ` +
    `per fold (nnU-Net: 1000 × 250). Plans: the planner's output with these overrides: ${Object.entries(t.plans_overrides)
      .map(([k, v]) => `\`${k}\` ${JSON.stringify(v.planner)} → ${JSON.stringify(v.used)}`)
      .join('; ') || 'none'}.
- Reproduce: ${t.command ? `\`${t.command}\`` : 'see docs/quality.md'}
${card.note ? `- Note: ${card.note}\n` : ''}
## ${e.method}

| label | Dice before postprocessing | Dice after | sd (after) | cases | nnU-Net published |
| --- | --- | --- | --- | --- | --- |
${e.per_label.map((r) => `| ${r.label} | ${f4(r.before)} | ${f4(r.after)} | ${f4(r.sdAfter)} | ${r.n} | ${r.nnunet === null ? '–' : r.nnunet.toFixed(2)} |`).join('\n')}
| foreground mean | ${f4(e.foreground_mean.before)} | ${f4(e.foreground_mean.after)} | | | ${(Object.values(NNUNET_REFERENCE.dice).reduce((s, v) => s + v, 0) / 2).toFixed(3)} |

Postprocessing (nnU-Net's rule, kept only where it raised the cross-validation Dice): ${e.postprocessing.length ? e.postprocessing.join('; ') : 'none'}.
nnU-Net's figures: ${NNUNET_REFERENCE.source}; a test-set result of the full schedule, so the comparison is indicative only.

## Limitations

- Trained on ${t.cases} MSD Task04 cases only (hippocampus-centred crops of T1-weighted MRI, ~1 mm); other crops, contrasts or
  whole-brain scans are out of distribution.
- A short CPU schedule: quality is below what nnU-Net's full schedule reaches (see the table).
`;
}

function buildCard(o: HippoOptions, x: {
  dataset: DatasetJson;
  plans: Plans;
  overrides: Record<string, { planner: unknown; used: unknown }>;
  folds: FoldFacts[];
  rows: LabelRow[];
  fg: { before: number; after: number };
  pp: string[];
  cases: number;
}) {
  const cfg = x.plans.configurations[o.config] as unknown as {
    spacing: number[];
    patch_size: number[];
    batch_size: number;
    normalization_schemes: string[];
    architecture: { arch_kwargs: { features_per_stage: number[] } };
  };
  const f0 = x.folds[0];
  return {
    name: 'Hippocampus (MSD Task04), SegStudio-trained',
    version: o.version ?? '1',
    summary: `Anterior and posterior hippocampus in hippocampus-centred T1 MRI crops. ${x.folds.length}-fold nnU-Net ${o.config} ensemble trained in SegStudio on a CPU; cross-validation Dice ${x.rows.map((r) => `${r.label.toLowerCase()} ${r.after.toFixed(2)}`).join(', ')}.`,
    task: 'segment the anterior (label 1) and posterior (label 2) hippocampus',
    intended_use: 'Demonstrating and benchmarking SegStudio (research and education). Not a medical device; not for clinical use or diagnosis.',
    not_for_clinical_use: true,
    input: {
      channels: x.dataset.channel_names,
      spacing_mm: cfg.spacing,
      normalization: cfg.normalization_schemes.join(', '),
    },
    labels: x.dataset.labels,
    architecture: {
      configuration: o.config,
      features_per_stage: cfg.architecture.arch_kwargs.features_per_stage,
      patch_size: cfg.patch_size,
      parameters: f0.parameters,
      folds: x.folds.map((f) => f.fold),
      weights_storage:
        (o.weights ?? 'float16') === 'float16'
          ? 'float16 initializers + Cast to float32 (computation in float32; the cross-validation figures come from the float32 networks)'
          : 'float32',
    },
    training: {
      data: `Medical Segmentation Decathlon Task04_Hippocampus as nnU-Net ${DATASET} (${x.cases} labelled cases available to this project; the data is not part of this repository or bundle)`,
      license:
        'Medical Segmentation Decathlon Task04_Hippocampus (Vanderbilt University Medical Center; http://medicaldecathlon.com/), CC-BY-SA 4.0; ' +
        'a 190-pair subset, byte-identical copies of udacity/nd320-c3-3d-imaging-starter@895fee68 data/TrainingSet (that repository\'s MIT licence covers its code only). ' +
        'Cite Antonelli et al., "The Medical Segmentation Decathlon", Nature Communications 13, 4128 (2022) and Simpson et al., arXiv:1902.09063 (2019). ' +
        'These weights are derived from CC-BY-SA data: share-alike terms may apply when redistributing them.',
      command: o.command,
      plans_name: o.plansName,
      plans_overrides: x.overrides,
      schedule: { epochs: f0.epochs, iterations_per_epoch: f0.iterations, val_iterations_per_epoch: f0.valIterations, batch_size: cfg.batch_size, learning_rates: f0.lrs.map((v) => Math.round(v * 1e6) / 1e6) },
      backend: f0.backend,
      folds: x.folds.map((f) => ({
        fold: f.fold,
        training_min: r4(f.trainingSeconds / 60),
        wall_min: f.wallSeconds === null ? null : r4(f.wallSeconds / 60),
        seconds_per_iteration: r4(f.secondsPerIteration),
        validation_dice_fg_mean: f.validationDice,
      })),
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${o.machine ?? 'shared with other jobs'}`,
      cases: x.cases,
    },
    evaluation: {
      method: `${x.folds.length}-fold cross-validation (nnU-Net splits_final.json; each case predicted by the fold that did not train on it, ${o.cvNoTta ? 'without mirroring TTA' : 'mirroring TTA'})`,
      per_label: x.rows,
      foreground_mean: x.fg,
      postprocessing: x.pp,
      nnunet_reference: NNUNET_REFERENCE,
    },
    note: o.note ?? null,
  };
}

export async function shipHippocampus(o: HippoOptions, log: (s: string) => void = (s) => process.stderr.write(`${s}\n`)) {
  const datasetDir = path.join(sharedData, DATASET);
  const datasetResults = path.join(o.results, DATASET);
  const modelDir = path.join(datasetResults, `nnUNetTrainer__${o.plansName}__${o.config}`);
  const t0 = performance.now();
  const fb = await findBestConfiguration(datasetResults, {
    datasetDir,
    folds: o.folds,
    configurations: [o.config],
    plans: [o.plansName],
    allowEnsembles: false,
    log,
  });
  const findBestSeconds = (performance.now() - t0) / 1000;
  const ds = readDatasetJson(datasetDir);
  const info = labelInfo(ds);
  const keys = evaluationLabels(info).map((l) => labelOrRegionKey(l));
  const rows = labelRows(fb.postprocessing.before, fb.postprocessing.after, info.names, keys);
  const pp = fb.postprocessing.pp.postprocessing_fns.map((s) => `${s.fn} ${JSON.stringify(s.labels_or_regions)}`);
  const ppJson = parsePostprocessingJson(fs.readFileSync(fb.postprocessingFile, 'utf8'), fb.postprocessingFile);

  const base = await loadBundle(await bundleForModel(modelDir, o.folds, ppJson), modelDir);
  const plans = base.plans as Plans;
  const overrides = o.plannerPlans ? jsonDiff(readJson(o.plannerPlans), plans) : {};
  const folds = o.folds.map((f) => foldFacts(modelDir, f));
  const splits = readJson<unknown>(path.join(datasetResults, 'splits_final.json'));
  const card = buildCard(o, {
    dataset: base.dataset,
    plans,
    overrides,
    folds,
    rows,
    fg: { before: fb.postprocessing.before.foreground_mean.Dice, after: fb.postprocessing.after.foreground_mean.Dice },
    pp,
    cases: (readJson<{ numTraining: number }>(path.join(datasetDir, 'dataset.json'))).numTraining,
  });
  const enc = new TextEncoder();
  const files = await createBundle({
    plans,
    dataset: base.dataset,
    configuration: base.configuration,
    folds: new Map(
      base.networks.map((n) => [n.fold, (o.weights ?? 'float16') === 'float16' ? onnxWithFloat16Weights(n.bytes, `fold_${n.fold}.onnx`) : n.bytes]),
    ),
    postprocessing: ppJson,
    allowedMirroringAxes: base.allowedMirroringAxes ?? null,
    extraFiles: new Map([
      ['model-card.json', enc.encode(JSON.stringify(card, null, 2) + '\n')],
      ['model-card.md', enc.encode(cardMarkdown(card))],
      ['splits_final.json', enc.encode(JSON.stringify(splits) + '\n')],
    ]),
  });
  await loadBundle(files, o.out); // the shipped bundle verifies
  fs.rmSync(o.out, { recursive: true, force: true });
  fs.mkdirSync(o.out, { recursive: true });
  for (const [name, bytes] of files) fs.writeFileSync(path.join(o.out, name), bytes);
  const bytes = [...files.values()].reduce((s, b) => s + b.length, 0);
  log(`hippocampus: wrote ${files.size} files (${(bytes / 2 ** 20).toFixed(2)} MiB) to ${o.out}`);

  const spi = mean(folds.map((f) => f.secondsPerIteration));
  const report = {
    meta: { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverage: os.loadavg() },
    card,
    best: fb.results[fb.bestIndex]?.identifier ?? null,
    findBestSeconds,
    bundle: { dir: path.relative(repoRoot, o.out), files: files.size, bytes },
    extrapolation: { secondsPerIteration: spi, ...fullScheduleHours(spi) },
  };
  fs.mkdirSync(path.dirname(o.report), { recursive: true });
  fs.writeFileSync(`${o.report}.json`, JSON.stringify(report, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1) + '\n');
  const md = reportMarkdown(report);
  fs.writeFileSync(`${o.report}.md`, md);
  log(`hippocampus: wrote ${o.report}.json and .md`);
  return report;
}

export function reportMarkdown(r: { card: ReturnType<typeof buildCard>; extrapolation: { secondsPerIteration: number; perFold: number; fiveFolds: number } }): string {
  const c = r.card;
  const f4 = (x: number | null) => (x === null || Number.isNaN(x) ? '–' : x.toFixed(4));
  const s = c.training.schedule;
  const lines = [
    `| label | SegStudio CV Dice (before pp) | after pp | sd | cases | nnU-Net published 3d_fullres |`,
    `| --- | --- | --- | --- | --- | --- |`,
    ...c.evaluation.per_label.map((x) => `| ${x.label} | ${f4(x.before)} | ${f4(x.after)} | ${f4(x.sdAfter)} | ${x.n} | ${x.nnunet === null ? '–' : x.nnunet.toFixed(2)} |`),
    `| foreground mean | ${f4(c.evaluation.foreground_mean.before)} | ${f4(c.evaluation.foreground_mean.after)} | | | 0.895 |`,
    '',
    `Schedule per fold: ${s.epochs} epochs × ${s.iterations_per_epoch} iterations × batch ${s.batch_size} (+ ${s.val_iterations_per_epoch} validation iterations per epoch); ` +
      `network features ${c.architecture.features_per_stage.join('/')}, ${c.architecture.parameters} parameters, patch ${c.architecture.patch_size.join('×')}; backend ${c.training.backend}. ` +
      `Postprocessing: ${c.evaluation.postprocessing.join('; ') || 'none'}.`,
    '',
    `| fold | training (sum of epoch times) | wall (first log line → validation summary) | s / iteration | fold validation Dice (fg mean) |`,
    `| --- | --- | --- | --- | --- |`,
    ...c.training.folds.map((f) => `| ${f.fold} | ${f.training_min.toFixed(1)} min | ${f.wall_min === null ? '–' : `${f.wall_min.toFixed(1)} min`} | ${f.seconds_per_iteration.toFixed(2)} | ${f4(f.validation_dice_fg_mean)} |`),
    '',
    `Extrapolation (an estimate): ${r.extrapolation.secondsPerIteration.toFixed(2)} s per iteration × 1000 × (250 + 50) = ` +
      `${r.extrapolation.perFold.toFixed(0)} h per fold, ${r.extrapolation.fiveFolds.toFixed(0)} h for 5 folds at this machine's load ` +
      `(s / iteration is per fold while all ${c.training.folds.length} folds trained at once on the shared 2 cores: one fold alone with the same CPU share would take roughly 1/${c.training.folds.length} of it).`,
  ];
  return lines.join('\n') + '\n';
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  shipHippocampus(parse(process.argv.slice(2)))
    .then((r) => process.stdout.write(reportMarkdown(r)))
    .catch((e) => {
      process.stderr.write(`hippocampus: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    });
}

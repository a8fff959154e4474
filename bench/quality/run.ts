// `npm run bench:quality -- [--dataset hippocampus|isbi|all] [--epochs N] [--iterations N] [--val-iterations N]
//                          [--folds 0,1,2,3,4] [--configs 3d_fullres,2d] [--out DIR] [--backend auto|cpu|webgpu]
//                          [--plans PLANS.json] [--lr X] [--parallel N]`
// --plans: a (reduced) plans file instead of planning now (e.g. smaller features / batch / patch for a CPU budget);
// --lr: initial learning rate; --parallel N: train N folds at once, one onnxruntime thread each (on a shared
// multi-core CPU this keeps every core busy without thread-pool synchronisation; docs/quality.md).
// The quality benchmark of issue 6: for Dataset004_Hippocampus and Dataset901_ISBI2012EM from ../shared/data,
// plan → train every fold × configuration with the given schedule (the `segstudio train` CLI, a child process
// per fold, the trainer's automatic backend) → find-best (cross-validation merge, best configuration,
// postprocessing) → per-label mean Dice beside nnU-Net's published figures, wall time per fold, the schedule,
// and an extrapolation to nnU-Net's 1000 × 250 schedule. Writes OUT/quality.json and OUT/quality.md.
// Resumable: a fold finished with the same schedule is reused; an interrupted one continues (--resume).
// nnU-Net: the same pipeline as nnUNetv2_plan_and_preprocess → nnUNetv2_train (5 folds) →
// nnUNetv2_find_best_configuration (evaluation/find_best_configuration.py).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const sharedData = process.env.SEGSTUDIO_SHARED_DATA ?? path.resolve(repoRoot, '../shared/data');
const CLI = path.join(repoRoot, 'bin/segstudio.mjs');

/** nnU-Net's default schedule (nnUNetTrainer: num_epochs 1000, num_iterations_per_epoch 250). */
const NNUNET_EPOCHS = 1000;
const NNUNET_ITERATIONS = 250;

interface DatasetSpec {
  key: 'hippocampus' | 'isbi';
  folder: string;
  /** configurations tried by default (the ones nnU-Net plans for this dataset) */
  configs: string[];
  /** published nnU-Net Dice per label name, with its source */
  reference: { source: string; configuration: string; dice: Record<string, number> } | null;
}

const DATASETS: DatasetSpec[] = [
  {
    key: 'hippocampus',
    folder: 'Dataset004_Hippocampus',
    configs: ['3d_fullres', '2d'],
    reference: {
      // MSD phase-1 test-set Dice of nnU-Net as published in Isensee et al., "nnU-Net: Self-adapting Framework
      // for U-Net-Based Medical Image Segmentation", arXiv:1809.10486 (2018), results table (Hippocampus:
      // anterior 0.90, posterior 0.89); the same figures are on the MSD leaderboard.
      source: 'nnU-Net, arXiv:1809.10486 (MSD test set, 3d_fullres-based submission)',
      configuration: '3d_fullres',
      dice: { Anterior: 0.9, Posterior: 0.89 },
    },
  },
  {
    key: 'isbi',
    folder: 'Dataset901_ISBI2012EM',
    configs: ['2d'],
    // nnU-Net's ISBI 2012 figures are the challenge's Rand/information-theoretic scores on the hidden test
    // stack, not a membrane Dice: there is no published Dice to put beside ours.
    reference: null,
  },
];

export interface QualityOptions {
  datasets: DatasetSpec['key'][];
  epochs: number;
  iterations: number;
  valIterations: number;
  folds: number[];
  configs?: string[];
  out: string;
  backend?: string;
  /** plans file to use instead of planning (its plans_name names the results folder, as in nnU-Net) */
  plans?: string;
  lr?: number;
  /** folds trained at the same time (each with SEGSTUDIO_ORT_THREADS=1 when > 1) */
  parallel: number;
  log: (s: string) => void;
}

export function parseCli(argv: string[]): QualityOptions {
  const get = (name: string): string | undefined => {
    const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
    if (i < 0) return undefined;
    return argv[i].includes('=') ? argv[i].slice(argv[i].indexOf('=') + 1) : argv[i + 1];
  };
  const known = new Set(['--dataset', '--epochs', '--iterations', '--val-iterations', '--folds', '--configs', '--out', '--backend', '--plans', '--lr', '--parallel']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i].split('=')[0];
    if (a.startsWith('--')) {
      if (!known.has(a)) throw new Error(`bench:quality: unknown option ${a}`);
      if (!argv[i].includes('=')) i++;
    }
  }
  const ds = get('--dataset') ?? 'all';
  if (!['hippocampus', 'isbi', 'all'].includes(ds)) throw new Error(`bench:quality: --dataset must be hippocampus, isbi or all, got '${ds}'`);
  const num = (name: string, def: number): number => {
    const v = get(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`bench:quality: ${name} expects a positive integer, got '${v}'`);
    return n;
  };
  const epochs = num('--epochs', NNUNET_EPOCHS);
  const iterations = num('--iterations', NNUNET_ITERATIONS);
  const folds = (get('--folds') ?? '0,1,2,3,4').split(',').filter(Boolean).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0 || n > 4) throw new Error(`bench:quality: --folds expects fold numbers 0..4, got '${s}'`);
    return n;
  });
  return {
    datasets: ds === 'all' ? ['hippocampus', 'isbi'] : [ds as DatasetSpec['key']],
    epochs,
    iterations,
    // nnU-Net validates 50 iterations per epoch; a short schedule scales it down with the training iterations
    valIterations: num('--val-iterations', Math.max(1, Math.min(50, Math.round(iterations / 5)))),
    folds,
    configs: get('--configs')?.split(',').filter(Boolean),
    out: path.resolve(get('--out') ?? path.join(repoRoot, 'bench/out')),
    backend: get('--backend'),
    plans: get('--plans') === undefined ? undefined : path.resolve(get('--plans')!),
    lr: (() => {
      const v = get('--lr');
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!(n > 0 && n < 1)) throw new Error(`bench:quality: --lr expects a learning rate in (0, 1), got '${v}'`);
      return n;
    })(),
    parallel: num('--parallel', 1),
    log: (s) => process.stderr.write(`${s}\n`),
  };
}

/** Runs the segstudio CLI in a child process; its stderr goes to `logFile` (and ours, prefixed). */
function cli(args: string[], logFile: string, log: (s: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    const out = fs.createWriteStream(logFile, { flags: 'a' });
    out.write(`$ segstudio ${args.join(' ')}\n`);
    const child = spawn(process.execPath, [CLI, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    const onData = (d: Buffer) => {
      out.write(d);
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) if (/Epoch \d|train_loss|Pseudo dice|epoch time|backend|wrote|error/i.test(l)) log(`  ${l}`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      out.end();
      resolve(code ?? 1);
    });
  });
}

interface FoldState {
  epochs: number;
  /** initial learning rate (undefined: the trainer's default 0.01) */
  lr?: number;
  iterations: number;
  valIterations: number;
  done: boolean;
  /** wall seconds of the train command(s), summed over resumed runs */
  wallSeconds: number;
  /** seconds per training iteration from the trainer's epoch times (training_log.txt), when found */
  secondsPerIteration?: number;
  backend?: string;
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Epoch times from nnU-Net-style training_log.txt lines ("Epoch time: 12.34 s"). */
function epochTimes(logFile: string): number[] {
  if (!fs.existsSync(logFile)) return [];
  const out: number[] = [];
  for (const m of fs.readFileSync(logFile, 'utf8').matchAll(/Epoch time:\s*([\d.]+)\s*s/g)) out.push(Number(m[1]));
  return out;
}

function backendOf(logFile: string): string | undefined {
  if (!fs.existsSync(logFile)) return undefined;
  const m = /on (\S+): \d+ epochs/.exec(fs.readFileSync(logFile, 'utf8'));
  return m?.[1];
}

export interface DatasetResult {
  dataset: string;
  schedule: { epochs: number; iterations: number; valIterations: number; folds: number[]; configs: string[]; plans?: string; lr?: number };
  folds: { configuration: string; fold: number; wallSeconds: number; secondsPerIteration: number | null; backend: string | null; reused: boolean; foregroundDice: number | null }[];
  best: string | null;
  postprocessing: string[];
  dice: { label: string; key: string; beforePostprocessing: number; afterPostprocessing: number; nnunet: number | null }[];
  foregroundMean: { before: number; after: number };
  reference: DatasetSpec['reference'];
  extrapolation: { secondsPerIteration: number; fullScheduleHoursPerFold: number; fullScheduleHoursAllFolds: number; note: string } | null;
  error?: string;
}

/**
 * nnU-Net's full schedule from a measured time per iteration: 1000 epochs × (250 training + 50 validation
 * iterations) per fold, 5 folds per configuration. Null when nothing was measured.
 */
export function extrapolate(secondsPerIteration: number, configurations: number): DatasetResult['extrapolation'] {
  if (!Number.isFinite(secondsPerIteration)) return null;
  const perFoldH = (secondsPerIteration * NNUNET_EPOCHS * (NNUNET_ITERATIONS + 50)) / 3600;
  return {
    secondsPerIteration,
    fullScheduleHoursPerFold: perFoldH,
    fullScheduleHoursAllFolds: perFoldH * 5 * configurations,
    note: `measured s/iteration (training + validation iterations, this machine) × ${NNUNET_EPOCHS} × (${NNUNET_ITERATIONS} + 50) per fold; preprocessing, validation-case prediction, find-best and postprocessing excluded`,
  };
}

async function runDataset(spec: DatasetSpec, o: QualityOptions): Promise<DatasetResult> {
  const datasetDir = path.join(sharedData, spec.folder);
  if (!fs.existsSync(path.join(datasetDir, 'dataset.json'))) throw new Error(`bench:quality: dataset not found: ${datasetDir}`);
  const work = path.join(o.out, 'quality-work', spec.folder);
  const plansDir = path.join(work, 'plans');
  const resultsRoot = path.join(work, 'results');
  const logs = path.join(work, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const plansFile = o.plans ?? path.join(plansDir, 'nnUNetPlans.json');
  if (o.plans) {
    if (!fs.existsSync(o.plans)) throw new Error(`bench:quality: plans file not found: ${o.plans}`);
    o.log(`[${spec.key}] plans: ${o.plans}`);
  } else if (!fs.existsSync(plansFile)) {
    o.log(`[${spec.key}] plan`);
    const code = await cli(['plan', datasetDir, '-o', plansDir], path.join(logs, 'plan.log'), o.log);
    if (code !== 0) throw new Error(`plan failed (exit ${code}); see ${path.join(logs, 'plan.log')}`);
  } else o.log(`[${spec.key}] plan: reusing ${plansFile}`);
  const plans = readJson<{ configurations: Record<string, unknown>; plans_name?: string }>(plansFile);
  if (!plans?.configurations) throw new Error(`bench:quality: not a plans file: ${plansFile}`);
  const plansName = plans.plans_name ?? 'nnUNetPlans';
  const wanted = o.configs ?? spec.configs;
  const configs = wanted.filter((c) => c in plans.configurations);
  for (const c of wanted) if (!configs.includes(c)) o.log(`[${spec.key}] configuration ${c} is not in the plans: skipped`);
  if (configs.length === 0) throw new Error(`none of the configurations ${wanted.join(', ')} is planned for ${spec.folder}`);

  const stateFile = path.join(work, 'state.json');
  const state: Record<string, FoldState> = readJson(stateFile) ?? {};
  const saveState = () => fs.writeFileSync(stateFile, JSON.stringify(state, null, 1) + '\n');
  const foldRows: DatasetResult['folds'] = [];
  const modelDir = (c: string) => path.join(resultsRoot, spec.folder, `nnUNetTrainer__${plansName}__${c}`);
  const jobs: { c: string; f: number }[] = configs.flatMap((c) => o.folds.map((f) => ({ c, f })));
  const childEnv = o.parallel > 1 ? { ...process.env, SEGSTUDIO_ORT_THREADS: '1' } : process.env;
  const trainFold = async ({ c, f }: { c: string; f: number }) => {
    // state is per plans too: folds of another (e.g. reduced) plans file live in another results folder
    const key = plansName === 'nnUNetPlans' ? `${c}/fold_${f}` : `${plansName}/${c}/fold_${f}`;
    const foldDir = path.join(modelDir(c), `fold_${f}`);
    const sameSchedule = (s?: FoldState) => !!s && s.epochs === o.epochs && s.iterations === o.iterations && s.valIterations === o.valIterations && s.lr === o.lr;
    const s = state[key];
    const summary = path.join(foldDir, 'validation', 'summary.json');
    let reused = false;
    if (sameSchedule(s) && s.done && fs.existsSync(summary)) {
      o.log(`[${spec.key}] ${key}: finished earlier with this schedule, reused`);
      reused = true;
    } else {
      // an interrupted fold with this schedule continues from its checkpoint (src/node/trainerFiles.ts names)
      const resume = sameSchedule(s) && ['checkpoint_latest.json', 'checkpoint_final.json'].some((n) => fs.existsSync(path.join(foldDir, n)));
      if (!sameSchedule(s)) {
        // a different schedule: start this fold from scratch
        fs.rmSync(foldDir, { recursive: true, force: true });
        state[key] = { epochs: o.epochs, iterations: o.iterations, valIterations: o.valIterations, lr: o.lr, done: false, wallSeconds: 0 };
      }
      const args = ['train', datasetDir, '-c', c, '-f', String(f), '-o', resultsRoot, '--plans', plansFile, '--epochs', String(o.epochs), '--iterations', String(o.iterations), '--val-iterations', String(o.valIterations)];
      if (o.backend) args.push('--backend', o.backend);
      if (o.lr !== undefined) args.push('--lr', String(o.lr));
      if (resume) args.push('--resume');
      o.log(`[${spec.key}] ${key}: train ${o.epochs} × ${o.iterations}${resume ? ' (resuming)' : ''}`);
      const t0 = performance.now();
      const code = await cli(args, path.join(logs, `train_${c}_fold${f}.log`), o.log, childEnv);
      state[key].wallSeconds += (performance.now() - t0) / 1000;
      saveState();
      if (code !== 0) throw new Error(`train ${key} failed (exit ${code}); see ${path.join(logs, `train_${c}_fold${f}.log`)}`);
      state[key].done = fs.existsSync(summary);
      if (!state[key].done) throw new Error(`train ${key} wrote no ${summary}`);
    }
    const times = epochTimes(path.join(foldDir, 'training_log.txt'));
    const st = state[key];
    // trainer epoch times include its validation iterations; without them, fall back to wall time
    st.secondsPerIteration = times.length ? times.reduce((a, b) => a + b, 0) / (times.length * (o.iterations + o.valIterations)) : st.wallSeconds / (o.epochs * (o.iterations + o.valIterations));
    st.backend = backendOf(path.join(logs, `train_${c}_fold${f}.log`)) ?? st.backend;
    saveState();
    const val = readJson<{ foreground_mean?: { Dice?: number } }>(summary);
    return { configuration: c, fold: f, wallSeconds: st.wallSeconds, secondsPerIteration: st.secondsPerIteration ?? null, backend: st.backend ?? null, reused, foregroundDice: val?.foreground_mean?.Dice ?? null };
  };
  // up to `parallel` folds at once; rows keep the configuration × fold order
  const rows: DatasetResult['folds'][number][] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      rows[i] = await trainFold(jobs[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel, jobs.length) }, worker));
  foldRows.push(...rows);

  o.log(`[${spec.key}] find-best (folds ${o.folds.join(',')}; configurations ${configs.join(', ')})`);
  const { findBestConfiguration, readDatasetJson } = await import('../../src/node/crossval.ts');
  const { labelInfo, evaluationLabels } = await import('../../src/core/planning/dataset.ts');
  const { labelOrRegionKey } = await import('../../src/core/evaluation/metrics.ts');
  const fb = await findBestConfiguration(path.join(resultsRoot, spec.folder), {
    datasetDir,
    folds: o.folds,
    configurations: configs,
    plans: [plansName],
    allowEnsembles: false,
    exportBundle: path.join(work, 'best_bundle.zip'),
    log: o.log,
  });
  const info = labelInfo(readDatasetJson(datasetDir));
  const dice = evaluationLabels(info).map((l) => {
    const key = labelOrRegionKey(l);
    const name = Array.isArray(l) ? `region ${key}` : (info.names[l] ?? key);
    const ref = spec.reference?.dice[name] ?? null;
    return { label: name, key, beforePostprocessing: fb.postprocessing.before.mean[key]?.Dice ?? NaN, afterPostprocessing: fb.postprocessing.after.mean[key]?.Dice ?? NaN, nnunet: ref };
  });
  const trained = foldRows.filter((r) => r.secondsPerIteration !== null);
  const spi = trained.length ? trained.reduce((a, r) => a + r.secondsPerIteration!, 0) / trained.length : NaN;
  return {
    dataset: spec.folder,
    schedule: { epochs: o.epochs, iterations: o.iterations, valIterations: o.valIterations, folds: o.folds, configs, plans: plansName, lr: o.lr ?? 0.01 },
    folds: foldRows,
    best: fb.results[fb.bestIndex]?.identifier ?? null,
    postprocessing: fb.postprocessing.pp.postprocessing_fns.map((s) => `${s.fn} ${JSON.stringify(s.labels_or_regions)}`),
    dice,
    foregroundMean: { before: fb.postprocessing.before.foreground_mean.Dice, after: fb.postprocessing.after.foreground_mean.Dice },
    reference: spec.reference,
    extrapolation: extrapolate(spi, configs.length),
  };
}

const f4 = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(4));

export function toMarkdown(results: DatasetResult[], meta: Record<string, unknown>): string {
  const lines: string[] = [`# SegStudio quality benchmark`, '', `Run ${meta.date} on ${meta.cpus} × ${meta.cpuModel}, Node ${meta.node}. Command: \`${meta.command}\``, ''];
  for (const r of results) {
    lines.push(`## ${r.dataset}`, '');
    if (r.error) {
      lines.push(`Failed: ${r.error}`, '');
      continue;
    }
    const s = r.schedule;
    lines.push(
      `Schedule: ${s.epochs} epochs × ${s.iterations} iterations (+ ${s.valIterations} validation iterations per epoch)${s.lr !== undefined ? `, initial learning rate ${s.lr}` : ''}, folds ${s.folds.join(',')}, configurations ${s.configs.join(', ')}${s.plans ? ` of plans ${s.plans}` : ''}` +
        ` (nnU-Net: ${NNUNET_EPOCHS} × ${NNUNET_ITERATIONS}, 5 folds). Best: ${r.best}; postprocessing: ${r.postprocessing.length ? r.postprocessing.join('; ') : 'none'}.`,
      '',
      `| label | SegStudio Dice (CV, before pp) | SegStudio Dice (after pp) | nnU-Net published |`,
      `| --- | --- | --- | --- |`,
    );
    for (const d of r.dice) lines.push(`| ${d.label} | ${f4(d.beforePostprocessing)} | ${f4(d.afterPostprocessing)} | ${d.nnunet === null ? '–' : d.nnunet.toFixed(2)} |`);
    lines.push(`| foreground mean | ${f4(r.foregroundMean.before)} | ${f4(r.foregroundMean.after)} | ${r.reference ? (Object.values(r.reference.dice).reduce((a, b) => a + b, 0) / Object.values(r.reference.dice).length).toFixed(3) : '–'} |`, '');
    lines.push(r.reference ? `nnU-Net figures: ${r.reference.source}. Those are test-set Dice after 1000 × 250 training of 5 folds; ours is cross-validation Dice of the folds above.` : 'No published nnU-Net Dice for this dataset (its challenge reports Rand/information scores).', '');
    lines.push(`| configuration | fold | wall time | s / iteration | backend | fold Dice (validation, fg mean) |`, `| --- | --- | --- | --- | --- | --- |`);
    for (const f of r.folds) lines.push(`| ${f.configuration} | ${f.fold} | ${(f.wallSeconds / 60).toFixed(1)} min${f.reused ? ' (reused)' : ''} | ${f.secondsPerIteration?.toFixed(2) ?? '–'} | ${f.backend ?? '–'} | ${f4(f.foregroundDice)} |`);
    if (r.extrapolation) {
      const e = r.extrapolation;
      lines.push('', `Extrapolation to nnU-Net's schedule: ${e.secondsPerIteration.toFixed(2)} s/iteration → ${e.fullScheduleHoursPerFold.toFixed(0)} h per fold, ${e.fullScheduleHoursAllFolds.toFixed(0)} h for 5 folds × ${r.schedule.configs.length} configuration(s) (${e.note}).`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

export async function runQuality(o: QualityOptions, command = 'npm run bench:quality'): Promise<Record<string, unknown>> {
  const results: DatasetResult[] = [];
  for (const key of o.datasets) {
    const spec = DATASETS.find((d) => d.key === key)!;
    try {
      results.push(await runDataset(spec, o));
    } catch (e) {
      o.log(`[${key}] failed: ${(e as Error).message}`);
      results.push({ dataset: spec.folder, error: (e as Error).message } as DatasetResult);
    }
  }
  const meta = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverage: os.loadavg(), command };
  const report = { meta, results };
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, 'quality.json'), JSON.stringify(report, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1) + '\n');
  fs.writeFileSync(path.join(o.out, 'quality.md'), toMarkdown(results, meta));
  o.log(`wrote ${path.join(o.out, 'quality.json')} and ${path.join(o.out, 'quality.md')}`);
  return report;
}

/** For bench/run.ts-style callers: options from argv (default: the full nnU-Net schedule — hours to days). */
export async function run(argv: string[] = []): Promise<Record<string, unknown>> {
  return runQuality(parseCli(argv), `npm run bench:quality -- ${argv.join(' ')}`.trim());
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run(process.argv.slice(2))
    .then((r) => {
      const md = toMarkdown(r.results as DatasetResult[], r.meta as Record<string, unknown>);
      process.stdout.write(md + '\n');
      process.exitCode = (r.results as DatasetResult[]).some((x) => x.error) ? 1 : 0;
    })
    .catch((e) => {
      process.stderr.write(`bench:quality: ${(e as Error).message}\n`);
      process.exitCode = 1;
    });
}

// segstudio evaluate-model -m MODEL -i IMAGES_DIR -r LABELS_DIR [-o OUT_DIR] [--folds ..] [--no-tta]
//                          [--pp auto|none|postprocessing.json]
// predict + postprocess + evaluate in one command: any model bundle on any labelled folder, with the per-label
// Dice table (mean ± sd over cases, n cases, foreground mean) printed and written as summary.json.
// nnU-Net: inference/predict_from_raw_data.py (predict), postprocessing/remove_connected_components.py
// (apply_postprocessing_to_folder), evaluation/evaluate_predictions.py (compute_metrics_on_folder).
import fs from 'node:fs';
import path from 'node:path';
import { SegStudioError } from '../../core/errors.ts';
import { readImageFile, writeSegmentation } from '../../core/io/index.ts';
import { labelOrRegionKey, type Summary } from '../../core/evaluation/metrics.ts';
import { parsePostprocessingJson, type PostprocessingJson } from '../../core/postprocessing/postprocessing.ts';
import { evaluationLabels, labelInfo, type LabelInfo } from '../../core/planning/dataset.ts';
import { cardLabelNames } from '../../core/inference/modelCard.ts';
import { applyPostprocessingFolder, evaluateFolders, findDatasetJson, readBytes, writeBytes } from '../../node/fsDataset.ts';
import { parseArgs, requireFlag, stderrProgress } from '../args.ts';

export const summary = 'predict + postprocess + evaluate a model bundle on a labelled folder: per-label Dice table, summary.json';

const USAGE = `usage: segstudio evaluate-model -m MODEL -i IMAGES_DIR -r LABELS_DIR [-o OUT_DIR] [--folds 0 1 ..] [--no-tta]
                                [--pp auto|none|FILE] [--step S] [--device cpu|webgpu] [--card FILE] [--threads N]
  -m MODEL        bundle folder, bundle .zip, or .onnx with a model card
  -i IMAGES_DIR   images with nnU-Net naming (CASE_0000.nii.gz, …); only cases with a reference are used
  -r LABELS_DIR   reference segmentations (CASE.nii.gz, …)
  -o OUT_DIR      where predictions/, postprocessed/ and summary.json go (default ./evaluate-model)
  --folds K ..    bundle folds to ensemble (default: all in the bundle)
  --no-tta        disable mirroring test-time augmentation
  --pp P          auto (default): the bundle's postprocessing.json if it has one; none; or a postprocessing.json
  --step S        sliding-window step as a fraction of the patch (default 0.5)
  --device D      cpu (default) or webgpu;  --card FILE  model card for a plain .onnx;  --threads N  ort threads
Writes OUT_DIR/summary.json (nnU-Net's summary format, of the final segmentations) and OUT_DIR/evaluation.json
(the table: per-label mean, sd, n; the same before postprocessing).`;

/** One row of the table: a label (or region) over the cases where its Dice is defined. */
export interface LabelRow {
  key: string;
  name: string;
  /** nanmean of the per-case Dice (nnU-Net's mean) */
  mean: number;
  /** sample standard deviation (n − 1) over the cases with a defined Dice; NaN for n < 2 */
  sd: number;
  /** cases with a defined Dice (label in reference or prediction) */
  n: number;
}

export interface DiceTable {
  rows: LabelRow[];
  /** nnU-Net's foreground_mean Dice (mean of the per-label means) */
  foregroundMean: number;
  cases: number;
}

/** Per-label mean ± sd table from an nnU-Net summary. */
export function diceTable(s: Summary, names: Record<string, string> = {}): DiceTable {
  const rows: LabelRow[] = Object.keys(s.mean).map((key) => {
    const v = s.metric_per_case.map((c) => c.metrics[key]?.Dice).filter((d): d is number => typeof d === 'number' && !Number.isNaN(d));
    const n = v.length;
    const mean = n ? v.reduce((a, b) => a + b, 0) / n : NaN;
    const sd = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
    return { key, name: names[key] ?? `label ${key}`, mean: s.mean[key].Dice, sd, n };
  });
  return { rows, foregroundMean: s.foreground_mean.Dice, cases: s.metric_per_case.length };
}

export function formatDiceTable(t: DiceTable): string {
  const f = (x: number) => (Number.isNaN(x) ? '   NaN' : x.toFixed(4));
  const w = Math.max(5, ...t.rows.map((r) => r.name.length));
  const lines = [`${'label'.padEnd(w)}  key       Dice mean ±     sd   n`];
  for (const r of t.rows) lines.push(`${r.name.padEnd(w)}  ${r.key.padEnd(8)}  ${f(r.mean)}    ± ${f(r.sd)}  ${String(r.n).padStart(3)}`);
  lines.push(`${'foreground mean'.padEnd(w)}            ${f(t.foregroundMean)}   (${t.cases} case${t.cases === 1 ? '' : 's'})`);
  return lines.join('\n');
}

function tableJson(t: DiceTable): unknown {
  const num = (x: number) => (Number.isNaN(x) ? null : x);
  return {
    cases: t.cases,
    foreground_mean_dice: num(t.foregroundMean),
    labels: t.rows.map((r) => ({ key: r.key, name: r.name, dice_mean: num(r.mean), dice_sd: num(r.sd), n: r.n })),
  };
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const p = parseArgs('evaluate-model', argv, [
    { names: ['-m', '--model'], key: 'model', kind: 'string' },
    { names: ['-i', '--input'], key: 'input', kind: 'string' },
    { names: ['-r', '--ref'], key: 'ref', kind: 'string' },
    { names: ['-o', '--output'], key: 'out', kind: 'string' },
    { names: ['-f', '--folds'], key: 'folds', kind: 'multi' },
    { names: ['--no-tta', '--disable_tta'], key: 'noTta', kind: 'boolean' },
    { names: ['--pp'], key: 'pp', kind: 'string' },
    { names: ['--step', '--step_size'], key: 'step', kind: 'number' },
    { names: ['--device'], key: 'device', kind: 'string' },
    { names: ['--card'], key: 'card', kind: 'string' },
    { names: ['--threads'], key: 'threads', kind: 'number' },
  ]);
  if (p.positional.length) throw new SegStudioError('usage', `evaluate-model: unexpected argument '${p.positional[0]}'\n${USAGE}`);
  const modelPath = requireFlag('evaluate-model', p, 'model', '-m MODEL');
  const imagesDir = requireFlag('evaluate-model', p, 'input', '-i IMAGES_DIR');
  const refDir = requireFlag('evaluate-model', p, 'ref', '-r LABELS_DIR');
  const outDir = (p.flags.out as string | undefined) ?? 'evaluate-model';
  for (const [d, what] of [[imagesDir, 'images'], [refDir, 'labels']] as const) {
    if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) throw new SegStudioError('usage', `${what} folder not found`, d);
  }
  const device = (p.flags.device as string | undefined) ?? 'cpu';
  if (device !== 'cpu' && device !== 'webgpu') throw new SegStudioError('usage', `evaluate-model: --device must be cpu or webgpu, got '${device}'`);
  const step = p.flags.step as number | undefined;
  if (step !== undefined && !(step > 0 && step <= 1)) throw new SegStudioError('usage', `evaluate-model: --step must be in (0, 1], got ${step}`);
  let folds: number[] | undefined;
  if (p.flags.folds) {
    folds = (p.flags.folds as string[]).flatMap((s) => s.split(',')).filter((s) => s !== '').map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) throw new SegStudioError('usage', `evaluate-model: --folds expects fold numbers, got '${s}'`);
      return n;
    });
  }
  const ppArg = (p.flags.pp as string | undefined) ?? 'auto';

  const nodePredict = await import('../../node/predictFiles.ts');
  const loaded = await nodePredict.loadModelFromPath(modelPath, p.flags.card as string | undefined);
  if (folds && loaded.kind === 'card') throw new SegStudioError('usage', '--folds applies to bundles only', modelPath);
  const model = nodePredict.selectFolds(loaded, folds);

  // labels to evaluate and their names: the bundle's dataset.json, else a dataset.json near the labels, else
  // the model card's class names with every nonzero value found
  let info: LabelInfo | null = null;
  let names: Record<string, string> = {};
  let fileEnding: string | undefined;
  if (model.kind === 'bundle') {
    info = labelInfo(model.dataset as Parameters<typeof labelInfo>[0], `${modelPath}/dataset.json`);
    if (typeof model.dataset.file_ending === 'string') fileEnding = model.dataset.file_ending;
  } else {
    const dj = findDatasetJson([refDir, path.join(refDir, '..')]);
    if (dj) {
      info = labelInfo(dj.json, dj.file);
      fileEnding = dj.json.file_ending;
    } else cardLabelNames(model.card).forEach((n, i) => i > 0 && (names[String(i)] = n));
  }
  if (info) {
    for (const l of evaluationLabels(info)) {
      const key = labelOrRegionKey(l);
      names[key] = Array.isArray(l) ? `region ${key}` : (info.names[l] ?? `label ${key}`);
    }
  }

  // cases: images with a same-named reference
  const allCases = nodePredict.groupInputs([imagesDir], fileEnding);
  const cases = allCases.filter((c) => fs.existsSync(path.join(refDir, c.caseId + c.ending)));
  if (cases.length === 0) {
    throw new SegStudioError('evaluate-model', `none of the ${allCases.length} case(s) in ${imagesDir} has a reference (CASE${allCases[0]?.ending ?? ''}) in the labels folder`, refDir);
  }
  const skipped = allCases.length - cases.length;

  // postprocessing
  let pp: PostprocessingJson | null = null;
  let ppSource = 'none';
  if (ppArg === 'auto') {
    if (model.kind === 'bundle' && model.postprocessing !== undefined) {
      pp = parsePostprocessingJson(JSON.stringify(model.postprocessing), `${modelPath}/postprocessing.json`);
      ppSource = `${modelPath}/postprocessing.json`;
    }
  } else if (ppArg !== 'none') {
    if (!fs.existsSync(ppArg)) throw new SegStudioError('usage', 'postprocessing file not found', ppArg);
    pp = parsePostprocessingJson(new TextDecoder().decode(readBytes(ppArg)), ppArg);
    ppSource = ppArg;
  }

  const predDir = path.join(outDir, 'predictions');
  const t0 = performance.now();
  const runners = await nodePredict.createRunnersForModel(model, { device, threads: p.flags.threads as number | undefined });
  try {
    process.stderr.write(
      `evaluate-model: ${cases.length} case(s)${skipped ? ` (${skipped} without a reference skipped)` : ''}, model ${modelPath}` +
        (model.kind === 'bundle' ? ` (${model.configuration}, folds ${model.folds.join(',')})` : ` (${model.card.name})`) +
        `, ${runners[0].device}, TTA ${p.flags.noTta ? 'off' : 'on'}, postprocessing ${ppSource}\n`,
    );
    await nodePredict.predictFiles(cases, model, runners, {
      output: predDir,
      tta: p.flags.noTta ? false : model.kind === 'bundle' ? true : undefined,
      stepSize: step,
      onCase: (done, total, caseId, res) => process.stderr.write(`evaluate-model: predicted ${caseId} (${done}/${total}) in ${(res.timings.totalMs / 1000).toFixed(1)} s\n`),
    });
  } finally {
    await Promise.all(runners.map((r) => r.dispose()));
  }
  const predictSeconds = (performance.now() - t0) / 1000;

  const codec = { readImage: readImageFile, writeSegmentation };
  const labelsOrRegions = info ? evaluationLabels(info) : undefined;
  const ignoreLabel = info?.ignoreLabel ?? null;
  const evalOpts = { codec, fileEnding: cases[0].ending, labelsOrRegions, ignoreLabel, onProgress: process.stderr.isTTY ? stderrProgress('evaluate') : undefined };
  const raw = await evaluateFolders(refDir, predDir, { ...evalOpts, outputFile: path.join(predDir, 'summary.json') });
  let final = raw;
  if (pp) {
    const ppDir = path.join(outDir, 'postprocessed');
    await applyPostprocessingFolder(predDir, ppDir, pp, { codec, fileEnding: cases[0].ending });
    final = await evaluateFolders(refDir, ppDir, { ...evalOpts, outputFile: path.join(ppDir, 'summary.json') });
  }
  writeBytes(path.join(outDir, 'summary.json'), fs.readFileSync(path.join(pp ? path.join(outDir, 'postprocessed') : predDir, 'summary.json')).toString());
  const tFinal = diceTable(final, names);
  const tRaw = diceTable(raw, names);
  writeBytes(
    path.join(outDir, 'evaluation.json'),
    JSON.stringify(
      {
        model: modelPath,
        configuration: model.kind === 'bundle' ? model.configuration : null,
        folds: model.kind === 'bundle' ? model.folds : null,
        tta: !p.flags.noTta,
        postprocessing: ppSource,
        images: imagesDir,
        labels: refDir,
        cases_skipped_without_reference: skipped,
        predict_seconds: predictSeconds,
        final: tableJson(tFinal),
        before_postprocessing: tableJson(tRaw),
      },
      null,
      1,
    ) + '\n',
  );
  const out = [formatDiceTable(tFinal)];
  if (pp) out.push(`(before postprocessing: foreground mean ${Number.isNaN(tRaw.foregroundMean) ? 'NaN' : tRaw.foregroundMean.toFixed(4)})`);
  out.push(`wrote ${path.join(outDir, 'summary.json')}`, `wrote ${path.join(outDir, 'evaluation.json')}`);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

// segstudio find-best RESULTS_DIR/<Dataset> -d DATASET_DIR [-c 2d 3d_fullres ...] [-f 0 1 2 3 4]
//                     [-tr TRAINER ...] [-p PLANS ...] [--no-ensembles] [--export-bundle OUT]
// nnUNetv2_find_best_configuration in Node: cross-validation results merged per configuration, pairwise
// ensembles, the winner by foreground-mean Dice, its postprocessing, inference_information.json and
// (optionally) the winning model bundle(s).
// nnU-Net: evaluation/find_best_configuration.py (find_best_configuration_entry_point).
import path from 'node:path';
import { SegStudioError } from '../../core/errors.ts';
import { resultsTable } from '../../core/evaluation/findBest.ts';
import { labelInfo } from '../../core/planning/dataset.ts';
import { findBestConfiguration, readDatasetJson } from '../../node/crossval.ts';
import { parseArgs, requireFlag } from '../args.ts';

export const summary = 'best configuration or pairwise ensemble from cross-validation, its postprocessing, the winning bundle';

const USAGE = `usage: segstudio find-best RESULTS_DIR/<Dataset> -d DATASET_DIR [-c CONFIG ...] [-f FOLD ...]
                           [-tr TRAINER ...] [-p PLANS ...] [--no-ensembles] [--predict-probabilities] [--export-bundle OUT]
  RESULTS_DIR/<Dataset>  what 'segstudio train -o RESULTS_DIR' wrote: <Trainer>__<Plans>__<CONFIG>/fold_N/validation/
  -d DATASET_DIR         the raw dataset (dataset.json, labelsTr/ = the references)
  -c CONFIG ...          configurations to consider, in this order (default: every trained one, nnU-Net's order
                         2d, 3d_fullres, 3d_lowres, 3d_cascade_fullres first); a named one must be trained
  -f FOLD ...            folds to merge (default 0 1 2 3 4); every fold needs its validation predictions
  -tr TRAINER ...        trainer names (default nnUNetTrainer);  -p PLANS ...  plans names (default nnUNetPlans)
  --no-ensembles         single configurations only (ensembles need fold_N/validation/CASE.npz probabilities)
  --predict-probabilities  predict the validation cases lacking CASE.npz again with each fold's bundle (from
                         DATASET_DIR/imagesTr, like nnUNetv2_train --val --npz) so that ensembles can be ranked
  --export-bundle OUT    write the winner's model bundle with postprocessing.json: OUT.zip or folder OUT; an
                         ensemble winner gives one bundle per member in OUT/ plus OUT/postprocessing.json
Writes <model>/crossval_results_folds_*/summary.json, ensembles/*/summary.json, the winner's postprocessing.json
and postprocessed/, RESULTS_DIR/<Dataset>/inference_information.json and inference_instructions.txt.
`;

function folds(v: unknown): number[] | undefined {
  if (v === undefined) return undefined;
  const out = (v as string[]).flatMap((s) => s.split(',')).filter((s) => s !== '').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new SegStudioError('usage', `find-best: -f expects fold numbers, got '${s}'`);
    return n;
  });
  if (new Set(out).size !== out.length) throw new SegStudioError('usage', 'find-best: -f lists a fold twice');
  return out;
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const p = parseArgs('find-best', argv, [
    { names: ['-d', '--dataset'], key: 'dataset', kind: 'string' },
    { names: ['-c', '--configurations'], key: 'configs', kind: 'multi' },
    { names: ['-f', '--folds'], key: 'folds', kind: 'multi' },
    { names: ['-tr', '--trainers'], key: 'trainers', kind: 'multi' },
    { names: ['-p', '--plans'], key: 'plans', kind: 'multi' },
    { names: ['--no-ensembles', '--disable_ensembling'], key: 'noEns', kind: 'boolean' },
    { names: ['--export-bundle'], key: 'export', kind: 'string' },
    { names: ['--predict-probabilities', '--npz'], key: 'predictProbs', kind: 'boolean' },
  ]);
  if (p.positional.length !== 1) throw new SegStudioError('usage', `find-best: expected one RESULTS_DIR/<Dataset> folder\n${USAGE}`);
  const resultsDir = path.resolve(p.positional[0]);
  const datasetDir = path.resolve(requireFlag('find-best', p, 'dataset', '-d DATASET_DIR'));
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const res = await findBestConfiguration(resultsDir, {
    datasetDir,
    folds: folds(p.flags.folds),
    configurations: p.flags.configs as string[] | undefined,
    trainers: p.flags.trainers as string[] | undefined,
    plans: p.flags.plans as string[] | undefined,
    allowEnsembles: !p.flags.noEns,
    exportBundle: p.flags.export as string | undefined,
    predictProbabilities: !!p.flags.predictProbs,
    log,
  });
  const info = labelInfo(readDatasetJson(datasetDir));
  const names: Record<string, string> = Object.fromEntries(Object.entries(info.names).map(([v, n]) => [v, n]));
  const out: string[] = ['Cross-validation results (mean over all validation cases):', resultsTable(res.results, res.bestIndex, names)];
  for (const s of res.skippedEnsembles) out.push(`skipped ${s.identifier}: ${s.reason}`);
  const best = res.results[res.bestIndex];
  out.push(`Best: ${best.identifier}: ${best.result}${res.ties.length > 1 ? ` (tied with ${res.ties.slice(1).map((i) => res.results[i].identifier).join(', ')}; the first wins)` : ''}`);
  const pp = res.postprocessing.pp;
  if (pp.postprocessing_fns.length === 0) out.push('Postprocessing: none (no step improved the cross-validation Dice)');
  else {
    out.push('Postprocessing:');
    for (const s of pp.postprocessing_fns) out.push(`  ${s.fn} on ${JSON.stringify(s.labels_or_regions)}`);
  }
  out.push(`  foreground mean Dice ${res.postprocessing.before.foreground_mean.Dice} → ${res.postprocessing.after.foreground_mean.Dice}`);
  out.push(`wrote ${res.postprocessingFile}`, `wrote ${res.informationFile}`, `wrote ${res.instructionsFile}`);
  for (const b of res.bundles) out.push(`wrote bundle ${b}`);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

// segstudio evaluate -r REF_DIR -p PRED_DIR [-o summary.json] [-l LABEL ...]
// nnU-Net: evaluation/evaluate_predictions.py (compute_metrics_on_folder, nnUNetv2_evaluate_folder).
import path from 'node:path';
import { readImageFile, writeSegmentation } from '../../core/io/index.ts';
import { evaluationLabels, labelInfo } from '../../core/planning/dataset.ts';
import { evaluateFolders, findDatasetJson, parseLabelArgs } from '../../node/fsDataset.ts';
import { parseArgs, requireFlag, stderrProgress } from '../args.ts';

export const summary = 'Dice, IoU, TP/FP/FN/TN per label for a folder of predictions → summary.json (nnU-Net layout)';

const USAGE = `usage: segstudio evaluate -r REF_DIR -p PRED_DIR [-o summary.json] [-l LABEL ...] [-d dataset.json]
                          [--ignore-label N] [--ending .nii.gz]
  -r REF_DIR        reference segmentations (e.g. DatasetXXX/labelsTr)
  -p PRED_DIR       predictions, same file names as the references
  -o FILE           summary.json path (default PRED_DIR/summary.json)
  -l LABEL ...      labels or regions to evaluate (1 2, or 1,2 for a region); default from dataset.json
                    (-d, REF_DIR/.., PRED_DIR), else every nonzero value present
  --ignore-label N  reference voxels with this value are not counted (default: dataset.json "ignore")
  --ending E        file ending (default: dataset.json file_ending, else any of .nii.gz .nii .png)`;

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs('evaluate', argv, [
    { names: ['-r', '--ref'], key: 'ref', kind: 'string' },
    { names: ['-p', '--pred'], key: 'pred', kind: 'string' },
    { names: ['-o', '--output'], key: 'out', kind: 'string' },
    { names: ['-l', '--labels'], key: 'labels', kind: 'multi' },
    { names: ['-d', '--dataset-json'], key: 'dj', kind: 'string' },
    { names: ['--ignore-label'], key: 'ignore', kind: 'number' },
    { names: ['--ending'], key: 'ending', kind: 'string' },
    { names: ['-h', '--help'], key: 'help', kind: 'boolean' },
  ]);
  if (p.flags.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const ref = requireFlag('evaluate', p, 'ref', '-r REF_DIR');
  const pred = requireFlag('evaluate', p, 'pred', '-p PRED_DIR');
  const dj = findDatasetJson([p.flags.dj as string | undefined, ref, path.join(ref, '..'), pred]);
  const info = dj ? labelInfo(dj.json, dj.file) : null;
  const labels = p.flags.labels ? parseLabelArgs(p.flags.labels as string[]) : info ? evaluationLabels(info) : undefined;
  const ignore = typeof p.flags.ignore === 'number' ? p.flags.ignore : (info?.ignoreLabel ?? null);
  const out = (p.flags.out as string | undefined) ?? path.join(pred, 'summary.json');
  const s = await evaluateFolders(ref, pred, {
    codec: { readImage: readImageFile, writeSegmentation },
    fileEnding: (p.flags.ending as string | undefined) ?? dj?.json.file_ending,
    labelsOrRegions: labels,
    ignoreLabel: ignore,
    outputFile: out,
    onProgress: process.stderr.isTTY ? stderrProgress('evaluate') : undefined,
  });
  const f = (x: number) => (Number.isNaN(x) ? 'NaN' : x.toFixed(4));
  const lines = [`${s.metric_per_case.length} case(s); labels ${Object.keys(s.mean).join(' ')}${dj ? ` (from ${dj.file})` : ''}`];
  for (const [k, m] of Object.entries(s.mean)) lines.push(`  label ${k.padEnd(8)} Dice ${f(m.Dice)}  IoU ${f(m.IoU)}`);
  lines.push(`  foreground mean Dice ${f(s.foreground_mean.Dice)}`, `wrote ${out}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

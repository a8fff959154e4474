// segstudio postprocess -i DIR -o DIR --pp postprocessing.json          (apply)
// segstudio postprocess --determine -i PRED_DIR -r REF_DIR [--pp FILE] [-o DIR]   (decide, nnU-Net rules)
// nnU-Net: postprocessing/remove_connected_components.py (determine_postprocessing, apply_postprocessing_to_folder).
import fs from 'node:fs';
import path from 'node:path';
import { readImageFile, writeSegmentation } from '../../core/io/index.ts';
import { SegStudioError } from '../../core/errors.ts';
import { parsePostprocessingJson } from '../../core/postprocessing/postprocessing.ts';
import { evaluationLabels, labelInfo } from '../../core/planning/dataset.ts';
import { flattenLabels } from '../../core/postprocessing/components.ts';
import {
  applyPostprocessingFolder,
  determinePostprocessingFolders,
  filesWithEnding,
  findDatasetJson,
  KNOWN_ENDINGS,
  parseLabelArgs,
  readBytes,
  readLabelFile,
} from '../../node/fsDataset.ts';
import { parseArgs, requireFlag, stderrProgress } from '../args.ts';

export const summary = 'apply postprocessing.json to a folder, or --determine it from predictions + references';

const USAGE = `usage: segstudio postprocess -i IN_DIR -o OUT_DIR --pp postprocessing.json [--ending E]
       segstudio postprocess --determine -i PRED_DIR -r REF_DIR [--pp OUT.json] [-o OUT_DIR]
                             [-d dataset.json] [-l LABEL ...] [--ending E]
  apply:      keeps the largest connected component as the steps in postprocessing.json say
  --determine nnU-Net's rules: "all foreground as one" accepted only if the foreground mean Dice strictly
              improves and no label gets worse; then each label on top, accepted if its Dice strictly improves.
              Writes postprocessing.json (default PRED_DIR/postprocessing.json) and, with -o, the
              postprocessed predictions plus their summary.json.`;

const codec = { readImage: readImageFile, writeSegmentation };

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs('postprocess', argv, [
    { names: ['-i', '--input'], key: 'in', kind: 'string' },
    { names: ['-o', '--output'], key: 'out', kind: 'string' },
    { names: ['-r', '--ref'], key: 'ref', kind: 'string' },
    { names: ['--pp'], key: 'pp', kind: 'string' },
    { names: ['--determine'], key: 'determine', kind: 'boolean' },
    { names: ['-d', '--dataset-json'], key: 'dj', kind: 'string' },
    { names: ['-l', '--labels'], key: 'labels', kind: 'multi' },
    { names: ['--ending'], key: 'ending', kind: 'string' },
    { names: ['-h', '--help'], key: 'help', kind: 'boolean' },
  ]);
  if (p.flags.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const input = requireFlag('postprocess', p, 'in', '-i DIR');
  const progress = process.stderr.isTTY ? stderrProgress('postprocess') : undefined;
  if (p.flags.determine) {
    const ref = requireFlag('postprocess', p, 'ref', '-r REF_DIR');
    const dj = findDatasetJson([p.flags.dj as string | undefined, input, ref, path.join(ref, '..')]);
    const ending = (p.flags.ending as string | undefined) ?? dj?.json.file_ending;
    let fg: number[];
    let lor;
    let ignore: number | null = null;
    if (p.flags.labels) {
      lor = parseLabelArgs(p.flags.labels as string[]);
      fg = flattenLabels(lor).filter((l) => l !== 0);
    } else if (dj) {
      const info = labelInfo(dj.json, dj.file);
      fg = info.foregroundLabels;
      lor = evaluationLabels(info);
      ignore = info.ignoreLabel;
    } else {
      // no dataset.json: every nonzero value in the references
      const vals = new Set<number>();
      for (const f of filesWithEnding(ref, ending ?? KNOWN_ENDINGS)) {
        const d = (await readLabelFile(codec, path.join(ref, f))).labels.data;
        for (let i = 0; i < d.length; i++) if (d[i] !== 0) vals.add(d[i]);
      }
      fg = [...vals].sort((a, b) => a - b);
      lor = fg;
    }
    const ppFile = (p.flags.pp as string | undefined) ?? path.join(input, 'postprocessing.json');
    const r = await determinePostprocessingFolders(input, ref, {
      codec,
      fileEnding: ending,
      foregroundLabels: fg,
      labelsOrRegions: lor,
      ignoreLabel: ignore,
      ppFile,
      outputDir: p.flags.out as string | undefined,
      onProgress: progress,
    });
    const f = (x: number) => (Number.isNaN(x) ? 'NaN' : x.toFixed(5));
    for (const c of r.pp.considered ?? [])
      process.stdout.write(
        `${c.accepted ? 'accepted' : 'rejected'}: largest component of ${JSON.stringify(c.step.labels_or_regions)}  Dice ${f(c.dice_before)} -> ${f(c.dice_after)}\n`,
      );
    process.stdout.write(`foreground mean Dice ${f(r.before.foreground_mean.Dice)} -> ${f(r.after.foreground_mean.Dice)}\nwrote ${ppFile}\n`);
    return 0;
  }
  const out = requireFlag('postprocess', p, 'out', '-o OUT_DIR');
  const ppPath = requireFlag('postprocess', p, 'pp', '--pp postprocessing.json');
  if (!fs.existsSync(ppPath)) throw new SegStudioError('postprocess', 'file not found', ppPath);
  const pp = parsePostprocessingJson(new TextDecoder().decode(readBytes(ppPath)), ppPath);
  const dj = findDatasetJson([p.flags.dj as string | undefined, input]);
  const files = await applyPostprocessingFolder(input, out, pp, {
    codec,
    fileEnding: (p.flags.ending as string | undefined) ?? dj?.json.file_ending,
    onProgress: progress,
  });
  process.stdout.write(`postprocessed ${files.length} file(s) with ${pp.postprocessing_fns.length} step(s) → ${out}\n`);
  return 0;
}

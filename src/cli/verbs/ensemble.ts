// segstudio ensemble -i DIR DIR ... -o OUT — mean of the members' CASE.npz probabilities, argmax.
// nnU-Net: ensembling/ensemble.py (ensemble_folders, merge_files).
import fs from 'node:fs';
import path from 'node:path';
import { readImageFile, writeSegmentation } from '../../core/io/index.ts';
import { SegStudioError } from '../../core/errors.ts';
import { labelInfo } from '../../core/planning/dataset.ts';
import type { ImageProperties } from '../../core/types.ts';
import { ensembleFolders, findDatasetJson, KNOWN_ENDINGS, readBytes, writeBytes } from '../../node/fsDataset.ts';
import { parseArgs, stderrProgress } from '../args.ts';

export const summary = 'average CASE.npz probabilities of several prediction folders and write the argmax';

const USAGE = `usage: segstudio ensemble -i DIR DIR [DIR ...] -o OUT_DIR [--save-probabilities]
                          [-d dataset.json] [--ending E] [--reference REF_DIR]
  -i DIR ...              prediction folders holding CASE.npz (key 'probabilities', float32 [C, ...spatial])
  -o OUT_DIR              writes CASE<ending> (and CASE.npz + CASE.json with --save-probabilities)
  geometry of each case:  CASE.json beside the first folder's CASE.npz (saved by predict), or
  --reference REF_DIR     an image on the same grid: REF_DIR/CASE<ending> or REF_DIR/CASE_0000<ending>
  --ending E              output file ending (default: dataset.json file_ending from -d or the first folder,
                          else the ending of the CASE.<ending> segmentations beside the first folder's .npz)`;

/** The ending of the segmentation predict wrote beside a CASE.npz (CASE.nii.gz / CASE.png ...), if any. */
function endingBesideNpz(dir: string): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const names = fs.readdirSync(dir);
  for (const n of names) {
    if (!n.endsWith('.npz')) continue;
    const id = n.slice(0, -4);
    for (const e of KNOWN_ENDINGS) if (names.includes(id + e)) return e;
  }
  return undefined;
}

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs('ensemble', argv, [
    { names: ['-i', '--input'], key: 'in', kind: 'multi' },
    { names: ['-o', '--output'], key: 'out', kind: 'string' },
    { names: ['--save-probabilities', '--save_npz', '--npz'], key: 'npz', kind: 'boolean' },
    { names: ['-d', '--dataset-json'], key: 'dj', kind: 'string' },
    { names: ['--ending'], key: 'ending', kind: 'string' },
    { names: ['--reference'], key: 'reference', kind: 'string' },
    { names: ['-h', '--help'], key: 'help', kind: 'boolean' },
  ]);
  if (p.flags.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const inputs = (p.flags.in as string[] | undefined) ?? [];
  if (inputs.length < 1) throw new SegStudioError('usage', `ensemble: give the prediction folders with -i\n${USAGE}`);
  const out = p.flags.out as string | undefined;
  if (!out) throw new SegStudioError('usage', `ensemble: missing required option -o OUT_DIR`);
  const dj = findDatasetJson([p.flags.dj as string | undefined, ...inputs]);
  const ending = (p.flags.ending as string | undefined) ?? dj?.json.file_ending ?? endingBesideNpz(inputs[0]);
  if (!ending)
    throw new SegStudioError('usage', 'ensemble: cannot tell the output file ending (no dataset.json, no CASE<ending> beside CASE.npz); pass --ending .nii.gz');
  const info = dj ? labelInfo(dj.json, dj.file) : null;
  const ref = p.flags.reference as string | undefined;
  const propertiesFor = ref
    ? async (caseId: string): Promise<ImageProperties> => {
        for (const name of [`${caseId}${ending}`, `${caseId}_0000${ending}`]) {
          const f = path.join(ref, name);
          if (fs.existsSync(f)) return readImageFile(readBytes(f), f).properties;
        }
        throw new SegStudioError('ensemble', `no ${caseId}${ending} or ${caseId}_0000${ending} for case geometry`, ref);
      }
    : undefined;
  const ids = await ensembleFolders(inputs, out, {
    codec: { readImage: readImageFile, writeSegmentation },
    fileEnding: ending,
    regionsClassOrder: info?.regionsClassOrder ?? null,
    saveProbabilities: Boolean(p.flags.npz),
    propertiesFor,
    onProgress: process.stderr.isTTY ? stderrProgress('ensemble') : undefined,
  });
  if (dj) writeBytes(path.join(out, 'dataset.json'), readBytes(dj.file));
  process.stdout.write(`ensembled ${ids.length} case(s) from ${inputs.length} folder(s) → ${out}\n`);
  return 0;
}

// segstudio verify DATASET_DIR — nnU-Net's --verify_dataset_integrity as a per-case report.
// Exit code 0 only when there is no error (warnings are listed but do not fail, as in nnU-Net).
import path from 'node:path';
import { readImageFile } from '../../core/io/index.ts';
import { formatVerifyReport, verifyDataset } from '../../core/planning/verify.ts';
import { nodeDatasetFiles, writeBytes } from '../../node/fsDataset.ts';
import { parseArgs, stderrProgress } from '../args.ts';
import { SegStudioError } from '../../core/errors.ts';

export const summary = 'check an nnU-Net raw dataset folder (dataset.json, names, channels, labels, geometry, NaN)';

const USAGE = `usage: segstudio verify DATASET_DIR [--json REPORT.json] [-q]
  DATASET_DIR      folder with dataset.json, imagesTr/, labelsTr/ (imagesTs/ optional)
  --json FILE      also write the full report as JSON
  -q, --quiet      print only problems and the verdict, not one line per case
  --strict         warnings fail too
exit code: 0 when no errors were found (no warnings either with --strict), 1 otherwise`;

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs('verify', argv, [
    { names: ['--json'], key: 'json', kind: 'string' },
    { names: ['-q', '--quiet'], key: 'quiet', kind: 'boolean' },
    { names: ['--strict'], key: 'strict', kind: 'boolean' },
    { names: ['-h', '--help'], key: 'help', kind: 'boolean' },
  ]);
  if (p.flags.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (p.positional.length !== 1) throw new SegStudioError('usage', `verify: expected one DATASET_DIR\n${USAGE}`);
  const dir = path.resolve(p.positional[0]);
  const report = await verifyDataset(nodeDatasetFiles(dir), {
    readImage: readImageFile,
    onProgress: process.stderr.isTTY ? stderrProgress('verify') : undefined,
  });
  let text = formatVerifyReport(report);
  if (p.flags.quiet) text = text.split('\n').filter((l) => !/^(ok  |warn|FAIL) /.test(l)).join('\n');
  process.stdout.write(text);
  if (typeof p.flags.json === 'string') writeBytes(p.flags.json, JSON.stringify(report, null, 2) + '\n');
  return report.ok && !(p.flags.strict && report.warnings > 0) ? 0 : 1;
}

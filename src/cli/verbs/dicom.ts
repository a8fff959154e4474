// segstudio dicom IN... -o OUT_DIR [--list] [--no-gzip]
// DICOM → NIfTI with the same dcm2niix WebAssembly build and pre-checks as the page (src/core/io/dicom):
// IN is a folder (searched recursively), DICOM files, or .zip archives. Each converted volume is written as
// OUT_DIR/<series number>_<description>.nii.gz (+ dcm2niix's anonymised BIDS sidecar .json), files that are
// not usable DICOM are named on stderr, and a table of the series is printed.
import fs from 'node:fs';
import path from 'node:path';
import { SegStudioError } from '../../core/errors.ts';
import { convertDicom, describeSkipped, type DicomInput } from '../../core/io/dicom/convert.ts';
import { unzipDicomInputs } from '../../core/io/dicom/zip.ts';
import { gzipAsync } from '../../core/io/gzip.ts';
import { nodeDcm2niixFactory } from '../../node/dcm2niixNode.ts';
import { parseArgs, stderrProgress } from '../args.ts';

export const summary = 'convert DICOM folders / files / zips to NIfTI with dcm2niix (WebAssembly, as in the browser)';

const USAGE = `usage: segstudio dicom IN [IN ...] -o OUT_DIR [--list] [--no-gzip]
  IN          a folder of DICOM files (searched recursively), DICOM files, or .zip archives of them
  -o OUT_DIR  where the NIfTI volumes go: <series>_<description>.nii.gz + .json sidecar
  --list      only list the series (no files written)
  --no-gzip   write .nii instead of .nii.gz
`;

function collect(p: string, out: DicomInput[], root: string): void {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  if (!st) throw new SegStudioError('usage', 'no such file or folder', p);
  if (st.isDirectory()) {
    for (const e of fs.readdirSync(p).sort()) collect(path.join(p, e), out, root);
    return;
  }
  const name = path.relative(root, p) || path.basename(p);
  const bytes = new Uint8Array(fs.readFileSync(p));
  if (/\.zip$/i.test(p)) out.push(...unzipDicomInputs(bytes, name));
  else out.push({ name, bytes });
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const p = parseArgs('dicom', argv, [
    { names: ['-o', '--output'], key: 'out', kind: 'string' },
    { names: ['--list'], key: 'list', kind: 'boolean' },
    { names: ['--no-gzip'], key: 'noGzip', kind: 'boolean' },
  ]);
  if (p.positional.length === 0) throw new SegStudioError('usage', `dicom: expected at least one IN\n${USAGE}`);
  const list = p.flags.list === true;
  const out = typeof p.flags.out === 'string' ? path.resolve(p.flags.out) : null;
  if (!list && !out) throw new SegStudioError('usage', `dicom: missing required option -o OUT_DIR (or --list)\n${USAGE}`);

  const inputs: DicomInput[] = [];
  for (const a of p.positional) {
    const abs = path.resolve(a);
    collect(abs, inputs, path.dirname(abs)); // names relative to IN's parent: 'study/t2/IM0001.dcm'
  }
  const res = await convertDicom(inputs, nodeDcm2niixFactory(), { onProgress: stderrProgress('dicom') });
  if (res.skipped.length) process.stderr.write(`dicom: ${res.skipped.length} file(s) left out — ${describeSkipped(res.skipped)}\n`);

  const rows = [['#', 'description', 'modality', 'voxels', 'voxel size (mm)', 'files', 'file']];
  if (out && !list) fs.mkdirSync(out, { recursive: true });
  for (const s of res.series) {
    let file = s.fileName;
    if (out && !list) {
      const gz = p.flags.noGzip !== true;
      file = gz ? `${s.fileName}.gz` : s.fileName;
      fs.writeFileSync(path.join(out, file), gz ? await gzipAsync(s.nifti) : s.nifti);
      if (s.sidecar) fs.writeFileSync(path.join(out, s.fileName.replace(/\.nii$/, '.json')), JSON.stringify(s.sidecar, null, 2));
    }
    rows.push([
      String(s.seriesNumber ?? ''),
      s.description,
      s.modality,
      s.dims.join('×'),
      s.voxelSize.map((v) => +v.toFixed(3)).join('×'),
      String(s.fileCount),
      file,
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  process.stdout.write(rows.map((r) => r.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd()).join('\n') + '\n');
  return 0;
}

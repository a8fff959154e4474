// Dataset integrity check, nnU-Net's --verify_dataset_integrity as a report instead of asserts.
// nnU-Net: experiment_planning/verify_dataset_integrity.py (verify_labels, check_cases,
// verify_dataset_integrity) — reproduced checks, with nnU-Net's severities:
//   errors:   missing dataset.json keys, numTraining ≠ cases found, a case without every channel, a training
//             case without label (or a label without image), labels not consecutive, unexpected label values
//             in a label file, NaN in images or labels, image/label shape or spacing mismatch (np.allclose),
//             channels of one case on different grids;
//   warnings: image/label origin or direction mismatch (nnU-Net prints a warning), a label file with only
//             background.
// Added here (all warnings unless noted): Inf in images (error, like NaN), non-integer label values (error),
// files whose ending differs from file_ending, mixed image dtypes, labels stored as floats, declared labels
// that never occur, case ids differing only in letter case, imagesTs naming/channels.
// `ok` is true when there is no error (warnings do not fail the check, as in nnU-Net).
import { SegStudioError, throwIfCancelled } from '../errors.ts';
import type { CancelSignal, Image, ProgressFn } from '../types.ts';
import {
  joinPath,
  labelInfo,
  listRawDataset,
  loadDatasetJson,
  type DatasetFiles,
  type DatasetJson,
  type LabelInfo,
  type LayoutProblem,
} from './dataset.ts';

export type VerifyProblem = LayoutProblem;

export interface VerifyCaseReport {
  id: string;
  images: string[];
  label?: string;
  /** spatial shape [z, y, x] of the first channel */
  shape?: number[];
  spacing?: number[];
  /** stored data type of each image file and of the label (e.g. 'float32', 'uint8', 'png-gray8') */
  imageDtypes?: string[];
  labelDtype?: string;
  /** label values found in the label file */
  labelValues?: number[];
  errors: number;
  warnings: number;
}

export interface VerifyReport {
  ok: boolean;
  dataset: { name?: string; numTraining: number; channels: Record<string, string>; fileEnding: string; labels: Record<string, unknown> } | null;
  problems: VerifyProblem[];
  cases: VerifyCaseReport[];
  errors: number;
  warnings: number;
}

export type ImageReader = (bytes: Uint8Array, fileName: string) => Image | Promise<Image>;

export interface VerifyOptions {
  /** dataset folder inside `files` ('' = the root of the listing) */
  root?: string;
  /** reads one image file into the pipeline's Image (io's readImageFile) */
  readImage: ImageReader;
  onProgress?: ProgressFn;
  signal?: CancelSignal;
  /** np.allclose tolerances for spacing / origin / direction (default rtol 1e-5, atol 1e-8 as numpy) */
  rtol?: number;
  atol?: number;
}

function allclose(a: readonly number[], b: readonly number[], rtol: number, atol: number): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= atol + rtol * Math.abs(b[i]))) return false;
  return true;
}

/** Stored data type of a file as the reader saw it (NIfTI datatype name, or png bit depth/colour). */
export function storedDtype(img: Image): string {
  const h = img.properties.header as Record<string, unknown> | undefined;
  if (h && typeof h === 'object') {
    if (typeof h.datatypeCode === 'number') {
      const names: Record<number, string> = {
        2: 'uint8', 4: 'int16', 8: 'int32', 16: 'float32', 64: 'float64', 128: 'rgb24', 256: 'int8',
        512: 'uint16', 768: 'uint32', 1024: 'int64', 1280: 'uint64',
      };
      return names[h.datatypeCode] ?? `datatype ${h.datatypeCode}`;
    }
    if (typeof h.depth === 'number') return `${img.properties.format}-${h.depth}bit`;
    if (typeof h.dtype === 'string') return h.dtype;
  }
  return img.properties.format;
}

/** origin (translation) and direction (unit columns) of a 4x4 voxel-to-world affine */
function originDirection(aff: number[][] | undefined): { origin: number[]; direction: number[] } | null {
  if (!aff || aff.length < 3) return null;
  const origin = [aff[0][3], aff[1][3], aff[2][3]];
  const direction: number[] = [];
  for (let c = 0; c < 3; c++) {
    const n = Math.hypot(aff[0][c], aff[1][c], aff[2][c]) || 1;
    for (let r = 0; r < 3; r++) direction.push(aff[r][c] / n);
  }
  return { origin, direction };
}

const fmtList = (v: readonly number[]) => `[${v.map((x) => +x.toPrecision(6)).join(', ')}]`;

/** Labels must be consecutive integers starting at 0 (ignore label included). */
export function labelConsecutiveProblem(info: LabelInfo): string | null {
  const expected = [...info.allLabels];
  if (info.ignoreLabel !== null) expected.push(info.ignoreLabel);
  const bad = expected.filter((v, i) => i > 0 && v - expected[i - 1] !== 1);
  if (expected[0] !== 0) return `labels must start at 0 (background), got ${expected[0]}`;
  if (bad.length) return `labels must be consecutive (0, 1, 2, ...); ${bad.join(', ')} break the sequence (declared: ${expected.join(', ')})`;
  return null;
}

/** Runs every check over the dataset in `files` and returns the report. Never throws for dataset problems. */
export async function verifyDataset(files: DatasetFiles, opts: VerifyOptions): Promise<VerifyReport> {
  const root = opts.root ?? '';
  const rtol = opts.rtol ?? 1e-5;
  const atol = opts.atol ?? 1e-8;
  const problems: VerifyProblem[] = [];
  const cases: VerifyCaseReport[] = [];
  const finish = (ds: DatasetJson | null): VerifyReport => {
    const errors = problems.filter((p) => p.severity === 'error').length;
    // per-case counts include the layout problems (missing channel, missing label, ...)
    const byCase = new Map(cases.map((c) => [c.id, c]));
    for (const c of cases) c.errors = c.warnings = 0;
    for (const p of problems) {
      const c = p.case !== null ? byCase.get(p.case) : undefined;
      if (!c) continue;
      if (p.severity === 'error') c.errors++;
      else c.warnings++;
    }
    return {
      ok: errors === 0,
      dataset: ds
        ? { name: ds.name, numTraining: ds.numTraining, channels: ds.channel_names, fileEnding: ds.file_ending, labels: ds.labels }
        : null,
      problems,
      cases,
      errors,
      warnings: problems.length - errors,
    };
  };
  let ds: DatasetJson;
  let info: LabelInfo;
  try {
    ds = await loadDatasetJson(files, root);
    info = labelInfo(ds, joinPath(root, 'dataset.json'));
  } catch (e) {
    if (e instanceof SegStudioError) {
      problems.push({ case: null, file: e.file ?? joinPath(root, 'dataset.json'), severity: 'error', problem: e.message.replace(`${e.file}: `, '') });
      return finish(null);
    }
    throw e;
  }
  const consecutive = labelConsecutiveProblem(info);
  if (consecutive) problems.push({ case: null, file: joinPath(root, 'dataset.json'), severity: 'error', problem: consecutive });
  if (ds.overwrite_image_reader_writer && !['SimpleITKIO', 'NibabelIO', 'NibabelIOWithReorient', 'NaturalImage2DIO'].includes(ds.overwrite_image_reader_writer))
    problems.push({ case: null, file: joinPath(root, 'dataset.json'), severity: 'warning', problem: `overwrite_image_reader_writer "${ds.overwrite_image_reader_writer}" is not supported here; the reader is chosen from the file ending` });

  const layout = await listRawDataset(files, ds, root);
  problems.push(...layout.problems);
  const nCh = Object.keys(ds.channel_names).length;
  const expected = new Set<number>(info.allLabels);
  if (info.ignoreLabel !== null) expected.add(info.ignoreLabel);
  const seenLabels = new Set<number>();
  const imageDtypeCount = new Map<string, number>();
  const total = layout.training.length;
  let done = 0;

  for (const c of layout.training) {
    throwIfCancelled(opts.signal);
    const rep: VerifyCaseReport = { id: c.id, images: c.images, label: c.label, errors: 0, warnings: 0 };
    const add = (file: string | null, severity: 'error' | 'warning', problem: string) => {
      problems.push({ case: c.id, file, severity, problem });
      if (severity === 'error') rep.errors++;
      else rep.warnings++;
    };
    const read = async (p: string): Promise<Image | null> => {
      try {
        return await opts.readImage(await files.read(p), p);
      } catch (e) {
        add(p, 'error', `cannot be read: ${e instanceof SegStudioError ? e.message.replace(`${e.file}: `, '') : (e as Error).message}`);
        return null;
      }
    };
    // images
    const imgs: Image[] = [];
    rep.imageDtypes = [];
    for (const p of c.images) {
      const img = await read(p);
      if (!img) continue;
      imgs.push(img);
      const dt = storedDtype(img);
      rep.imageDtypes.push(dt);
      imageDtypeCount.set(dt, (imageDtypeCount.get(dt) ?? 0) + 1);
      let nan = 0,
        inf = 0;
      const d = img.data;
      for (let i = 0; i < d.length; i++) {
        const v = d[i];
        if (v !== v) nan++;
        else if (v === Infinity || v === -Infinity) inf++;
      }
      if (nan) add(p, 'error', `image contains ${nan} NaN voxel(s); replace them with a meaningful value`);
      if (inf) add(p, 'error', `image contains ${inf} infinite voxel(s)`);
    }
    // nnU-Net counts channels after reading (check_cases: len(images) == expected_num_channels): RGB PNGs and
    // 4D NIfTIs hold several channels in one file. When the count is right, file-level channel notes go away.
    if (imgs.length === c.images.length && imgs.length > 0) {
      const total = imgs.reduce((a, im) => a + im.shape[0], 0);
      const notes = problems.filter((q) => q.case === c.id && q.code === 'channel-files');
      if (total === nCh) {
        for (const q of notes) problems.splice(problems.indexOf(q), 1);
      } else if (!notes.some((q) => q.severity === 'error')) {
        for (const q of notes) problems.splice(problems.indexOf(q), 1);
        add(null, 'error', `the image file(s) hold ${total} channel(s) but dataset.json declares ${nCh}`);
      }
    }
    const first = imgs[0];
    if (first) {
      rep.shape = first.shape.slice(1);
      rep.spacing = first.properties.spacing;
      for (let k = 1; k < imgs.length; k++) {
        const o = imgs[k];
        const f = o.properties.fileName ?? c.images[k];
        if (o.shape.slice(1).join() !== first.shape.slice(1).join())
          add(f, 'error', `channel shape ${fmtList(o.shape.slice(1))} differs from ${fmtList(first.shape.slice(1))} of ${c.images[0]}`);
        else if (!allclose(o.properties.spacing, first.properties.spacing, rtol, atol))
          add(f, 'error', `channel spacing ${fmtList(o.properties.spacing)} differs from ${fmtList(first.properties.spacing)} of ${c.images[0]}`);
      }
    }
    // label
    if (c.label) {
      const lab = await read(c.label);
      if (lab) {
        rep.labelDtype = storedDtype(lab);
        if (lab.shape[0] !== 1) add(c.label, 'error', `label has ${lab.shape[0]} channels; a label map must have one`);
        const d = lab.data;
        const values = new Set<number>();
        let nan = 0,
          frac = 0;
        for (let i = 0; i < d.length; i++) {
          const v = d[i];
          if (v !== v) {
            nan++;
            continue;
          }
          if (v !== Math.round(v)) frac++;
          values.add(v);
          if (values.size > 10000) break;
        }
        const sorted = [...values].sort((a, b) => a - b);
        rep.labelValues = sorted.slice(0, 64);
        if (nan) add(c.label, 'error', `label contains ${nan} NaN voxel(s)`);
        if (frac) add(c.label, 'error', `label contains ${frac} non-integer value(s)`);
        const unexpected = sorted.filter((v) => !expected.has(v));
        if (unexpected.length)
          add(c.label, 'error', `unexpected label value(s) ${unexpected.slice(0, 20).join(', ')}${unexpected.length > 20 ? ', ...' : ''} (declared: ${[...expected].sort((a, b) => a - b).join(', ')})`);
        if (sorted.length === 1 && sorted[0] === 0) add(c.label, 'warning', 'label contains only background (0)');
        for (const v of sorted) seenLabels.add(v);
        if (rep.labelDtype.startsWith('float')) add(c.label, 'warning', `label stored as ${rep.labelDtype} (values are read as integers)`);
        if (first) {
          const si = first.shape.slice(1);
          const sl = lab.shape.slice(1);
          if (si.join() !== sl.join()) add(c.label, 'error', `shape ${fmtList(sl)} differs from the image's ${fmtList(si)}`);
          if (!allclose(lab.properties.spacing, first.properties.spacing, rtol, atol))
            add(c.label, 'error', `spacing ${fmtList(lab.properties.spacing)} differs from the image's ${fmtList(first.properties.spacing)}`);
          const gi = originDirection(first.properties.affine);
          const gl = originDirection(lab.properties.affine);
          if (gi && gl) {
            if (!allclose(gl.origin, gi.origin, rtol, atol))
              add(c.label, 'warning', `origin ${fmtList(gl.origin)} differs from the image's ${fmtList(gi.origin)}`);
            if (!allclose(gl.direction, gi.direction, rtol, atol))
              add(c.label, 'warning', `direction ${fmtList(gl.direction)} differs from the image's ${fmtList(gi.direction)}`);
          }
        }
      }
    }
    cases.push(rep);
    opts.onProgress?.(++done, total, 'cases');
  }
  // dataset-level notes
  if (imageDtypeCount.size > 1)
    problems.push({
      case: null,
      file: null,
      severity: 'warning',
      problem: `mixed image data types: ${[...imageDtypeCount].map(([k, v]) => `${k} (${v})`).join(', ')}; intensities are normalized per case`,
    });
  if (layout.training.length > 0) {
    const never = info.foregroundLabels.filter((l) => !seenLabels.has(l));
    if (never.length)
      problems.push({ case: null, file: joinPath(root, 'dataset.json'), severity: 'warning', problem: `declared label(s) ${never.join(', ')} never occur in any training label` });
  }
  return finish(ds);
}

/** Human-readable report: one line per case, then the problems. */
export function formatVerifyReport(r: VerifyReport): string {
  const lines: string[] = [];
  if (r.dataset)
    lines.push(
      `dataset ${r.dataset.name ?? ''}: ${r.cases.length} training case(s), numTraining ${r.dataset.numTraining}, ` +
        `${Object.keys(r.dataset.channels).length} channel(s), file_ending ${r.dataset.fileEnding}`,
    );
  for (const c of r.cases) {
    const status = c.errors ? 'FAIL' : c.warnings ? 'warn' : 'ok  ';
    const geo = c.shape ? ` shape ${fmtList(c.shape)} spacing ${fmtList(c.spacing ?? [])}` : '';
    const dt = c.imageDtypes?.length ? ` ${c.imageDtypes.join('+')}` : '';
    const lv = c.labelValues ? ` labels {${c.labelValues.join(',')}}` : '';
    lines.push(`${status} ${c.id}${geo}${dt}${lv}`);
  }
  for (const p of r.problems)
    lines.push(`${p.severity === 'error' ? 'ERROR' : 'warning'}: ${p.case ? `[${p.case}] ` : ''}${p.file ? `${p.file}: ` : ''}${p.problem}`);
  lines.push(r.ok ? `OK: ${r.cases.length} case(s) verified, ${r.warnings} warning(s)` : `FAILED: ${r.errors} error(s), ${r.warnings} warning(s)`);
  return lines.join('\n') + '\n';
}

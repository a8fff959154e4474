// From a dropped nnU-Net raw dataset (folder files or a .zip) to what the Train view shows: the files relative
// to the dataset root, the integrity report (verify), the fingerprint summary and the plans with their
// plain-words explanations. Pure TypeScript over src/core (runs in the planning worker and in Node tests).
// nnU-Net: experiment_planning/plan_and_preprocess_entrypoints.py (verify → fingerprint → plan),
// experiment_planning/verify_dataset_integrity.py.
import { unzipSync } from 'fflate';
import { SegStudioError, throwIfCancelled } from '../../core/errors.ts';
import { readImageFile } from '../../core/io/files.ts';
import { checkZipEntry } from '../../core/io/zipGuard.ts';
import { memoryDatasetFiles, parseDatasetJson } from '../../core/planning/dataset.ts';
import { explainConfiguration, explainFingerprint } from '../../core/planning/explain.ts';
import type { DatasetFingerprint } from '../../core/planning/planner.ts';
import { planRawDataset } from '../../core/planning/planDataset.ts';
import type { Plans } from '../../core/planning/plans.ts';
import { verifyDataset, type VerifyReport } from '../../core/planning/verify.ts';
import type { CancelSignal } from '../../core/types.ts';
import type { ChannelStats, FingerprintSummary } from './types.ts';

/** Files the OS or archivers add that are never part of a dataset. */
const JUNK = /(^|\/)(__MACOSX|\.DS_Store|Thumbs\.db|desktop\.ini|\._[^/]*)(\/|$)/;

export interface DatasetEntries {
  /** path relative to the dataset root (dataset.json, imagesTr/…, labelsTr/…) → bytes */
  files: Map<string, Uint8Array>;
  /** the folder that held dataset.json inside the drop ('' when at the top) */
  root: string;
  /** dataset.json "name", else the root folder name, else the drop's name */
  name: string;
}

/** Dropped paths holding dataset.json and imagesTr/ (an nnU-Net raw dataset), not images or a model bundle. */
export function looksLikeRawDataset(files: { path: string }[]): boolean {
  const paths = files.map((f) => f.path.replace(/\\/g, '/'));
  return paths.some((p) => /(^|\/)dataset\.json$/.test(p)) && paths.some((p) => /(^|\/)imagesTr\//.test(p));
}

/**
 * Finds the dataset root (the shallowest folder holding dataset.json) among dropped paths and keeps only the
 * files below it, relative to it. Throws naming the drop when there is no dataset.json.
 */
export function datasetEntriesFromPaths(entries: Map<string, Uint8Array>, sourceName: string): DatasetEntries {
  const norm = (p: string) => p.replace(/\\/g, '/').replace(/^\.?\/+/, '');
  const clean = new Map<string, Uint8Array>();
  for (const [k, v] of entries) {
    const p = norm(k);
    if (!p || p.endsWith('/') || JUNK.test(p)) continue;
    clean.set(p, v);
  }
  const djs = [...clean.keys()]
    .filter((k) => k === 'dataset.json' || k.endsWith('/dataset.json'))
    .sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  if (djs.length === 0)
    throw new SegStudioError(
      'dataset',
      'no dataset.json found: drop an nnU-Net raw dataset folder (dataset.json, imagesTr/, labelsTr/) or a .zip of one',
      sourceName,
    );
  const root = djs[0].slice(0, -'dataset.json'.length).replace(/\/$/, '');
  const pre = root ? `${root}/` : '';
  const files = new Map<string, Uint8Array>();
  for (const [k, v] of clean) if (k.startsWith(pre)) files.set(k.slice(pre.length), v);
  let name = root ? root.split('/').pop()! : sourceName.replace(/\.zip$/i, '');
  try {
    const ds = parseDatasetJson(files.get('dataset.json')!, `${pre}dataset.json`);
    if (typeof ds.name === 'string' && ds.name.trim()) name = ds.name.trim();
  } catch {
    /* verify reports a broken dataset.json with its reason */
  }
  return { files, root, name };
}

/** A dropped .zip → the dataset's entries (refusing archives whose headers claim absurd sizes, see zipGuard). */
export function datasetEntriesFromZip(bytes: Uint8Array, fileName: string): DatasetEntries {
  let raw: Record<string, Uint8Array>;
  try {
    raw = unzipSync(bytes, { filter: (f) => (checkZipEntry(f, fileName, bytes.length), !f.name.endsWith('/')) });
  } catch (e) {
    if (e instanceof SegStudioError) throw e;
    throw new SegStudioError('zip', `not a readable zip archive: ${(e as Error).message}`, fileName);
  }
  return datasetEntriesFromPaths(new Map(Object.entries(raw)), fileName);
}

const medianOf = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

/** Per-axis median / min / max of spacings and cropped shapes, and the per-channel foreground intensity statistics. */
export function summarizeFingerprint(fp: DatasetFingerprint, channelNames: Record<string, string>): FingerprintSummary {
  const axes = fp.spacings[0]?.length ?? 0;
  const per = (rows: number[][], f: (v: number[]) => number) => Array.from({ length: axes }, (_, k) => f(rows.map((r) => r[k])));
  const channels: ChannelStats[] = Object.entries(fp.foreground_intensity_properties_per_channel).map(([k, p]) => ({
    channel: k,
    name: channelNames[k] ?? `channel ${k}`,
    mean: p.mean,
    median: p.median,
    std: p.std,
    min: p.min,
    max: p.max,
    p005: p.percentile_00_5,
    p995: p.percentile_99_5,
  }));
  return {
    cases: fp.spacings.length,
    medianSpacing: per(fp.spacings, medianOf),
    minSpacing: per(fp.spacings, (v) => Math.min(...v)),
    maxSpacing: per(fp.spacings, (v) => Math.max(...v)),
    medianShape: per(fp.shapes_after_crop, medianOf),
    minShape: per(fp.shapes_after_crop, (v) => Math.min(...v)),
    maxShape: per(fp.shapes_after_crop, (v) => Math.max(...v)),
    channels,
    text: explainFingerprint(fp),
  };
}

/** The configurations of a plans file in nnU-Net's order (2d, 3d_lowres, 3d_fullres, 3d_cascade_fullres, others). */
export function configurationNames(plans: Plans): string[] {
  const order = ['2d', '3d_fullres', '3d_lowres', '3d_cascade_fullres'];
  const names = Object.keys(plans.configurations ?? {});
  return names.sort((a, b) => {
    const ia = order.indexOf(a), ib = order.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
}

export interface AnalyzeProgress {
  (stage: string, done: number, total: number, unit: string): void;
}

export interface DatasetAnalysis {
  report: VerifyReport;
  caseIds: string[];
  channels: Record<string, string>;
  labels: Record<string, unknown>;
  fingerprint: FingerprintSummary | null;
  plans: Plans | null;
  /** why no plans could be made (broken cases, no labelled cases …) */
  planError: string | null;
  splits: { train: string[]; val: string[] }[] | null;
  explanations: Record<string, string>;
  /** nnU-Net's file texts, for download */
  fingerprintJson: string | null;
  plansJson: string | null;
}

/** verify → fingerprint → plans → splits over a dataset held in memory. Dataset problems go in the report, not throws. */
export async function analyzeDataset(
  entries: DatasetEntries,
  opts: {
    onProgress?: AnalyzeProgress;
    signal?: CancelSignal;
    gpuMemoryTargetGB?: number;
    /** foreground samples for the intensity statistics (nnU-Net: 10e7 over the dataset); lower only for quick tests */
    numForegroundVoxels?: number;
  } = {},
): Promise<DatasetAnalysis> {
  const files = memoryDatasetFiles(entries.files);
  const report = await verifyDataset(files, {
    readImage: readImageFile,
    signal: opts.signal,
    onProgress: (d, t) => opts.onProgress?.('verifying the dataset', d, t, 'cases'),
  });
  throwIfCancelled(opts.signal);
  const out: DatasetAnalysis = {
    report,
    caseIds: report.cases.map((c) => c.id),
    channels: report.dataset?.channels ?? {},
    labels: report.dataset?.labels ?? {},
    fingerprint: null,
    plans: null,
    planError: null,
    splits: null,
    explanations: {},
    fingerprintJson: null,
    plansJson: null,
  };
  if (!report.ok) {
    out.planError = `the integrity check found ${report.errors} error${report.errors === 1 ? '' : 's'}: fix them before planning and training`;
    return out;
  }
  try {
    const planned = await planRawDataset(files, '', {
      readImage: readImageFile,
      signal: opts.signal,
      onProgress: (d, t) => opts.onProgress?.('fingerprint and plans', d, t, 'cases'),
      datasetName: entries.name,
      gpuMemoryTargetGB: opts.gpuMemoryTargetGB,
      numForegroundVoxels: opts.numForegroundVoxels,
    });
    out.caseIds = planned.caseIds;
    out.fingerprint = summarizeFingerprint(planned.fingerprint, planned.datasetJson.channel_names);
    out.plans = planned.plans;
    out.splits = planned.splits;
    out.fingerprintJson = planned.fingerprintJson;
    out.plansJson = planned.plansJson;
    for (const c of configurationNames(planned.plans)) out.explanations[c] = explainConfiguration(planned.plans, c);
  } catch (e) {
    if ((e as { code?: string }).code === 'cancelled') throw e;
    const se = e as SegStudioError;
    out.planError = se.file ? `${se.file}: ${se.message}` : String((e as Error).message ?? e);
  }
  return out;
}

// Node adapters for the dataset/evaluation/ensembling code: a DatasetFiles over the file system, and small
// folder helpers the CLI verbs share (list files with an ending, read/write bytes, make folders).
import fs from 'node:fs';
import path from 'node:path';
import { SegStudioError } from '../core/errors.ts';
import { parseDatasetJson, type DatasetFiles, type DatasetJson } from '../core/planning/dataset.ts';
import type { Image, ImageProperties, LabelMap, ProgressFn } from '../core/types.ts';
import {
  computeMetrics,
  labelOrRegionKey,
  summarize,
  summaryToJson,
  type CaseMetrics,
  type LabelOrRegion,
  type Summary,
} from '../core/evaluation/metrics.ts';
import {
  applyPostprocessing,
  determinePostprocessing,
  postprocessingToJson,
  type DeterminePostprocessingResult,
  type PostprocessingJson,
} from '../core/postprocessing/postprocessing.ts';
import { ensembleCase } from '../core/ensembling/ensemble.ts';
import { readNpzKey, writeNpz } from '../core/ensembling/npz.ts';

/**
 * DatasetFiles over the local file system. Paths given to list/read are relative to `base` (absolute paths
 * are used as they are). `list` returns the names of regular files (symlinks followed), [] for a missing dir.
 */
export function nodeDatasetFiles(base = '.'): DatasetFiles {
  const abs = (p: string) => (path.isAbsolute(p) ? p : path.resolve(base, p || '.'));
  return {
    list(dir: string): string[] {
      const d = abs(dir);
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(d, { withFileTypes: true });
      } catch {
        return [];
      }
      return entries
        .filter((e) => e.isFile() || (e.isSymbolicLink() && fs.statSync(path.join(d, e.name), { throwIfNoEntry: false })?.isFile()))
        .map((e) => e.name)
        .sort();
    },
    async read(p: string): Promise<Uint8Array> {
      try {
        const b = await fs.promises.readFile(abs(p));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        throw new SegStudioError('read', `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, p);
      }
    },
  };
}

/** Names of the files in `dir` ending with `ending` (sorted); an error naming the folder if it is missing. */
export function filesWithEnding(dir: string, ending: string | string[]): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new SegStudioError('folder', 'folder not found', dir);
  const ends = Array.isArray(ending) ? ending : [ending];
  return fs
    .readdirSync(dir)
    .filter((f) => ends.some((e) => f.endsWith(e)) && fs.statSync(path.join(dir, f)).isFile())
    .sort();
}

/** Reads a file as Uint8Array, with a SegStudioError naming it when that fails. */
export function readBytes(file: string): Uint8Array {
  try {
    const b = fs.readFileSync(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new SegStudioError('read', `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file);
  }
}

export function writeBytes(file: string, data: Uint8Array | string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
  } catch (e) {
    throw new SegStudioError('write', `cannot write file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file);
  }
}

export function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new SegStudioError('write', `cannot create folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, dir);
  }
}

/** The known segmentation/image endings, longest first (so .nii.gz wins over .gz). */
export const KNOWN_ENDINGS = ['.nii.gz', '.nii', '.png', '.bmp', '.tif', '.tiff'];

/** The file ending of a name among KNOWN_ENDINGS, or null. */
export function knownEnding(name: string): string | null {
  return KNOWN_ENDINGS.find((e) => name.toLowerCase().endsWith(e)) ?? null;
}

// ---------------------------------------------------------------------------------------------------------
// Folder-level wrappers (nnU-Net's *_folder functions) over the pure core code. Image decoding/encoding is
// passed in as a codec (the CLI hands in src/core/io), so these stay testable without real files.
// ---------------------------------------------------------------------------------------------------------
export interface SegmentationCodec {
  /** decode an image or label file (io's readImageFile) */
  readImage(bytes: Uint8Array, fileName: string): Image | Promise<Image>;
  /** encode a label map on the grid described by props (io's writeSegmentation) */
  writeSegmentation(labels: LabelMap, props: ImageProperties, fileName: string): Uint8Array | Promise<Uint8Array>;
}

/** A label file as a label map ([z, y, x]) plus the geometry to write results back. */
export async function readLabelFile(codec: SegmentationCodec, file: string): Promise<{ labels: LabelMap; properties: ImageProperties }> {
  const img = await codec.readImage(readBytes(file), file);
  if (img.shape[0] !== 1)
    throw new SegStudioError('label', `a label map must have one channel, this file has ${img.shape[0]}`, file);
  const src = img.data;
  let max = 0;
  let min = 0;
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (v !== v) throw new SegStudioError('label', 'label map contains NaN', file);
    if (v > max) max = v;
    if (v < min) min = v;
  }
  const data = min >= 0 && max < 256 ? new Uint8Array(src.length) : min >= 0 && max < 65536 ? new Uint16Array(src.length) : new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) data[i] = Math.round(src[i]);
  return { labels: { data, shape: img.shape.slice(1) }, properties: img.properties };
}

function endingsOf(fileEnding?: string): string[] {
  return fileEnding ? [fileEnding] : KNOWN_ENDINGS;
}

export interface EvaluateFoldersOptions {
  codec: SegmentationCodec;
  /** dataset.json file_ending; default: any known image ending */
  fileEnding?: string;
  /** labels or regions to evaluate; default: every nonzero value found in the references or predictions */
  labelsOrRegions?: LabelOrRegion[];
  ignoreLabel?: number | null;
  /** write summary.json here */
  outputFile?: string;
  onProgress?: ProgressFn;
}

/** compute_metrics_on_folder: every prediction in predDir against the same-named file in refDir. */
export async function evaluateFolders(refDir: string, predDir: string, opts: EvaluateFoldersOptions): Promise<Summary> {
  const ends = endingsOf(opts.fileEnding);
  const preds = filesWithEnding(predDir, ends);
  const refs = new Set(filesWithEnding(refDir, ends));
  if (preds.length === 0) throw new SegStudioError('evaluate', `no prediction files ending in ${ends.join(' / ')}`, predDir);
  const missing = preds.filter((f) => !refs.has(f));
  if (missing.length)
    throw new SegStudioError('evaluate', `no reference for prediction(s) ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`, refDir);
  const fixed = opts.labelsOrRegions;
  const perCase: { m: CaseMetrics; used: number }[] = [];
  const found = new Set<number>();
  for (let i = 0; i < preds.length; i++) {
    const refFile = path.join(refDir, preds[i]);
    const predFile = path.join(predDir, preds[i]);
    const ref = await readLabelFile(opts.codec, refFile);
    const pred = await readLabelFile(opts.codec, predFile);
    if (ref.labels.shape.join() !== pred.labels.shape.join())
      throw new SegStudioError('evaluate', `shape [${pred.labels.shape.join(', ')}] differs from the reference's [${ref.labels.shape.join(', ')}]`, predFile);
    let lor = fixed;
    if (!lor) {
      const vals = new Set<number>();
      for (const d of [ref.labels.data, pred.labels.data]) for (let k = 0; k < d.length; k++) if (d[k] !== 0) vals.add(d[k]);
      if (opts.ignoreLabel !== undefined && opts.ignoreLabel !== null) vals.delete(opts.ignoreLabel);
      vals.forEach((v) => found.add(v));
      lor = [...vals].sort((a, b) => a - b);
    }
    let used = ref.labels.data.length;
    if (opts.ignoreLabel !== undefined && opts.ignoreLabel !== null) {
      used = 0;
      for (let k = 0; k < ref.labels.data.length; k++) if (ref.labels.data[k] !== opts.ignoreLabel) used++;
    }
    const metrics = computeMetrics(ref.labels.data, pred.labels.data, lor, opts.ignoreLabel, predFile);
    perCase.push({ m: { reference_file: refFile, prediction_file: predFile, metrics }, used });
    opts.onProgress?.(i + 1, preds.length, 'evaluate');
  }
  const labels: LabelOrRegion[] = fixed ?? [...found].sort((a, b) => a - b);
  if (!fixed) {
    // a label absent from both reference and prediction of a case: TP = FP = FN = 0 → Dice NaN (as nnU-Net)
    for (const { m, used } of perCase)
      for (const l of labels) {
        const k = labelOrRegionKey(l);
        if (!m.metrics[k]) m.metrics[k] = { Dice: NaN, IoU: NaN, FP: 0, TP: 0, FN: 0, TN: used, n_pred: 0, n_ref: 0 };
      }
    for (const { m } of perCase) m.metrics = Object.fromEntries(labels.map((l) => [labelOrRegionKey(l), m.metrics[labelOrRegionKey(l)]]));
  }
  const summary = summarize(perCase.map((p) => p.m), labels);
  if (opts.outputFile) writeBytes(opts.outputFile, summaryToJson(summary));
  return summary;
}

export interface DeterminePostprocessingFoldersOptions {
  codec: SegmentationCodec;
  fileEnding?: string;
  foregroundLabels: number[];
  labelsOrRegions?: LabelOrRegion[];
  ignoreLabel?: number | null;
  /** where postprocessing.json goes (default predDir/postprocessing.json) */
  ppFile?: string;
  /** write the postprocessed predictions (and their summary.json) here, like nnU-Net's predDir/postprocessed */
  outputDir?: string;
  onProgress?: ProgressFn;
}

/** determine_postprocessing over folders: loads every prediction/reference pair, decides, writes the JSON. */
export async function determinePostprocessingFolders(
  predDir: string,
  refDir: string,
  opts: DeterminePostprocessingFoldersOptions,
): Promise<DeterminePostprocessingResult> {
  const ends = endingsOf(opts.fileEnding);
  const preds = filesWithEnding(predDir, ends);
  const refs = new Set(filesWithEnding(refDir, ends));
  const use = preds.filter((f) => refs.has(f));
  if (use.length === 0) throw new SegStudioError('postprocess', 'no prediction has a same-named reference', predDir);
  const cases = [];
  const props: ImageProperties[] = [];
  for (const f of use) {
    const r = await readLabelFile(opts.codec, path.join(refDir, f));
    const p = await readLabelFile(opts.codec, path.join(predDir, f));
    cases.push({ referenceFile: path.join(refDir, f), predictionFile: path.join(predDir, f), reference: r.labels, prediction: p.labels });
    props.push(p.properties);
  }
  const res = determinePostprocessing(cases, {
    foregroundLabels: opts.foregroundLabels,
    labelsOrRegions: opts.labelsOrRegions,
    ignoreLabel: opts.ignoreLabel,
    onProgress: opts.onProgress,
  });
  writeBytes(opts.ppFile ?? path.join(predDir, 'postprocessing.json'), postprocessingToJson(res.pp));
  if (opts.outputDir) {
    ensureDir(opts.outputDir);
    for (let i = 0; i < use.length; i++) {
      const out = path.join(opts.outputDir, use[i]);
      writeBytes(out, await opts.codec.writeSegmentation(res.postprocessed[i], props[i], out));
    }
    const after = { ...res.after, metric_per_case: res.after.metric_per_case.map((m, i) => ({ ...m, prediction_file: path.join(opts.outputDir!, use[i]) })) };
    writeBytes(path.join(opts.outputDir, 'summary.json'), summaryToJson(after));
  }
  return res;
}

/** apply_postprocessing_to_folder: every segmentation of inDir, postprocessed, written under the same name in outDir. */
export async function applyPostprocessingFolder(
  inDir: string,
  outDir: string,
  pp: PostprocessingJson,
  opts: { codec: SegmentationCodec; fileEnding?: string; onProgress?: ProgressFn },
): Promise<string[]> {
  const files = filesWithEnding(inDir, endingsOf(opts.fileEnding));
  if (files.length === 0) throw new SegStudioError('postprocess', 'no segmentation files found', inDir);
  if (path.resolve(inDir) === path.resolve(outDir))
    throw new SegStudioError('postprocess', 'output folder must differ from the input folder', outDir);
  ensureDir(outDir);
  for (let i = 0; i < files.length; i++) {
    const src = path.join(inDir, files[i]);
    const { labels, properties } = await readLabelFile(opts.codec, src);
    const out = path.join(outDir, files[i]);
    writeBytes(out, await opts.codec.writeSegmentation(applyPostprocessing(labels, pp), properties, out));
    opts.onProgress?.(i + 1, files.length, 'postprocess');
  }
  return files;
}

export interface EnsembleFoldersOptions {
  codec: SegmentationCodec;
  /** ending of the written segmentations (dataset.json file_ending) */
  fileEnding: string;
  regionsClassOrder?: number[] | null;
  saveProbabilities?: boolean;
  /** geometry for a case: defaults to CASE.json beside the first member's CASE.npz, else an error */
  propertiesFor?: (caseId: string) => Promise<ImageProperties>;
  onProgress?: ProgressFn;
}

/** Reads the properties JSON an inference run saved beside CASE.npz ({...ImageProperties} or {properties: ...}). */
export function readPropertiesJson(file: string): ImageProperties {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder().decode(readBytes(file)));
  } catch (e) {
    if (e instanceof SegStudioError) throw e;
    throw new SegStudioError('properties', `not valid JSON: ${(e as Error).message}`, file);
  }
  const p = (o.properties && typeof o.properties === 'object' ? o.properties : o) as ImageProperties;
  if (!Array.isArray(p.spacing) || (p.format !== 'nifti' && p.format !== 'png'))
    throw new SegStudioError('properties', 'expected image properties with "format" and "spacing"', file);
  return p;
}

/** ensemble_folders: mean of CASE.npz 'probabilities' over the folders, argmax, written as CASE<ending>. */
export async function ensembleFolders(inDirs: string[], outDir: string, opts: EnsembleFoldersOptions): Promise<string[]> {
  if (inDirs.length === 0) throw new SegStudioError('ensemble', 'no input folders given');
  const lists = inDirs.map((d) => new Set(filesWithEnding(d, '.npz')));
  const all = new Set<string>();
  lists.forEach((l) => l.forEach((f) => all.add(f)));
  if (all.size === 0) throw new SegStudioError('ensemble', 'no .npz probability files (predict with --save-probabilities)', inDirs[0]);
  for (let i = 0; i < inDirs.length; i++) {
    const miss = [...all].filter((f) => !lists[i].has(f));
    if (miss.length)
      throw new SegStudioError('ensemble', `missing ${miss.slice(0, 5).join(', ')}: every folder must hold the same cases`, inDirs[i]);
  }
  ensureDir(outDir);
  const names = [...all].sort();
  for (let k = 0; k < names.length; k++) {
    const caseId = names[k].slice(0, -4);
    const files = inDirs.map((d) => path.join(d, names[k]));
    const members = files.map((f) => readNpzKey(readBytes(f), 'probabilities', f));
    const res = ensembleCase(members, { regionsClassOrder: opts.regionsClassOrder, names: files });
    let props: ImageProperties;
    if (opts.propertiesFor) props = await opts.propertiesFor(caseId);
    else {
      const pj = path.join(inDirs[0], `${caseId}.json`);
      if (!fs.existsSync(pj))
        throw new SegStudioError('ensemble', `no geometry for case ${caseId}: ${caseId}.json is missing (or pass a reference folder)`, inDirs[0]);
      props = readPropertiesJson(pj);
    }
    const out = path.join(outDir, caseId + opts.fileEnding);
    writeBytes(out, await opts.codec.writeSegmentation(res.segmentation, props, out));
    if (opts.saveProbabilities) {
      writeBytes(path.join(outDir, `${caseId}.npz`), writeNpz({ probabilities: res.probabilities }));
      const pj = path.join(inDirs[0], `${caseId}.json`);
      if (fs.existsSync(pj)) fs.copyFileSync(pj, path.join(outDir, `${caseId}.json`));
    }
    opts.onProgress?.(k + 1, names.length, 'ensemble');
  }
  return names.map((n) => n.slice(0, -4));
}

/**
 * First dataset.json found among `candidates` (files or folders holding one), parsed; null when none exists.
 * Used by the CLI: -d FILE, then beside the reference folder (REF/dataset.json, REF/../dataset.json), then
 * the predictions folder (nnU-Net copies dataset.json there).
 */
export function findDatasetJson(candidates: (string | undefined)[]): { file: string; json: DatasetJson } | null {
  for (const c of candidates) {
    if (!c) continue;
    const file = fs.existsSync(c) && fs.statSync(c).isDirectory() ? path.join(c, 'dataset.json') : c;
    if (fs.existsSync(file) && fs.statSync(file).isFile()) return { file, json: parseDatasetJson(readBytes(file), file) };
  }
  return null;
}

/** CLI label arguments: "1" → 1, "1,2" / "(1, 2)" / "[1,2]" → region [1, 2]. */
export function parseLabelArgs(args: string[]): LabelOrRegion[] {
  return args.map((a) => {
    const t = a.trim();
    if (/^-?\d+$/.test(t)) return Number(t);
    const parts = t.replace(/[()[\]\s]/g, '').split(',').filter((s) => s !== '');
    if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p)))
      throw new SegStudioError('usage', `cannot read label '${a}': use an integer or a comma-separated region like 1,2`);
    return parts.length === 1 ? Number(parts[0]) : parts.map(Number);
  });
}

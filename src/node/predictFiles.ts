// Node side of `segstudio predict`: load a model (bundle folder, bundle .zip, or .onnx + model card),
// create onnxruntime-node runners, group input files into cases (nnU-Net naming CASE_XXXX.ext), predict
// each case and write CASE.ext (+ CASE.npz / CASE.json with --save-probabilities).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SegStudioError } from '../core/errors.ts';
import { writeNpz } from '../core/ensembling/npz.ts';
import { readImageFile, writeSegmentation } from '../core/io/files.ts';
import { loadBundle, unzipBundle } from '../core/inference/bundle.ts';
import { memoryBudget, measureThroughput, type MemoryBudget } from '../core/inference/memory.ts';
import { parseModelCard, type CardModel } from '../core/inference/modelCard.ts';
import { cachedNetworkCost, checkChannelCount, modelNetworks, predictCase, type LoadedModel, type PredictOptions, type PredictResult } from '../core/inference/predictor.ts';
import type { NetworkRunner } from '../core/inference/runner.ts';
import type { Image, ImageProperties, ProgressFn } from '../core/types.ts';
import { createOrtNodeRunner } from './ortNodeRunner.ts';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const IMAGE_ENDINGS = ['.nii.gz', '.nii', '.png'];

function readFile(p: string): Uint8Array {
  try {
    const b = fs.readFileSync(p);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new SegStudioError('read', `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, p);
  }
}

function readFolderRecursive(dir: string, prefix = '', out = new Map<string, Uint8Array>()): Map<string, Uint8Array> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) readFolderRecursive(p, rel, out);
    else if (e.isFile()) out.set(rel, readFile(p));
  }
  return out;
}

/**
 * MODEL = bundle folder, bundle .zip, or .onnx with a model card (`cardPath`, or X.card.json beside X.onnx).
 */
export async function loadModelFromPath(modelPath: string, cardPath?: string): Promise<LoadedModel> {
  if (!fs.existsSync(modelPath)) throw new SegStudioError('model', 'model not found', modelPath);
  const st = fs.statSync(modelPath);
  if (st.isDirectory()) return loadBundle(readFolderRecursive(modelPath), modelPath);
  const lower = modelPath.toLowerCase();
  if (lower.endsWith('.zip')) return loadBundle(unzipBundle(readFile(modelPath), modelPath), modelPath);
  if (lower.endsWith('.onnx')) {
    const card = cardPath ?? modelPath.replace(/\.onnx$/i, '.card.json');
    if (!fs.existsSync(card)) {
      throw new SegStudioError('model', `a plain .onnx needs a model card: pass --card FILE or put ${path.basename(card)} beside it`, modelPath);
    }
    const m: CardModel = { kind: 'card', sourceName: modelPath, card: parseModelCard(readFile(card), card), onnx: readFile(modelPath) };
    return m;
  }
  throw new SegStudioError('model', 'expected a bundle folder, a bundle .zip or an .onnx file (with a model card)', modelPath);
}

export interface NodeRunnerOptions {
  device: 'cpu' | 'webgpu';
  threads?: number;
  /** bundle folds to use (default: all in the manifest) */
  folds?: number[];
}

/** Selects the bundle's folds (error naming a missing fold). */
export function selectFolds(model: LoadedModel, folds?: number[]): LoadedModel {
  if (!folds || model.kind !== 'bundle') return model;
  for (const f of folds) if (!model.folds.includes(f)) throw new SegStudioError('model', `fold ${f} is not in this bundle (folds: ${model.folds.join(', ')})`, model.sourceName);
  return { ...model, folds: [...folds], networks: model.networks.filter((n) => folds.includes(n.fold)) };
}

/** One onnxruntime-node runner per network of the model. */
export async function createRunnersForModel(model: LoadedModel, opts: NodeRunnerOptions): Promise<NetworkRunner[]> {
  if (opts.device === 'webgpu' && !process.env.VK_ICD_FILENAMES && fs.existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const nets = modelNetworks(selectFolds(model, opts.folds));
  const runners: NetworkRunner[] = [];
  try {
    for (const n of nets) runners.push(await createOrtNodeRunner(n.bytes, { device: opts.device, threads: opts.threads, fileName: n.name }));
  } catch (e) {
    await Promise.all(runners.map((r) => r.dispose()));
    throw e;
  }
  return runners;
}

function endingOf(name: string): string | null {
  const l = name.toLowerCase();
  return IMAGE_ENDINGS.find((e) => l.endsWith(e)) ?? null;
}

export interface InputCase {
  caseId: string;
  /** channel files in channel order */
  files: string[];
  ending: string;
}

/**
 * Groups a folder's images into cases by nnU-Net naming (CASE_0000.nii.gz, CASE_0001.nii.gz, …), or makes
 * one case from explicit files (channels in the order given).
 */
export function groupInputs(inputs: string[], fileEnding?: string): InputCase[] {
  if (inputs.length === 1 && fs.existsSync(inputs[0]) && fs.statSync(inputs[0]).isDirectory()) {
    const dir = inputs[0];
    const names = fs.readdirSync(dir).filter((n) => (fileEnding ? n.toLowerCase().endsWith(fileEnding.toLowerCase()) : endingOf(n) !== null)).sort();
    if (names.length === 0) throw new SegStudioError('input', `no images (${fileEnding ?? IMAGE_ENDINGS.join(', ')}) in the folder`, dir);
    const byCase = new Map<string, Map<number, string>>();
    for (const n of names) {
      const ending = fileEnding ?? endingOf(n)!;
      const stem = n.slice(0, n.length - ending.length);
      const m = /^(.*)_(\d{4})$/.exec(stem);
      if (!m) throw new SegStudioError('input', `file name does not follow nnU-Net's CASE_XXXX${ending} naming`, path.join(dir, n));
      const ch = byCase.get(m[1]) ?? new Map<number, string>();
      ch.set(Number(m[2]), path.join(dir, n));
      byCase.set(m[1], ch);
    }
    return [...byCase.entries()].map(([caseId, ch]) => {
      const idx = [...ch.keys()].sort((a, b) => a - b);
      if (!idx.every((v, i) => v === i)) throw new SegStudioError('input', `case ${caseId} has channels ${idx.map((i) => String(i).padStart(4, '0')).join(', ')}: they must be 0000, 0001, … without gaps`, dir);
      const files = idx.map((i) => ch.get(i)!);
      return { caseId, files, ending: fileEnding ?? endingOf(files[0])! };
    });
  }
  for (const f of inputs) if (!fs.existsSync(f)) throw new SegStudioError('input', 'file not found', f);
  const first = path.basename(inputs[0]);
  const ending = endingOf(first) ?? path.extname(first);
  let caseId = first.slice(0, first.length - ending.length);
  caseId = caseId.replace(/_\d{4}$/, '');
  return [{ caseId, files: [...inputs], ending }];
}

/**
 * Stacks a case's files into one Image (geometry of the first file). A file may hold several channels
 * (RGB PNG, 4-D NIfTI): its channels are taken in order, as nnU-Net's readers do.
 */
export function readCaseImage(c: InputCase): Image {
  const imgs = c.files.map((f) => readImageFile(readFile(f), f));
  for (let i = 1; i < imgs.length; i++) {
    if (imgs[i].shape.slice(1).join() !== imgs[0].shape.slice(1).join()) {
      throw new SegStudioError('input', `shape [${imgs[i].shape.slice(1)}] differs from channel 0's [${imgs[0].shape.slice(1)}] (${c.files[0]})`, c.files[i]);
    }
  }
  if (imgs.length === 1) return imgs[0];
  const total = imgs.reduce((s, im) => s + im.data.length, 0);
  const data = new Float32Array(total);
  let off = 0;
  for (const im of imgs) {
    data.set(im.data, off);
    off += im.data.length;
  }
  const channels = imgs.reduce((s, im) => s + im.shape[0], 0);
  return { data, shape: [channels, ...imgs[0].shape.slice(1)], properties: imgs[0].properties };
}

/** Image properties as JSON (NIfTI header without its binary extension blobs). */
export function propertiesToJson(props: ImageProperties): Record<string, unknown> {
  const p: Record<string, unknown> = { ...props };
  if (props.header && typeof props.header === 'object') {
    const h = { ...(props.header as Record<string, unknown>) };
    h.extensions = [];
    delete h.analyzeBytes;
    p.header = h;
  }
  return p;
}

/**
 * The memory budget of this Node process (docs/inference.md "Memory budget"): `overrideGb` (CLI
 * --memory-budget) or SEGSTUDIO_MEMORY_BUDGET_GB when set, else from os.totalmem(), os.freemem()
 * (MemAvailable), the cgroup limit and the current RSS.
 */
export function nodeMemoryBudget(overrideGb?: number): MemoryBudget {
  const env = process.env.SEGSTUDIO_MEMORY_BUDGET_GB;
  const gb = overrideGb ?? (env !== undefined && env !== '' ? Number(env) : undefined);
  if (gb !== undefined && !(gb > 0)) throw new SegStudioError('usage', `memory budget must be a positive number of GB, got '${overrideGb ?? env}'`);
  if (gb !== undefined) return memoryBudget({ overrideBytes: gb * 2 ** 30 });
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : undefined;
  return memoryBudget({
    totalBytes: os.totalmem(),
    availableBytes: os.freemem(),
    constrainedBytes: constrained && constrained > 0 ? constrained : undefined,
    currentRssBytes: process.memoryUsage().rss,
  });
}

/**
 * Network throughput (FLOP/s) of a bundle's first runner, timed on one zero patch after a warm-up run;
 * undefined for model cards or when the graph's cost cannot be read.
 */
export async function measureModelThroughput(model: LoadedModel, runner: NetworkRunner): Promise<number | undefined> {
  if (model.kind !== 'bundle' || !model.networks.length) return undefined;
  const cost = cachedNetworkCost(model.networks[0].bytes, model.networks[0].name);
  if (!cost || cost.flopsPerVoxel <= 0) return undefined;
  const patch = model.plans.configurations[model.configuration]?.patch_size;
  if (!patch) return undefined;
  const channels = Object.keys(model.dataset.channel_names).length;
  const r = await measureThroughput(runner, [1, channels, ...patch], cost.flopsPerVoxel, 1);
  return r.flopsPerSecond;
}

export interface PredictFilesOptions extends PredictOptions {
  /** output: a folder, or a file name when there is a single case */
  output: string;
  onCase?: (done: number, total: number, caseId: string, result: PredictResult) => void;
  onProgressFor?: (caseId: string) => ProgressFn | undefined;
  /**
   * Memory budget in GB (CLI --memory-budget). Without it (and without `memoryBudget`) the budget comes
   * from the machine (nodeMemoryBudget), taken again before every case; a case whose estimate does not
   * fit is refused with SegStudioError 'memory-budget' naming its file.
   */
  memoryBudgetGb?: number;
}

/** Predicts every case and writes the outputs; returns the written segmentation paths. */
export async function predictFiles(cases: InputCase[], model: LoadedModel, runners: NetworkRunner[], opts: PredictFilesOptions): Promise<{ written: string[]; results: { caseId: string; timings: PredictResult['timings']; device: string }[] }> {
  const outIsFile = cases.length === 1 && endingOf(opts.output) !== null;
  const outDir = outIsFile ? path.dirname(opts.output) : opts.output;
  fs.mkdirSync(outDir || '.', { recursive: true });
  const written: string[] = [];
  const results: { caseId: string; timings: PredictResult['timings']; device: string }[] = [];
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const image = readCaseImage(c);
    // "model expects 2 channels (T1, T2); got 1 file" when files are single-channel, else count channels
    const nCh = image.shape[0];
    const byFile = nCh === c.files.length;
    checkChannelCount(model, byFile ? c.files.length : nCh, byFile ? 'file' : 'channel', c.files.length === 1 ? c.files[0] : `case ${c.caseId}`);
    const res = await predictCase(image, model, runners, {
      ...opts,
      memoryBudget: opts.memoryBudget ?? nodeMemoryBudget(opts.memoryBudgetGb),
      baselineBytes: opts.baselineBytes ?? Math.max(0, process.memoryUsage().rss - image.data.byteLength),
      environment: 'node',
      onProgress: opts.onProgressFor?.(c.caseId) ?? opts.onProgress,
    });
    const segPath = outIsFile ? opts.output : path.join(outDir, c.caseId + c.ending);
    fs.writeFileSync(segPath, writeSegmentation(res.labels, image.properties, segPath));
    written.push(segPath);
    if (opts.saveProbabilities && res.probabilities) {
      const stem = segPath.slice(0, segPath.length - (endingOf(segPath)?.length ?? 0));
      fs.writeFileSync(`${stem}.npz`, writeNpz({ probabilities: { data: res.probabilities, shape: res.probabilitiesShape! } }, 1));
      const meta = {
        properties: propertiesToJson(image.properties),
        class_names: res.classNames,
        probabilities_shape: res.probabilitiesShape,
        preprocessing: res.properties,
        model: model.sourceName,
        device: res.device,
      };
      fs.writeFileSync(`${stem}.json`, JSON.stringify(meta, null, 1) + '\n');
    }
    results.push({ caseId: c.caseId, timings: res.timings, device: res.device });
    opts.onCase?.(i + 1, cases.length, c.caseId, res);
  }
  return { written, results };
}

// The worker's bridge to the shared core pipeline (src/core). Everything the page does with images and
// models goes through here: reading files, loading bundles / ONNX + model cards, predicting, writing results.
import { SegStudioError } from '../../core/errors.ts';
import type { Image, LabelMap } from '../../core/types.ts';
import { loadBundle, unzipBundle, labelNames, type ModelBundle } from '../../core/inference/bundle.ts';
import { parseModelCard, cardLabelNames, type CardModel } from '../../core/inference/modelCard.ts';
import type { NetworkRunner } from '../../core/inference/runner.ts';
import { resolveConfiguration } from '../../core/planning/plans.ts';
import { predictCase } from '../../core/inference/predictor.ts';
import type { MemoryBudget, PredictionEstimate } from '../../core/inference/memory.ts';
import { readImageFile, writeSegmentation, writeFloatNifti } from '../../core/io/index.ts';
import type { DownloadFile, ModelInfo, ModelLabel } from '../workerApi.ts';

export interface AppModel {
  info: ModelInfo;
  loaded: ModelBundle | CardModel;
  /** fold → ONNX bytes */
  weights: Map<number, { bytes: Uint8Array; fileName: string }>;
}

export function readImage(bytes: Uint8Array, fileName: string): Image {
  return readImageFile(bytes, fileName);
}

/** Stacks single-channel images (nnU-Net CASE_0000, CASE_0001 …) into one multi-channel image. */
export function stackChannels(images: Image[], names: string[]): Image {
  const first = images[0];
  const spatial = first.shape.slice(1);
  const n = spatial.reduce((a, b) => a * b, 1);
  let channels = 0;
  images.forEach((im, i) => {
    if (im.shape.slice(1).join('×') !== spatial.join('×')) {
      throw new SegStudioError('channel-geometry', `has shape ${im.shape.slice(1).join('×')} but ${names[0]} has ${spatial.join('×')}: channels must share one grid`, names[i]);
    }
    channels += im.shape[0];
  });
  const data = new Float32Array(channels * n);
  let off = 0;
  for (const im of images) {
    data.set(im.data, off);
    off += im.data.length;
  }
  return { data, shape: [channels, ...spatial], properties: { ...first.properties } };
}

function labelsFrom(names: string[], values: number[]): ModelLabel[] {
  return names.map((name, i) => ({ name, value: values[i] })).sort((a, b) => a.value - b.value);
}

/** The model card a person reads: model-card.md, else model-card.json pretty-printed (bundles may have neither). */
function cardText(files: Map<string, Uint8Array>): string | undefined {
  const md = files.get('model-card.md');
  if (md) return new TextDecoder().decode(md);
  const json = files.get('model-card.json');
  if (!json) return undefined;
  const text = new TextDecoder().decode(json);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function bundleInfo(b: ModelBundle, source: ModelInfo['source'], displayName: string): ModelInfo {
  const cfg = resolveConfiguration(b.plans, b.configuration);
  const names = labelNames(b.dataset);
  const values = names.map((n) => {
    const v = b.dataset.labels[n];
    return Array.isArray(v) ? v[0] : v;
  });
  let card: Record<string, unknown> | null = null;
  const cardBytes = b.files.get('model-card.json');
  if (cardBytes) {
    try {
      card = JSON.parse(new TextDecoder().decode(cardBytes)) as Record<string, unknown>;
    } catch {
      card = null;
    }
  }
  const norm = (cfg.normalization_schemes as string[]).join(', ');
  const fg = names.filter((n) => n !== 'background');
  const summary =
    (card?.summary as string | undefined) ??
    `nnU-Net ${b.configuration} model: ${fg.length} label${fg.length === 1 ? '' : 's'} (${fg.join(', ')}), ${cfg.spacing.map((s) => s.toFixed(2)).join(' × ')} mm, ${norm}.`;
  return {
    name: (card?.name as string | undefined) ?? displayName,
    source,
    labels: labelsFrom(names, values),
    channels: { ...b.dataset.channel_names },
    configuration: b.configuration,
    folds: [...b.folds],
    patchSize: [...cfg.patch_size],
    spacing: [...cfg.spacing],
    normalization: [...(cfg.normalization_schemes as string[])],
    summary,
    notForClinicalUse: card ? card.not_for_clinical_use !== false : true,
    description: card?.intended_use as string | undefined,
    card: cardText(b.files),
  };
}

function cardInfo(m: CardModel): ModelInfo {
  const c = m.card;
  const names = cardLabelNames(c);
  return {
    name: c.name,
    source: 'onnx',
    labels: labelsFrom(names, names.map((n) => c.labels[n])),
    channels: { ...c.channels },
    configuration: c.input.patch_size === 'full' ? 'whole image' : 'tiled',
    folds: [0],
    patchSize: c.input.patch_size === 'full' ? 'full' : [...c.input.patch_size],
    spacing: c.input.spacing ? [...c.input.spacing] : null,
    normalization: [c.normalization],
    summary: c.description ?? `ONNX model with ${names.length} labels (${c.normalization} normalisation).`,
    notForClinicalUse: true,
  };
}

/** A bundle (folder files or one .zip) or one .onnx with its model card (X.card.json / model-card.json). */
export async function loadModelFromFiles(files: Map<string, Uint8Array>, source: 'demo' | 'dropped', displayName: string): Promise<AppModel> {
  let map = files;
  const names = [...map.keys()];
  if (names.length === 1 && /\.zip$/i.test(names[0])) {
    map = unzipBundle(map.get(names[0])!, names[0]);
  }
  const base = (n: string) => n.split('/').pop() ?? n;
  const onnx = [...map.keys()].filter((n) => /\.onnx$/i.test(n));
  const hasManifest = [...map.keys()].some((n) => base(n) === 'manifest.json');
  if (!hasManifest) {
    if (onnx.length !== 1) {
      throw new SegStudioError(
        'model-files',
        onnx.length === 0
          ? 'not a model: expected a bundle folder / .zip with manifest.json, or an .onnx file with its model card'
          : 'several .onnx files without a manifest.json: drop a bundle folder, or one .onnx with its model card',
        displayName,
      );
    }
    const onnxName = onnx[0];
    const cardName = [...map.keys()].find((n) => /(\.card\.json|model-card\.json|card\.json)$/i.test(n));
    if (!cardName) {
      throw new SegStudioError('model-card', 'an .onnx model needs its model card (NAME.card.json) dropped with it, to know labels, channels and normalisation', base(onnxName));
    }
    const card = parseModelCard(map.get(cardName)!, base(cardName));
    const loaded: CardModel = { kind: 'card', sourceName: base(onnxName), card, onnx: map.get(onnxName)! } as CardModel;
    return { info: cardInfo(loaded), loaded, weights: new Map([[0, { bytes: loaded.onnx, fileName: base(onnxName) }]]) };
  }
  const bundle = await loadBundle(map, displayName);
  const info = bundleInfo(bundle, source === 'demo' ? 'demo' : 'bundle', displayName);
  const weights = new Map(bundle.networks.map((n) => [n.fold, { bytes: n.bytes, fileName: n.name }]));
  return { info, loaded: bundle, weights };
}

export interface PredictOptions {
  tta: boolean;
  stepSize: number;
  saveProbabilities: boolean;
  /** several folds: also each fold's own label map */
  perFold?: boolean;
  onProgress: (done: number, total: number, stage?: string) => void;
  signal: { readonly aborted: boolean };
  /** refuse (SegStudioError 'memory-budget') when the estimate exceeds it: memoryBudget(browserMemoryInfo(...)) */
  memoryBudget?: MemoryBudget;
  onEstimate?: (estimate: PredictionEstimate) => void;
}

export async function runPrediction(
  image: Image,
  model: AppModel,
  runners: NetworkRunner[],
  opts: PredictOptions,
): Promise<{ labels: LabelMap; foldLabels?: LabelMap[]; probabilities?: Float32Array; probabilityChannels: number }> {
  const r = await predictCase(image, model.loaded, runners, {
    tta: opts.tta,
    stepSize: opts.stepSize,
    saveProbabilities: opts.saveProbabilities,
    perFold: opts.perFold,
    onProgress: opts.onProgress,
    signal: opts.signal,
    memoryBudget: opts.memoryBudget,
    onEstimate: opts.onEstimate,
    environment: 'browser',
  });
  return { labels: r.labels, foldLabels: r.foldLabels, probabilities: r.probabilities, probabilityChannels: r.probabilitiesShape?.[0] ?? r.classNames.length };
}

function outName(imageName: string, suffix: string, ext: string): string {
  const stem = imageName.replace(/(_\d{4})?\.(nii\.gz|nii|png)$/i, '');
  return `${stem}${suffix}${ext}`;
}

export function writeLabels(labels: LabelMap, image: Image, imageName: string): DownloadFile {
  const isPng = image.properties.format === 'png';
  const name = outName(imageName, '_seg', isPng ? '.png' : '.nii.gz');
  const bytes = writeSegmentation(labels, image.properties, name);
  return { name, bytes, mime: isPng ? 'image/png' : 'application/gzip' };
}

export function writeProbabilities(probs: Float32Array, channels: number, image: Image, imageName: string): DownloadFile {
  const name = outName(imageName, '_probabilities', '.nii.gz');
  const spatial = image.shape.slice(1);
  const bytes = writeFloatNifti(probs, spatial, channels, image.properties, name);
  return { name, bytes, mime: 'application/gzip' };
}

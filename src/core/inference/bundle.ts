// SegStudio model bundles: a folder or .zip holding an nnU-Net trained model exported to ONNX.
//
//   manifest.json        {"format": "segstudio-bundle/1", "configuration": "3d_fullres", "folds": [0, 1],
//                         "files": {"fold_0.onnx": "<sha256 hex>", "plans.json": "…", …}}
//   plans.json           nnU-Net plans (nnUNetPlans.json keys)
//   dataset.json         nnU-Net dataset.json (channel_names, labels, file_ending, …)
//   fold_K.onnx          one network per fold: input [1, C, ...patch_size], output [1, nClasses, ...patch_size] logits
//   postprocessing.json  optional (postprocessing stage's format)
//   inference.json       optional {"allowed_mirroring_axes": [0, 1, 2]} (nnU-Net keeps this in the checkpoint)
//
// Every file except manifest.json must be listed in `files` with its sha256; a missing, unlisted or
// altered file refuses the whole bundle with a SegStudioError naming the file.
import { unzipSync, zipSync, strToU8, strFromU8, type Zippable } from 'fflate';
import { SegStudioError } from '../errors.ts';
import { plansProblemForInference, resolveConfiguration, type Plans } from '../planning/plans.ts';
import { sha256Hex } from './sha256.ts';
import { checkZipEntry } from '../io/zipGuard.ts';

export const BUNDLE_FORMAT = 'segstudio-bundle/1';

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  configuration: string;
  folds: number[];
  files: Record<string, string>;
}

/** The parts of dataset.json inference needs (other keys are kept). */
export interface DatasetJson {
  channel_names: Record<string, string>;
  labels: Record<string, number | number[]>;
  file_ending?: string;
  regions_class_order?: number[];
  numTraining?: number;
  [k: string]: unknown;
}

export interface ModelBundle {
  kind: 'bundle';
  sourceName: string;
  manifest: BundleManifest;
  plans: Plans;
  dataset: DatasetJson;
  configuration: string;
  folds: number[];
  /** ONNX bytes per fold, in manifest order */
  networks: { fold: number; name: string; bytes: Uint8Array }[];
  postprocessing?: unknown;
  /** patch axes allowed for mirroring TTA (default: all) */
  allowedMirroringAxes?: number[];
  files: Map<string, Uint8Array>;
}

function isHiddenOrJunk(name: string): boolean {
  const base = name.split('/').pop() ?? name;
  return base.startsWith('.') || name.startsWith('__MACOSX/') || base === 'Thumbs.db';
}

function parseJson(bytes: Uint8Array | undefined, name: string, sourceName: string): unknown {
  if (!bytes) throw new SegStudioError('bundle', `missing ${name}`, sourceName);
  try {
    return JSON.parse(strFromU8(bytes));
  } catch (e) {
    throw new SegStudioError('bundle', `${name} is not valid JSON (${(e as Error).message})`, `${sourceName}/${name}`);
  }
}

export function parseManifest(bytes: Uint8Array | undefined, sourceName: string): BundleManifest {
  const m = parseJson(bytes, 'manifest.json', sourceName) as Partial<BundleManifest> | null;
  const where = `${sourceName}/manifest.json`;
  if (!m || typeof m !== 'object') throw new SegStudioError('bundle', 'manifest is not an object', where);
  if (m.format !== BUNDLE_FORMAT) throw new SegStudioError('bundle', `unsupported format ${JSON.stringify(m.format)} (expected "${BUNDLE_FORMAT}")`, where);
  if (typeof m.configuration !== 'string' || !m.configuration) throw new SegStudioError('bundle', '"configuration" must be a non-empty string', where);
  if (!Array.isArray(m.folds) || m.folds.length === 0 || !m.folds.every((f) => Number.isInteger(f) && f >= 0)) {
    throw new SegStudioError('bundle', '"folds" must be a non-empty list of fold numbers', where);
  }
  if (new Set(m.folds).size !== m.folds.length) throw new SegStudioError('bundle', '"folds" lists a fold twice', where);
  if (!m.files || typeof m.files !== 'object' || Array.isArray(m.files)) throw new SegStudioError('bundle', '"files" must map file names to sha256', where);
  for (const [k, v] of Object.entries(m.files)) {
    if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) throw new SegStudioError('bundle', `"files" entry for ${k} is not a sha256 hex digest`, where);
  }
  return { format: BUNDLE_FORMAT, configuration: m.configuration, folds: [...m.folds], files: { ...m.files } };
}

/**
 * Validates and opens a bundle given as file name → bytes (names relative to the bundle root; a single
 * common top folder, as in a zipped folder, is stripped). Checks every sha256 before parsing anything else.
 */
export async function loadBundle(files: Map<string, Uint8Array>, sourceName: string): Promise<ModelBundle> {
  const f = stripCommonFolder(files);
  const manifest = parseManifest(f.get('manifest.json'), sourceName);
  for (const [name, digest] of Object.entries(manifest.files)) {
    const bytes = f.get(name);
    if (!bytes) throw new SegStudioError('bundle-integrity', `file listed in manifest.json is missing`, `${sourceName}/${name}`);
    const got = sha256Hex(bytes);
    if (got !== digest) throw new SegStudioError('bundle-integrity', `sha256 mismatch (manifest ${digest.slice(0, 12)}…, file ${got.slice(0, 12)}…): refusing a modified bundle`, `${sourceName}/${name}`);
  }
  for (const name of f.keys()) {
    if (name === 'manifest.json' || isHiddenOrJunk(name)) continue;
    if (!(name in manifest.files)) throw new SegStudioError('bundle-integrity', 'file is not listed in manifest.json: refusing an altered bundle', `${sourceName}/${name}`);
  }
  for (const req of ['plans.json', 'dataset.json', ...manifest.folds.map((k) => `fold_${k}.onnx`)]) {
    if (!(req in manifest.files)) throw new SegStudioError('bundle', `bundle has no ${req}`, sourceName);
  }
  const plans = parseJson(f.get('plans.json'), 'plans.json', sourceName) as Plans;
  if (!plans || typeof plans !== 'object' || !plans.configurations) throw new SegStudioError('bundle', 'plans.json has no "configurations"', `${sourceName}/plans.json`);
  try {
    const cfg = resolveConfiguration(plans, manifest.configuration);
    if (!Array.isArray(cfg.patch_size) || (cfg.patch_size.length !== 2 && cfg.patch_size.length !== 3)) {
      throw new Error(`configuration '${manifest.configuration}' has no 2- or 3-element patch_size`);
    }
  } catch (e) {
    throw new SegStudioError('bundle', (e as Error).message, `${sourceName}/plans.json`);
  }
  const dataset = parseJson(f.get('dataset.json'), 'dataset.json', sourceName) as DatasetJson;
  if (!dataset || typeof dataset !== 'object' || !dataset.channel_names || !dataset.labels) {
    throw new SegStudioError('bundle', 'dataset.json needs "channel_names" and "labels"', `${sourceName}/dataset.json`);
  }
  if (typeof dataset.channel_names !== 'object' || Object.keys(dataset.channel_names).length === 0) {
    throw new SegStudioError('bundle', 'dataset.json "channel_names" must name at least one channel', `${sourceName}/dataset.json`);
  }
  // everything inference reads from plans.json, checked before any image is touched (fuzz finding)
  const problem = plansProblemForInference(plans, manifest.configuration, Object.keys(dataset.channel_names).length);
  if (problem) throw new SegStudioError('bundle', problem, `${sourceName}/plans.json`);
  const postprocessing = f.has('postprocessing.json') ? parseJson(f.get('postprocessing.json'), 'postprocessing.json', sourceName) : undefined;
  let allowedMirroringAxes: number[] | undefined;
  if (f.has('inference.json')) {
    const inf = parseJson(f.get('inference.json'), 'inference.json', sourceName) as { allowed_mirroring_axes?: unknown };
    const ax = inf?.allowed_mirroring_axes;
    if (ax !== undefined && ax !== null) {
      if (!Array.isArray(ax) || !ax.every((a) => Number.isInteger(a) && a >= 0 && a < 3)) {
        throw new SegStudioError('bundle', '"allowed_mirroring_axes" must be a list of axes 0..2', `${sourceName}/inference.json`);
      }
      allowedMirroringAxes = ax as number[];
    } else if (ax === null) allowedMirroringAxes = [];
  }
  return {
    kind: 'bundle',
    sourceName,
    manifest,
    plans,
    dataset,
    configuration: manifest.configuration,
    folds: manifest.folds,
    networks: manifest.folds.map((fold) => ({ fold, name: `fold_${fold}.onnx`, bytes: f.get(`fold_${fold}.onnx`)! })),
    postprocessing,
    allowedMirroringAxes,
    files: f,
  };
}

/** Names in a zipped folder usually share one top folder ("MyModel/plans.json"): drop it. */
function stripCommonFolder(files: Map<string, Uint8Array>): Map<string, Uint8Array> {
  const names = [...files.keys()].filter((n) => !isHiddenOrJunk(n) && !n.endsWith('/'));
  if (names.length === 0 || names.some((n) => n === 'manifest.json')) return files;
  const first = names[0].split('/')[0];
  if (!names.every((n) => n.startsWith(`${first}/`))) return files;
  const out = new Map<string, Uint8Array>();
  for (const [k, v] of files) if (k.startsWith(`${first}/`) && !k.endsWith('/')) out.set(k.slice(first.length + 1), v);
  return out;
}

const MAX_UNZIPPED = 8 * 1024 ** 3;

/** Unzips a bundle .zip (fflate), refusing archives that expand beyond 8 GiB. */
export function unzipBundle(zip: Uint8Array, sourceName: string): Map<string, Uint8Array> {
  let total = 0;
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip, {
      filter: (file) => {
        checkZipEntry(file, sourceName, zip.length, 'bundle');
        total += file.originalSize;
        if (total > MAX_UNZIPPED) throw new SegStudioError('bundle', 'archive expands beyond 8 GiB', sourceName);
        return !file.name.endsWith('/');
      },
    });
  } catch (e) {
    if (e instanceof SegStudioError) throw e;
    throw new SegStudioError('bundle', `not a readable zip archive (${(e as Error).message})`, sourceName);
  }
  return new Map(Object.entries(entries));
}

export interface BundleParts {
  plans: Plans;
  dataset: DatasetJson;
  configuration: string;
  /** fold number → ONNX bytes */
  folds: Map<number, Uint8Array> | Record<number, Uint8Array>;
  postprocessing?: unknown;
  allowedMirroringAxes?: number[] | null;
  /** any other files to ship (listed in the manifest too) */
  extraFiles?: Map<string, Uint8Array>;
}

function jsonBytes(v: unknown): Uint8Array {
  return strToU8(JSON.stringify(v, null, 2) + '\n');
}

/** Assembles a bundle (file name → bytes) and writes its manifest with every file's sha256. */
export async function createBundle(parts: BundleParts): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  files.set('plans.json', jsonBytes(parts.plans));
  files.set('dataset.json', jsonBytes(parts.dataset));
  const folds = parts.folds instanceof Map ? [...parts.folds.entries()] : Object.entries(parts.folds).map(([k, v]) => [Number(k), v] as [number, Uint8Array]);
  folds.sort((a, b) => a[0] - b[0]);
  for (const [k, bytes] of folds) files.set(`fold_${k}.onnx`, bytes);
  if (parts.postprocessing !== undefined) files.set('postprocessing.json', jsonBytes(parts.postprocessing));
  if (parts.allowedMirroringAxes !== undefined) files.set('inference.json', jsonBytes({ allowed_mirroring_axes: parts.allowedMirroringAxes }));
  for (const [k, v] of parts.extraFiles ?? []) {
    if (k === 'manifest.json' || files.has(k)) throw new SegStudioError('bundle', `extra file ${k} would overwrite a bundle file`);
    files.set(k, v);
  }
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    configuration: parts.configuration,
    folds: folds.map(([k]) => k),
    files: Object.fromEntries([...files.entries()].map(([k, v]) => [k, sha256Hex(v)])),
  };
  files.set('manifest.json', jsonBytes(manifest));
  return files;
}

/** Zips bundle files (deflate level 6; ONNX weights compress little, JSON a lot). */
export function bundleToZip(files: Map<string, Uint8Array>): Uint8Array {
  const z: Zippable = {};
  for (const [k, v] of files) z[k] = [v, { level: k.endsWith('.onnx') ? 1 : 6 }];
  return zipSync(z);
}

/** Labels of a dataset.json as value-ordered names (regions: the region's first label). */
export function labelNames(dataset: DatasetJson): string[] {
  return Object.entries(dataset.labels)
    .filter(([k]) => k !== 'ignore')
    .sort((a, b) => (Array.isArray(a[1]) ? a[1][0] : a[1]) - (Array.isArray(b[1]) ? b[1][0] : b[1]))
    .map(([k]) => k);
}

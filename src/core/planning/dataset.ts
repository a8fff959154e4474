// dataset.json parsing/validation, label semantics (nnU-Net's LabelManager) and the nnU-Net v2 raw layout
// (imagesTr/CASE_XXXX<ending>, labelsTr/CASE<ending>, imagesTs/), over an abstract file listing so the
// browser (dropped folder or zip) and Node (src/node/fsDataset.ts) share the same code.
// nnU-Net: dataset_conversion/generate_dataset_json.py (keys), utilities/label_handling/label_handling.py
// (LabelManager: background 0, regions, ignore label = max + 1), utilities/utils.py
// (get_identifiers_from_splitted_dataset_folder, create_lists_from_splitted_dataset_folder,
// get_filenames_of_train_images_and_targets), imageio/reader_writer_registry.py (overwrite_image_reader_writer).
import { unzipSync } from 'fflate';
import { checkZipEntry } from '../io/zipGuard.ts';
import { SegStudioError } from '../errors.ts';

export type LabelValue = number | number[];

export interface DatasetJson {
  channel_names: Record<string, string>;
  labels: Record<string, LabelValue>;
  numTraining: number;
  file_ending: string;
  overwrite_image_reader_writer?: string;
  regions_class_order?: number[];
  name?: string;
  description?: string;
  /** optional explicit case list (nnU-Net: get_filenames_of_train_images_and_targets) */
  dataset?: Record<string, { images: string[]; label: string }>;
  [key: string]: unknown;
}

/** Abstract read-only file tree. Paths use '/'; `list` returns the entry names of a directory ([] if missing). */
export interface DatasetFiles {
  list(dir: string): string[] | Promise<string[]>;
  read(path: string): Promise<Uint8Array>;
}

export const REQUIRED_KEYS = ['labels', 'channel_names', 'numTraining', 'file_ending'] as const;

/** Readers nnU-Net knows by name (imageio/reader_writer_registry.py); only some are implemented here. */
export const KNOWN_READERS = ['SimpleITKIO', 'NibabelIO', 'NibabelIOWithReorient', 'NaturalImage2DIO', 'Tiff3DIO'] as const;

export function joinPath(...parts: string[]): string {
  return parts
    .filter((p) => p !== '' && p !== '.')
    .join('/')
    .replace(/\/+/g, '/');
}

/** Parses and validates dataset.json. Every problem is a SegStudioError naming the file and the key. */
export function parseDatasetJson(input: string | Uint8Array | Record<string, unknown>, fileName = 'dataset.json'): DatasetJson {
  let raw: unknown;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : new TextDecoder().decode(input);
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new SegStudioError('dataset-json', `not valid JSON: ${(e as Error).message}`, fileName);
    }
  } else raw = input;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new SegStudioError('dataset-json', 'must be a JSON object', fileName);
  const d = raw as Record<string, unknown>;
  // old nnU-Net v1 key: 'modality' instead of 'channel_names' (nnU-Net v2 still accepts it)
  if (d.channel_names === undefined && d.modality !== undefined) d.channel_names = d.modality;
  const missing = REQUIRED_KEYS.filter((k) => d[k] === undefined);
  if (missing.length)
    throw new SegStudioError('dataset-json', `missing required key(s): ${missing.join(', ')} (required: ${REQUIRED_KEYS.join(', ')})`, fileName);
  const cn = d.channel_names;
  if (!cn || typeof cn !== 'object' || Array.isArray(cn) || Object.keys(cn).length === 0)
    throw new SegStudioError('dataset-json', '"channel_names" must be a non-empty object like {"0": "CT"}', fileName);
  const chKeys = Object.keys(cn).map(Number).sort((a, b) => a - b);
  if (chKeys.some((k, i) => k !== i))
    throw new SegStudioError('dataset-json', `"channel_names" keys must be "0".."${chKeys.length - 1}", got ${Object.keys(cn).join(', ')}`, fileName);
  for (const [k, v] of Object.entries(cn))
    if (typeof v !== 'string') throw new SegStudioError('dataset-json', `channel_names["${k}"] must be a string`, fileName);
  const labels = d.labels;
  if (!labels || typeof labels !== 'object' || Array.isArray(labels))
    throw new SegStudioError('dataset-json', '"labels" must be an object like {"background": 0, "tumor": 1}', fileName);
  for (const [k, v] of Object.entries(labels)) {
    const ok =
      (typeof v === 'number' && Number.isInteger(v) && v >= 0) ||
      (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0));
    if (!ok) {
      const v1 = /^\d+$/.test(k) && typeof v === 'string';
      throw new SegStudioError(
        'dataset-json',
        `labels["${k}"] must be a non-negative integer or a list of them (a region), got ${JSON.stringify(v)}` +
          (v1 ? ' (this looks like nnU-Net v1\'s {"0": "background"}; v2 maps names to values: {"background": 0})' : ''),
        fileName,
      );
    }
  }
  const nt = d.numTraining;
  if (typeof nt !== 'number' || !Number.isInteger(nt) || nt < 0)
    throw new SegStudioError('dataset-json', `"numTraining" must be a non-negative integer, got ${JSON.stringify(nt)}`, fileName);
  const fe = d.file_ending;
  if (typeof fe !== 'string' || !fe.startsWith('.') || fe.length < 2)
    throw new SegStudioError('dataset-json', `"file_ending" must look like ".nii.gz" or ".png", got ${JSON.stringify(fe)}`, fileName);
  if (d.overwrite_image_reader_writer !== undefined && typeof d.overwrite_image_reader_writer !== 'string')
    throw new SegStudioError('dataset-json', '"overwrite_image_reader_writer" must be a string', fileName);
  if (d.regions_class_order !== undefined) {
    const r = d.regions_class_order;
    if (!Array.isArray(r) || !r.every((x) => Number.isInteger(x)))
      throw new SegStudioError('dataset-json', '"regions_class_order" must be a list of integers', fileName);
  }
  if (d.dataset !== undefined) {
    const ds = d.dataset;
    if (!ds || typeof ds !== 'object' || Array.isArray(ds))
      throw new SegStudioError('dataset-json', '"dataset" must map case ids to {"images": [...], "label": ...}', fileName);
    for (const [k, v] of Object.entries(ds as Record<string, unknown>)) {
      const e = v as { images?: unknown; label?: unknown };
      if (!e || !Array.isArray(e.images) || !e.images.every((x) => typeof x === 'string') || typeof e.label !== 'string')
        throw new SegStudioError('dataset-json', `dataset["${k}"] must be {"images": [paths], "label": path}`, fileName);
    }
  }
  return d as unknown as DatasetJson;
}

export interface LabelInfo {
  /** label name → value(s) as declared */
  labelDict: Record<string, LabelValue>;
  /** every integer label value (regions flattened), sorted, without the ignore label */
  allLabels: number[];
  foregroundLabels: number[];
  hasRegions: boolean;
  /** regions in declaration order (background and ignore excluded), null without regions */
  regions: LabelValue[] | null;
  regionsClassOrder: number[] | null;
  ignoreLabel: number | null;
  /** output channels of a network: #regions, or #labels (incl. background) */
  numSegmentationHeads: number;
  /** value → name for plain labels */
  names: Record<number, string>;
}

/** nnU-Net's LabelManager semantics. Throws SegStudioError on the conditions LabelManager asserts. */
export function labelInfo(ds: Pick<DatasetJson, 'labels' | 'regions_class_order'>, fileName = 'dataset.json'): LabelInfo {
  const labels = ds.labels;
  if (!('background' in labels))
    throw new SegStudioError('dataset-json', 'labels must declare "background": 0', fileName);
  const bg = labels.background;
  if (Array.isArray(bg) || bg !== 0) throw new SegStudioError('dataset-json', `"background" must be 0, got ${JSON.stringify(bg)}`, fileName);
  let ignoreLabel: number | null = null;
  if (labels.ignore !== undefined) {
    if (Array.isArray(labels.ignore))
      throw new SegStudioError('dataset-json', 'the "ignore" label must be an integer, not a region', fileName);
    ignoreLabel = labels.ignore;
  }
  const hasRegions = Object.entries(labels).some(([, v]) => Array.isArray(v) && v.length > 1);
  const set = new Set<number>();
  const names: Record<number, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (k === 'ignore') continue;
    if (Array.isArray(v)) v.forEach((x) => set.add(x));
    else {
      set.add(v);
      names[v] = k;
    }
  }
  const allLabels = [...set].sort((a, b) => a - b);
  if (ignoreLabel !== null && ignoreLabel !== Math.max(...allLabels) + 1)
    throw new SegStudioError(
      'dataset-json',
      `the ignore label must be the highest label value (${Math.max(...allLabels) + 1}), got ${ignoreLabel}`,
      fileName,
    );
  let regions: LabelValue[] | null = null;
  const rco = ds.regions_class_order ?? null;
  if (hasRegions) {
    regions = [];
    for (const [k, v] of Object.entries(labels)) {
      if (k === 'ignore') continue;
      const vals = Array.isArray(v) ? v : [v];
      if (new Set(vals).size === 1 && vals[0] === 0) continue;
      regions.push(Array.isArray(v) ? [...v] : v);
    }
    if (!rco) throw new SegStudioError('dataset-json', 'region-based labels need "regions_class_order"', fileName);
    if (rco.length !== regions.length)
      throw new SegStudioError(
        'dataset-json',
        `"regions_class_order" has ${rco.length} entries but there are ${regions.length} regions`,
        fileName,
      );
  }
  return {
    labelDict: labels,
    allLabels,
    foregroundLabels: allLabels.filter((l) => l !== 0),
    hasRegions,
    regions,
    regionsClassOrder: hasRegions ? rco : null,
    ignoreLabel,
    numSegmentationHeads: hasRegions ? regions!.length : allLabels.length,
    names,
  };
}

/** What evaluation and postprocessing iterate over: foreground regions in region mode, else foreground labels. */
export function evaluationLabels(info: LabelInfo): LabelValue[] {
  if (info.hasRegions && info.regions) return info.regions;
  return info.foregroundLabels;
}

/** nnU-Net's channel suffix: CASE_XXXX<ending> → { caseId, channel }; null when the name does not fit. */
export function parseImageName(fileName: string, fileEnding: string): { caseId: string; channel: number } | null {
  if (!fileName.endsWith(fileEnding)) return null;
  const stem = fileName.slice(0, -fileEnding.length);
  const m = /^(.+)_(\d{4})$/.exec(stem);
  if (!m) return null;
  return { caseId: m[1], channel: Number(m[2]) };
}

export interface RawCase {
  id: string;
  /** image paths relative to the dataset root, in channel order (missing channels left out) */
  images: string[];
  /** channel index of each entry in `images` */
  channels: number[];
  label?: string;
}

export interface LayoutProblem {
  case: string | null;
  file: string | null;
  problem: string;
  severity: 'error' | 'warning';
  /**
   * 'channel-files': the channel files of a case do not match channel_names one to one. nnU-Net only checks the
   * channel count after reading (an RGB PNG _0000 file holds 3 channels; a 4D NIfTI several), so verify drops
   * this problem when the images it reads hold exactly the declared number of channels.
   */
  code?: 'channel-files';
}

export interface RawLayout {
  training: RawCase[];
  test: RawCase[];
  problems: LayoutProblem[];
}

const IMAGE_LIKE = /\.(nii|nii\.gz|png|bmp|tif|tiff|nrrd|mha|mhd|jpg|jpeg|gz)$/i;

async function listImages(
  files: DatasetFiles,
  dir: string,
  ds: DatasetJson,
  problems: LayoutProblem[],
  severity: 'error' | 'warning',
): Promise<Map<string, Map<number, string>>> {
  const fe = ds.file_ending;
  const byCase = new Map<string, Map<number, string>>();
  const names = [...(await files.list(dir))].sort();
  for (const name of names) {
    const path = joinPath(dir, name);
    if (!name.endsWith(fe)) {
      if (IMAGE_LIKE.test(name) && !name.startsWith('.'))
        problems.push({ case: null, file: path, severity, problem: `file ending differs from dataset.json file_ending "${fe}" (nnU-Net ignores this file)` });
      continue;
    }
    const p = parseImageName(name, fe);
    if (!p) {
      problems.push({ case: null, file: path, severity, problem: `image name must end in _XXXX${fe} (4-digit channel index)` });
      continue;
    }
    let m = byCase.get(p.caseId);
    if (!m) byCase.set(p.caseId, (m = new Map()));
    m.set(p.channel, path);
  }
  return byCase;
}

/** Endings read by nnU-Net's NaturalImage2DIO, where one file may hold several channels (RGB). */
export function mayHoldSeveralChannels(fileEnding: string): boolean {
  return /\.(png|bmp|tif|tiff)$/i.test(fileEnding);
}

function casesFrom(
  byCase: Map<string, Map<number, string>>,
  nChannels: number,
  problems: LayoutProblem[],
  severity: 'error' | 'warning',
  fileEnding: string,
): RawCase[] {
  const out: RawCase[] = [];
  for (const id of [...byCase.keys()].sort()) {
    const m = byCase.get(id)!;
    const channels = [...m.keys()].sort((a, b) => a - b);
    const missing: number[] = [];
    for (let c = 0; c < nChannels; c++) if (!m.has(c)) missing.push(c);
    const extra = channels.filter((c) => c >= nChannels);
    const fmt = (c: number) => `_${String(c).padStart(4, '0')}`;
    const prefix = channels.every((c, i) => c === i);
    if (missing.length) {
      // RGB PNG: one _0000 file carries R, G, B (nnU-Net Dataset120_RoadSegmentation); only reading can tell
      const maybeRgb = prefix && mayHoldSeveralChannels(fileEnding);
      problems.push({
        case: id,
        file: null,
        severity: maybeRgb ? 'warning' : severity,
        code: 'channel-files',
        problem: maybeRgb
          ? `${channels.length} channel file(s) for ${nChannels} declared channels: fine only if the images hold several channels each (RGB)`
          : `missing channel(s) ${missing.map(fmt).join(', ')} (dataset.json declares ${nChannels})`,
      });
    }
    if (extra.length)
      problems.push({ case: id, file: m.get(extra[0])!, severity, code: 'channel-files', problem: `unexpected channel(s) ${extra.map(fmt).join(', ')} (dataset.json declares ${nChannels})` });
    const kept = channels.filter((c) => c < nChannels);
    out.push({ id, images: kept.map((c) => m.get(c)!), channels: kept });
  }
  // duplicate ids that differ only in letter case break on case-insensitive file systems
  const lower = new Map<string, string>();
  for (const c of out) {
    const k = c.id.toLowerCase();
    if (lower.has(k))
      problems.push({ case: c.id, file: null, severity: 'warning', problem: `case id differs only in letter case from "${lower.get(k)}"` });
    else lower.set(k, c.id);
  }
  return out;
}

/**
 * Lists the raw dataset under `root` (imagesTr, labelsTr, imagesTs, or the explicit "dataset" key) and the
 * naming/layout problems found on the way (missing channels, labels without images, numTraining, …).
 */
export async function listRawDataset(files: DatasetFiles, ds: DatasetJson, root = ''): Promise<RawLayout> {
  const problems: LayoutProblem[] = [];
  const nCh = Object.keys(ds.channel_names).length;
  const fe = ds.file_ending;
  let training: RawCase[];
  if (ds.dataset) {
    training = Object.keys(ds.dataset)
      .sort()
      .map((id) => {
        const e = ds.dataset![id];
        const rel = (p: string) => (p.startsWith('/') ? p : joinPath(root, p.replace(/^\.\//, '')));
        return { id, images: e.images.map(rel), channels: e.images.map((_, i) => i), label: rel(e.label) };
      });
    for (const c of training)
      if (c.images.length !== nCh)
        problems.push({
          case: c.id,
          file: null,
          severity: c.images.length < nCh && mayHoldSeveralChannels(fe) ? 'warning' : 'error',
          code: 'channel-files',
          problem: `has ${c.images.length} image(s) but dataset.json declares ${nCh} channel(s)`,
        });
  } else {
    const imgDir = joinPath(root, 'imagesTr');
    const labDir = joinPath(root, 'labelsTr');
    const byCase = await listImages(files, imgDir, ds, problems, 'error');
    if ((await files.list(imgDir)).length === 0)
      problems.push({ case: null, file: imgDir, severity: 'error', problem: 'imagesTr is missing or empty' });
    training = casesFrom(byCase, nCh, problems, 'error', fe);
    const labelNames = [...(await files.list(labDir))].sort();
    if (labelNames.length === 0)
      problems.push({ case: null, file: labDir, severity: 'error', problem: 'labelsTr is missing or empty' });
    const labelIds = new Map<string, string>();
    for (const name of labelNames) {
      const path = joinPath(labDir, name);
      if (!name.endsWith(fe)) {
        if (IMAGE_LIKE.test(name) && !name.startsWith('.'))
          problems.push({ case: null, file: path, severity: 'error', problem: `file ending differs from dataset.json file_ending "${fe}" (nnU-Net ignores this file)` });
        continue;
      }
      labelIds.set(name.slice(0, -fe.length), path);
    }
    for (const c of training) {
      const l = labelIds.get(c.id);
      if (l) c.label = l;
      else problems.push({ case: c.id, file: null, severity: 'error', problem: `no label file labelsTr/${c.id}${fe}` });
    }
    const ids = new Set(training.map((c) => c.id));
    for (const [id, path] of labelIds)
      if (!ids.has(id)) problems.push({ case: id, file: path, severity: 'error', problem: `label has no image(s) imagesTr/${id}_0000${fe}` });
  }
  if (training.length !== ds.numTraining)
    problems.push({
      case: null,
      file: joinPath(root, 'dataset.json'),
      severity: 'error',
      problem: `numTraining is ${ds.numTraining} but ${training.length} training case(s) were found`,
    });
  const testCases = await listImages(files, joinPath(root, 'imagesTs'), ds, problems, 'warning');
  const test = casesFrom(testCases, nCh, problems, 'warning', fe);
  return { training, test, problems };
}

/** Reads and parses ROOT/dataset.json through a DatasetFiles. */
export async function loadDatasetJson(files: DatasetFiles, root = ''): Promise<DatasetJson> {
  const p = joinPath(root, 'dataset.json');
  let bytes: Uint8Array;
  try {
    bytes = await files.read(p);
  } catch {
    throw new SegStudioError('dataset-json', 'dataset.json not found in the dataset folder', p);
  }
  return parseDatasetJson(bytes, p);
}

/**
 * DatasetFiles over an in-memory map path → bytes (a dropped folder or an unzipped archive in the browser).
 * Paths are '/'-separated; a leading './' or '/' is ignored.
 */
export function memoryDatasetFiles(entries: Record<string, Uint8Array | string> | Map<string, Uint8Array>): DatasetFiles {
  const norm = (p: string) => p.replace(/^\.?\/+/, '').replace(/\/+/g, '/').replace(/\/$/, '');
  const map = new Map<string, Uint8Array>();
  const src = entries instanceof Map ? entries.entries() : Object.entries(entries);
  for (const [k, v] of src) map.set(norm(k), typeof v === 'string' ? new TextEncoder().encode(v) : v);
  return {
    list(dir: string) {
      const d = norm(dir);
      const pre = d ? `${d}/` : '';
      return [...map.keys()]
        .filter((k) => k.startsWith(pre) && !k.slice(pre.length).includes('/'))
        .map((k) => k.slice(pre.length))
        .sort();
    },
    async read(p: string) {
      const b = map.get(norm(p));
      if (!b) throw new SegStudioError('read', 'file not found', p);
      return b;
    },
  };
}

/**
 * A dataset dropped as a .zip (browser or Node): the archive's files as DatasetFiles, and `root`, the folder
 * holding dataset.json (the shallowest one; '' when it sits at the top of the archive).
 */
export function datasetFilesFromZip(bytes: Uint8Array, fileName = 'dataset.zip'): { files: DatasetFiles; root: string } {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, { filter: (f) => (checkZipEntry(f, fileName, bytes.length), !f.name.endsWith('/') && !f.name.startsWith('__MACOSX/')) });
  } catch (e) {
    if (e instanceof SegStudioError) throw e;
    throw new SegStudioError('zip', `not a readable zip archive: ${(e as Error).message}`, fileName);
  }
  const djs = Object.keys(entries)
    .filter((k) => k === 'dataset.json' || k.endsWith('/dataset.json'))
    .sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  if (djs.length === 0) throw new SegStudioError('zip', 'no dataset.json inside the archive', fileName);
  const root = djs[0].slice(0, -'dataset.json'.length).replace(/\/$/, '');
  return { files: memoryDatasetFiles(entries), root };
}

// Runs one fuzz case against the product's parsers and classifies the outcome. Runs inside a worker thread
// (fuzz/worker.ts) so a hang can be cut off with terminate(); also callable directly (regression tests).
import { isSegStudioError } from '../src/core/errors.ts';
import { readImageFile, readImageFileAsync, gunzipAll } from '../src/core/io/index.ts';
import { parseDatasetJson, labelInfo } from '../src/core/planning/dataset.ts';
import { resolveConfiguration } from '../src/core/planning/plans.ts';
import { explainConfiguration } from '../src/core/planning/explain.ts';
import { loadBundle, unzipBundle, labelNames, type ModelBundle } from '../src/core/inference/bundle.ts';
import { modelChannelNames, modelClassNames, predictCase } from '../src/core/inference/predictor.ts';
import { functionRunner } from '../src/core/inference/runner.ts';
import { parseModelCard, cardChannelNames, cardLabelNames, normalizeForCard } from '../src/core/inference/modelCard.ts';
import { decodeModel } from '../src/core/inference/onnx/model.ts';
import { rewriteConvTransposeReport } from '../src/core/inference/onnx/rewrite.ts';
import { readNpz } from '../src/core/ensembling/npz.ts';
import { parsePostprocessingJson } from '../src/core/postprocessing/postprocessing.ts';
import type { Image } from '../src/core/types.ts';
import type { FuzzCase } from './targets.ts';

export type OutcomeClass = 'accepted' | 'rejected' | 'bug';
export type BugKind = 'exception' | 'hang' | 'worker-crash' | 'absurd-allocation' | 'unnamed-rejection' | 'invalid-accept' | 'ort-crash' | 'ort-hang';

export interface Outcome {
  cls: OutcomeClass;
  bug?: BugKind;
  /** error name/code and message (rejections and bugs) */
  error?: string;
  code?: string;
  stack?: string;
  ms: number;
  /** ArrayBuffer bytes held after the parse (worker-wide) minus before */
  allocated?: number;
}

/** Invariant violations of an accepted image (an accepted file must still be a sane image). */
function checkImage(img: Image, what: string): void {
  const bad = (m: string) => {
    throw new InvalidAccept(`${what}: ${m}`);
  };
  if (!Array.isArray(img.shape) || img.shape.length !== 4) bad(`shape ${JSON.stringify(img.shape)} is not [C, z, y, x]`);
  if (!img.shape.every((s) => Number.isInteger(s) && s > 0)) bad(`shape ${JSON.stringify(img.shape)} has non-positive sizes`);
  const n = img.shape.reduce((a, b) => a * b, 1);
  if (img.data.length !== n) bad(`data length ${img.data.length} != product of shape ${n}`);
  const sp = img.properties.spacing;
  if (!Array.isArray(sp) || sp.length !== 3 || !sp.every((s) => Number.isFinite(s) && s > 0)) bad(`spacing ${JSON.stringify(sp)} is not 3 positive finite numbers`);
  const aff = img.properties.affine;
  if (aff && !aff.flat().every((v) => Number.isFinite(v))) bad('affine has non-finite entries');
}

export class InvalidAccept extends Error {
  constructor(m: string) {
    super(m);
    this.name = 'InvalidAccept';
  }
}

function bundleChecks(b: ModelBundle): void {
  labelNames(b.dataset);
  modelChannelNames(b);
  modelClassNames(b);
  for (const cfg of Object.keys(b.plans.configurations)) explainConfiguration(b.plans, cfg);
  resolveConfiguration(b.plans, b.configuration);
  for (const n of b.networks) if (!(n.bytes instanceof Uint8Array)) throw new InvalidAccept(`network ${n.name} has no bytes`);
}

/**
 * Runs the predictor (preprocessing from plans.json, sliding window, export back to the image grid) on a
 * tiny image with a stub network that answers zeros of the right shape: plans that load must also predict
 * (or be refused with a SegStudioError).
 */
function spacingFor(target: unknown, nd: number, tf: unknown): number[] {
  const t = Array.isArray(target) && target.every((v) => typeof v === 'number' && v > 0 && v < 1e6) ? (target as number[]) : null;
  if (!t) return nd === 2 ? [999, 1, 1] : [2, 1, 1];
  const arr = nd === 2 ? [999, t[0] * 1.5, (t[1] ?? 1) * 1.5] : [t[0] * 1.5, (t[1] ?? 1) * 1.5, (t[2] ?? 1) * 1.5];
  // undo transpose_forward so that the transposed spacing matches the configuration
  const perm = Array.isArray(tf) && tf.length === 3 ? (tf as number[]) : [0, 1, 2];
  const out = [1, 1, 1];
  perm.forEach((a, i) => {
    if (Number.isInteger(a) && a >= 0 && a < 3) out[a] = arr[i];
  });
  return out;
}

async function predictTiny(bundle: ModelBundle): Promise<void> {
  const channels = modelChannelNames(bundle).length;
  const classes = modelClassNames(bundle).length;
  const cfg = resolveConfiguration(bundle.plans, bundle.configuration);
  const nd = Array.isArray(cfg.patch_size) ? cfg.patch_size.length : 3;
  const spatial = nd === 2 ? [1, 12, 14] : [6, 10, 12];
  const n = spatial[0] * spatial[1] * spatial[2];
  const image: Image = {
    data: Float32Array.from({ length: channels * n }, (_, i) => (i * 37) % 101),
    shape: [channels, ...spatial],
    // The image's spacing is the configuration's own (times 1.5), so the resampled grid stays tiny: a plans file
    // whose spacing is merely extreme (1e-3 mm) makes a big but legitimate grid, which is the memory
    // estimate's business (issue 7 "Large scans"), not the parser's. Grids over 2^31 voxels are refused.
    properties: {
      format: nd === 2 ? 'png' : 'nifti',
      spacing: spacingFor(cfg.spacing, nd, bundle.plans.transpose_forward),
      fileName: 'tiny',
    },
  };
  const runner = functionRunner((_x, shape) => {
    const K = Math.max(1, classes);
    const sp = shape.slice(2);
    return { data: new Float32Array(K * sp.reduce((a, b) => a * b, 1) * shape[0]), shape: [shape[0], K, ...sp] };
  });
  await predictCase(image, bundle, [runner], { tta: false });
}

/** Executes the case; throws whatever the parser throws (classification happens in runCase). */
export async function executeCase(c: FuzzCase): Promise<void> {
  const b = c.bytes!;
  switch (c.target) {
    case 'nifti':
    case 'png': {
      const img = c.index % 5 === 4 ? await readImageFileAsync(b, c.fileName) : readImageFile(b, c.fileName);
      checkImage(img, c.fileName);
      return;
    }
    case 'gzip': {
      gunzipAll(b, c.fileName);
      checkImage(c.index % 3 === 2 ? await readImageFileAsync(b, c.fileName) : readImageFile(b, c.fileName), c.fileName);
      return;
    }
    case 'datasetjson': {
      const ds = parseDatasetJson(b, c.fileName);
      labelInfo(ds, c.fileName);
      return;
    }
    case 'plans':
    case 'bundle': {
      const files = c.files ?? unzipBundle(b, c.fileName);
      const bundle = await loadBundle(files, c.fileName);
      bundleChecks(bundle);
      // the bundle keeps postprocessing.json as parsed JSON; a consumer reads it with parsePostprocessingJson
      const pp = bundle.files.get('postprocessing.json');
      if (pp) parsePostprocessingJson(new TextDecoder().decode(pp), `${c.fileName}/postprocessing.json`);
      for (const n of bundle.networks) decodeModel(n.bytes, `${c.fileName}/${n.name}`);
      if (c.target === 'plans') await predictTiny(bundle);
      return;
    }
    case 'onnx': {
      // what the runners do before creating a session (ortNodeRunner.prepareForWebGpu / the web runner)
      const m = decodeModel(b, c.fileName);
      if (m.graph.nodes.some((n) => n.opType === 'ConvTranspose')) rewriteConvTransposeReport(m, c.fileName);
      return;
    }
    case 'modelcard': {
      const card = parseModelCard(b, c.fileName);
      cardChannelNames(card);
      cardLabelNames(card);
      normalizeForCard(new Float32Array(64).map((_, i) => i - 20), card);
      // a card that parses must also predict (or refuse) on a tiny image with a stub network
      const channels = cardChannelNames(card).length;
      const classes = Math.max(1, cardLabelNames(card).length);
      if (channels > 16) return;
      const nd = card.input.layout === 'NCHW' ? 2 : 3;
      const spatial = Array.isArray(card.input.shape) && card.input.shape.every((v) => Number.isInteger(v) && v > 0) && card.input.shape.reduce((a, b) => a * b, 1) <= 4096
        ? card.input.shape
        : nd === 2 ? [1, 12, 14] : [6, 10, 12];
      const n = spatial.reduce((a: number, b: number) => a * b, 1);
      const image: Image = {
        data: Float32Array.from({ length: channels * n }, (_, i) => (i * 37) % 101),
        shape: [channels, ...spatial],
        properties: { format: 'nifti', spacing: Array.isArray(card.input.spacing) && card.input.spacing.every((v) => typeof v === 'number' && v > 0) ? [...card.input.spacing] : [1, 1, 1], fileName: 'tiny.nii' },
      };
      const runner = functionRunner((_x, shape) => {
        const sp = shape.slice(2);
        return { data: new Float32Array(classes * shape[0] * sp.reduce((a, b) => a * b, 1)), shape: [shape[0], classes, ...sp] };
      });
      await predictCase(image, { kind: 'card', sourceName: c.fileName, card, onnx: new Uint8Array(0) }, [runner], { tta: c.index % 2 === 0 });
      return;
    }
    case 'npz': {
      readNpz(b, c.fileName);
      return;
    }
    case 'postprocessing': {
      parsePostprocessingJson(new TextDecoder().decode(b), c.fileName);
      return;
    }
  }
}

/** Allocation bound: more than this many ArrayBuffer bytes for one case is "absurd". */
export function allocationLimit(c: FuzzCase): number {
  const size = c.bytes?.length ?? [...(c.files?.values() ?? [])].reduce((a, v) => a + v.length, 0);
  return Math.max(256 * 1024 * 1024, size * 1200);
}

/** Runs a case and classifies it: accepted, rejected (SegStudioError naming the file) or bug. */
export async function runCase(c: FuzzCase): Promise<Outcome> {
  const t0 = performance.now();
  const before = process.memoryUsage().arrayBuffers;
  let peak = 0;
  try {
    await executeCase(c);
    peak = process.memoryUsage().arrayBuffers - before;
    const ms = performance.now() - t0;
    if (peak > allocationLimit(c)) return { cls: 'bug', bug: 'absurd-allocation', error: `accepted but holds ${peak} ArrayBuffer bytes`, ms, allocated: peak };
    return { cls: 'accepted', ms, allocated: peak };
  } catch (e) {
    const ms = performance.now() - t0;
    const err = e as Error;
    const held = process.memoryUsage().arrayBuffers - before;
    if (held > allocationLimit(c)) return { cls: 'bug', bug: 'absurd-allocation', error: `allocated ${held} ArrayBuffer bytes before failing with ${err?.message}`, ms, allocated: held };
    if (err instanceof InvalidAccept) return { cls: 'bug', bug: 'invalid-accept', error: err.message, ms };
    if (isSegStudioError(err)) {
      const named = (err.file && err.file.length > 0) || err.message.includes(c.fileName);
      if (!named) return { cls: 'bug', bug: 'unnamed-rejection', error: err.message, code: err.code, ms };
      return { cls: 'rejected', error: err.message, code: err.code, ms };
    }
    return {
      cls: 'bug',
      bug: 'exception',
      error: `${err?.name ?? typeof e}: ${err?.message ?? String(e)}`,
      stack: (err?.stack ?? '').split('\n').slice(1, 6).join('\n'),
      ms,
    };
  }
}

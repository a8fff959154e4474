// Runs one fuzz case against the product's parsers and classifies the outcome. Runs inside a worker thread
// (fuzz/worker.ts) so a hang can be cut off with terminate(); also callable directly (regression tests).
import { isSegStudioError } from '../src/core/errors.ts';
import { readImageFile, readImageFileAsync, gunzipAll } from '../src/core/io/index.ts';
import { parseDatasetJson, labelInfo } from '../src/core/planning/dataset.ts';
import { resolveConfiguration } from '../src/core/planning/plans.ts';
import { explainConfiguration } from '../src/core/planning/explain.ts';
import { loadBundle, unzipBundle, labelNames, type ModelBundle } from '../src/core/inference/bundle.ts';
import { modelChannelNames, modelClassNames } from '../src/core/inference/predictor.ts';
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
      if (bundle.postprocessing !== undefined) parsePostprocessingJson(JSON.stringify(bundle.postprocessing), `${c.fileName}/postprocessing.json`);
      for (const n of bundle.networks) decodeModel(n.bytes, `${c.fileName}/${n.name}`);
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

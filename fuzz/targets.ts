// Fuzz targets: how a case is generated from the seed corpus (main thread, deterministic) and how it is
// executed against the product's parsers (in a worker thread, under a time bound).
import { strToU8, zipSync } from 'fflate';
import { sha256Hex } from '../src/core/inference/sha256.ts';
import { decodeModel, encodeModel, type OnnxModel } from '../src/core/inference/onnx/model.ts';
import type { Corpus } from './corpus.ts';
import type { Rng } from './prng.ts';
import {
  byteMutation,
  gzipEdit,
  isNiftiPlain,
  jsonMutation,
  niftiHeaderEdit,
  niftiHugeDims,
  npzEdit,
  pngEdit,
  regzip,
  truncate,
  tryGunzip,
  flipBits,
  type Log,
} from './mutators.ts';

export const TARGETS = ['nifti', 'gzip', 'png', 'datasetjson', 'plans', 'bundle', 'onnx', 'modelcard', 'npz', 'postprocessing'] as const;
export type TargetName = (typeof TARGETS)[number];

/** One generated input: everything the worker needs, structured-clone friendly. */
export interface FuzzCase {
  target: TargetName;
  index: number;
  seedName: string;
  mutations: string[];
  /** the name the parser is given (errors must name it) */
  fileName: string;
  bytes?: Uint8Array;
  /** bundle given as files (folder drop) */
  files?: Map<string, Uint8Array>;
}

const dec = new TextDecoder();

function niftiCase(c: Corpus, rng: Rng, log: Log): { seedName: string; fileName: string; bytes: Uint8Array } {
  const seed = rng.pick(c.nifti);
  const gz = seed.name.endsWith('.gz');
  let plain = gz ? tryGunzip(seed.bytes)! : seed.bytes;
  const n = rng.range(1, 3);
  for (let k = 0; k < n; k++) {
    const op = rng.weighted([45, 8, 12, 15, 10, 10]);
    if (op === 0) plain = niftiHeaderEdit(plain, rng, log);
    else if (op === 1) plain = niftiHugeDims(plain, rng, log);
    else if (op === 2) plain = truncate(plain, rng, log);
    else if (op === 3) plain = flipBits(plain, rng, log, [0, Math.min(plain.length, 360)]);
    else if (op === 4 && isNiftiPlain(plain)) plain = flipBits(plain, rng, log, [Math.min(plain.length - 1, 352), plain.length]);
    else plain = byteMutation(plain, rng, log);
  }
  const outGz = rng.bool(0.5);
  const base = seed.name.replace(/\.nii(\.gz)?$/, '');
  return { seedName: seed.name, fileName: `${base}_fuzz.nii${outGz ? '.gz' : ''}`, bytes: outGz ? regzip(plain) : plain };
}

function gzipCase(c: Corpus, rng: Rng, log: Log) {
  const seeds = c.nifti.filter((s) => s.name.endsWith('.gz'));
  const seed = rng.pick(seeds);
  let b = seed.bytes;
  const n = rng.range(1, 2);
  for (let k = 0; k < n; k++) b = gzipEdit(b, rng, log);
  return { seedName: seed.name, fileName: seed.name.replace(/\.nii\.gz$/, '_fuzz.nii.gz'), bytes: b };
}

function pngCase(c: Corpus, rng: Rng, log: Log) {
  const seed = rng.pick(c.png);
  let b = seed.bytes;
  const n = rng.range(1, 2);
  for (let k = 0; k < n; k++) b = rng.bool(0.8) ? pngEdit(b, rng, log) : byteMutation(b, rng, log);
  return { seedName: seed.name, fileName: seed.name.replace(/\.png$/, '_fuzz.png'), bytes: b };
}

function jsonCase(seeds: { name: string; bytes: Uint8Array }[], rng: Rng, log: Log) {
  const seed = rng.pick(seeds);
  let text = dec.decode(seed.bytes);
  const n = rng.range(1, 2);
  for (let k = 0; k < n; k++) text = jsonMutation(text, rng, log);
  return { seedName: seed.name, fileName: seed.name.replace(/^.*\//, 'fuzz_'), bytes: strToU8(text) };
}

/** Rewrites manifest.json with fresh sha256 digests (so edits reach the parsers behind the integrity check). */
export function rehash(files: Map<string, Uint8Array>): Map<string, Uint8Array> {
  const m = JSON.parse(dec.decode(files.get('manifest.json')!));
  m.files = Object.fromEntries([...files.entries()].filter(([k]) => k !== 'manifest.json').map(([k, v]) => [k, sha256Hex(v)]));
  files.set('manifest.json', strToU8(JSON.stringify(m, null, 2)));
  return files;
}

function plansCase(c: Corpus, rng: Rng, log: Log): { seedName: string; fileName: string; files: Map<string, Uint8Array> } {
  const j = jsonCase(c.plans, rng, log);
  // plans.json inside the bundle whose plans it came from (else the demo bundle)
  const host = c.bundles.find((b) => j.seedName.startsWith(b.name.replace(/-bundle$/, ''))) ?? c.bundles[0];
  const files = new Map(host.files);
  files.set('plans.json', j.bytes!);
  return { seedName: j.seedName, fileName: `${host.name}-plans`, files: rehash(files) };
}

function bundleCase(c: Corpus, rng: Rng, log: Log): { seedName: string; fileName: string; files?: Map<string, Uint8Array>; bytes?: Uint8Array } {
  const host = rng.pick(c.bundles);
  const files = new Map(host.files);
  const names = [...files.keys()];
  const op = rng.weighted([12, 20, 12, 10, 8, 8, 10, 12, 8]);
  let reh = false;
  if (op === 0) {
    const k = rng.pick(names.filter((x) => x !== 'manifest.json'));
    files.set(k, flipBits(files.get(k)!, rng, log));
    log.push(`tamper ${k} (manifest not updated)`);
  } else if (op === 1) {
    const k = rng.pick(['dataset.json', 'inference.json', 'postprocessing.json', 'dataset.json']);
    const base = files.get(k) ?? strToU8(k === 'inference.json' ? '{"allowed_mirroring_axes": [0, 1, 2]}' : '{"postprocessing_fns": []}');
    files.set(k, strToU8(jsonMutation(dec.decode(base), rng, log)));
    log.push(`edit ${k} (rehashed)`);
    reh = true;
  } else if (op === 2) {
    files.set('manifest.json', strToU8(jsonMutation(dec.decode(files.get('manifest.json')!), rng, log)));
    log.push('edit manifest.json');
  } else if (op === 3) {
    const k = rng.pick(names);
    files.delete(k);
    log.push(`remove ${k}`);
    reh = rng.bool() && k !== 'manifest.json';
  } else if (op === 4) {
    const k = rng.pick(['extra.bin', '.DS_Store', '__MACOSX/x', 'fold_9.onnx', 'sub/dir/file.json', '']);
    files.set(k, new Uint8Array(rng.int(10)));
    log.push(`add ${JSON.stringify(k)}`);
    reh = rng.bool();
  } else if (op === 5) {
    // everything under a common folder (zipped folder), sometimes with a stray top-level file
    const pre = rng.pick(['Model/', 'a/b/', '/', './']);
    const moved = new Map<string, Uint8Array>();
    for (const [k, v] of files) moved.set(pre + k, v);
    if (rng.bool(0.3)) moved.set('README.txt', new Uint8Array(3));
    log.push(`prefix ${pre}`);
    return { seedName: host.name, fileName: host.name, files: moved };
  } else if (op === 6) {
    // fold network replaced by a mutated one (rehashed): the bundle loads, the network is hostile
    const k = rng.pick(names.filter((x) => x.endsWith('.onnx')));
    files.set(k, byteMutation(files.get(k)!, rng, log));
    log.push(`mutate ${k} (rehashed)`);
    reh = true;
  } else if (op === 7) {
    // as a .zip, with zip-level byte edits
    const z = zipSync(Object.fromEntries(files), { level: rng.bool() ? 0 : 1 });
    let b: Uint8Array = z;
    for (let k = 0, n = rng.range(1, 2); k < n; k++) b = byteMutation(b, rng, log);
    return { seedName: host.name, fileName: `${host.name}.zip`, bytes: b };
  } else {
    const m = JSON.parse(dec.decode(files.get('manifest.json')!));
    const hk = rng.pick(Object.keys(m.files));
    m.files[hk] = rng.pick(['0'.repeat(64), m.files[hk].toUpperCase(), m.files[hk].slice(1), 'f'.repeat(64)]);
    files.set('manifest.json', strToU8(JSON.stringify(m)));
    log.push(`manifest hash of ${hk} edited`);
  }
  if (reh) rehash(files);
  return { seedName: host.name, fileName: host.name, files };
}

function onnxStructEdit(m: OnnxModel, rng: Rng, log: Log): void {
  const g = m.graph;
  const op = rng.int(9);
  if (op === 0 && g.initializers.length) {
    const t = rng.pick(g.initializers);
    t.dims = rng.pick([[], [0], [-1], [2 ** 31], [1e6, 1e6], [...t.dims, 2], t.dims.slice(1), t.dims.map((d) => d * 1000)]);
    log.push(`initializer ${t.name} dims=${JSON.stringify(t.dims)}`);
  } else if (op === 1 && g.initializers.length) {
    const t = rng.pick(g.initializers);
    if (t.rawData) t.rawData = t.rawData.slice(0, rng.int(t.rawData.length));
    else if (t.floatData) t.floatData = t.floatData.slice(0, rng.int(t.floatData.length));
    log.push(`initializer ${t.name} data truncated`);
  } else if (op === 2 && g.initializers.length) {
    const t = rng.pick(g.initializers);
    t.dataType = rng.pick([0, 2, 3, 7, 8, 10, 11, 13, 16, 99]);
    log.push(`initializer ${t.name} dataType=${t.dataType}`);
  } else if (op === 3 && g.nodes.length) {
    const nd = rng.pick(g.nodes);
    if (nd.inputs.length) nd.inputs[rng.int(nd.inputs.length)] = rng.pick(['missing', '', nd.outputs[0] ?? 'x']);
    log.push(`node ${nd.opType} input rewired`);
  } else if (op === 4 && g.nodes.length) {
    const nd = rng.pick(g.nodes);
    const a = nd.attributes.length ? rng.pick(nd.attributes) : null;
    if (a) {
      if (a.ints) a.ints = rng.pick([[], [0, 0, 0], [-1, -1, -1], [2 ** 31, 1, 1], [...a.ints, ...a.ints]]);
      else if (a.i !== undefined) a.i = rng.pick([0, -1, 2 ** 40]);
      else if (a.f !== undefined) a.f = rng.pick([NaN, Infinity, -1]);
      log.push(`node ${nd.opType} attribute ${a.name} edited`);
    }
  } else if (op === 5) {
    m.opsetImports = rng.pick([[], [{ domain: '', version: 1 }], [{ domain: '', version: 999 }], [{ domain: 'x', version: 17 }]]);
    log.push('opset edited');
  } else if (op === 6 && g.nodes.length) {
    const i = rng.int(g.nodes.length);
    log.push(`node ${g.nodes[i].opType} removed`);
    g.nodes.splice(i, 1);
  } else if (op === 7 && g.inputs.length) {
    const v = g.inputs[0];
    delete v.rawType;
    v.shape = rng.pick([[], [1], [0, 0, 0, 0, 0], [-1, 1, 8, 8, 8], undefined, ['N', 1, 'D', 'H', 'W', 'T']]);
    log.push(`input shape ${JSON.stringify(v.shape)}`);
  } else {
    const nd = g.nodes.length ? rng.pick(g.nodes) : null;
    if (nd) nd.opType = rng.pick(['ConvTranspose', 'Conv', 'Unknown', '', 'Loop', 'If']);
    log.push(`node op=${nd?.opType}`);
  }
}

function onnxCase(c: Corpus, rng: Rng, log: Log) {
  const seed = rng.pick(c.onnx);
  let b = seed.bytes;
  if (rng.bool(0.55)) {
    try {
      const m = decodeModel(b, seed.name);
      for (let k = 0, n = rng.range(1, 2); k < n; k++) onnxStructEdit(m, rng, log);
      b = encodeModel(m);
    } catch (e) {
      log.push(`structural edit failed: ${(e as Error).message}`);
    }
  }
  if (rng.bool(0.5) || log.length === 0) for (let k = 0, n = rng.range(1, 2); k < n; k++) b = byteMutation(b, rng, log);
  return { seedName: seed.name, fileName: seed.name.replace(/\.onnx$/, '_fuzz.onnx'), bytes: b };
}

function npzCase(c: Corpus, rng: Rng, log: Log) {
  const seed = rng.pick(c.npz);
  let b = seed.bytes;
  for (let k = 0, n = rng.range(1, 2); k < n; k++) b = npzEdit(b, rng, log);
  return { seedName: seed.name, fileName: seed.name.replace(/\.npz$/, '_fuzz.npz'), bytes: b };
}

/** Generates case `index` of `target` (deterministic in rng). */
export function generateCase(target: TargetName, index: number, corpus: Corpus, rng: Rng): FuzzCase {
  // A mutator that trips over its own input retries with the rng's next draws (still deterministic).
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return generateOnce(target, index, corpus, rng);
    } catch {
      /* next attempt */
    }
  }
  return { target, index, seedName: '-', mutations: ['empty input (generator failed 3 times)'], fileName: `empty_${target}.bin`, bytes: new Uint8Array(0) };
}

function generateOnce(target: TargetName, index: number, corpus: Corpus, rng: Rng): FuzzCase {
  const log: Log = [];
  let r: { seedName: string; fileName: string; bytes?: Uint8Array; files?: Map<string, Uint8Array> };
  switch (target) {
    case 'nifti':
      r = niftiCase(corpus, rng, log);
      break;
    case 'gzip':
      r = gzipCase(corpus, rng, log);
      break;
    case 'png':
      r = pngCase(corpus, rng, log);
      break;
    case 'datasetjson':
      r = jsonCase(corpus.datasetjson, rng, log);
      break;
    case 'plans':
      r = plansCase(corpus, rng, log);
      break;
    case 'bundle':
      r = bundleCase(corpus, rng, log);
      break;
    case 'onnx':
      r = onnxCase(corpus, rng, log);
      break;
    case 'modelcard':
      r = jsonCase(corpus.modelcard, rng, log);
      break;
    case 'npz':
      r = npzCase(corpus, rng, log);
      break;
    case 'postprocessing':
      r = jsonCase(corpus.postprocessing, rng, log);
      break;
  }
  return { target, index, mutations: log, ...r };
}

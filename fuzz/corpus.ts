// Seed corpus: real files from ../shared/data when present (read at run time, never copied into the repo)
// plus synthetic files made by our own writers, so the harness also runs where the data is missing.
import fs from 'node:fs';
import path from 'node:path';
import { encode as encodePng } from 'fast-png';
import { gunzipSync } from 'fflate';
import { writeNifti, createNiftiHeader, writeLabelPng, readImageFile } from '../src/core/io/index.ts';
import { memoryDatasetFiles } from '../src/core/planning/dataset.ts';
import { planRawDataset } from '../src/core/planning/planDataset.ts';
import { demoDataset, demoModelCard, demoNetworkBytes, demoPlans, buildDemoBundle } from '../src/core/demo/demoModel.ts';
import { buildPointwiseOnnx, buildUNetLikeOnnx, syntheticPlans } from '../src/core/inference/syntheticModels.ts';
import { createBundle } from '../src/core/inference/bundle.ts';
import { writeNpz } from '../src/core/ensembling/npz.ts';
import { postprocessingToJson } from '../src/core/postprocessing/postprocessing.ts';
import type { Plans } from '../src/core/planning/plans.ts';

export interface BytesSeed {
  name: string;
  bytes: Uint8Array;
}

export interface Corpus {
  nifti: BytesSeed[];
  png: BytesSeed[];
  datasetjson: BytesSeed[];
  plans: BytesSeed[];
  bundles: { name: string; files: Map<string, Uint8Array> }[];
  onnx: BytesSeed[];
  modelcard: BytesSeed[];
  npz: BytesSeed[];
  postprocessing: BytesSeed[];
  /** which seeds came from ../shared/data */
  realSeeds: string[];
}

const enc = new TextEncoder();
const jsonBytes = (v: unknown) => enc.encode(JSON.stringify(v, null, 2) + '\n');

export function defaultSharedDataDir(): string {
  const here = path.dirname(new URL(import.meta.url).pathname);
  return process.env.SEGSTUDIO_SHARED_DATA ?? path.resolve(here, '../../shared/data');
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

function syntheticNiftis(): BytesSeed[] {
  const out: BytesSeed[] = [];
  const r = lcg(7);
  const dims = [9, 7, 5];
  const n = dims[0] * dims[1] * dims[2];
  for (const [dt, arr] of [
    ['uint8', Uint8Array.from({ length: n }, () => Math.floor(r() * 4))],
    ['int16', Int16Array.from({ length: n }, () => Math.floor(r() * 2000 - 1000))],
    ['float32', Float32Array.from({ length: n }, () => r() * 100)],
  ] as const) {
    const h = createNiftiHeader({ dims, spacingXYZ: [1.5, 0.8, 3], datatype: dt });
    out.push({ name: `synthetic_${dt}.nii.gz`, bytes: writeNifti(h, arr, { fileName: `synthetic_${dt}.nii.gz` }) });
    out.push({ name: `synthetic_${dt}.nii`, bytes: writeNifti(h, arr, { fileName: `synthetic_${dt}.nii` }) });
  }
  const h2 = { ...createNiftiHeader({ dims: [6, 5, 4, 2], spacingXYZ: [1, 1, 2], datatype: 'float32' }), version: 2 as const, magic: 'n+2' };
  out.push({ name: 'synthetic_nifti2_4d.nii', bytes: writeNifti(h2, new Float32Array(240).map((_, i) => i), { fileName: 'synthetic_nifti2_4d.nii' }) });
  return out;
}

function syntheticPngs(): BytesSeed[] {
  const r = lcg(11);
  const w = 13;
  const h = 9;
  const lab = { data: Uint8Array.from({ length: w * h }, () => Math.floor(r() * 3)), shape: [1, h, w] };
  return [
    { name: 'synthetic_label.png', bytes: writeLabelPng(lab, 'synthetic_label.png') },
    { name: 'synthetic_gray16.png', bytes: encodePng({ width: w, height: h, data: Uint16Array.from({ length: w * h }, () => Math.floor(r() * 65535)), depth: 16, channels: 1 }) },
    { name: 'synthetic_rgb.png', bytes: encodePng({ width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256)), depth: 8, channels: 3 }) },
    { name: 'synthetic_rgba.png', bytes: encodePng({ width: w, height: h, data: Uint8Array.from({ length: w * h * 4 }, () => Math.floor(r() * 256)), depth: 8, channels: 4 }) },
  ];
}

function syntheticNpzs(): BytesSeed[] {
  const r = lcg(3);
  return [
    { name: 'probs.npz', bytes: writeNpz({ probabilities: { data: Float32Array.from({ length: 3 * 4 * 5 * 6 }, () => r()), shape: [3, 4, 5, 6] } }) },
    {
      name: 'mixed.npz',
      bytes: writeNpz(
        {
          a: { data: Uint8Array.from({ length: 24 }, (_, i) => i), shape: [2, 3, 4] },
          b: { data: Int16Array.from({ length: 6 }, (_, i) => -i), shape: [6] },
          c: { data: Float64Array.from({ length: 4 }, (_, i) => i / 3), shape: [2, 2] },
        },
        0,
      ),
    },
  ];
}

async function plannedPlans(dir: string, caseLimit: number, readImage: typeof readImageFile): Promise<Plans | null> {
  try {
    const ds = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8'));
    const ending: string = ds.file_ending;
    const labels = fs.readdirSync(path.join(dir, 'labelsTr')).filter((f) => f.endsWith(ending)).sort().slice(0, caseLimit);
    const entries: Record<string, Uint8Array> = {};
    for (const l of labels) {
      const id = l.slice(0, -ending.length);
      entries[`labelsTr/${l}`] = fs.readFileSync(path.join(dir, 'labelsTr', l));
      entries[`imagesTr/${id}_0000${ending}`] = fs.readFileSync(path.join(dir, 'imagesTr', `${id}_0000${ending}`));
    }
    entries['dataset.json'] = enc.encode(JSON.stringify({ ...ds, numTraining: labels.length }));
    const planned = await planRawDataset(memoryDatasetFiles(entries), '', { readImage });
    return planned.plans;
  } catch (e) {
    process.stderr.write(`fuzz corpus: could not plan ${dir}: ${(e as Error).message}\n`);
    return null;
  }
}

/** Builds every seed (a few seconds: plans two small real datasets when ../shared/data exists). */
export async function buildCorpus(opts: { sharedDataDir?: string; useSharedData?: boolean } = {}): Promise<Corpus> {
  const dataDir = opts.sharedDataDir ?? defaultSharedDataDir();
  const useData = (opts.useSharedData ?? true) && fs.existsSync(path.join(dataDir, 'README.md'));
  const real: string[] = [];
  const read = (rel: string): Uint8Array | null => {
    const p = path.join(dataDir, rel);
    if (!useData || !fs.existsSync(p)) return null;
    real.push(rel);
    return new Uint8Array(fs.readFileSync(p));
  };

  const nifti = syntheticNiftis();
  for (const rel of [
    'Dataset004_Hippocampus/imagesTr/hippocampus_003_0000.nii.gz',
    'Dataset004_Hippocampus/labelsTr/hippocampus_003.nii.gz',
    'scans/niivue_FLAIR_lesion_drawing.nii.gz',
    'scans/totalseg_example_mr_sm_seg_total_mr.nii.gz',
  ]) {
    const b = read(rel);
    if (!b) continue;
    nifti.push({ name: path.basename(rel), bytes: b });
    if (rel.includes('Hippocampus')) nifti.push({ name: path.basename(rel).replace(/\.gz$/, ''), bytes: gunzipSync(b) });
  }

  const png = syntheticPngs();
  for (const rel of ['Dataset901_ISBI2012EM/imagesTr/isbi2012_000_0000.png', 'Dataset901_ISBI2012EM/labelsTr/isbi2012_000.png']) {
    const b = read(rel);
    if (b) png.push({ name: path.basename(rel), bytes: b });
  }

  const datasetjson: BytesSeed[] = [
    { name: 'demo/dataset.json', bytes: jsonBytes(demoDataset()) },
    {
      name: 'regions/dataset.json',
      bytes: jsonBytes({ channel_names: { 0: 'T2', 1: 'ADC' }, labels: { background: 0, whole: [1, 2, 3], core: [2, 3], enhancing: 3 }, regions_class_order: [1, 2, 3], numTraining: 4, file_ending: '.nii.gz' }),
    },
  ];
  for (const rel of ['Dataset004_Hippocampus/dataset.json', 'Dataset901_ISBI2012EM/dataset.json']) {
    const b = read(rel);
    if (b) datasetjson.push({ name: rel, bytes: b });
  }

  const plansObjs: { name: string; plans: Plans }[] = [
    { name: 'demo', plans: demoPlans() },
    { name: 'synthetic2d', plans: syntheticPlans({ patchSize: [32, 32], spacing: [1, 1], channels: 1 }) },
  ];
  if (useData) {
    for (const [name, rel, n] of [
      ['hippocampus', 'Dataset004_Hippocampus', 3],
      ['isbi', 'Dataset901_ISBI2012EM', 2],
    ] as const) {
      const p = await plannedPlans(path.join(dataDir, rel), n, readImageFile);
      if (p) {
        plansObjs.push({ name, plans: p });
        real.push(`${rel} (planned from ${n} cases)`);
      }
    }
  }
  const plans = plansObjs.map((p) => ({ name: `${p.name}/plans.json`, bytes: jsonBytes(p.plans) }));

  const onnx: BytesSeed[] = [
    { name: 'demo.onnx', bytes: demoNetworkBytes() },
    { name: 'pointwise.onnx', bytes: buildPointwiseOnnx([[1, -1], [0.5, 2], [0, 1]], [0, 0.1, -0.1]) },
    { name: 'unet_like_2d.onnx', bytes: buildUNetLikeOnnx({ inChannels: 1, classes: 2, features: [4, 8], patch: [16, 16], seed: 1 }) },
  ];
  const realOnnx = read('models/brainchop_model5_gw_ae/model5_gw_ae.niivue-onnx.onnx');
  if (realOnnx) onnx.push({ name: 'model5_gw_ae.niivue-onnx.onnx', bytes: realOnnx });

  const bundles: Corpus['bundles'] = [{ name: 'demo-bundle', files: await buildDemoBundle() }];
  for (const p of plansObjs.slice(1)) {
    const cfg = Object.keys(p.plans.configurations)[0];
    const nd = (p.plans.configurations[cfg].patch_size ?? [1, 1, 1]).length;
    const ds = p.name === 'isbi' || p.name === 'hippocampus' ? JSON.parse(new TextDecoder().decode(datasetjson.find((d) => d.name.includes(p.name === 'isbi' ? 'ISBI' : 'Hippo'))!.bytes)) : { channel_names: { 0: 'x' }, labels: { background: 0, fg: 1, other: 2 }, file_ending: '.png', numTraining: 2 };
    const nLabels = Object.keys(ds.labels).length;
    bundles.push({
      name: `${p.name}-bundle`,
      files: await createBundle({
        plans: p.plans,
        dataset: ds,
        configuration: cfg,
        folds: new Map([
          [0, buildPointwiseOnnx(Array.from({ length: nLabels }, (_, k) => [k - 1]), Array(nLabels).fill(0), nd === 2 ? ['h', 'w'] : ['d', 'h', 'w'])],
          [3, demoNetworkBytes()],
        ]),
        postprocessing: { postprocessing_fns: [{ fn: 'remove_all_but_largest_component', labels_or_regions: 1, background_label: 0 }] },
        allowedMirroringAxes: nd === 2 ? [0, 1] : [0, 1, 2],
      }),
    });
  }

  const card = {
    format: 'segstudio-model-card/1',
    name: 'brain tissue (fuzz seed)',
    labels: { background: 0, white_matter: 1, grey_matter: 2 },
    channels: { 0: 'T1' },
    input: { layout: 'NCDHW', axis_order: 'x-fastest', patch_size: 'full', shape: [6, 10, 12], spacing: [1, 1, 1], spacing_tolerance: 0.1 },
    normalization: 'quantile',
    normalization_params: { lower_quantile: 0.02, upper_quantile: 0.98 },
    output: { kind: 'logits' },
    mirror_axes: [0, 1, 2],
    license: 'MIT',
  };
  const modelcard: BytesSeed[] = [
    { name: 'brain/model-card.json', bytes: jsonBytes(card) },
    {
      name: 'ct/model-card.json',
      bytes: jsonBytes({
        ...card,
        name: 'ct card',
        input: { layout: 'NCHW', axis_order: 'z-fastest', patch_size: [64, 64], step_size: 0.5, gaussian: true },
        normalization: 'ct',
        normalization_params: { mean: 40, std: 100, percentile_00_5: -1000, percentile_99_5: 1500 },
        mirror_axes: [0, 1],
      }),
    },
    { name: 'demo/model-card.json', bytes: jsonBytes({ ...demoModelCard(), format: 'segstudio-model-card/1', channels: { 0: 'T2' }, input: { layout: 'NCDHW', axis_order: 'z-fastest', patch_size: [32, 48, 48] }, normalization: 'zscore' }) },
  ];

  const postprocessing: BytesSeed[] = [
    {
      name: 'postprocessing.json',
      // nnU-Net's own layout (function names + kwargs lists)
      bytes: jsonBytes({
        postprocessing_fns: ['remove_all_but_largest_component', 'remove_all_but_largest_component'],
        postprocessing_kwargs: [{ labels_or_regions: [1, 2] }, { labels_or_regions: 3 }],
      }),
    },
    {
      name: 'ours/postprocessing.json',
      bytes: enc.encode(
        postprocessingToJson({
          postprocessing_fns: [{ fn: 'remove_all_but_largest_component', labels_or_regions: [[1, 2], 3], background_label: 0 }],
          considered: [],
        }),
      ),
    },
  ];

  return { nifti, png, datasetjson, plans, bundles, onnx, modelcard, npz: syntheticNpzs(), postprocessing, realSeeds: real };
}

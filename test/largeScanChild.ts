// Child process for test/largeScan.test.ts and bench/memory.bench.ts: generates a CT-like int16 NIfTI
// (scl_slope 1, scl_inter −1024) in memory, reads it with the real NIfTI reader, and segments it with
// predictCase through onnxruntime-node, so the process's peak RSS is the prediction's alone.
// Prints one JSON line: peak RSS (kernel maxrss), sampled JS heap + ArrayBuffers, the estimate, timings,
// and the voxels whose label differs from the phantom's truth.
//   node bin/run-ts.mjs test/largeScanChild.ts '{"shape":[300,512,512]}'
//
// The phantom: a circular field of view (outside −1024 HU, stored raw 0), air −1000, a body ellipse of soft
// tissue (40 HU) with fat (−100), lungs (−800), a liver (60) and a spine (1200), ±30 HU deterministic noise.
// The network is pointwise (1×1×1 conv) on CTNormalization (x = HU/100): logits (0, x + 5, 2x − 5), so the
// truth is a threshold of the HU value: 0 at ≤ −500 HU, 2 above 1000 HU, 1 between (no value lies near a
// threshold). Sliding-window averaging of identical per-voxel logits leaves them unchanged up to float
// rounding, so every voxel must carry its truth label.
import os from 'node:os';
import { readImageFile } from '../src/core/io/files.ts';
import { createBundle, loadBundle } from '../src/core/inference/bundle.ts';
import { formatBytes, measureThroughput, memoryBudget, networkCost, type PredictionEstimate } from '../src/core/inference/memory.ts';
import { predictCase } from '../src/core/inference/predictor.ts';
import { buildPointwiseOnnx, syntheticPlans } from '../src/core/inference/syntheticModels.ts';
import { createOrtNodeRunner } from '../src/node/ortNodeRunner.ts';

export interface LargeScanParams {
  /** [z, y, x] */
  shape: number[];
  /** spacing [z, y, x] mm (default [2.5, 0.8, 0.8]) */
  spacing?: number[];
  /** network target spacing (default = spacing: no resampling) */
  targetSpacing?: number[];
  patch?: number[];
  step?: number;
  tta?: boolean;
  lowMemory?: boolean;
  /** budget in bytes (default: from the machine, as the CLI) */
  budgetBytes?: number;
  threads?: number;
}

export interface LargeScanReport {
  shape: number[];
  voxels: number;
  baselineRss: number;
  peakRss: number;
  /** max over samples (each network run) of heapUsed + arrayBuffers */
  sampledJsPeak: number;
  sampledRssPeak: number;
  estimate: Pick<PredictionEstimate, 'peakBytes' | 'peakPhase' | 'breakdown' | 'estimatedSeconds' | 'fits' | 'budgetBytes' | 'tiles' | 'runs'> & { phases: { name: string; bytes: number }[] };
  mismatches: number;
  labelCounts: number[];
  truthCounts: number[];
  seconds: { generate: number; predict: number; network: number; preprocess: number; export: number };
  refused?: string;
}

/** HU of the phantom at (z, y, x) on a [d0, d1, d2] grid (before noise). */
function phantomHu(z: number, y: number, x: number, d0: number, d1: number, d2: number): number {
  const cy = d1 / 2;
  const cx = d2 / 2;
  const ny = (y - cy) / (d1 / 2);
  const nx = (x - cx) / (d2 / 2);
  if (ny * ny + nx * nx > 1) return -1024; // outside the reconstructed field of view
  const nz = z / d0; // 0..1
  if (nz < 0.03 || nz > 0.97) return -1000;
  const by = (y - cy) / (0.3 * d1);
  const bx = (x - cx) / (0.4 * d2);
  const body = by * by + bx * bx;
  if (body > 1) return -1000;
  // spine: a cylinder behind the centre
  const sy = (y - (cy + 0.19 * d1)) / (0.04 * d1);
  const sx = (x - cx) / (0.04 * d2);
  if (sy * sy + sx * sx <= 1) return 1200;
  if (body > 0.8) return -100; // subcutaneous fat
  if (nz > 0.55) {
    // lungs: two ellipsoids in the upper part
    for (const side of [-1, 1]) {
      const ly = (y - (cy - 0.02 * d1)) / (0.18 * d1);
      const lx = (x - (cx + side * 0.17 * d2)) / (0.12 * d2);
      const lz = (nz - 0.78) / 0.2;
      if (ly * ly + lx * lx + lz * lz <= 1) return -800;
    }
  } else {
    const vy = (y - (cy - 0.03 * d1)) / (0.15 * d1);
    const vx = (x - (cx - 0.12 * d2)) / (0.2 * d2);
    const vz = (nz - 0.35) / 0.18;
    if (vy * vy + vx * vx + vz * vz <= 1) return 60;
  }
  return 40;
}

function truthLabel(hu: number): number {
  return hu <= -500 ? 0 : hu > 1000 ? 2 : 1;
}

/** A single-file NIfTI-1, int16, scl_slope 1, scl_inter −1024, written by hand (x fastest). */
export function phantomNifti(shape: number[], spacing: number[]): Uint8Array {
  const [d0, d1, d2] = shape;
  const n = d0 * d1 * d2;
  const bytes = new Uint8Array(352 + 2 * n);
  const dv = new DataView(bytes.buffer);
  dv.setInt32(0, 348, true);
  const dim = [3, d2, d1, d0, 1, 1, 1, 1];
  dim.forEach((v, i) => dv.setInt16(40 + 2 * i, v, true));
  dv.setInt16(70, 4, true); // datatype int16
  dv.setInt16(72, 16, true); // bitpix
  const pixdim = [1, spacing[2], spacing[1], spacing[0], 1, 1, 1, 1];
  pixdim.forEach((v, i) => dv.setFloat32(76 + 4 * i, v, true));
  dv.setFloat32(108, 352, true); // vox_offset
  dv.setFloat32(112, 1, true); // scl_slope
  dv.setFloat32(116, -1024, true); // scl_inter
  dv.setUint8(123, 10); // xyzt_units: mm, s
  dv.setInt16(254, 1, true); // sform_code scanner
  const srow = [
    [-spacing[2], 0, 0, 0],
    [0, -spacing[1], 0, 0],
    [0, 0, spacing[0], 0],
  ];
  srow.forEach((r, i) => r.forEach((v, j) => dv.setFloat32(280 + 16 * i + 4 * j, v, true)));
  bytes.set([0x6e, 0x2b, 0x31, 0], 344); // "n+1\0"
  const raw = new Int16Array(bytes.buffer, 352, n);
  let i = 0;
  for (let z = 0; z < d0; z++)
    for (let y = 0; y < d1; y++)
      for (let x = 0; x < d2; x++, i++) {
        const hu = phantomHu(z, y, x, d0, d1, d2);
        const noise = hu === -1024 ? 0 : (Math.imul(i, 2654435761) >>> 0) % 61 - 30;
        raw[i] = hu + noise + 1024;
      }
  return bytes;
}

export async function runLargeScan(p: LargeScanParams): Promise<LargeScanReport> {
  const spacing = p.spacing ?? [2.5, 0.8, 0.8];
  const patch = p.patch ?? [64, 160, 160];
  const plans = syntheticPlans({ patchSize: patch, spacing: p.targetSpacing ?? spacing, channels: 1, normalization: 'CTNormalization' });
  plans.foreground_intensity_properties_per_channel = { '0': { max: 3000, mean: 0, median: 0, min: -1024, percentile_00_5: -1024, percentile_99_5: 2000, std: 100 } };
  const files = await createBundle({
    plans,
    dataset: { channel_names: { '0': 'CT' }, labels: { background: 0, tissue: 1, bone: 2 }, numTraining: 1, file_ending: '.nii.gz' },
    configuration: '3d_fullres',
    folds: { 0: buildPointwiseOnnx([[0], [1], [2]], [0, 5, -5]) },
  });
  const bundle = await loadBundle(files, 'ct-pointwise');
  const runner = await createOrtNodeRunner(bundle.networks[0].bytes, { device: 'cpu', threads: p.threads ?? 2, fileName: 'fold_0.onnx' });
  try {
    // a warm-up run (onnxruntime's kernels and arena become part of the baseline) and one timed run: the throughput
    const { flopsPerSecond } = await measureThroughput(runner, [1, 1, ...patch], networkCost(bundle.networks[0].bytes).flopsPerVoxel, 1);
    const baselineRss = process.memoryUsage().rss;
    const tg = performance.now();
    let nifti: Uint8Array | null = phantomNifti(p.shape, spacing);
    const image = readImageFile(nifti, `ct_${p.shape.join('x')}.nii`);
    nifti = null;
    const generate = (performance.now() - tg) / 1000;
    let sampledJsPeak = 0;
    let sampledRssPeak = 0;
    const sample = () => {
      const m = process.memoryUsage();
      sampledJsPeak = Math.max(sampledJsPeak, m.heapUsed + m.arrayBuffers);
      sampledRssPeak = Math.max(sampledRssPeak, m.rss);
    };
    const budget = memoryBudget(
      p.budgetBytes !== undefined
        ? { overrideBytes: p.budgetBytes }
        : { totalBytes: os.totalmem(), availableBytes: os.freemem(), currentRssBytes: process.memoryUsage().rss },
    );
    let estimate: PredictionEstimate | null = null;
    const tp = performance.now();
    let res;
    try {
      res = await predictCase(image, bundle, [runner], {
        tta: p.tta ?? false,
        stepSize: p.step ?? 0.5,
        lowMemory: p.lowMemory,
        memoryBudget: budget,
        baselineBytes: baselineRss,
        flopsPerSecond,
        environment: 'node',
        onEstimate: (e) => (estimate = e),
        onProgress: sample,
      });
    } catch (e) {
      const est = estimate as PredictionEstimate | null;
      return {
        shape: p.shape,
        voxels: image.data.length,
        baselineRss,
        peakRss: process.resourceUsage().maxRSS * 1024,
        sampledJsPeak,
        sampledRssPeak,
        estimate: est ? summarize(est) : (null as never),
        mismatches: -1,
        labelCounts: [],
        truthCounts: [],
        seconds: { generate, predict: 0, network: 0, preprocess: 0, export: 0 },
        refused: (e as Error).message,
      };
    }
    sample();
    const predict = (performance.now() - tp) / 1000;
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const labels = res.labels.data;
    const hu = image.data;
    let mismatches = 0;
    const labelCounts = [0, 0, 0];
    const truthCounts = [0, 0, 0];
    for (let i = 0; i < labels.length; i++) {
      const t = truthLabel(hu[i]);
      truthCounts[t]++;
      labelCounts[labels[i]]++;
      if (labels[i] !== t) mismatches++;
    }
    const t = res.timings;
    return {
      shape: p.shape,
      voxels: labels.length,
      baselineRss,
      peakRss,
      sampledJsPeak,
      sampledRssPeak,
      estimate: summarize(res.estimate!),
      mismatches,
      labelCounts,
      truthCounts,
      seconds: { generate, predict, network: t.networkMs / 1000, preprocess: t.preprocessMs / 1000, export: t.exportMs / 1000 },
    };
  } finally {
    await runner.dispose();
  }
}

function summarize(e: PredictionEstimate): LargeScanReport['estimate'] {
  return {
    peakBytes: e.peakBytes,
    peakPhase: e.peakPhase,
    breakdown: e.breakdown,
    estimatedSeconds: e.estimatedSeconds,
    fits: e.fits,
    budgetBytes: e.budgetBytes,
    tiles: e.tiles,
    runs: e.runs,
    phases: e.phases.map((ph) => ({ name: ph.name, bytes: ph.bytes })),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const params = JSON.parse(process.argv[2] ?? '{"shape":[300,512,512]}') as LargeScanParams;
  const r = await runLargeScan(params);
  process.stderr.write(`peak RSS ${formatBytes(r.peakRss)}, estimate ${formatBytes(r.estimate?.peakBytes ?? 0)} (${r.estimate?.peakPhase}), ${r.seconds.predict.toFixed(1)} s\n`);
  process.stdout.write(JSON.stringify(r) + '\n');
}

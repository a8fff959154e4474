// Peak memory of predictCase on large CT-like scans (issue 7): each run in its own child process
// (test/largeScanChild.ts: int16 NIfTI with scl → reader → predictCase on onnxruntime-node, pointwise network,
// no TTA), medians of 3. Beside each measurement: the target (256³ ≤ 1.5 GB, 512²×300 ≤ 3 GB), the
// estimate made before the run (estimatePrediction), and the reference path (lowMemory: false: whole-volume
// weights map, all classes resampled at export) for comparison.
//   npm run bench -- memory      or      node bin/run-ts.mjs bench/memory.bench.ts
// SEGSTUDIO_BENCH_REPEATS=N changes the 3 repeats; SEGSTUDIO_BENCH_FULL=1 runs the 512²×300 case at step 0.5
// (default step 1: the same arrays, a quarter of the tiles; peak memory does not depend on the step).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { LargeScanParams, LargeScanReport } from '../test/largeScanChild.ts';
import { median } from './util.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const GB = 2 ** 30;

function child(params: LargeScanParams): Promise<LargeScanReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(root, 'bin/run-ts.mjs'), path.join(root, 'test/largeScanChild.ts'), JSON.stringify(params)],
      { cwd: root, maxBuffer: 16 * 2 ** 20, timeout: 900_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').pop()!) as LargeScanReport)),
    );
  });
}

interface Scenario {
  name: string;
  targetGB: number;
  params: LargeScanParams;
  repeats: number;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

async function measure(s: Scenario): Promise<Record<string, unknown>> {
  const reports: LargeScanReport[] = [];
  for (let i = 0; i < s.repeats; i++) {
    process.stderr.write(`memory: ${s.name} run ${i + 1}/${s.repeats} ...\n`);
    reports.push(await child(s.params));
  }
  const peak = median(reports.map((r) => r.peakRss));
  const js = median(reports.map((r) => r.sampledJsPeak));
  const est = median(reports.map((r) => r.estimate.peakBytes));
  const secs = median(reports.map((r) => r.seconds.predict));
  const estSecs = median(reports.map((r) => r.estimate.estimatedSeconds));
  return {
    shape: s.params.shape,
    params: s.params,
    runs: reports.length,
    peakRssGB: r2(peak / GB),
    sampledJsHeapPlusArrayBuffersGB: r2(js / GB),
    baselineRssGB: r2(median(reports.map((r) => r.baselineRss)) / GB),
    estimateGB: r2(est / GB),
    estimateOverMeasured: r2(est / peak),
    estimatePeakPhase: reports[0].estimate.peakPhase,
    estimateBreakdownMB: Object.fromEntries(Object.entries(reports[0].estimate.breakdown).map(([k, v]) => [k, Math.round(v / 2 ** 20)])),
    targetGB: s.targetGB,
    withinTarget: peak <= s.targetGB * GB,
    predictSeconds: r2(secs),
    estimatedSeconds: r2(estSecs),
    networkSeconds: r2(median(reports.map((r) => r.seconds.network))),
    tiles: reports[0].estimate.tiles,
    mismatchedVoxels: Math.max(...reports.map((r) => r.mismatches)),
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const repeats = Number(process.env.SEGSTUDIO_BENCH_REPEATS ?? 3);
  const full = process.env.SEGSTUDIO_BENCH_FULL === '1';
  const scenarios: Scenario[] = [
    { name: '256³', targetGB: 1.5, repeats, params: { shape: [256, 256, 256], spacing: [1, 1, 1], patch: [128, 128, 128], step: 0.5, tta: false } },
    { name: '512²×300', targetGB: 3, repeats, params: { shape: [300, 512, 512], spacing: [2.5, 0.8, 0.8], patch: [64, 160, 160], step: full ? 0.5 : 1, tta: false } },
    // the reference path once, for the saving
    { name: '512²×300 reference path (lowMemory: false)', targetGB: 3, repeats: 1, params: { shape: [300, 512, 512], spacing: [2.5, 0.8, 0.8], patch: [64, 160, 160], step: 1, tta: false, lowMemory: false } },
    // resampled to a coarser grid (3d_lowres-like): the streaming export at work
    { name: '512²×300 → 2× coarser grid', targetGB: 3, repeats: 1, params: { shape: [300, 512, 512], spacing: [2.5, 0.8, 0.8], targetSpacing: [2.5, 1.6, 1.6], patch: [64, 160, 160], step: 0.5, tta: false } },
    { name: '512²×300 → 2× coarser grid, reference path', targetGB: 3, repeats: 1, params: { shape: [300, 512, 512], spacing: [2.5, 0.8, 0.8], targetSpacing: [2.5, 1.6, 1.6], patch: [64, 160, 160], step: 0.5, tta: false, lowMemory: false } },
  ];
  const out: Record<string, unknown> = {
    note: 'peak RSS = kernel maxrss of a child process running one predictCase (reader included); medians; pointwise network, no TTA',
  };
  for (const s of scenarios) out[s.name] = await measure(s);
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await run();
  process.stdout.write(JSON.stringify(r, null, 1) + '\n');
}

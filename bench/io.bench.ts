// I/O benchmark: SegStudio's NIfTI/PNG readers and writers vs nibabel / skimage in the same run, on the real
// files in ../shared/data (file read from disk included on both sides):
//  - read .nii.gz -> float32 image: brainchop T1 256³ uint8, MNI template int16 (with extension), CT int32;
//    reference nibabel.load(f).get_fdata(dtype=float32)
//  - read all 191 hippocampus images (small files: per-file overhead); reference nibabel, same loop
//  - read the 23 ISBI 2012 PNGs (512²); reference skimage.io.imread -> float32
//    Reads are timed twice: readImageFile (pure-JS fflate inflate) and readImageFileAsync (native
//    DecompressionStream, what workers and the CLI should call).
//  - write a 256³ uint8 label map as .nii.gz (ours: the default run encoder, fflate level 1 and 6, async;
//    reference nib.save, gzip level 1)
// Both wall-clock and CPU time (process.cpuUsage, all threads / Python's time.process_time) are reported as
// medians of 5 runs after a warm-up; the CPU ratio is the load-independent one on a shared machine.
// Python is optional: without it only our timings are reported.
// Run alone: node bin/run-ts.mjs bench/io.bench.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  niftiToImage,
  readImageFile,
  readImageFileAsync,
  readNifti,
  writeSegmentationAsync,
  writeSegmentationNifti,
} from '../src/core/io/index.ts';
import { median, pythonHas, runPythonJson } from './util.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = process.env.SEGSTUDIO_SHARED_DATA ?? path.resolve(here, '../../shared/data');
const REPEATS = 5;

const PY = `
import json, os, sys, time
import numpy as np
import nibabel as nib
from skimage import io
jobs = json.loads(sys.argv[1])
def med(f, n):
    f()
    wall, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        f()
        wall.append((time.perf_counter() - t0) * 1000); cpu.append((time.process_time() - c0) * 1000)
    return {'wall': float(np.median(wall)), 'cpu': float(np.median(cpu))}
out = {}
for name, files in jobs['read'].items():
    out[name] = med(lambda: [nib.load(f).get_fdata(dtype=np.float32) for f in files], jobs['repeats'])
for name, files in jobs['png'].items():
    out[name] = med(lambda: [io.imread(f).astype(np.float32) for f in files], jobs['repeats'])
src = jobs['write_src']
img = nib.load(src)
seg = (np.asanyarray(img.dataobj) > 60).astype(np.uint8) + (np.asanyarray(img.dataobj) > 120).astype(np.uint8)
dst = os.path.join(jobs['tmp'], 'nib_seg.nii.gz')
out['write_seg_t1_256'] = med(lambda: nib.save(nib.Nifti1Image(seg, img.affine, img.header), dst), jobs['repeats'])
out['write_seg_t1_256_bytes'] = os.path.getsize(dst)
print(json.dumps(out))
`;

interface Timing {
  wall: number;
  cpu: number;
}

async function measure(fn: () => unknown | Promise<unknown>): Promise<Timing> {
  await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall: round(median(wall)), cpu: round(median(cpu)) };
}

const round = (x: number): number => Math.round(x * 10) / 10;

function files(dir: string, re: RegExp): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((n) => re.test(n))
    .sort()
    .map((n) => path.join(dir, n));
}

export async function run(): Promise<Record<string, unknown>> {
  const scans = path.join(shared, 'scans');
  const reads: Record<string, string[]> = {
    read_t1_256_uint8_gz: [path.join(scans, 'brainchop_t1_crop.nii.gz')],
    read_mni_int16_gz: [path.join(scans, 'niivue_MNI152_2009_template.nii.gz')],
    read_ct_int32_gz: [path.join(scans, 'totalseg_example_ct.nii.gz')],
    read_hippocampus_191_images: [
      ...files(path.join(shared, 'Dataset004_Hippocampus', 'imagesTr'), /\.nii\.gz$/),
      ...files(path.join(shared, 'Dataset004_Hippocampus', 'imagesTs'), /\.nii\.gz$/),
    ],
  };
  const pngs = { read_isbi_23_png: files(path.join(shared, 'Dataset901_ISBI2012EM', 'imagesTr'), /\.png$/) };
  if (!fs.existsSync(reads.read_t1_256_uint8_gz[0])) return { skipped: '../shared/data missing' };
  const ours: Record<string, Timing> = {};

  for (const [name, list] of Object.entries({ ...reads, ...pngs })) {
    ours[name] = await measure(() => {
      for (const f of list) readImageFile(fs.readFileSync(f), f);
    });
    ours[`${name}_async`] = await measure(async () => {
      for (const f of list) await readImageFileAsync(fs.readFileSync(f), f);
    });
  }

  // writing a segmentation on the T1 grid
  const t1File = reads.read_t1_256_uint8_gz[0];
  const t1 = niftiToImage(readNifti(fs.readFileSync(t1File), t1File), t1File);
  const labels = new Uint8Array(t1.data.length);
  for (let i = 0; i < labels.length; i++) labels[i] = (t1.data[i] > 60 ? 1 : 0) + (t1.data[i] > 120 ? 1 : 0);
  const lm = { data: labels, shape: t1.shape.slice(1) };
  const bytes: Record<string, number> = {};
  ours.write_seg_t1_256_runs = await measure(() => {
    bytes.runs_default = writeSegmentationNifti(lm, t1.properties, 'seg.nii.gz').length;
  });
  ours.write_seg_t1_256_async = await measure(async () => {
    bytes.async = (await writeSegmentationAsync(lm, t1.properties, 'seg.nii.gz')).length;
  });
  ours.write_seg_t1_256_fflate_level1 = await measure(() => {
    bytes.fflate_level1 = writeSegmentationNifti(lm, t1.properties, 'seg.nii.gz', { compressionLevel: 1 }).length;
  });
  ours.write_seg_t1_256_fflate_level6 = await measure(() => {
    bytes.fflate_level6 = writeSegmentationNifti(lm, t1.properties, 'seg.nii.gz', { compressionLevel: 6 }).length;
  });
  ours.write_seg_t1_256_uncompressed = await measure(() => {
    bytes.uncompressed = writeSegmentationNifti(lm, t1.properties, 'seg.nii').length;
  });

  const result: Record<string, unknown> = {
    unit: `ms, median of ${REPEATS} (wall and CPU), file read from disk included`,
    ours,
    write_seg_bytes: bytes,
  };
  if (pythonHas('nibabel', 'skimage', 'numpy')) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-io-bench-'));
    try {
      const ref = runPythonJson(PY, [
        JSON.stringify({ read: reads, png: pngs, repeats: REPEATS, write_src: t1File, tmp }),
      ]) as Record<string, Timing & number>;
      const ratios: Record<string, { wall: number; cpu: number }> = {};
      const ratio = (r: Timing, o: Timing) => ({ wall: round((r.wall / o.wall) * 100) / 100, cpu: round((r.cpu / o.cpu) * 100) / 100 });
      for (const k of [...Object.keys(reads), ...Object.keys(pngs)]) {
        ratios[k] = ratio(ref[k], ours[k]);
        ratios[`${k}_async`] = ratio(ref[k], ours[`${k}_async`]);
      }
      for (const k of ['runs', 'async', 'fflate_level1', 'fflate_level6']) {
        ratios[`write_seg_t1_256_${k}`] = ratio(ref.write_seg_t1_256, ours[`write_seg_t1_256_${k}`]);
      }
      result.reference = { tool: 'nibabel / skimage.io (Debian python3)', ...ref };
      result.speedup_vs_reference = ratios;
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  } else {
    result.reference = 'python3 with nibabel/skimage not available';
  }
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then((r) => console.log(JSON.stringify(r, null, 1)));
}

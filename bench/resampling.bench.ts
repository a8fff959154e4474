// Resampling of a 256³ volume, ours vs scipy in the same run, on the very same float32 bytes:
//  - data: cubic (order 3) from 1 mm to 1.3 mm spacing (256³ -> 197³), nnU-Net's data path = skimage
//    resize(order 3, mode 'edge', anti_aliasing False) = scipy.ndimage.zoom(order=3, mode='nearest',
//    grid_mode=True) on float64, clipped to the input range. Reference timed: scipy.ndimage.zoom (and skimage's
//    resize, which adds the float64 conversion and clipping).
//  - segmentation: nnU-Net's one-hot order-1 resize_segmentation (one skimage resize per label) vs ours.
// Input: the real 256³ T1 from ../shared/data/scans/brainchop_t1_crop.nii.gz (a deterministic synthetic volume when
// the data is absent); labels = intensity bands of it. Python is optional: without it only our timings are reported.
// Run alone: node bin/run-ts.mjs bench/resampling.bench.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { resampleDataToShape, resampleSegmentationToShape, computeNewShape } from '../src/core/preprocessing/resampling.ts';
import { median, pythonHas, runPythonJson, timeRuns } from './util.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = process.env.SEGSTUDIO_SHARED_DATA ?? path.resolve(here, '../../shared/data');

/** uint8 NIfTI-1 voxels in array order [z, y, x] (bench-only; the product reads through src/core/io). */
function readUint8Nifti(file: string): { data: Uint8Array; shape: number[] } | null {
  if (!fs.existsSync(file)) return null;
  const buf = gunzipSync(fs.readFileSync(file));
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims = [1, 2, 3].map((i) => dv.getInt16(40 + 2 * i, true));
  if (dv.getInt16(70, true) !== 2) return null;
  const off = Math.round(dv.getFloat32(108, true));
  const n = dims[0] * dims[1] * dims[2];
  return { data: new Uint8Array(buf.buffer, buf.byteOffset + off, n).slice(), shape: [dims[2], dims[1], dims[0]] };
}

function synthetic(n: number): Float32Array {
  const a = new Float32Array(n * n * n);
  let p = 0;
  for (let z = 0; z < n; z++)
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++, p++) {
        const r = Math.hypot(z - n / 2, y - n / 2, x - n / 2);
        a[p] = r < n * 0.4 ? 100 + 50 * Math.sin(x / 7) * Math.cos(y / 11) + ((z * 31 + y * 17 + x) % 13) : 0;
      }
  return a;
}

const PY = `
import json, sys, time
import numpy as np
from scipy import ndimage as ndi
from skimage.transform import resize
src, shp, out_shape, seg_file, out_file, out_seg = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
x = np.fromfile(src, dtype=np.float32).reshape(shp)
seg = np.fromfile(seg_file, dtype=np.int16).reshape(shp)
def med(f, n=3):
    ts = []
    r = None
    for _ in range(n):
        t0 = time.perf_counter(); r = f(); ts.append((time.perf_counter() - t0) * 1000)
    return float(np.median(ts)), ts, r
zf = [o / i for o, i in zip(out_shape, shp)]
t_zoom, all_zoom, z = med(lambda: ndi.zoom(x.astype(np.float64), zf, order=3, mode='nearest', grid_mode=True))
t_resize, all_resize, r = med(lambda: resize(x.astype(np.float64), out_shape, 3, mode='edge', anti_aliasing=False).astype(np.float32))
r.astype(np.float32).tofile(out_file)
def seg_resize():
    out = np.zeros(out_shape, dtype=seg.dtype)
    for lab in np.unique(seg):
        oh = resize((seg == lab).astype(float), out_shape, 1, mode='edge', clip=True, anti_aliasing=False)
        out[oh >= 0.5] = lab
    return out
t_seg, all_seg, s = med(seg_resize, 1)
s.astype(np.int16).tofile(out_seg)
print(json.dumps({'scipy_zoom_order3_ms': t_zoom, 'scipy_zoom_runs_ms': all_zoom, 'skimage_resize_order3_ms': t_resize,
                  'skimage_resize_runs_ms': all_resize, 'nnunet_resize_segmentation_order1_ms': t_seg}))
`;

// nnU-Net's separate-z path on a typical anisotropic CT grid: 48 x 512 x 512 at (3, 0.7, 0.7) mm -> (3, 0.8, 0.8):
// per-slice skimage resize (order 3) as nnU-Net loops it, vs ours (both in-plane axes of the volume at once).
const PY_ANISO = `
import json, sys, time
import numpy as np
from skimage.transform import resize
src, shp, out_shape, out_file = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
x = np.fromfile(src, dtype=np.float32).reshape(shp)
def per_slice():
    d = x.astype(float)
    out = np.zeros(out_shape)
    for s in range(shp[0]):
        out[s] = resize(d[s], out_shape[1:], 3, mode='edge', anti_aliasing=False)
    return out.astype(np.float32)
ts = []
for _ in range(3):
    t0 = time.perf_counter(); r = per_slice(); ts.append((time.perf_counter() - t0) * 1000)
r.tofile(out_file)
print(json.dumps({'nnunet_separate_z_ms': float(np.median(ts)), 'nnunet_separate_z_runs_ms': ts}))
`;

async function anisotropic(vol: Float32Array, shape: number[], python: boolean): Promise<Record<string, unknown>> {
  // a 48 x 512 x 512 CT-like volume built from the real T1 (tiled in-plane, 48 slices)
  const a = [48, 512, 512];
  const x = new Float32Array(a[0] * a[1] * a[2]);
  for (let i = 0; i < a[0]; i++)
    for (let j = 0; j < a[1]; j++)
      for (let k = 0; k < a[2]; k++) {
        x[(i * a[1] + j) * a[2] + k] = vol[((i * 5 + 8) % shape[0]) * shape[1] * shape[2] + (j % shape[1]) * shape[2] + (k % shape[2])];
      }
  const cur = [3, 0.7, 0.7];
  const tgt = [3, 0.8, 0.8];
  const ns = computeNewShape(a, cur, tgt);
  let out: Float32Array = new Float32Array(0);
  const ms = await timeRuns(() => {
    out = resampleDataToShape(x, 1, a, ns, cur, tgt, { order: 3, orderZ: 0, forceSeparateZ: null });
  }, 3, 1);
  const res: Record<string, unknown> = { shape: a, newShape: ns, spacing: cur, target: tgt, ours_ms: median(ms), ours_runs_ms: ms.map((v) => +v.toFixed(1)) };
  if (!python) return res;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-aniso-'));
  try {
    const src = path.join(dir, 'x.f32');
    const ref = path.join(dir, 'ref.f32');
    fs.writeFileSync(src, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    const py = runPythonJson(PY_ANISO, [src, JSON.stringify(a), JSON.stringify(ns), ref], { OMP_NUM_THREADS: '1' });
    const rb = fs.readFileSync(ref);
    const r = new Float32Array(rb.buffer, rb.byteOffset, rb.byteLength / 4);
    let maxd = 0;
    for (let i = 0; i < r.length; i++) maxd = Math.max(maxd, Math.abs(r[i] - out[i]));
    Object.assign(res, py, { ratio_ours_vs_nnunet: +(median(ms) / (py.nnunet_separate_z_ms as number)).toFixed(3), max_abs_diff: maxd });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return res;
}

export async function run(): Promise<Record<string, unknown>> {
  const t1 = readUint8Nifti(path.join(shared, 'scans/brainchop_t1_crop.nii.gz'));
  const shape = t1 ? t1.shape : [256, 256, 256];
  const vol = t1 ? Float32Array.from(t1.data) : synthetic(256);
  // labels: four intensity bands (0 background, 1..3), a realistic multi-label map with long boundaries
  const seg = Int16Array.from(vol, (v) => (v < 20 ? 0 : v < 80 ? 1 : v < 140 ? 2 : 3));
  const spacing = [1, 1, 1];
  const target = [1.3, 1.3, 1.3];
  const newShape = computeNewShape(shape, spacing, target);

  let out: Float32Array = new Float32Array(0);
  const oursMs = await timeRuns(() => {
    out = resampleDataToShape(vol, 1, shape, newShape, spacing, target, { order: 3, orderZ: 0, forceSeparateZ: null });
  }, 3, 1);
  let segOut: Int16Array = new Int16Array(0);
  const oursSegMs = await timeRuns(() => {
    segOut = resampleSegmentationToShape(seg, shape, newShape, spacing, target, { order: 1, orderZ: 0, forceSeparateZ: null });
  }, 3, 1);

  const result: Record<string, unknown> = {
    input: t1 ? 'scans/brainchop_t1_crop.nii.gz (real T1, 256³)' : 'synthetic 256³',
    shape,
    newShape,
    threads: 1,
    cpus: os.cpus().length,
    ours_order3_ms: median(oursMs),
    ours_order3_runs_ms: oursMs.map((v) => +v.toFixed(1)),
    ours_seg_order1_ms: median(oursSegMs),
    ours_seg_order1_runs_ms: oursSegMs.map((v) => +v.toFixed(1)),
  };
  const python = pythonHas('numpy', 'scipy', 'skimage');
  result.separate_z = await anisotropic(vol, shape, python);
  if (!python) {
    result.reference = 'skipped: /usr/bin/python3 with numpy/scipy/skimage not available';
    return result;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-resample-'));
  try {
    const src = path.join(dir, 'x.f32');
    const segFile = path.join(dir, 'seg.i16');
    const refFile = path.join(dir, 'ref.f32');
    const refSeg = path.join(dir, 'refseg.i16');
    fs.writeFileSync(src, Buffer.from(vol.buffer, vol.byteOffset, vol.byteLength));
    fs.writeFileSync(segFile, Buffer.from(seg.buffer, seg.byteOffset, seg.byteLength));
    const py = runPythonJson(PY, [src, JSON.stringify(shape), JSON.stringify(newShape), segFile, refFile, refSeg], {
      OMP_NUM_THREADS: '1',
    });
    const refBuf = fs.readFileSync(refFile);
    const ref = new Float32Array(refBuf.buffer, refBuf.byteOffset, refBuf.byteLength / 4);
    let maxd = 0;
    for (let i = 0; i < ref.length; i++) maxd = Math.max(maxd, Math.abs(ref[i] - out[i]));
    const rsBuf = fs.readFileSync(refSeg);
    const rs = new Int16Array(rsBuf.buffer, rsBuf.byteOffset, rsBuf.byteLength / 2);
    let same = 0;
    for (let i = 0; i < rs.length; i++) if (rs[i] === segOut[i]) same++;
    Object.assign(result, py, {
      ratio_ours_vs_scipy_zoom: +(median(oursMs) / (py.scipy_zoom_order3_ms as number)).toFixed(3),
      ratio_ours_vs_skimage_resize: +(median(oursMs) / (py.skimage_resize_order3_ms as number)).toFixed(3),
      ratio_ours_seg_vs_nnunet_resize_segmentation: +(median(oursSegMs) / (py.nnunet_resize_segmentation_order1_ms as number)).toFixed(3),
      max_abs_diff_vs_skimage: maxd,
      input_range: 255,
      seg_identical_fraction: same / rs.length,
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then((r) => console.log(JSON.stringify(r, null, 1)));
}

// DICOM import speed: dcm2niix's WebAssembly build (what the page runs in its DICOM worker; here in Node,
// in memory) against the native dcm2niix (Debian's `dcm2niix`, if installed) and pydicom reading and stacking
// the same series (Debian's /usr/bin/python3, if it has pydicom + numpy), on two series written by our DICOM
// writer: an MR-like 256×256×160 and a CT-like 512×512×120. Also checks the WASM and native outputs hold the
// same volume (dims, affine, voxels).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { convertDicom } from '../src/core/io/dicom/convert.ts';
import { writeDicomSeries } from '../src/core/io/dicom/writer.ts';
import { niftiToImage, readNifti } from '../src/core/io/index.ts';
import { mulberry32 } from '../src/core/util/mulberry32.ts';
import { nodeDcm2niixFactory } from '../src/node/dcm2niixNode.ts';
import { median, pythonHas, runPythonJson, timeRuns } from './util.ts';

const NATIVE = '/usr/bin/dcm2niix';

const PY_READ = `
import json, os, sys, time
import numpy as np, pydicom
d = sys.argv[1]; reps = int(sys.argv[2])
def load():
    ds = [pydicom.dcmread(os.path.join(d, f)) for f in sorted(os.listdir(d))]
    n = np.array([float(x) for x in ds[0].ImageOrientationPatient])
    n = np.cross(n[:3], n[3:])
    ds.sort(key=lambda s: float(np.dot([float(x) for x in s.ImagePositionPatient], n)))
    return np.stack([s.pixel_array.astype(np.float32) * float(s.RescaleSlope) + float(s.RescaleIntercept) for s in ds])
load()
ms = []
for _ in range(reps):
    t = time.perf_counter(); v = load(); ms.append((time.perf_counter() - t) * 1000)
print(json.dumps({"ms": ms, "shape": list(v.shape)}))
`;

interface Case {
  name: string;
  shape: [number, number, number];
  modality: 'MR' | 'CT';
  value: (r: () => number, i: number) => number;
}

const CASES: Case[] = [
  { name: 'mr_256x256x160', shape: [160, 256, 256], modality: 'MR', value: (r, i) => 400 + 300 * Math.sin(i * 1e-3) + 40 * r() },
  { name: 'ct_512x512x120', shape: [120, 512, 512], modality: 'CT', value: (r, i) => Math.round(-1000 + 1400 * r() * ((i >> 9) % 7) / 6) },
];

function sameVolume(a: Uint8Array, b: Uint8Array): { dims: boolean; affineMaxDiffMm: number; voxelMaxDiff: number } {
  const va = niftiToImage(readNifti(a, 'wasm.nii'));
  const vb = niftiToImage(readNifti(b, 'native.nii'));
  let aff = 0;
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) aff = Math.max(aff, Math.abs(va.properties.affine![r][c] - vb.properties.affine![r][c]));
  let vox = va.data.length === vb.data.length ? 0 : Infinity;
  if (vox === 0) for (let i = 0; i < va.data.length; i++) vox = Math.max(vox, Math.abs(va.data[i] - vb.data[i]));
  return { dims: va.shape.join() === vb.shape.join(), affineMaxDiffMm: aff, voxelMaxDiff: vox };
}

export async function run(): Promise<Record<string, unknown>> {
  const factory = nodeDcm2niixFactory();
  const hasNative = fs.existsSync(NATIVE);
  const hasPy = pythonHas('pydicom', 'numpy');
  const out: Record<string, unknown> = {
    wasmBuild: '@niivue/dcm2niix 1.2.0 (dcm2niix.jpeg.wasm, v1.0.20241231), Node, in memory',
    native: hasNative ? spawnSync(NATIVE, ['--version'], { encoding: 'utf8' }).stdout.trim().split('\n').pop() : 'not installed (apt-get install dcm2niix)',
    pydicom: hasPy ? 'Debian python3 + pydicom + numpy: read, sort by position, stack, rescale' : 'not available',
  };
  for (const c of CASES) {
    const [nz, ny, nx] = c.shape;
    const rand = mulberry32(3);
    const data = new Float32Array(nz * ny * nx);
    for (let i = 0; i < data.length; i++) data[i] = c.value(rand, i);
    const affine = [
      [-0.9, 0, 0, 100],
      [0, 0.9, 0, -120],
      [0, 0, 1.5, -50],
      [0, 0, 0, 1],
    ];
    const tw = performance.now();
    const { files } = writeDicomSeries({ data, shape: c.shape, affine }, { modality: c.modality, seriesDescription: c.name });
    const writeMs = performance.now() - tw;
    const mb = files.reduce((s, f) => s + f.bytes.length, 0) / 2 ** 20;
    const inputs = files.map((f) => ({ name: f.name, bytes: f.bytes }));
    let wasmNifti: Uint8Array | null = null;
    const wasmMs = await timeRuns(async () => {
      const r = await convertDicom(inputs, factory);
      wasmNifti = r.series[0].nifti;
    }, 3, 1);
    const row: Record<string, unknown> = {
      files: files.length,
      megabytes: +mb.toFixed(1),
      writerMs: Math.round(writeMs),
      wasmMedianMs: Math.round(median(wasmMs)),
      wasmMBps: +(mb / (median(wasmMs) / 1000)).toFixed(1),
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-dicom-bench-'));
    try {
      const inDir = path.join(dir, 'in');
      fs.mkdirSync(inDir);
      for (const f of files) fs.writeFileSync(path.join(inDir, f.name), f.bytes);
      if (hasNative) {
        const outDir = path.join(dir, 'out');
        const once = () => {
          fs.rmSync(outDir, { recursive: true, force: true });
          fs.mkdirSync(outDir);
          const r = spawnSync(NATIVE, ['-z', 'n', '-b', 'n', '-x', 'n', '-f', 'vol', '-o', outDir, inDir], { encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`native dcm2niix failed: ${r.stderr}`);
        };
        const nativeMs = await timeRuns(once, 3, 1);
        row.nativeMedianMs = Math.round(median(nativeMs));
        row.wasmOverNative = +(median(wasmMs) / median(nativeMs)).toFixed(2);
        row.sameAsNative = sameVolume(wasmNifti!, new Uint8Array(fs.readFileSync(path.join(outDir, 'vol.nii'))));
      }
      if (hasPy) {
        const py = runPythonJson(PY_READ, [inDir, '3']) as { ms: number[]; shape: number[] };
        row.pydicomMedianMs = Math.round(median(py.ms));
        row.wasmOverPydicom = +(median(wasmMs) / median(py.ms)).toFixed(2);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    out[c.name] = row;
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then((r) => console.log(JSON.stringify(r, null, 1)));
}

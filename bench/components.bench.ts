// Connected components on 256³ label maps: ours (labelComponents, full = 26-connectivity) vs
// scipy.ndimage.label(structure = ones(3,3,3)) run by /usr/bin/python3 on the very same bytes in the same run.
// Inputs: (a) the brainchop reference segmentation (shared/data, 256³, brain mask = seg > 0, and WM = seg == 1),
// (b) a deterministic random-blob map generated here (many components, irregular surfaces).
// Run alone: node bin/run-ts.mjs bench/components.bench.ts
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readImageFile } from '../src/core/io/index.ts';
import { labelComponents } from '../src/core/postprocessing/components.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = process.env.SEGSTUDIO_SHARED_DATA ?? path.resolve(here, '../../shared/data');
const PY = '/usr/bin/python3';

/** A label map from shared/data through the product's reader; null when the data is not there. */
function readLabelMap(file: string): { data: Uint8Array; shape: number[] } | null {
  if (!fs.existsSync(file)) return null;
  const img = readImageFile(new Uint8Array(fs.readFileSync(file)), file);
  return { data: Uint8Array.from(img.data), shape: img.shape.slice(1) };
}

/** Deterministic random blobs: union of 3000 random balls of radius 2..9 voxels in a 256³ grid. */
function randomBlobs(n = 256, balls = 3000, seed = 12345): Uint8Array {
  let s = seed >>> 0;
  const rnd = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const m = new Uint8Array(n * n * n);
  for (let b = 0; b < balls; b++) {
    const cz = rnd() * n, cy = rnd() * n, cx = rnd() * n, r = 2 + rnd() * 7;
    const r2 = r * r;
    for (let z = Math.max(0, Math.floor(cz - r)); z <= Math.min(n - 1, Math.ceil(cz + r)); z++)
      for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(n - 1, Math.ceil(cy + r)); y++)
        for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(n - 1, Math.ceil(cx + r)); x++) {
          const d = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2;
          if (d <= r2) m[(z * n + y) * n + x] = 1;
        }
  }
  return m;
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const PY_SCRIPT = `
import json, sys, time
import numpy as np
from scipy import ndimage
out = {}
reps = int(sys.argv[1])
for spec in sys.argv[2:]:
    name, f, z, y, x = spec.split(':')
    m = np.fromfile(f, dtype=np.uint8).reshape(int(z), int(y), int(x)).astype(bool)
    st = np.ones((3, 3, 3), dtype=bool)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); lab, n = ndimage.label(m, structure=st); ts.append(time.perf_counter() - t0)
    out[name] = {'count': int(n), 'times_ms': [t * 1000 for t in ts]}
print(json.dumps(out))
`;

export async function run(): Promise<Record<string, unknown>> {
  const reps = 5;
  const inputs: { name: string; mask: Uint8Array; shape: number[] }[] = [];
  const seg = readLabelMap(path.join(shared, 'models/brainchop_model5_gw_ae/expected_t1_crop_seg.onnxruntime.nii.gz'));
  if (seg) {
    inputs.push({ name: 'brainchop_seg_fg_256', mask: seg.data.map((v) => (v > 0 ? 1 : 0)), shape: seg.shape });
    inputs.push({ name: 'brainchop_seg_wm_256', mask: seg.data.map((v) => (v === 1 ? 1 : 0)), shape: seg.shape });
  }
  inputs.push({ name: 'random_blobs_256', mask: randomBlobs(), shape: [256, 256, 256] });

  const results: Record<string, unknown> = {};
  const ours: Record<string, { count: number; times: number[] }> = {};
  for (const inp of inputs) {
    labelComponents(inp.mask, inp.shape, 'full'); // warm-up (JIT)
    const times: number[] = [];
    let count = 0;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      count = labelComponents(inp.mask, inp.shape, 'full').count;
      times.push(performance.now() - t0);
    }
    ours[inp.name] = { count, times };
  }

  let ref: Record<string, { count: number; times_ms: number[] }> | null = null;
  let refError: string | undefined;
  if (fs.existsSync(PY)) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-cc-'));
    try {
      const specs = inputs.map((inp) => {
        const f = path.join(dir, `${inp.name}.bin`);
        fs.writeFileSync(f, inp.mask);
        return `${inp.name}:${f}:${inp.shape.join(':')}`;
      });
      const p = spawnSync(PY, ['-c', PY_SCRIPT, String(reps), ...specs], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (p.status === 0) ref = JSON.parse(p.stdout.trim().split('\n').pop()!);
      else refError = (p.stderr || 'python failed').slice(-500);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } else refError = `${PY} not found: reference skipped`;

  for (const inp of inputs) {
    const o = ours[inp.name];
    const entry: Record<string, unknown> = {
      shape: inp.shape,
      foreground_voxels: inp.mask.reduce((a, b) => a + b, 0),
      components: o.count,
      ours_median_ms: +median(o.times).toFixed(2),
      ours_times_ms: o.times.map((t) => +t.toFixed(2)),
    };
    const r = ref?.[inp.name];
    if (r) {
      entry.scipy_median_ms = +median(r.times_ms).toFixed(2);
      entry.scipy_times_ms = r.times_ms.map((t) => +t.toFixed(2));
      entry.scipy_components = r.count;
      entry.same_component_count = r.count === o.count;
      entry.ratio_ours_over_scipy = +(median(o.times) / median(r.times_ms)).toFixed(3);
    }
    results[inp.name] = entry;
  }
  return {
    benchmark: 'connected components, full connectivity (26), 256³',
    reference: ref ? 'scipy.ndimage.label(structure=ones((3,3,3))) via /usr/bin/python3' : `none (${refError})`,
    repetitions: reps,
    target: 'ratio_ours_over_scipy <= 1.0',
    results,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then((r) => console.log(JSON.stringify(r, null, 2)));
}

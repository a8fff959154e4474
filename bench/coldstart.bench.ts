// Cold start to the first visible demo segmentation in Chromium (Debian's, headless), WASM and WebGPU:
// a fresh browser context (empty HTTP cache, no service worker) opens /?demo=run&device=…, the app loads
// the phantom and the bundled model, segments (nnU-Net defaults: mirroring TTA, step 0.5) and draws the
// overlay; the figure is performance.now() at that frame (ms since navigation start). Medians of 3.
// Reference in the same run: `segstudio predict` on the same phantom and model in a fresh Node process
// (onnxruntime-node CPU), i.e. the native cold start of the same pipeline. Target: WASM ≤ 5 s.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';
import { chromium } from 'playwright-core';
import { makePhantom } from '../src/core/demo/phantom.ts';
import { encodeNifti1 } from '../src/core/demo/nifti1.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function browserColdStarts(baseUrl: string, device: 'wasm' | 'webgpu'): Promise<{ ms: number[]; segmentMs: number[]; label: string }> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  if (!env.VK_ICD_FILENAMES && fs.existsSync('/usr/lib/chromium/vk_swiftshader_icd.json')) env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
  const browser = await chromium.launch({ executablePath: '/usr/lib/chromium/chromium', headless: true, args: ['--enable-unsafe-webgpu'], env });
  const ms: number[] = [];
  const segmentMs: number[] = [];
  let label = '';
  try {
    for (let i = 0; i < RUNS; i++) {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, serviceWorkers: 'block' });
      const page = await ctx.newPage();
      await page.goto(`${baseUrl}?demo=run&device=${device}`);
      const handle = await page.waitForFunction(
        () => {
          const s = (window as unknown as { __segstudio?: { state(): { firstResultMs: number | null; errors: { message: string }[]; result: { totalMs: number; deviceLabel: string; fallbackReason: string | null } | null } } }).__segstudio?.state();
          if (!s) return null;
          if (s.errors.length) return { error: s.errors[0].message };
          return s.firstResultMs !== null ? { first: s.firstResultMs, seg: s.result!.totalMs, label: s.result!.deviceLabel, fallback: s.result!.fallbackReason } : null;
        },
        null,
        { timeout: 600_000, polling: 50 },
      );
      const v = (await handle.jsonValue()) as { first: number; seg: number; label: string; fallback: string | null; error?: string };
      await ctx.close();
      if (v.error) throw new Error(`cold start on ${device}: ${v.error}`);
      if (device === 'webgpu' && v.fallback) throw new Error(`cold start on WebGPU fell back to WASM: ${v.fallback}`);
      ms.push(v.first);
      segmentMs.push(v.seg);
      label = v.label;
    }
  } finally {
    await browser.close();
  }
  return { ms, segmentMs, label };
}

function nodeCliColdStarts(): number[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-coldstart-'));
  const p = makePhantom();
  const [, nz, ny, nx] = p.image.shape;
  const input = path.join(dir, 'demo_phantom.nii');
  fs.writeFileSync(input, encodeNifti1(p.image.data, [nx, ny, nz], p.image.properties.affine!));
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [path.join(root, 'bin/segstudio.mjs'), 'predict', '-i', input, '-o', path.join(dir, 'seg.nii.gz'), '-m', path.join(root, 'public/models/demo')], {
      cwd: root,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`segstudio predict failed: ${r.stderr}`);
    out.push(performance.now() - t0);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

export async function run(): Promise<Record<string, unknown>> {
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ root, configFile: path.join(root, 'vite.config.ts'), logLevel: 'error', mode: 'production' });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  const server = await preview({ root, configFile: path.join(root, 'vite.config.ts'), logLevel: 'error', preview: { host: '127.0.0.1', port: 0 } });
  const addr = server.httpServer.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const baseUrl = `http://127.0.0.1:${port}/`;
  try {
    const wasm = await browserColdStarts(baseUrl, 'wasm');
    if (process.env.COLDSTART_WASM_ONLY) return { wasm };
    const webgpu = await browserColdStarts(baseUrl, 'webgpu');
    const cli = nodeCliColdStarts();
    const wasmMed = median(wasm.ms);
    const cliMed = median(cli);
    return {
      what: 'navigation → first drawn demo segmentation (64×64×48 phantom, bundled model, TTA on, step 0.5), fresh context, medians of 3',
      wasm: { device: wasm.label, coldStartMs: wasm.ms.map(Math.round), medianMs: Math.round(wasmMed), segmentationMs: wasm.segmentMs.map(Math.round), targetMs: 5000, meetsTarget: wasmMed <= 5000 },
      webgpu: { device: webgpu.label, coldStartMs: webgpu.ms.map(Math.round), medianMs: Math.round(median(webgpu.ms)), segmentationMs: webgpu.segmentMs.map(Math.round) },
      reference_segstudio_predict_node_cpu: { processMs: cli.map(Math.round), medianMs: Math.round(cliMed) },
      ratio_wasm_vs_node_cli: +(wasmMed / cliMed).toFixed(2),
      ratio_webgpu_vs_wasm: +(median(webgpu.ms) / wasmMed).toFixed(2),
    };
  } finally {
    await new Promise<void>((r) => server.httpServer.close(() => r()));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'));
}

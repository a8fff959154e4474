// Fault recovery in Chromium (Debian's, headless; SwiftShader WebGPU), on the built app with ?testhooks=1:
//   crash: the inference worker is terminated while idle → time until the page noticed (Web Locks) and until
//          a new worker has the image and model back; reference in the same run: a fresh page's cold start
//          to the same state (worker started, demo image and model loaded). Medians of 3.
//   GPU loss: the demo (TTA on) on WebGPU, device destroyed after the first tiles → time from the loss to the
//          WASM result; reference in the same run: the same segmentation as a plain WASM run.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';
import type { Page } from 'playwright-core';
import { appState, launchChromium, openApp, segment, waitForState } from '../e2e/helpers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function waitNotice(page: Page, re: RegExp): Promise<number> {
  await page.waitForFunction(
    (src) => new RegExp(src).test((window as unknown as { __segstudio: { state(): { notice: string | null } } }).__segstudio.state().notice ?? ''),
    re.source,
    { polling: 10, timeout: 120_000 },
  );
  return performance.now();
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
  const baseUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
  const browser = await launchChromium();
  try {
    // reference: cold start of a fresh page to "worker ready, demo image and model loaded"
    const coldMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const a = await openApp(browser, baseUrl);
      coldMs.push(performance.now() - t0);
      await a.context.close();
    }

    const app = await openApp(browser, baseUrl, { query: 'testhooks=1' });
    const page = app.page;
    const detectMs: number[] = [];
    const recoverMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await page.evaluate(() => (window as unknown as { __segstudioTest: { crashWorker(h: string): boolean } }).__segstudioTest.crashWorker('terminate'));
      const t0 = performance.now();
      detectMs.push((await waitNotice(page, /worker stopped/)) - t0);
      recoverMs.push((await waitNotice(page, /worker was restarted/)) - t0);
    }

    // GPU loss
    const plain = await segment(page, 'wasm', { tta: true });
    const plainWasmMs = plain.result!.totalMs;
    await page.selectOption('[data-testid=opt-device]', 'webgpu');
    const version = plain.result!.version;
    await page.click('[data-testid=segment]');
    await waitForState(page, (s) => s.job.state === 'segmenting' && s.job.total > 1 && s.job.done >= 1 && s.job.done < s.job.total, 'WebGPU tiles', 600_000);
    const tilesBeforeLoss = (await appState(page)).job.done;
    const tLoss = performance.now();
    await page.evaluate(() => (window as unknown as { __segstudioTest: { loseGpu(): Promise<boolean> } }).__segstudioTest.loseGpu());
    const after = await waitForState(page, (s) => s.job.state === 'idle' && s.result?.version !== version, 'the WASM result after the loss', 600_000);
    const lossToResultMs = performance.now() - tLoss;
    if (after.result!.device !== 'wasm') throw new Error(`expected a WASM result after the loss, got ${after.result!.device}`);

    return {
      what: 'inference worker crash recovery and GPU device loss fallback, demo phantom 64×64×48, bundled model; Chromium headless, SwiftShader WebGPU',
      crash_idle: {
        detectMs: detectMs.map(Math.round),
        recoverMs: recoverMs.map(Math.round),
        medianDetectMs: Math.round(median(detectMs)),
        medianRecoverMs: Math.round(median(recoverMs)),
      },
      reference_cold_start_to_demo_loaded: { ms: coldMs.map(Math.round), medianMs: Math.round(median(coldMs)) },
      ratio_recover_vs_cold_start: +(median(recoverMs) / median(coldMs)).toFixed(2),
      gpu_loss: {
        webgpuTilesBeforeLoss: tilesBeforeLoss,
        lossToWasmResultMs: Math.round(lossToResultMs),
        fallbackReason: after.result!.fallbackReason,
      },
      reference_plain_wasm_run_tta: { ms: Math.round(plainWasmMs) },
      ratio_loss_to_result_vs_plain_wasm: +(lossToResultMs / plainWasmMs).toFixed(2),
    };
  } finally {
    await browser.close();
    await new Promise<void>((r) => server.httpServer.close(() => r()));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'));
}

// Browser training-backend selection (issue 8) in Chromium with real WebGPU (SwiftShader) and onnxruntime-web
// (WASM) served from our origin by a Vite dev server: auto → fast CPU backend because the adapter is a
// software renderer, 'webgpu' forces WebGPU, the shared kernel suite passes on the WASM-backed fast CPU
// backend against the CPU reference, and a few training steps reduce the loss. Page: e2e/pages/cpu-backend.ts.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ViteDevServer } from 'vite';
import type { Browser } from 'playwright-core';
import { launchChromium } from './helpers.ts';
import { startTestPageServer } from './devServer.ts';
import type { BackendPageResult } from './pages/cpu-backend.ts';

let server: ViteDevServer;
let browser: Browser;
let baseUrl = '';

beforeAll(async () => {
  ({ server, baseUrl } = await startTestPageServer());
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

it('auto picks the fast CPU backend on SwiftShader, webgpu forces WebGPU; the WASM fast CPU backend passes the kernel suite and trains', async () => {
  const page = await browser.newPage();
  const problems: string[] = [];
  const foreign: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('request', (r) => {
    if (!r.url().startsWith(baseUrl) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) foreign.push(r.url());
  });
  await page.goto(`${baseUrl}e2e/pages/cpu-backend.html`);
  await page.waitForFunction(() => window.__backendPage !== undefined, undefined, { timeout: 200_000, polling: 500 });
  const res = (await page.evaluate(() => window.__backendPage!)) as BackendPageResult | { error: string };
  expect(problems).toEqual([]);
  if ('error' in res) throw new Error(`backend page failed: ${res.error}`);
  // (1) auto on a software adapter → the fast CPU backend, and the reason says so
  expect(res.auto.kind).toBe('cpu');
  expect(res.auto.name).toBe('cpu-fast');
  expect(res.auto.reason).toMatch(/software renderer/);
  expect(res.auto.reason).toMatch(/swiftshader/i);
  // (2) forced WebGPU
  expect(res.forcedWebgpu.kind).toBe('webgpu');
  expect(res.forcedWebgpu.reason).toMatch(/chosen by the user/);
  // (3) the shared kernel suite, tiny network step included
  const failed = res.suite.filter((r) => !r.ok).map((r) => `${r.name}: ${r.error}`);
  expect(failed).toEqual([]);
  expect(res.suite.length).toBeGreaterThan(20);
  expect(res.suite.some((r) => r.name === 'tiny PlainConvUNet step')).toBe(true);
  // (4) training reduces the loss: mean of the last 4 steps below the mean of the first 4
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  expect(res.losses.every(Number.isFinite)).toBe(true);
  expect(mean(res.losses.slice(-4))).toBeLessThan(mean(res.losses.slice(0, 4)) - 0.05);
  // onnxruntime-web came from our origin
  expect(foreign).toEqual([]);
  process.stderr.write(
    `training backend page: auto = ${res.auto.reason}; suite ${res.suite.length} ok in ${(res.ms.suite / 1000).toFixed(1)} s; ` +
      `${res.losses.length} steps in ${(res.ms.train / 1000).toFixed(1)} s, loss ${res.losses[0].toFixed(3)} → ${res.losses.at(-1)!.toFixed(3)}\n`,
  );
  await page.close();
}, 240_000);

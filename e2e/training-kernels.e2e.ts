// The training engine's GPU-vs-CPU suite in Chromium on real WebGPU (SwiftShader here): every WGSL kernel,
// the loss, SGD and a whole tiny PlainConvUNet step against the CPU reference — the browser half of the
// comparison that src/training/kernels/wgsl/wgsl.test.ts runs on Node's WebGPU. Served by a Vite dev server
// (the page is a test page, not part of the app build).
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ViteDevServer } from 'vite';
import type { Browser } from 'playwright-core';
import { launchChromium } from './helpers.ts';
import { startTestPageServer } from './devServer.ts';

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

it('every training kernel on Chromium WebGPU matches the CPU reference', async () => {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${baseUrl}e2e/pages/kernels.html`);
  await page.waitForFunction(() => window.__kernelSuite !== undefined, undefined, { timeout: 600_000, polling: 500 });
  const suite = await page.evaluate(() => window.__kernelSuite!);
  expect(problems).toEqual([]);
  if ('error' in suite) throw new Error(`kernel page failed: ${suite.error}`);
  const failed = suite.results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.error}`);
  expect(failed).toEqual([]);
  // the suite covers the conv/convT/norm/activation/concat ops, the losses, SGD and the network step
  expect(suite.results.length).toBeGreaterThan(20);
  expect(suite.results.some((r) => r.name === 'tiny PlainConvUNet step')).toBe(true);
  process.stderr.write(`training kernels on ${suite.adapter}: ${suite.results.length} comparisons ok in ${(suite.results.reduce((a, r) => a + r.ms, 0) / 1000).toFixed(1)} s\n`);
  await page.close();
}, 660_000);

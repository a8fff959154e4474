// The app in real Chromium: demo, drag-and-drop NIfTI and PNG, WebGPU (SwiftShader) and WASM, agreement
// with the Node path (`segstudio predict`: predictCase + onnxruntime-node), downloads read back with
// src/core/io, clear errors that leave the app usable, no request outside the origin, offline reload.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { readImageFile, readNifti } from '../src/core/io/index.ts';
import {
  agreement,
  appState,
  dropFiles,
  histogram,
  launchChromium,
  openApp,
  overlayLabels,
  saveArtifact,
  segment,
  waitForState,
  type AppPage,
} from './helpers.ts';
import { demoModelFiles, demoNiftiBytes, smallNifti, smallPng, tiny2dBundle } from './inputs.ts';
import { nodePredict } from './reference.ts';

const baseUrl = inject('baseUrl');
const origin = new URL(baseUrl).origin;
let browser: Browser;
let app: AppPage;

function statsCounts(s: Awaited<ReturnType<typeof appState>>): Record<number, number> {
  const out: Record<number, number> = {};
  for (const st of s.result!.stats) if (st.voxels > 0) out[st.value] = st.voxels;
  return out;
}

function foreground(h: Record<number, number>): Record<number, number> {
  const out = { ...h };
  delete out[0];
  return out;
}

async function download(testId: string): Promise<{ name: string; bytes: Uint8Array }> {
  const [dl] = await Promise.all([app.page.waitForEvent('download'), app.page.click(`[data-testid=${testId}]`)]);
  const p = await dl.path();
  return { name: dl.suggestedFilename(), bytes: new Uint8Array(fs.readFileSync(p)) };
}

beforeAll(async () => {
  browser = await launchChromium();
  app = await openApp(browser, baseUrl);
});

afterAll(async () => {
  await browser?.close();
});

describe('SegStudio in Chromium', () => {
  it('opens with the demo volume and model; Run demo segments it like the Node path', async () => {
    const s0 = await appState(app.page);
    expect(s0.image?.name).toMatch(/demo/i);
    expect(s0.model?.source).toBe('demo');
    expect(s0.runtime?.crossOriginIsolated).toBe(true);
    expect(s0.runtime?.webgpuAdapter).toBeTruthy();
    await expect(app.page.locator('[data-testid=status]').textContent()).resolves.toMatch(/WebGPU|CPU \(WASM, \d+ threads?\)/);

    await app.page.click('[data-testid=run-demo]');
    const s = await waitForState(app.page, (x) => x.result !== null && x.job.state === 'idle', 'the demo segmentation');
    expect(s.errors).toEqual([]);
    // Auto on a software adapter (SwiftShader) runs on WASM and says why
    expect(s.result!.device).toBe('wasm');
    expect(s.result!.fallbackReason).toMatch(/software/);
    const overlay = await overlayLabels(app.page);
    const ref = await nodePredict([{ name: 'demo_phantom.nii', bytes: demoNiftiBytes() }], demoModelFiles(), { tta: true });
    expect(agreement(overlay, ref.data)).toBeGreaterThanOrEqual(0.999);
    expect(foreground(histogram(overlay))).toEqual(statsCounts(s));
    expect(Object.keys(foreground(histogram(overlay))).sort()).toEqual(['1', '2', '3']);
    saveArtifact('demo-segmented.png', await app.page.screenshot());
  });

  const nifti = smallNifti();
  let niftiRef: Uint8Array;

  it('segments a dropped 32×32×24 NIfTI on WASM exactly like segstudio predict; the download keeps affine and dims', async () => {
    niftiRef = (await nodePredict([nifti], demoModelFiles(), { tta: false })).data as Uint8Array;
    await dropFiles(app.page, [{ name: nifti.name, bytes: nifti.bytes }]);
    await waitForState(app.page, (s) => s.image?.name === nifti.name && s.job.state === 'idle', 'the dropped NIfTI');
    const s = await segment(app.page, 'wasm', { tta: false });
    expect(s.errors).toEqual([]);
    expect(s.result!.device).toBe('wasm');
    expect(s.result!.deviceLabel).toMatch(/^CPU \(WASM, \d+ threads?\)$/);
    const overlay = await overlayLabels(app.page);
    expect(overlay.length).toBe(32 * 32 * 24);
    expect(agreement(overlay, niftiRef)).toBeGreaterThanOrEqual(0.999);
    // same labels present; per-label counts within 0.1 % of the voxels (the trained demo net has voxels near its
    // decision boundaries, where WASM and onnxruntime-node float rounding may flip a handful)
    const hPage = foreground(histogram(overlay));
    const hRef = foreground(histogram(niftiRef));
    expect(Object.keys(hPage).sort()).toEqual(Object.keys(hRef).sort());
    for (const k of Object.keys(hRef)) expect(Math.abs((hPage[Number(k)] ?? 0) - hRef[Number(k)]), `label ${k}`).toBeLessThanOrEqual(0.001 * overlay.length);
    expect(foreground(histogram(overlay))).toEqual(statsCounts(s));

    const dl = await download('download-seg');
    expect(dl.name).toBe('small_case_seg.nii.gz');
    const vol = readNifti(dl.bytes, dl.name);
    expect(vol.dims.slice(0, 3)).toEqual(nifti.dims);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(vol.affine[r][c]).toBeCloseTo(nifti.affine[r][c], 5);
    expect(agreement(vol.raw as ArrayLike<number>, overlay)).toBe(1);
  });

  it('segments the same NIfTI on WebGPU (SwiftShader) like segstudio predict', async () => {
    const s = await segment(app.page, 'webgpu', { tta: false });
    expect(s.errors).toEqual([]);
    expect(s.result!.device).toBe('webgpu');
    expect(s.result!.fallbackReason).toBeNull();
    expect(s.result!.deviceLabel).toMatch(/^WebGPU \(.+\)$/);
    const overlay = await overlayLabels(app.page);
    expect(agreement(overlay, niftiRef)).toBeGreaterThanOrEqual(0.999);
    expect(foreground(histogram(overlay))).toEqual(statsCounts(s));
    saveArtifact('nifti-webgpu-segmented.png', await app.page.screenshot());
  });

  it('downloads probabilities whose argmax is the overlay (4D float NIfTI on the input grid)', async () => {
    const page = app.page;
    await page.click('text=Keep probabilities');
    const s = await segment(page, 'wasm', { tta: false });
    expect(s.result!.hasProbabilities).toBe(true);
    const overlay = await overlayLabels(page);
    const dl = await download('download-probabilities');
    expect(dl.name).toBe('small_case_probabilities.nii.gz');
    const vol = readNifti(dl.bytes, dl.name);
    expect(vol.dims.slice(0, 4)).toEqual([...nifti.dims, 4]);
    for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) expect(vol.affine[r][c]).toBeCloseTo(nifti.affine[r][c], 5);
    const n = 32 * 32 * 24;
    const p = vol.raw as Float32Array;
    let argmaxSame = 0;
    let maxSumErr = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let sum = 0;
      for (let k = 0; k < 4; k++) {
        sum += p[k * n + i];
        if (p[k * n + i] > p[best * n + i]) best = k;
      }
      maxSumErr = Math.max(maxSumErr, Math.abs(sum - 1));
      if (best === overlay[i]) argmaxSame++;
    }
    expect(maxSumErr).toBeLessThan(1e-4);
    expect(argmaxSame / n).toBeGreaterThanOrEqual(0.999);
    await page.click('text=Keep probabilities');
  });

  it('loads a dropped 2D model bundle, segments a dropped PNG like segstudio predict and downloads a PNG', async () => {
    const bundle = await tiny2dBundle();
    await app.page.setInputFiles(
      '[data-testid=model-input]',
      [...bundle].map(([name, bytes]) => ({ name, mimeType: 'application/octet-stream', buffer: Buffer.from(bytes) })),
    );
    await waitForState(app.page, (s) => s.model?.source === 'bundle' && s.job.state === 'idle', 'the dropped bundle');
    const png = smallPng();
    await dropFiles(app.page, [{ name: png.name, bytes: png.bytes, type: 'image/png' }]);
    await waitForState(app.page, (s) => s.image?.name === png.name && s.job.state === 'idle', 'the dropped PNG');
    const s = await segment(app.page, 'wasm', { tta: true });
    expect(s.errors).toEqual([]);
    const ref = await nodePredict([png], bundle, { tta: true });
    const overlay = await overlayLabels(app.page);
    expect(overlay.length).toBe(png.rows * png.cols);
    expect(agreement(overlay, ref.data)).toBeGreaterThanOrEqual(0.999);
    expect(foreground(histogram(overlay))).toEqual(statsCounts(s));
    expect(statsCounts(s)[1]).toBeGreaterThan(200);
    const dl = await download('download-seg');
    expect(dl.name).toBe('cells_seg.png');
    const back = readImageFile(dl.bytes, dl.name);
    expect(back.shape).toEqual([1, 1, png.rows, png.cols]);
    expect(agreement(back.data, overlay)).toBe(1);
  });

  it('made no request outside its origin while loading and segmenting', () => {
    const outside = app.requests.filter((u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:'));
    expect(outside).toEqual([]);
    expect(app.requests.some((u) => u.includes('/ort/'))).toBe(true);
  });

  it('shows a clear error for a corrupt file and for a channel mismatch, then still segments a good file', async () => {
    await app.page.click('button:has-text("Demo")');
    await waitForState(app.page, (s) => s.model?.source === 'demo' && s.job.state === 'idle', 'the demo model');
    // corrupt: gzip magic, then garbage
    const corrupt = new Uint8Array(2000).map((_, i) => (i < 2 ? [0x1f, 0x8b][i] : (i * 7919) % 251));
    await dropFiles(app.page, [{ name: 'broken_scan.nii.gz', bytes: corrupt }]);
    let s = await waitForState(app.page, (x) => x.errors.length > 0 && x.job.state === 'idle', 'the corrupt-file error');
    expect(s.errors[0].message).toContain('broken_scan.nii.gz');
    await expect(app.page.locator('[data-testid=error-banner]').first().textContent()).resolves.toContain('broken_scan.nii.gz');
    await app.page.click('[data-testid=error-banner] >> button[aria-label=Dismiss]');

    // two channel files for a one-channel model
    const c0 = smallNifti('twochan_0000.nii.gz', 1);
    const c1 = smallNifti('twochan_0001.nii.gz', 2);
    await dropFiles(app.page, [c0, c1]);
    await waitForState(app.page, (x) => x.image?.channels === 2 && x.job.state === 'idle', 'the two-channel case');
    s = await segment(app.page, 'wasm', { tta: false });
    expect(s.errors.length).toBe(1);
    expect(s.errors[0].message).toMatch(/expects 1 channel.*got 2/);
    expect(s.errors[0].message).toContain('twochan');
    await expect(app.page.locator('[data-testid=error-banner]').first().isVisible()).resolves.toBe(true);

    await dropFiles(app.page, [{ name: nifti.name, bytes: nifti.bytes }]);
    await waitForState(app.page, (x) => x.image?.name === nifti.name && x.job.state === 'idle', 'the good NIfTI');
    s = await segment(app.page, 'wasm', { tta: false });
    expect(s.result).not.toBeNull();
    const overlay = await overlayLabels(app.page);
    expect(agreement(overlay, niftiRef)).toBeGreaterThanOrEqual(0.999);
  });

  it('cancels a running segmentation and keeps the image; pen edits, largest-component postprocessing and undo update the label table', async () => {
    const page = app.page;
    // dismiss banners left by the previous test
    while ((await page.locator('[data-testid=error-banner]').count()) > 0) await page.click('[data-testid=error-banner] >> button[aria-label=Dismiss]');
    await page.selectOption('[data-testid=opt-device]', 'webgpu');
    if (!(await page.locator('[data-testid=opt-tta]').isChecked())) await page.click('[data-testid=opt-tta]');
    await page.click('[data-testid=run-demo]');
    await waitForState(page, (s) => s.job.state === 'segmenting' && s.job.total > 1 && s.job.done >= 1, 'tile progress');
    await expect(page.locator('[data-testid=progress]').textContent()).resolves.toMatch(/tile \d+ \/ \d+/);
    await page.click('[data-testid=cancel]');
    let s = await waitForState(page, (x) => x.job.state === 'idle', 'the cancellation');
    expect(s.notice).toMatch(/cancelled/i);
    expect(s.errors).toEqual([]);
    expect(s.result).toBeNull();
    expect(s.image?.isDemo).toBe(true);

    s = await segment(page, 'wasm', { tta: false });
    expect(s.result).not.toBeNull();
    const before = statsCounts(s);
    // pen with the lesion label (3): one click on the first (axial) tile of the multiplanar view
    await page.click('button:has-text("Pen")');
    await page.selectOption('select[aria-label="Pen label"]', '3');
    const box = (await page.locator('[data-testid=viewer-canvas]').boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.25, box.y + box.height * 0.3);
    s = await waitForState(page, (x) => x.result!.steps.length === 1, 'the pen stroke');
    const afterPen = statsCounts(s);
    expect(afterPen[3]).toBeGreaterThan(before[3] ?? 0);
    expect(foreground(histogram(await overlayLabels(page)))).toEqual(afterPen);
    await page.click('button:has-text("Undo")');
    s = await waitForState(page, (x) => x.result!.steps.length === 0, 'the undo');
    expect(statsCounts(s)).toEqual(before);
    await page.click('button:has-text("View")');

    // largest-component postprocessing for the lesion (many small partial-volume blobs), then undo it
    const lesionBefore = s.result!.stats.find((x) => x.value === 3)!;
    expect(lesionBefore.components).toBeGreaterThan(1);
    await page.click('input[aria-label="Largest component only for lesion"]');
    s = await waitForState(page, (x) => x.result!.postprocessed.includes(3), 'the largest-component step');
    const lesionAfter = s.result!.stats.find((x) => x.value === 3)!;
    expect(lesionAfter.components).toBe(1);
    expect(lesionAfter.voxels).toBeLessThan(lesionBefore.voxels);
    expect(foreground(histogram(await overlayLabels(page)))).toEqual(statsCounts(s));
    await page.click('input[aria-label="Largest component only for lesion"]');
    s = await waitForState(page, (x) => !x.result!.postprocessed.includes(3), 'undoing the largest-component step');
    expect(statsCounts(s)).toEqual(before);
  });

  it('reloads offline (service worker) and still runs the demo', async () => {
    const ctx = await openApp(browser, baseUrl, { serviceWorkers: 'allow' });
    try {
      await ctx.page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 120_000 });
      await ctx.page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
      await ctx.context.setOffline(true);
      await ctx.page.reload();
      await waitForState(ctx.page, (s) => Boolean(s.image?.isDemo && s.model?.source === 'demo' && s.runtime), 'the demo after the offline reload');
      await ctx.page.click('[data-testid=run-demo]');
      const s = await waitForState(ctx.page, (x) => x.result !== null && x.job.state === 'idle', 'the offline demo segmentation');
      expect(s.errors).toEqual([]);
      const overlay = await overlayLabels(ctx.page);
      expect(Object.keys(foreground(histogram(overlay))).sort()).toEqual(['1', '2', '3']);
      expect(foreground(histogram(overlay))).toEqual(statsCounts(s));
    } finally {
      await ctx.context.close();
    }
  });
});

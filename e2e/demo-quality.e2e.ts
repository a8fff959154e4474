// The shipped demo model segments the demo phantom correctly in the browser on WebGPU (Chromium, SwiftShader):
// Dice ≥ 0.9 per label against the phantom's own ground truth (makePhantom's label map, computed here in Node,
// independent of the model and of the page). Mirroring TTA is off in this test: onnxruntime-web's WebGPU
// kernels on SwiftShader are slow, and one pass keeps the test short (the Node test and the model card report
// the TTA figures). The model card is one click away in the Model panel.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { computeMetrics } from '../src/core/evaluation/metrics.ts';
import { makePhantom } from '../src/core/demo/phantom.ts';
import { launchChromium, openApp, overlayLabels, saveArtifact, segment, type AppPage } from './helpers.ts';

const baseUrl = inject('baseUrl');
let browser: Browser;
let app: AppPage;

beforeAll(async () => {
  browser = await launchChromium();
  app = await openApp(browser, baseUrl);
});

afterAll(async () => {
  await browser?.close();
});

describe('demo quality in Chromium on WebGPU', () => {
  it('segments the demo phantom to Dice ≥ 0.9 per label (brain, ventricles, lesion) against its ground truth', async () => {
    const t0 = Date.now();
    const s = await segment(app.page, 'webgpu', { tta: false });
    const wallMs = Date.now() - t0;
    expect(s.errors).toEqual([]);
    expect(s.image?.isDemo).toBe(true);
    expect(s.model?.source).toBe('demo');
    expect(s.result!.device).toBe('webgpu');
    expect(s.result!.fallbackReason).toBeNull();
    const overlay = await overlayLabels(app.page);
    const truth = makePhantom().truth.data;
    expect(overlay.length).toBe(truth.length);
    const m = computeMetrics(truth, overlay, [1, 2, 3]);
    const dice = [1, 2, 3].map((l) => m[String(l)].Dice);
    console.log(`demo on WebGPU (SwiftShader), no TTA: Dice brain ${dice[0].toFixed(4)}, ventricles ${dice[1].toFixed(4)}, lesion ${dice[2].toFixed(4)}; run ${s.result!.totalMs.toFixed(0)} ms (page), ${wallMs} ms wall`);
    for (let i = 0; i < 3; i++) expect(dice[i], ['brain', 'ventricles', 'lesion'][i]).toBeGreaterThanOrEqual(0.9);
    saveArtifact('demo-quality-webgpu.png', await app.page.screenshot());
  });

  it('and on WASM with mirroring TTA (the page default): Dice ≥ 0.9 per label', async () => {
    const s = await segment(app.page, 'wasm', { tta: true });
    expect(s.errors).toEqual([]);
    expect(s.result!.device).toBe('wasm');
    expect(s.result!.tta).toBe(true);
    const m = computeMetrics(makePhantom().truth.data, await overlayLabels(app.page), [1, 2, 3]);
    const dice = [1, 2, 3].map((l) => m[String(l)].Dice);
    console.log(`demo on WASM, TTA: Dice brain ${dice[0].toFixed(4)}, ventricles ${dice[1].toFixed(4)}, lesion ${dice[2].toFixed(4)}; run ${s.result!.totalMs.toFixed(0)} ms (page)`);
    for (let i = 0; i < 3; i++) expect(dice[i], ['brain', 'ventricles', 'lesion'][i]).toBeGreaterThanOrEqual(0.9);
  });

  it('shows the model card one click away in the Model panel', async () => {
    const text = app.page.locator('[data-testid=model-card-text]');
    await expect(text.isVisible()).resolves.toBe(false);
    await app.page.click('[data-testid=model-card] summary');
    await expect(text.isVisible()).resolves.toBe(true);
    const card = (await text.textContent()) ?? '';
    expect(card).toMatch(/Not for clinical use/);
    expect(card).toMatch(/scripts\/train-demo\.ts/);
    expect(card).toMatch(/Dice/);
    saveArtifact('demo-model-card.png', await app.page.screenshot());
  });
});

// Switching between the ensemble and each fold's own result in the Results panel, without re-running:
// a 2-fold 2D bundle built here (fold 0: label above 128, fold 1: above 180), a dropped PNG, WASM.
// Truths: the Node path (predictCase + onnxruntime-node) on the 2-fold bundle (ensemble) and on a
// 1-fold bundle holding only that fold's network.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { readImageFile } from '../src/core/io/index.ts';
import { agreement, appState, dropFiles, histogram, launchChromium, openApp, overlayLabels, segment, waitForState, type AppPage } from './helpers.ts';
import { smallPng, tiny2dBundle } from './inputs.ts';
import { nodePredict } from './reference.ts';

const baseUrl = inject('baseUrl');
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

beforeAll(async () => {
  browser = await launchChromium();
  app = await openApp(browser, baseUrl);
});

afterAll(async () => {
  await browser?.close();
});

describe('Results: ensemble / per-fold switch', () => {
  it('shows each fold’s own prediction (as the Node path computes it) and downloads the selected one', async () => {
    const thresholds = [128, 180];
    const bundle = await tiny2dBundle(thresholds);
    const { page } = app;
    await page.setInputFiles(
      '[data-testid=model-input]',
      [...bundle].map(([name, bytes]) => ({ name, mimeType: 'application/octet-stream', buffer: Buffer.from(bytes) })),
    );
    await waitForState(page, (s) => s.model?.source === 'bundle' && s.model.folds.length === 2 && s.job.state === 'idle', 'the dropped 2-fold bundle');
    const png = smallPng();
    await dropFiles(page, [{ name: png.name, bytes: png.bytes, type: 'image/png' }]);
    await waitForState(page, (s) => s.image?.name === png.name && s.job.state === 'idle', 'the dropped PNG');
    const s = await segment(page, 'wasm', { tta: true });
    expect(s.errors).toEqual([]);
    expect(s.result!.activeVariant).toBe('ensemble');
    expect(s.result!.variants.map((v) => v.label)).toEqual(['Ensemble (2 folds)', 'Fold 0', 'Fold 1']);

    const refs = {
      ensemble: (await nodePredict([png], bundle, { tta: true })).data,
      'fold 0': (await nodePredict([png], await tiny2dBundle([thresholds[0]]), { tta: true })).data,
      'fold 1': (await nodePredict([png], await tiny2dBundle([thresholds[1]]), { tta: true })).data,
    };
    // the three truths differ: the switch must really change the overlay
    expect(foreground(histogram(refs['fold 0']))[1]).toBeGreaterThan(foreground(histogram(refs['fold 1']))[1] + 50);

    let version = s.result!.version;
    const order = ['ensemble', 'fold 1', 'fold 0', 'ensemble'] as const;
    for (let i = 0; i < order.length; i++) {
      const key = order[i];
      if (key !== (await appState(page)).result!.activeVariant) {
        await page.click(`[data-testid=variant-${key.replace(' ', '-')}]`);
      }
      const st = await waitForState(page, (x) => x.result?.activeVariant === key && (i === 0 || x.result.version > version), `variant ${key}`);
      version = st.result!.version;
      const overlay = await overlayLabels(page);
      expect(overlay.length).toBe(png.rows * png.cols);
      expect(agreement(overlay, refs[key])).toBeGreaterThanOrEqual(0.999);
      expect(foreground(histogram(overlay))).toEqual(statsCounts(st));
      expect(await page.getAttribute(`[data-testid=variant-${key.replace(' ', '-')}]`, 'aria-pressed')).toBe('true');
      if (key === 'fold 1') {
        // the download follows the selected result
        const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=download-seg]')]);
        const back = readImageFile(new Uint8Array(fs.readFileSync(await dl.path())), dl.suggestedFilename());
        expect(agreement(back.data, overlay)).toBe(1);
      }
    }
    expect(app.problems).toEqual([]);
  });
});

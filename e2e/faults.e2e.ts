// Faults during inference (issue 7), in real Chromium with no mocks: the worker's real GPUDevice is destroyed
// in the middle of a WebGPU segmentation (device.destroy() through the `?testhooks=1` hook), and the real
// inference worker is ended mid-segmentation (self.close()) and while idle (terminate()). The page must
// finish on WASM with the same result and say so, then get WebGPU back; and after a crash keep the image,
// the model and the results (edits included), start a new worker and segment again.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { readNifti } from '../src/core/io/index.ts';
import {
  agreement,
  appState,
  dropFiles,
  expectNoEgress,
  histogram,
  launchChromium,
  openApp,
  overlayLabels,
  segment,
  waitForState,
  type AppPage,
} from './helpers.ts';
import { demoModelFiles, demoNiftiBytes, smallNifti } from './inputs.ts';
import { nodePredict } from './reference.ts';

const baseUrl = inject('baseUrl');
let browser: Browser;
let app: AppPage;

interface FaultHooks {
  loseGpu(): Promise<boolean>;
  crashWorker(how: 'close' | 'terminate'): boolean;
  workerGenerations(): number;
}

function hooks<T>(page: Page, fn: (h: FaultHooks) => T | Promise<T>): Promise<T> {
  return page.evaluate(`(${fn.toString()})(window.__segstudioTest)`) as Promise<T>;
}

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

async function dismissBanners(page: Page): Promise<void> {
  while ((await page.locator('[data-testid=error-banner]').count()) > 0) await page.click('[data-testid=error-banner] >> button[aria-label=Dismiss]');
}

beforeAll(async () => {
  browser = await launchChromium();
  app = await openApp(browser, baseUrl, { query: 'testhooks=1' });
});

afterAll(async () => {
  await browser?.close();
});

describe('faults during inference', () => {
  it('GPU device destroyed mid-run: finishes on WASM identical to a plain WASM run, tells the user, next WebGPU run gets a new device; lost between runs: told at once', async () => {
    const page = app.page;
    // the reference: a plain WASM run of the demo. The trained demo network covers the phantom in one tile, so
    // mirroring TTA (8 network runs) is what gives the WebGPU run a "mid-run" to lose its device in.
    const plain = await segment(page, 'wasm', { tta: true });
    expect(plain.errors).toEqual([]);
    expect(plain.result!.device).toBe('wasm');
    const wasmLabels = await overlayLabels(page);

    await page.selectOption('[data-testid=opt-device]', 'webgpu');
    const version = plain.result!.version;
    await page.click('[data-testid=segment]');
    // network runs (tiles × mirrors) are under way on WebGPU: the device exists and is busy
    await waitForState(page, (s) => s.job.state === 'segmenting' && s.job.total > 1 && s.job.done >= 1 && s.job.done < s.job.total, 'WebGPU tiles');
    expect(await hooks(page, (h) => h.loseGpu())).toBe(true);
    const s = await waitForState(page, (x) => x.job.state === 'idle' && (x.result?.version !== version || x.errors.length > 0), 'the run after the device loss');
    expect(s.errors).toEqual([]);
    expect(s.result!.device).toBe('wasm');
    expect(s.result!.fallbackReason).toMatch(/WebGPU device was lost.*destroyed/i);
    expect(s.notice).toMatch(/GPU device was lost.*CPU \(WASM\)/);
    await expect(page.locator('[data-testid=notice]').textContent()).resolves.toMatch(/GPU device was lost/);
    await expect(page.locator('[data-testid=status]').textContent()).resolves.toMatch(/CPU \(WASM.*lost/);
    const afterLoss = await overlayLabels(page);
    expect(agreement(afterLoss, wasmLabels)).toBeGreaterThanOrEqual(0.999);
    expect(foreground(histogram(afterLoss))).toEqual(statsCounts(s));
    const demoRef = await nodePredict([{ name: 'demo_phantom.nii', bytes: demoNiftiBytes() }], demoModelFiles(), { tta: true });
    expect(agreement(afterLoss, demoRef.data)).toBeGreaterThanOrEqual(0.999);

    // the next WebGPU run (on a one-tile image, to keep the test short) starts a new worker, which asks
    // for a new GPUDevice; the new worker gets the dropped image back from the page
    const small = smallNifti('gpu_case.nii.gz', 3);
    const ref = await nodePredict([small], demoModelFiles(), { tta: false });
    await dropFiles(page, [{ name: small.name, bytes: small.bytes }]);
    await waitForState(page, (x) => x.image?.name === small.name && x.job.state === 'idle', 'the dropped NIfTI');
    const generations = await hooks(page, (h) => h.workerGenerations());
    const next = await segment(page, 'webgpu', { tta: false });
    expect(next.errors).toEqual([]);
    expect(await hooks(page, (h) => h.workerGenerations())).toBe(generations + 1);
    if (next.result!.device === 'wasm') {
      // allowed only when the new worker's GPU request itself failed, and the page says so
      expect(next.result!.fallbackReason).toMatch(/requestAdapter|requestDevice|adapter|WebGPU failed/);
      console.warn(`faults.e2e: no new GPU device after the loss: ${next.result!.fallbackReason}`);
    } else {
      expect(next.result!.device).toBe('webgpu');
      expect(next.result!.fallbackReason).toBeNull();
    }
    expect(agreement(await overlayLabels(page), ref.data)).toBeGreaterThanOrEqual(0.999);
    if (next.result!.device !== 'webgpu') return;

    // lost between runs: the page is told at once, and the next WebGPU run again gets a new device
    expect(await hooks(page, (h) => h.loseGpu())).toBe(true);
    const told = await waitForState(page, (x) => /GPU device was lost.*next WebGPU run restarts/.test(x.notice ?? ''), 'the notice of an idle loss', 30_000);
    expect(told.errors).toEqual([]);
    expect(told.result!.device).toBe('webgpu'); // the result shown is untouched
    const again = await segment(page, 'webgpu', { tta: false });
    expect(again.errors).toEqual([]);
    expect(again.result!.device).toBe('webgpu');
    expect(again.result!.fallbackReason).toBeNull();
    expect(await hooks(page, (h) => h.workerGenerations())).toBe(generations + 2);
    expect(agreement(await overlayLabels(page), ref.data)).toBeGreaterThanOrEqual(0.999);
  });

  const nifti = smallNifti('crash_case.nii.gz', 11);
  let niftiRef: Uint8Array;

  it('worker ends mid-segmentation: error shown, new worker, image + results + edits kept, segments again', async () => {
    const page = app.page;
    await dismissBanners(page);
    niftiRef = (await nodePredict([nifti], demoModelFiles(), { tta: false })).data as Uint8Array;
    await dropFiles(page, [{ name: nifti.name, bytes: nifti.bytes }]);
    await waitForState(page, (s) => s.image?.name === nifti.name && s.job.state === 'idle', 'the dropped NIfTI');
    let s = await segment(page, 'wasm', { tta: false });
    expect(agreement(await overlayLabels(page), niftiRef)).toBeGreaterThanOrEqual(0.999);
    // a pen stroke with label 3: the edited label map must survive the crash
    await page.click('button:has-text("Pen")');
    await page.selectOption('select[aria-label="Pen label"]', '3');
    const box = (await page.locator('[data-testid=viewer-canvas]').boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.25, box.y + box.height * 0.3);
    s = await waitForState(page, (x) => x.result!.steps.length === 1, 'the pen stroke');
    await page.click('button:has-text("View")');
    const edited = await overlayLabels(page);
    expect(agreement(edited, niftiRef)).toBeLessThan(1);
    const editedStats = statsCounts(s);
    const resultVersion = s.result!.version;
    const generations = await hooks(page, (h) => h.workerGenerations());

    // a long run (WebGPU, mirroring TTA), ended by the worker itself after its first tiles
    await page.selectOption('[data-testid=opt-device]', 'webgpu');
    if (!(await page.locator('[data-testid=opt-tta]').isChecked())) await page.click('[data-testid=opt-tta]');
    await page.click('[data-testid=segment]');
    await waitForState(page, (x) => x.job.state === 'segmenting' && x.job.done >= 1 && x.job.done < x.job.total, 'tiles running');
    expect(await hooks(page, (h) => h.crashWorker('close'))).toBe(true);
    s = await waitForState(page, (x) => x.job.state === 'idle' && x.errors.length > 0, 'the crash error', 60_000);
    expect(s.errors[0].code).toBe('worker-crashed');
    expect(s.errors[0].message).toMatch(/inference worker stopped/);
    expect(s.errors[0].message).toContain(nifti.name);
    await expect(page.locator('[data-testid=error-banner]').first().textContent()).resolves.toMatch(/worker stopped/);
    s = await waitForState(page, (x) => /worker was restarted/.test(x.notice ?? ''), 'the restart notice', 60_000);
    expect(await hooks(page, (h) => h.workerGenerations())).toBe(generations + 1);
    // nothing of the page's state was lost
    expect(s.image?.name).toBe(nifti.name);
    expect(s.result?.version).toBe(resultVersion);
    expect(s.result?.steps).toEqual(['edit']);
    expect(statsCounts(s)).toEqual(editedStats);
    expect(agreement(await overlayLabels(page), edited)).toBe(1);

    // the new worker has the image back: the edited labels export on its header, and it segments again
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=download-seg]')]);
    const fs = await import('node:fs');
    const vol = readNifti(new Uint8Array(fs.readFileSync(await dl.path())), dl.suggestedFilename());
    expect(vol.dims.slice(0, 3)).toEqual(nifti.dims);
    expect(agreement(vol.raw as ArrayLike<number>, edited)).toBe(1);
    await dismissBanners(page);
    s = await segment(page, 'wasm', { tta: false });
    expect(s.errors).toEqual([]);
    expect(agreement(await overlayLabels(page), niftiRef)).toBeGreaterThanOrEqual(0.999);
  });

  it('worker terminated while idle: noticed without any call, restarted with the image, segments again', async () => {
    const page = app.page;
    const before = await appState(page);
    const labels = await overlayLabels(page);
    const generations = await hooks(page, (h) => h.workerGenerations());
    expect(await hooks(page, (h) => h.crashWorker('terminate'))).toBe(true);
    const s = await waitForState(page, (x) => /worker was restarted/.test(x.notice ?? '') && x.notice !== before.notice, 'the idle restart', 60_000);
    expect(await hooks(page, (h) => h.workerGenerations())).toBe(generations + 1);
    expect(s.errors).toEqual([]);
    expect(s.image?.name).toBe(nifti.name);
    expect(agreement(await overlayLabels(page), labels)).toBe(1);
    const again = await segment(page, 'wasm', { tta: false });
    expect(again.errors).toEqual([]);
    expect(agreement(await overlayLabels(page), niftiRef)).toBeGreaterThanOrEqual(0.999);
    expectNoEgress(app.egress, 'the fault tests');
  });
});

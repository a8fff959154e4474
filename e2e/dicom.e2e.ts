// DICOM import in real Chromium (issue 7): a folder with two DICOM series written by the test (the demo
// phantom as MR, a small CT), a text file and a truncated slice is dropped on the page; dcm2niix's WebAssembly
// build converts it in the DICOM worker, the series picker lists both, the phantom series opens and is
// segmented with the demo model, and the downloaded segmentation sits on the converted volume's grid (the
// same NIfTI dcm2niix gives in Node) with the labels `segstudio predict` gives on it. No request leaves the
// origin; dcm2niix's files come from our own origin.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { makePhantom } from '../src/core/demo/phantom.ts';
import { convertDicom, type DicomInput } from '../src/core/io/dicom/convert.ts';
import { writeDicomSeries } from '../src/core/io/dicom/writer.ts';
import { readNifti } from '../src/core/io/index.ts';
import { nodeDcm2niixFactory } from '../src/node/dcm2niixNode.ts';
import { agreement, appState, dropFiles, expectNoEgress, histogram, launchChromium, openApp, overlayLabels, saveArtifact, segment, waitForState, type AppPage } from './helpers.ts';
import { demoModelFiles } from './inputs.ts';
import { nodePredict } from './reference.ts';

const baseUrl = inject('baseUrl');
const origin = new URL(baseUrl).origin;
let browser: Browser;
let app: AppPage;

// the folder: phantom MR (series 3, files A0001.dcm …), small CT (series 5, B0001.dcm …), two bad files
const phantom = makePhantom();
const [, nz, ny, nx] = phantom.image.shape;
const mr = writeDicomSeries(
  { data: phantom.image.data, shape: [nz, ny, nx], affine: phantom.image.properties.affine! },
  { seriesNumber: 3, seriesDescription: 'Phantom T1', filePrefix: 'A', uidSeed: 11 },
);
const ctData = Float32Array.from({ length: 6 * 20 * 24 }, (_, i) => ((i * 53) % 2000) - 1000);
const ct = writeDicomSeries(
  {
    data: ctData,
    shape: [6, 20, 24],
    affine: [
      [-0.7, 0, 0, 50],
      [0, 0.7, 0, -20],
      [0, 0, 5, -100],
      [0, 0, 0, 1],
    ],
  },
  { seriesNumber: 5, seriesDescription: 'Head CT', modality: 'CT', filePrefix: 'B', uidSeed: 12 },
);
// a truncated copy of a slice (an interrupted export)
const broken = ct.files[2].bytes.subarray(0, ct.files[2].bytes.length - 100);
const folder: DicomInput[] = [
  ...mr.files.map((f) => ({ name: f.name, bytes: f.bytes })),
  ...ct.files.map((f) => ({ name: f.name, bytes: f.bytes })),
  { name: 'B0003 (copy).dcm', bytes: broken },
  { name: 'README.txt', bytes: new TextEncoder().encode('exported by a PACS') },
];

beforeAll(async () => {
  browser = await launchChromium();
  app = await openApp(browser, baseUrl);
});

afterAll(async () => {
  await browser?.close();
});

describe('DICOM import in Chromium', () => {
  it('converts a dropped folder with two series, names the bad files, opens the chosen series, segments it on the converted grid', async () => {
    const page = app.page;
    // the truth: the same folder through dcm2niix in Node, and segstudio predict on the converted phantom
    const expected = await convertDicom(folder, nodeDcm2niixFactory());
    expect(expected.series.map((s) => s.description)).toEqual(['Phantom T1', 'Head CT']);
    const expMr = expected.series[0];
    const expVol = readNifti(expMr.nifti, expMr.fileName);
    const ref = await nodePredict([{ name: expMr.fileName, bytes: expMr.nifti }], demoModelFiles(), { tta: false });

    const requestsBefore = app.requests.length;
    await dropFiles(page, folder);
    await page.waitForSelector('[data-testid=dicom-picker]', { timeout: 120_000 });
    const rows = page.locator('[data-testid=dicom-series]');
    expect(await rows.count()).toBe(2);
    const rowText = await rows.allTextContents();
    expect(rowText[0]).toContain('Phantom T1');
    expect(rowText[0]).toContain('MR');
    expect(rowText[0]).toContain(`${nx} × ${ny} × ${nz}`);
    expect(rowText[0]).toMatch(new RegExp(`${nz}$`)); // file count
    expect(rowText[1]).toContain('Head CT');
    expect(rowText[1]).toContain('CT');
    expect(rowText[1]).toContain('24 × 20 × 6');
    const skipped = await page.locator('[data-testid=dicom-skipped]').textContent();
    expect(skipped).toContain('B0003 (copy).dcm: truncated: pixel data has');
    expect(skipped).toContain('README.txt: not a DICOM file');
    saveArtifact('dicom-picker.png', await page.screenshot());

    await rows.filter({ hasText: 'Phantom T1' }).click();
    const loaded = await waitForState(page, (s) => s.image?.name === expMr.fileName && s.job.state === 'idle', 'the converted phantom series');
    expect(loaded.image!.shape).toEqual([1, nz, ny, nx]);
    expect(loaded.notice).toContain('2 files left out');
    expect(await page.locator('[data-testid=dicom-picker]').count()).toBe(0);

    const s = await segment(page, 'wasm', { tta: false });
    expect(s.errors).toEqual([]);
    const overlay = await overlayLabels(page);
    expect(agreement(overlay, ref.data)).toBeGreaterThanOrEqual(0.999);
    expect(Object.keys(histogram(overlay)).sort()).toEqual(['0', '1', '2', '3']);

    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=download-seg]')]);
    const bytes = new Uint8Array(fs.readFileSync(await dl.path()));
    const seg = readNifti(bytes, dl.suggestedFilename());
    expect(seg.dims.slice(0, 3)).toEqual(expVol.dims.slice(0, 3));
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(seg.affine[r][c]).toBeCloseTo(expVol.affine[r][c], 5);
    expect(agreement(seg.raw as ArrayLike<number>, overlay)).toBe(1);
    saveArtifact('dicom-segmented.png', await page.screenshot());

    // dcm2niix came from our origin, and nothing went anywhere else
    const during = app.requests.slice(requestsBefore);
    expect(during.some((u) => /dcm2niix[^/]*\.wasm$/.test(u))).toBe(true);
    expect(during.every((u) => u.startsWith('blob:') || u.startsWith('data:') || new URL(u).origin === origin)).toBe(true);
    expectNoEgress(app.egress, 'DICOM import, segmentation and export');

    // the other series of the same import, without converting again
    await page.click('[data-testid=dicom-reopen]');
    await page.locator('[data-testid=dicom-series]').filter({ hasText: 'Head CT' }).click();
    const ctState = await waitForState(page, (x) => x.image?.name === '5_Head_CT.nii' && x.job.state === 'idle', 'the CT series');
    expect(ctState.image!.shape).toEqual([1, 6, 20, 24]);
    expect(ctState.result).toBeNull();
  });

  it('a folder without DICOM images gives one clear error naming the files; the app stays usable', async () => {
    const page = app.page;
    const before = (await appState(page)).errors.length;
    await dropFiles(page, [
      { name: 'IM0001', bytes: broken.subarray(0, 300) },
      { name: 'IM0002.dcm', bytes: new TextEncoder().encode('not really DICOM') },
    ]);
    const s = await waitForState(page, (x) => x.errors.length > before, 'the DICOM error');
    expect(s.errors[0].message).toMatch(/IM0001, IM0002\.dcm: no DICOM images found/);
    expect(s.errors[0].message).toMatch(/IM0002\.dcm: not a DICOM file/);
    expect(s.image?.name).toBeTruthy(); // the previous image stays
  });

  it('Open folder… (a directory input) with one series opens it directly', async () => {
    const page = app.page;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-dicom-e2e-'));
    try {
      const series = path.join(dir, 'HeadCT');
      fs.mkdirSync(series);
      const other = writeDicomSeries(
        { data: ctData, shape: [6, 20, 24], affine: [[-0.7, 0, 0, 0], [0, 0.7, 0, 0], [0, 0, 5, 0], [0, 0, 0, 1]] },
        { seriesNumber: 8, seriesDescription: 'Folder CT', modality: 'CT', uidSeed: 13 },
      );
      for (const f of other.files) fs.writeFileSync(path.join(series, f.name.replace('.dcm', '')), f.bytes); // PACS-style names, no extension
      const before = (await appState(page)).errors.length;
      await page.setInputFiles('[data-testid=folder-input]', series);
      const s = await waitForState(page, (x) => (x.image?.name === '8_Folder_CT.nii' && x.job.state === 'idle') || x.errors.length > before, 'the CT series from the folder input');
      expect(s.errors.length).toBe(before);
      expect(s.image!.shape).toEqual([1, 6, 20, 24]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('offline (service worker): a zip with one series converts and opens directly', async () => {
    const ctx = await openApp(browser, baseUrl, { serviceWorkers: 'allow' });
    try {
      await ctx.page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 120_000 });
      await ctx.page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
      await ctx.context.setOffline(true);
      await ctx.page.reload();
      await waitForState(ctx.page, (s) => Boolean(s.image?.isDemo && s.runtime), 'the app after the offline reload');
      const zip = zipSync(Object.fromEntries(ct.files.map((f) => [`HeadCT/${f.name}`, f.bytes])));
      await dropFiles(ctx.page, [{ name: 'head_ct.zip', bytes: zip, type: 'application/zip' }]);
      const s = await waitForState(ctx.page, (x) => x.image?.name === '5_Head_CT.nii' || x.errors.length > 0, 'the converted CT from the zip');
      expect(s.errors).toEqual([]);
      expect(s.image!.shape).toEqual([1, 6, 20, 24]);
      expect(s.image!.looksLikeCt).toBe(true);
      expect(await ctx.page.locator('[data-testid=dicom-picker]').count()).toBe(0);
      expectNoEgress(ctx.egress, 'offline DICOM zip import');
    } finally {
      await ctx.context.close();
    }
  });

  it('cancel stops a running conversion', async () => {
    const page = app.page;
    // the folder 40 times over (2,000+ files, built in the page): a conversion that takes long enough to cancel
    const payload = folder.map((f) => ({ name: f.name, b64: Buffer.from(f.bytes).toString('base64') }));
    await page.evaluate((items) => {
      const dt = new DataTransfer();
      const files = items.map((it) => ({ name: it.name, bytes: Uint8Array.from(atob(it.b64), (c) => c.charCodeAt(0)) }));
      for (let copy = 0; copy < 40; copy++) for (const f of files) dt.items.add(new File([f.bytes], `c${copy}_${f.name}`));
      const target = document.querySelector('[data-testid=viewer-canvas]') ?? document.body;
      for (const type of ['dragenter', 'dragover', 'drop']) target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, payload);
    await page.waitForSelector('[data-testid=dicom-progress]', { timeout: 30_000 });
    await page.click('[data-testid=dicom-cancel]');
    const s = await waitForState(page, (x) => /cancelled/i.test(x.notice ?? ''), 'the cancel notice');
    expect(s.notice).toMatch(/DICOM import cancelled/);
    expect(await page.locator('[data-testid=dicom-progress]').count()).toBe(0);
    expect(await page.locator('[data-testid=dicom-picker]').count()).toBe(0);
  });
});

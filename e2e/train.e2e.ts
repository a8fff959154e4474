// The Train view end to end in Chromium (real WebGPU on SwiftShader, real onnxruntime-web, no mocks): drop a
// tiny real dataset (5 hippocampus cases as a .zip) → integrity report + fingerprint + plans → shrink the plan
// and the schedule → train 3d_fullres fold 0 on WebGPU → the chart gains epochs → reload mid-training →
// Resume from the OPFS checkpoint → finish → results table → "Export bundle" (a valid bundle: manifest +
// ONNX, loadable by the Node predictor) → "Use in Segment view" → segment a held-out hippocampus case.
// Truth for the segmentation: the Node path (predictCase + onnxruntime-node) on the downloaded bundle.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { loadBundle, unzipBundle } from '../src/core/inference/bundle.ts';
import { dataPath, describeWithData } from '../test/sharedData.ts';
import { agreement, appState, dropFiles, expectNoEgress, launchChromium, openApp, overlayLabels, saveArtifact, segment, waitForState, type AppPage } from './helpers.ts';
import { nodePredict } from './reference.ts';

const baseUrl = inject('baseUrl');

describeWithData('Train view: dataset → plans → WebGPU training with reload + resume → bundle → Segment', () => {
  const root = dataPath('Dataset004_Hippocampus');
  const meta = JSON.parse(fs.readFileSync(`${root}/cases.json`, 'utf8')) as { training: { case: string; shape: number[] }[] };
  const cases = meta.training.slice(0, 5).map((c) => c.case);
  const heldOut = meta.training[5].case;
  let browser: Browser;
  let app: AppPage;

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  function datasetZip(): Uint8Array {
    const ds = JSON.parse(fs.readFileSync(`${root}/dataset.json`, 'utf8'));
    const files: Record<string, Uint8Array> = {
      'Dataset004_Tiny/dataset.json': new TextEncoder().encode(JSON.stringify({ ...ds, name: 'HippoTiny', numTraining: cases.length })),
    };
    for (const c of cases) {
      files[`Dataset004_Tiny/imagesTr/${c}_0000.nii.gz`] = fs.readFileSync(`${root}/imagesTr/${c}_0000.nii.gz`);
      files[`Dataset004_Tiny/labelsTr/${c}.nii.gz`] = fs.readFileSync(`${root}/labelsTr/${c}.nii.gz`);
    }
    return zipSync(files, { level: 0 });
  }

  /** Drops files onto the Train view like a user (dragenter → dragover → drop with a DataTransfer). */
  async function dropOnTrainView(page: Page, name: string, bytes: Uint8Array): Promise<void> {
    await page.evaluate(
      ({ name, b64 }) => {
        const bin = atob(b64);
        const buf = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
        const dt = new DataTransfer();
        dt.items.add(new File([buf], name, { type: 'application/zip' }));
        const target = document.querySelector('[data-testid=train-view]')!;
        for (const type of ['dragenter', 'dragover', 'drop']) target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      },
      { name, b64: Buffer.from(bytes).toString('base64') },
    );
  }

  async function fill(page: Page, testId: string, value: string): Promise<void> {
    await page.fill(`[data-testid=${testId}]`, value);
  }

  it('plans, trains with a reload in the middle, exports and segments with the trained model', async () => {
    const t0 = Date.now();
    const lap = (what: string) => process.stderr.write(`train e2e: ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    // 1e6 foreground samples for the intensity statistics instead of nnU-Net's 1e8 (speed on a loaded runner)
    app = await openApp(browser, `${baseUrl}?train-fg-samples=1000000`);
    const { page } = app;
    await page.click('[data-testid=view-train]');
    await page.waitForSelector('[data-testid=train-view]:visible');
    expect((await appState(page)).page).toBe('train');

    // ---- drop the dataset zip: report, fingerprint, plans
    await dropOnTrainView(page, 'Dataset004_Tiny.zip', datasetZip());
    let s = await waitForState(page, (x) => x.train.task === null && (x.train.plans !== null || x.train.planError !== null || x.errors.length > 0), 'the dataset report and plans', 120_000);
    expect(s.errors).toEqual([]);
    lap('plans shown');
    expect(s.train.verify!.ok).toBe(true);
    expect(s.train.dataset!.caseIds).toEqual(cases);
    expect(s.train.dataset!.name).toBe('HippoTiny');
    expect(s.train.dataset!.storedAt).toMatch(/^OPFS:\/segstudio\/datasets\//);
    expect(Object.keys(s.train.plans!.configurations).sort()).toEqual(['2d', '3d_fullres']);
    expect(s.train.fingerprint!.cases).toBe(5);
    await expect(page.textContent('[data-testid=train-verify-status]')).resolves.toMatch(/OK · 0 errors/);
    await expect(page.textContent('[data-testid=train-config-3d_fullres]')).resolves.toMatch(/3D U-Net at full resolution/);

    // an invalid patch is refused with nnU-Net's divisibility rule, then a tiny valid plan
    await fill(page, 'edit-patch-3d_fullres', '18 16 16');
    await expect(page.textContent('[data-testid=train-config-3d_fullres] [data-testid=plan-problem]')).resolves.toMatch(/not divisible by the network's pooling 4 × 4 × 4/);
    expect(await page.isDisabled('[data-testid=train-start]')).toBe(true);
    await fill(page, 'edit-patch-3d_fullres', '16 16 16');
    await fill(page, 'edit-batch-3d_fullres', '2');
    await fill(page, 'edit-base-3d_fullres', '4');
    await fill(page, 'edit-max-3d_fullres', '16');
    await fill(page, 'edit-epochs', '3');
    await fill(page, 'edit-iterations', '3');
    await fill(page, 'edit-val-iterations', '1');
    await page.selectOption('[data-testid=edit-backend]', 'webgpu');
    await expect(page.textContent('[data-testid=train-arch-3d_fullres]')).resolves.toMatch(/3 stages · features 4, 8, 16/);
    saveArtifact('train-plans.png', await page.screenshot());
    // nnUNetPlans.json download carries the edits (and leaves 2d as planned)
    const [plansDl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=download-plans]')]);
    const plansJson = JSON.parse(fs.readFileSync((await plansDl.path())!, 'utf8'));
    expect(plansDl.suggestedFilename()).toBe('nnUNetPlans.json');
    expect(plansJson.configurations['3d_fullres'].patch_size).toEqual([16, 16, 16]);
    expect(plansJson.configurations['3d_fullres'].architecture.arch_kwargs.features_per_stage).toEqual([4, 8, 16]);
    expect(plansJson.configurations['2d']).toEqual(s.train.plans!.configurations['2d']);

    // ---- train on WebGPU; the chart gets its first epoch
    await page.click('[data-testid=train-start]');
    s = await waitForState(page, (x) => (x.train.runs[0]?.log.train_losses.length ?? 0) >= 1 || x.train.runs[0]?.status === 'failed', 'the first epoch', 180_000);
    expect(s.train.runs[0].error).toBeNull();
    lap('first epoch');
    const run = s.train.runs[0];
    expect(run.backend).toMatch(/webgpu/i);
    expect(run.plans!.configurations['3d_fullres'].patch_size).toEqual([16, 16, 16]);
    expect(Number(await page.getAttribute('[data-testid=train-chart]', 'data-epochs'))).toBeGreaterThanOrEqual(1);
    saveArtifact('train-chart-epoch1.png', await page.screenshot());

    // ---- Pause holds the run between iterations; Continue goes on
    await page.click('[data-testid=run-pause]');
    await waitForState(page, (x) => x.train.runs[0].status === 'paused', 'the paused run', 120_000);
    const pausedAt = (await appState(page)).train.live?.iteration;
    await page.waitForTimeout(1500);
    expect((await appState(page)).train.live?.iteration).toBe(pausedAt);
    await page.click('[data-testid=run-continue]');
    await waitForState(page, (x) => x.train.runs[0].status === 'running', 'the continued run', 60_000);

    // ---- reload mid-training: the run shows as interrupted, Resume continues from the checkpoint in OPFS
    const statusAtReload = (await appState(page)).train.runs[0].status;
    await page.reload();
    await waitForState(page, (x) => Boolean(x.runtime) && x.page === 'train' && x.train.runs.length === 1, 'the Train view after the reload', 120_000);
    s = await appState(page);
    const before = s.train.runs[0];
    // a run still training at the reload must come back as interrupted (one that finished first is simply finished)
    expect(before.status).toBe(statusAtReload === 'running' ? 'interrupted' : 'finished');
    expect(before.log.train_losses.length).toBeGreaterThanOrEqual(1);
    if (before.status === 'interrupted') {
      await page.waitForSelector('[data-testid=train-interrupted]');
      await page.click('[data-testid=run-resume]');
    }
    s = await waitForState(page, (x) => ['finished', 'failed', 'stopped'].includes(x.train.runs[0].status), 'the resumed run to finish', 240_000);
    lap('finished');
    const done = s.train.runs[0];
    expect(done.error).toBeNull();
    expect(done.status).toBe('finished');
    expect(done.epoch).toBe(3);
    expect(done.log.train_losses).toHaveLength(3);
    expect(done.log.train_losses.every(Number.isFinite)).toBe(true);
    // the log after the resume starts with the epochs trained before the reload (restored from the checkpoint)
    expect(done.log.train_losses[0]).toBeCloseTo(before.log.train_losses[0], 6);
    expect(done.logLines.some((l) => /^resumed from checkpoint_latest at epoch [12]/.test(l))).toBe(before.status === 'interrupted');
    expect(Number(await page.getAttribute('[data-testid=train-chart]', 'data-epochs'))).toBe(3);
    // the fold's full-case validation (1 held-out case of the 5-fold split) and the cross-validation decision
    expect(done.validation).not.toBeNull();
    expect(done.validation!.cases).toBe(1);
    expect(Object.keys(done.validation!.perLabel).sort()).toEqual(['Anterior', 'Posterior']);
    s = await waitForState(page, (x) => x.train.results?.source === 'validation' && x.train.task === null, 'the cross-validation result', 120_000);
    expect(s.train.results!.best!.name).toMatch(/3d_fullres/);
    await page.waitForSelector('[data-testid=train-best]');
    expect(await page.locator('[data-testid=train-fold-row][data-source=validation]').count()).toBe(1);
    saveArtifact('train-results.png', await page.screenshot({ fullPage: true }));

    // ---- export PNG of the chart and the bundle
    const [png] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=train-export-png]')]);
    const pngBytes = fs.readFileSync((await png.path())!);
    expect([...pngBytes.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    saveArtifact('train-progress-export.png', pngBytes);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=train-export-bundle]')]);
    expect(dl.suggestedFilename()).toMatch(/\.zip$/);
    const zip = new Uint8Array(fs.readFileSync((await dl.path())!));
    const files = unzipBundle(zip, dl.suggestedFilename());
    const manifest = JSON.parse(new TextDecoder().decode(files.get('manifest.json')!));
    expect(manifest.format).toBe('segstudio-bundle/1');
    expect(manifest.configuration).toBe('3d_fullres');
    expect(manifest.folds).toEqual([0]);
    expect(files.has('fold_0.onnx')).toBe(true);
    expect(files.has('postprocessing.json')).toBe(true); // the cross-validation winner carries its postprocessing
    const bundle = await loadBundle(files, dl.suggestedFilename()); // sha256 manifest checked
    expect(bundle.folds).toEqual([0]);
    expect(bundle.networks.map((n) => n.name)).toEqual(['fold_0.onnx']);
    lap('bundle exported');

    // ---- use it in the Segment view on a held-out hippocampus case
    await page.click('[data-testid=train-use-model]');
    s = await waitForState(page, (x) => x.page === 'segment' && x.model?.source === 'bundle', 'the trained model in the Segment view');
    expect(s.model!.configuration).toBe('3d_fullres');
    const img = { name: `${heldOut}_0000.nii.gz`, bytes: new Uint8Array(fs.readFileSync(`${root}/imagesTr/${heldOut}_0000.nii.gz`)) };
    await dropFiles(page, [img]);
    await waitForState(page, (x) => x.image?.name === img.name && x.job.state === 'idle', 'the held-out case');
    s = await segment(page, 'wasm', { tta: false });
    expect(s.errors).toEqual([]);
    const labels = await overlayLabels(page);
    const ref = await nodePredict([img], files, { tta: false });
    expect(labels.length).toBe(ref.data.length);
    expect(agreement(labels, ref.data)).toBeGreaterThan(0.999);
    saveArtifact('train-segmented.png', await page.screenshot());
    lap('segmented');
    expect(app.problems.filter((p) => !/favicon/.test(p))).toEqual([]);
    // issue 7: dataset drop, planning, training (reload + resume), validation, export and segmentation stayed on the origin
    expectNoEgress(app.egress, 'dataset drop, planning, training, export and segmentation');
  }, 600_000);

  it('a dataset folder with a broken case: the report names the case and file, training refuses; Cancel stops a long analysis', async () => {
    // a real folder on disk, chosen through the Folder… picker (webkitdirectory)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-train-'));
    const ds = path.join(dir, 'Dataset005_Broken');
    fs.mkdirSync(path.join(ds, 'imagesTr'), { recursive: true });
    fs.mkdirSync(path.join(ds, 'labelsTr'), { recursive: true });
    const some = meta.training.slice(0, 6).map((c) => c.case);
    const dsJson = JSON.parse(fs.readFileSync(`${root}/dataset.json`, 'utf8'));
    fs.writeFileSync(path.join(ds, 'dataset.json'), JSON.stringify({ ...dsJson, name: 'Broken', numTraining: some.length }));
    for (const c of some) {
      fs.copyFileSync(`${root}/imagesTr/${c}_0000.nii.gz`, path.join(ds, 'imagesTr', `${c}_0000.nii.gz`));
      // the third case's label is missing
      if (c !== some[2]) fs.copyFileSync(`${root}/labelsTr/${c}.nii.gz`, path.join(ds, 'labelsTr', `${c}.nii.gz`));
    }
    const other = await openApp(browser, `${baseUrl}#train`);
    try {
      const page = other.page;
      await page.waitForSelector('[data-testid=train-view]:visible');
      await page.setInputFiles('[data-testid=train-folder-input]', ds);
      const s = await waitForState(page, (x) => x.train.task === null && x.train.verify !== null, 'the report of the broken folder', 120_000);
      expect(s.train.dataset!.name).toBe('Broken');
      expect(s.train.verify!.ok).toBe(false);
      const p = s.train.verify!.problems.find((x) => x.severity === 'error' && x.case === some[2]);
      expect(p).toBeDefined();
      expect(s.train.plans).toBeNull();
      const table = await page.textContent('[data-testid=train-verify-table]');
      expect(table).toContain(some[2]);
      await expect(page.textContent('[data-testid=train-plan-error]')).resolves.toMatch(/integrity check found \d+ error/);
      saveArtifact('train-broken-report.png', await page.screenshot());

      // the full nnU-Net intensity sampling (1e8 foreground samples) on 40 cases takes a while: Cancel ends it
      const zipFiles: Record<string, Uint8Array> = {
        'Big/dataset.json': new TextEncoder().encode(JSON.stringify({ ...dsJson, name: 'Big', numTraining: 40 })),
      };
      for (const c of meta.training.slice(0, 40).map((x) => x.case)) {
        zipFiles[`Big/imagesTr/${c}_0000.nii.gz`] = fs.readFileSync(`${root}/imagesTr/${c}_0000.nii.gz`);
        zipFiles[`Big/labelsTr/${c}.nii.gz`] = fs.readFileSync(`${root}/labelsTr/${c}.nii.gz`);
      }
      await dropOnTrainView(page, 'Big.zip', zipSync(zipFiles, { level: 0 }));
      await page.waitForSelector('[data-testid=train-cancel]', { timeout: 30_000 });
      await page.keyboard.press('Escape'); // Esc = the Cancel button
      const c = await waitForState(page, (x) => x.train.task === null, 'the cancelled analysis', 30_000);
      expect(c.notice).toMatch(/cancelled/);
      expect(c.train.dataset!.name).toBe('Broken'); // the previous dataset stays
      // the page stays usable: the next drop is analysed
      await page.setInputFiles('[data-testid=train-folder-input]', ds);
      const again = await waitForState(page, (x) => x.train.task === null && x.train.dataset?.id !== c.train.dataset!.id, 'the folder analysed again', 120_000);
      expect(again.train.dataset!.name).toBe('Broken');
      expect(again.errors).toEqual([]);
    } finally {
      await other.context.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

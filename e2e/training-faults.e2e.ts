// Issue 7, faults during training, in Chromium with real WebGPU (SwiftShader) and OPFS, driving the real
// training worker from e2e/pages/training-faults.ts on a tiny synthetic dataset:
// (a) the worker's GPUDevice is destroyed mid-epoch → the run fails cleanly with 'gpu-device-lost' (error
//     event, state failed, run.json 'failed'), checkpoint_latest stays loadable, and start({resume: true})
//     continues from it on a new WebGPU device and finishes;
// (b) the browser process is killed with SIGKILL mid-epoch → relaunched on the same profile (OPFS kept), the
//     run resumes from checkpoint_latest losing at most the epoch in progress, finishes, and its log is
//     continuous (every epoch once, nnU-Net's poly learning rate sequence); then a second fold, the page's
//     cross-validation over the stored runs, the winning bundle (both folds, postprocessing.json), deleteRun.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ViteDevServer } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM } from './helpers.ts';
import { startTestPageServer } from './devServer.ts';
import type { StartOptions } from './pages/training-faults.ts';

let server: ViteDevServer;
let baseUrl = '';
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

beforeAll(async () => {
  ({ server, baseUrl } = await startTestPageServer());
});
afterAll(async () => {
  await server?.close();
});

/** Chromium as its own process group on a persistent profile, connected over CDP (so it can be SIGKILLed). */
async function launch(profile: string): Promise<{ proc: ChildProcess; browser: Browser; page: Page }> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  if (!env.VK_ICD_FILENAMES && fs.existsSync(SWIFTSHADER_ICD)) env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const proc = spawn(
    CHROMIUM,
    ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--no-first-run', '--no-default-browser-check', 'about:blank'],
    { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const ws = await new Promise<string>((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`Chromium did not start: ${err}`)), 60_000);
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    proc.on('exit', (c) => reject(new Error(`Chromium exited (${c}): ${err}`)));
  });
  const browser = await chromium.connectOverCDP(ws);
  const context = browser.contexts()[0];
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${baseUrl}e2e/pages/training-faults.html`);
  await page.waitForFunction(() => window.__tf?.ready === true, undefined, { timeout: 120_000, polling: 200 });
  return { proc, browser, page };
}

function hardKill(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    process.kill(-proc.pid!, 'SIGKILL');
  });
}

const start = (page: Page, o: StartOptions) => page.evaluate((opts) => window.__tf!.start(opts), o);
const events = (page: Page) => page.evaluate(() => window.__tf!.events.map((e) => JSON.parse(JSON.stringify(e))));
const polyLr = (e: number, n: number) => 0.01 * (1 - e / n) ** 0.9;

it('a destroyed GPU device mid-epoch stops the run cleanly; resume continues from checkpoint_latest on WebGPU and finishes', async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-tf-gpu-'));
  const { proc, browser, page } = await launch(profile);
  try {
    // the storage the worker keeps runs in: OPFS, and the IndexedDB fallback, pass the StorageRoot checks
    const conf = await page.evaluate(() => window.__tf!.storageConformance());
    expect(conf).toEqual({ ok: true, value: { opfs: [], indexedDb: [] } });
    // enough epochs that the pause (requested once epoch 1 is seen; events reach the page late) lands before
    // the run ends even on an idle machine, where 3 tiny iterations take well under a second
    const N = 12;
    const info = await start(page, { runId: 'gpu-loss', backend: 'webgpu', numEpochs: N, iterations: 3 });
    if (!info.ok) throw new Error(info.error);
    expect(info.value.backendKind).toBe('webgpu');
    // once epoch 1 is under way (checkpoint_latest of epoch 0 is written before it starts): pause between
    // iterations (events reach the page with some delay, so the pause may land in a later epoch), destroy the
    // device, resume: the next GPU call fails
    await page.waitForFunction(() => window.__tf!.events.some((e) => e.type === 'iteration' && e.epoch === 1), undefined, { timeout: 120_000, polling: 50 });
    await page.evaluate(() => window.__tf!.pause());
    await page.waitForFunction(() => window.__tf!.events.some((e) => e.type === 'state' && e.state !== 'running'), undefined, { timeout: 60_000, polling: 50 });
    const paused = await page.evaluate(() => window.__tf!.status());
    expect(paused.state, `training should pause before it ends: ${JSON.stringify((await events(page)).map((x) => x.type + ('epoch' in x ? x.epoch : '')))}`).toBe('paused');
    const lostIn = paused.epoch;
    expect(lostIn).toBeGreaterThanOrEqual(1);
    expect(await page.evaluate(() => window.__tf!.destroyDevice())).toBe(true);
    await page.evaluate(() => window.__tf!.resume());
    const r = await page.evaluate(() => window.__tf!.wait());
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.name).toMatch(/^SegStudioError:gpu-device-lost:/);
    expect(r.error).toMatch(new RegExp(`GPU device was lost .*during epoch ${lostIn}.*resume`));
    const ev = await events(page);
    const err = ev.find((e) => e.type === 'error');
    expect(err).toMatchObject({ code: 'gpu-device-lost', epoch: lostIn, resumeFrom: 'latest' });
    expect(ev.filter((e) => e.type === 'state').at(-1)).toMatchObject({ state: 'failed' });
    expect(ev.find((e) => e.type === 'run-status' && e.status === 'failed')).toBeTruthy();
    const runs = await page.evaluate(() => window.__tf!.listRuns());
    expect(runs[0]).toMatchObject({ runId: 'gpu-loss', status: 'failed', epoch: lostIn });
    expect(runs[0].checkpoints).toContain('latest');
    expect(runs[0].error).toMatch(/^gpu-device-lost: /);
    // resume on a new WebGPU device (start asks for one)
    const again = await start(page, { runId: 'gpu-loss', backend: 'webgpu', numEpochs: N, iterations: 3, resume: true });
    if (!again.ok) throw new Error(again.error);
    expect(again.value).toMatchObject({ resumedFrom: 'latest', epoch: lostIn, backendKind: 'webgpu' });
    const done = await page.evaluate(() => window.__tf!.wait());
    if (!done.ok) throw new Error(done.error);
    expect(done.value.status).toBe('finished');
    expect(done.value.log.lrs.map((x) => +x.toFixed(8))).toEqual(Array.from({ length: N }, (_, e) => +polyLr(e, N).toFixed(8)));
    const after = (await page.evaluate(() => window.__tf!.listRuns()))[0];
    expect(after).toMatchObject({ status: 'validated', epoch: N, checkpoints: ['final', 'best'] });
    expect(after.validation!.metric_per_case.length).toBe(1);
    process.stderr.write(`training faults (GPU loss): failed at epoch ${lostIn} (${err.message.slice(0, 80)}…), resumed from latest, finished ${N} epochs\n`);
  } finally {
    await browser.close().catch(() => {});
    await hardKill(proc);
    fs.rmSync(profile, { recursive: true, force: true });
  }
}, 180_000);

it('a browser killed (SIGKILL) mid-epoch resumes after relaunch from OPFS, losing at most the epoch in progress', async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-tf-kill-'));
  const N = 5;
  const opts: StartOptions = { runId: 'killed', backend: 'cpu-reference', numEpochs: N, iterations: 4 };
  try {
    let { proc, page } = await launch(profile);
    const info = await start(page, opts);
    if (!info.ok) throw new Error(info.error);
    // kill inside epoch 2 (after its second iteration)
    await page.waitForFunction(() => window.__tf!.events.some((e) => e.type === 'iteration' && e.phase === 'train' && e.epoch === 2 && e.iteration >= 1), undefined, {
      timeout: 120_000,
      polling: 20,
    });
    const before = await events(page);
    const killedIn = Math.max(...before.filter((e) => e.type === 'iteration').map((e) => e.epoch));
    const lossesBefore = before.filter((e) => e.type === 'epoch-end').map((e) => e.metrics.trainLoss);
    await hardKill(proc);

    ({ proc, page } = await launch(profile));
    try {
      const runs = await page.evaluate(() => window.__tf!.listRuns());
      expect(runs.map((r) => [r.runId, r.status])).toEqual([['killed', 'interrupted']]); // run.json said running; nothing runs it now
      const resumed = await start(page, { ...opts, resume: true });
      if (!resumed.ok) throw new Error(resumed.error);
      expect(resumed.value.resumedFrom).toBe('latest');
      // the page sees the worker's events with a delay, so the worker may already be past `killedIn`: the
      // resumed epoch is at least the epoch seen in progress (nothing before it lost), and at most the epochs
      expect(resumed.value.epoch).toBeGreaterThanOrEqual(killedIn - 1);
      expect(resumed.value.epoch).toBeGreaterThanOrEqual(killedIn);
      expect(resumed.value.epoch).toBeLessThan(N);
      const done = await page.evaluate(() => window.__tf!.wait());
      if (!done.ok) throw new Error(done.error);
      expect(done.value.status).toBe('finished');
      const log = done.value.log;
      // continuous: every epoch exactly once, the completed epochs before the kill unchanged
      expect(log.train_losses.length).toBe(N);
      expect(log.lrs.map((x) => +x.toFixed(8))).toEqual([0, 1, 2, 3, 4].map((e) => +polyLr(e, N).toFixed(8)));
      expect(lossesBefore.length).toBeLessThanOrEqual(resumed.value.epoch);
      expect(log.train_losses.slice(0, lossesBefore.length)).toEqual(lossesBefore);
      for (let i = 1; i < N; i++) expect(log.epoch_start_timestamps[i]).toBeGreaterThan(log.epoch_start_timestamps[i - 1]);
      const after = (await page.evaluate(() => window.__tf!.listRuns()))[0];
      expect(after).toMatchObject({ status: 'validated', epoch: N });
      process.stderr.write(`training faults (kill): killed in epoch ${killedIn}, resumed at epoch ${resumed.value.epoch}, finished ${N} epochs\n`);
      // the page's cross-validation on OPFS: a second fold (the dataset comes from storage: same files), then
      // find-best over the stored runs and the winning bundle with postprocessing.json; deleteRun
      const f1 = await start(page, { runId: 'fold1', backend: 'cpu-reference', numEpochs: 1, iterations: 2, fold: 1 });
      if (!f1.ok) throw new Error(f1.error);
      const d1 = await page.evaluate(() => window.__tf!.wait());
      if (!d1.ok) throw new Error(d1.error);
      const cv = await page.evaluate(() => window.__tf!.crossValidateAndExport());
      if (!cv.ok) throw new Error(cv.error);
      expect(cv.value).toMatchObject({
        best: 'nnUNetTrainer__nnUNetPlans__2d',
        candidates: ['nnUNetTrainer__nnUNetPlans__2d'],
        folds: [0, 1],
        perFold: [0, 1],
        files: ['nnUNetTrainer__nnUNetPlans__2d.zip'],
        bundleFolds: [0, 1],
        hasPostprocessing: true,
      });
      expect(cv.value.table).toContain('Dice ball (1)');
      const left = await page.evaluate(() => window.__tf!.deleteRun('fold1'));
      expect(left).toEqual({ ok: true, value: ['killed'] });
    } finally {
      await hardKill(proc);
    }
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}, 180_000);

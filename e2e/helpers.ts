// Shared helpers for the end-to-end tests: launching Debian's Chromium, opening the app with a request
// log, dropping files onto the page like a user (DataTransfer + drop event), and reading the app's
// read-only state snapshot (window.__segstudio).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { AppState } from '../src/app/store.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const artifactsDir = path.join(repoRoot, 'e2e', 'artifacts');
export const CHROMIUM = process.env.SEGSTUDIO_CHROMIUM ?? '/usr/lib/chromium/chromium';
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  if (!env.VK_ICD_FILENAMES && fs.existsSync(SWIFTSHADER_ICD)) env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--enable-unsafe-webgpu', ...extraArgs], env });
}

export interface AppPage {
  context: BrowserContext;
  page: Page;
  /** every URL requested by the page, its workers and its service worker */
  requests: string[];
  /** console errors and uncaught page errors */
  problems: string[];
}

export async function openApp(browser: Browser, baseUrl: string, opts: { serviceWorkers?: 'allow' | 'block' } = {}): Promise<AppPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true, serviceWorkers: opts.serviceWorkers ?? 'block' });
  const requests: string[] = [];
  const problems: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.goto(baseUrl);
  await waitForState(page, (s) => Boolean(s.image?.isDemo && s.model && s.runtime), 'the demo volume and model');
  return { context, page, requests, problems };
}

export async function appState(page: Page): Promise<AppState> {
  return page.evaluate(() => (window as unknown as { __segstudio: { state(): AppState } }).__segstudio.state());
}

export async function waitForState(page: Page, pred: (s: AppState) => boolean, what: string, timeoutMs = 180_000): Promise<AppState> {
  const t0 = Date.now();
  for (;;) {
    const s = await appState(page).catch(() => null);
    if (s && pred(s)) return s;
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`timed out waiting for ${what}; last state: ${JSON.stringify(s && { job: s.job, errors: s.errors, image: s.image?.name, model: s.model?.name })}`);
    }
    await page.waitForTimeout(100);
  }
}

/** The segmentation as shown by the viewer (NiiVue's drawing layer), in file voxel order. */
export async function overlayLabels(page: Page): Promise<Uint8Array> {
  const arr = await page.evaluate(() => (window as unknown as { __segstudio: { overlayLabels(): number[] | null } }).__segstudio.overlayLabels());
  if (!arr) throw new Error('no overlay in the viewer');
  return Uint8Array.from(arr);
}

export interface DropFile {
  name: string;
  bytes: Uint8Array;
  type?: string;
}

/** Drops files onto the page the way a browser does (dragenter → dragover → drop with a DataTransfer). */
export async function dropFiles(page: Page, files: DropFile[]): Promise<void> {
  const payload = files.map((f) => ({ name: f.name, type: f.type ?? 'application/octet-stream', b64: Buffer.from(f.bytes).toString('base64') }));
  await page.evaluate((items) => {
    const dt = new DataTransfer();
    for (const it of items) {
      const bin = atob(it.b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      dt.items.add(new File([bytes], it.name, { type: it.type }));
    }
    const target = document.querySelector('[data-testid=viewer-canvas]') ?? document.body;
    for (const type of ['dragenter', 'dragover', 'drop']) {
      target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, payload);
}

/** Chooses the device, presses Segment and waits for the new result (or an error). */
export async function segment(page: Page, device: 'auto' | 'webgpu' | 'wasm', opts: { tta?: boolean } = {}): Promise<AppState> {
  const before = await appState(page);
  await page.selectOption('[data-testid=opt-device]', device);
  const tta = page.locator('[data-testid=opt-tta]');
  if (opts.tta !== undefined && (await tta.isChecked()) !== opts.tta) await tta.click();
  await page.click('[data-testid=segment]');
  const prevVersion = before.result?.version ?? -1;
  const prevErrors = before.errors.length;
  return waitForState(
    page,
    (s) => s.job.state === 'idle' && ((s.result !== null && s.result.version !== prevVersion) || s.errors.length > prevErrors),
    `segmentation on ${device}`,
  );
}

export function histogram(labels: ArrayLike<number>): Record<number, number> {
  const h: Record<number, number> = {};
  for (let i = 0; i < labels.length; i++) h[labels[i]] = (h[labels[i]] ?? 0) + 1;
  return h;
}

export function agreement(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

export function saveArtifact(name: string, bytes: Uint8Array | Buffer): string {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const p = path.join(artifactsDir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

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

// ---- Egress: "no request leaves the page's origin, ever" (issue 7) -------------------------------------
//
// Every e2e test that drives the app can assert it. With openApp() the recorder is already on:
//
//   const app = await openApp(browser, baseUrl);
//   … load, drop, segment, train, export, DICOM import …
//   expectNoEgress(app.egress, 'DICOM import');     // throws listing every off-origin request or CSP-blocked attempt
//
// With your own context: `const egress = recordEgress(context, origin)` right after browser.newContext(),
// before the first page opens. It sees the page, its dedicated workers (inference, training, DICOM), its
// service worker and WebSockets; requests the CSP blocked never reach the network, so it also collects the
// browser's CSP violation reports ("Refused to connect …") from the page and worker consoles as `blocked`.

export interface EgressRequest {
  url: string;
  method: string;
  resourceType: string;
  /** 'service-worker' for requests made by the service worker, else 'page' (page and dedicated workers) */
  from: 'page' | 'service-worker';
}

export interface EgressLog {
  origin: string;
  requests: EgressRequest[];
  websockets: string[];
  /** CSP violations seen in console messages: attempts the browser refused */
  blocked: string[];
  /** response headers of every document and worker script (lower-case names), to check COOP/COEP/CSP */
  documents: { url: string; resourceType: string; headers: Record<string, string> }[];
  /** requests and WebSockets whose URL is not on `origin` (blob: and data: URLs are local) */
  offOrigin(): string[];
}

export function isLocalUrl(url: string, origin: string): boolean {
  if (url.startsWith('blob:') || url.startsWith('data:')) return true;
  try {
    return new URL(url).origin === origin;
  } catch {
    return false;
  }
}

const CSP_VIOLATION = /Content Security Policy|Refused to (connect|load|execute|frame|create)/i;

function watchPageConsole(page: Page, log: EgressLog): void {
  page.on('console', (m) => {
    if (CSP_VIOLATION.test(m.text())) log.blocked.push(m.text());
  });
  page.on('websocket', (ws) => log.websockets.push(ws.url()));
  page.on('worker', (w) => w.on('console', (m) => CSP_VIOLATION.test(m.text()) && log.blocked.push(`worker ${w.url()}: ${m.text()}`)));
}

/** Starts recording every request of `context` (its pages, their workers, the service worker). */
export function recordEgress(context: BrowserContext, origin: string): EgressLog {
  const log: EgressLog = {
    origin,
    requests: [],
    websockets: [],
    blocked: [],
    documents: [],
    offOrigin: () => [...log.requests.map((r) => r.url), ...log.websockets].filter((u) => !isLocalUrl(u, origin)),
  };
  context.on('request', (r) =>
    log.requests.push({ url: r.url(), method: r.method(), resourceType: r.resourceType(), from: r.serviceWorker() ? 'service-worker' : 'page' }),
  );
  context.on('response', (r) => {
    const t = r.request().resourceType();
    if (t === 'document' || (t === 'script' && /worker/i.test(r.url()))) log.documents.push({ url: r.url(), resourceType: t, headers: r.headers() });
  });
  for (const p of context.pages()) watchPageConsole(p, log);
  context.on('page', (p) => watchPageConsole(p, log));
  return log;
}

/** Throws unless every request so far stayed on the origin and the CSP refused nothing. */
export function expectNoEgress(log: EgressLog, during: string): void {
  const off = log.offOrigin();
  if (off.length > 0 || log.blocked.length > 0) {
    throw new Error(`egress during ${during}: ${off.length} request(s) off ${log.origin}: ${off.slice(0, 10).join(', ')}; ${log.blocked.length} CSP-blocked attempt(s): ${log.blocked.slice(0, 5).join(' | ')}`);
  }
  if (log.requests.length === 0) throw new Error(`egress during ${during}: no request recorded at all — is the recorder attached to the right context?`);
}

export interface AppPage {
  context: BrowserContext;
  page: Page;
  /** every URL requested by the page, its workers and its service worker */
  requests: string[];
  /** the same requests with details, WebSockets and CSP-blocked attempts (see expectNoEgress) */
  egress: EgressLog;
  /** console errors and uncaught page errors */
  problems: string[];
}

export async function openApp(browser: Browser, baseUrl: string, opts: { serviceWorkers?: 'allow' | 'block'; query?: string } = {}): Promise<AppPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true, serviceWorkers: opts.serviceWorkers ?? 'block' });
  const requests: string[] = [];
  const problems: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  const egress = recordEgress(context, new URL(baseUrl).origin);
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.goto(opts.query ? `${baseUrl}?${opts.query}` : baseUrl);
  await waitForState(page, (s) => Boolean(s.image?.isDemo && s.model && s.runtime), 'the demo volume and model');
  return { context, page, requests, egress, problems };
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

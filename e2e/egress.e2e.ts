// Privacy (issue 7): no request leaves the page's origin while the app loads (service worker on), a NIfTI is
// dropped, segmented on WASM and on WebGPU, and the segmentation and probabilities are downloaded. The
// recorder (e2e/helpers.ts recordEgress) sees the page, its workers and the service worker; the served
// headers carry COOP/COEP and a CSP with connect-src 'self', and the browser enforces it in the page and in
// the inference worker.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { parseCsp, securityHeaders } from '../src/app/securityHeaders.ts';
import { dropFiles, expectNoEgress, launchChromium, openApp, segment, waitForState, type AppPage } from './helpers.ts';
import { smallNifti } from './inputs.ts';

const baseUrl = inject('baseUrl');
const origin = new URL(baseUrl).origin;
// another origin (different host), reachable in principle: only the CSP stops a request to it
const OUTSIDE = 'http://127.0.0.2:9/segstudio-egress-probe';
let browser: Browser;
let app: AppPage;

beforeAll(async () => {
  browser = await launchChromium();
  app = await openApp(browser, baseUrl, { serviceWorkers: 'allow' });
});

afterAll(async () => {
  await browser?.close();
});

describe('no egress', () => {
  it('the page, its worker scripts and the service worker are served with COOP/COEP/CORP and the CSP', async () => {
    const doc = app.egress.documents.find((d) => d.resourceType === 'document' && d.url.startsWith(origin));
    expect(doc).toBeDefined();
    for (const [k, v] of Object.entries(securityHeaders)) expect(doc!.headers[k.toLowerCase()]).toBe(v);
    const csp = parseCsp(doc!.headers['content-security-policy']);
    expect(csp.get('connect-src')?.[0]).toBe("'self'");
    // dedicated workers get their own policy from their script's response
    const workerScripts = app.egress.documents.filter((d) => d.resourceType === 'script');
    expect(workerScripts.some((d) => /inference\.worker/.test(d.url))).toBe(true);
    for (const w of workerScripts) expect(w.headers['content-security-policy']).toBe(securityHeaders['Content-Security-Policy']);
    expect(await app.page.evaluate(() => crossOriginIsolated)).toBe(true);
  });

  it('load, drop, segment on WASM and WebGPU, download: every request stays on the origin', async () => {
    const page = app.page;
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 60_000 });
    const nifti = smallNifti('egress_case.nii.gz', 5);
    await dropFiles(page, [{ name: nifti.name, bytes: nifti.bytes }]);
    await waitForState(page, (s) => s.image?.name === nifti.name && s.job.state === 'idle', 'the dropped NIfTI');
    await page.click('text=Keep probabilities');
    let s = await segment(page, 'wasm', { tta: false });
    expect(s.errors).toEqual([]);
    expect(s.result!.device).toBe('wasm');
    s = await segment(page, 'webgpu', { tta: false });
    expect(s.errors).toEqual([]);
    expect(s.result!.device).toBe('webgpu');
    for (const id of ['download-seg', 'download-probabilities']) {
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid=${id}]`)]);
      expect(await dl.failure()).toBeNull();
    }
    expectNoEgress(app.egress, 'load, drop, WASM + WebGPU segmentation and downloads');
    // the recorder does see worker and service-worker traffic (else "no egress" would prove nothing)
    const urls = app.egress.requests.map((r) => r.url);
    expect(urls.some((u) => u.endsWith('/ort/ort.wasm.min.mjs'))).toBe(true); // imported by the inference worker only
    expect(urls.some((u) => u.endsWith('/ort/ort.webgpu.min.mjs'))).toBe(true);
    expect(urls.some((u) => u.endsWith('/models/demo/manifest.json'))).toBe(true); // fetched by the inference worker
    expect(app.egress.requests.some((r) => r.from === 'service-worker' && r.url.endsWith('/precache.json'))).toBe(true);
    expect(app.egress.websockets).toEqual([]);
  });

  it('the CSP refuses an off-origin fetch from the page and from the inference worker, and no request goes out', async () => {
    const page = app.page;
    const before = app.egress.requests.length;
    const fromPage = await page.evaluate(async (url) => {
      const violations: string[] = [];
      document.addEventListener('securitypolicyviolation', (e) => violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
      const r = await fetch(url).then(
        () => 'fetched',
        (e: Error) => e.name,
      );
      await new Promise((res) => setTimeout(res, 50));
      return { r, violations };
    }, OUTSIDE);
    expect(fromPage.r).toBe('TypeError');
    expect(fromPage.violations).toEqual([`connect-src ${OUTSIDE}`]);
    const worker = page.workers().find((w) => /inference\.worker/.test(w.url()));
    expect(worker).toBeDefined();
    const fromWorker = await worker!.evaluate(async (url) => fetch(url).then(() => 'fetched', (e: Error) => e.name), OUTSIDE);
    expect(fromWorker).toBe('TypeError');
    await page.waitForTimeout(200);
    expect(app.egress.requests.slice(before).map((r) => r.url)).toEqual([]);
    expect(app.egress.offOrigin()).toEqual([]);
    // both refusals were reported by the browser (and so an unexpected attempt would fail expectNoEgress)
    expect(app.egress.blocked.filter((b) => b.includes('127.0.0.2')).length).toBeGreaterThanOrEqual(2);
  });
});

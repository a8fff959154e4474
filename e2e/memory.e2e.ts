// Large scans in the page (issue 7): the inference worker estimates the prediction's peak memory before it
// starts and refuses a scan over its budget with a clear message (estimate, budget, suggestion) instead of
// crashing the tab. The budget normally comes from navigator.deviceMemory; the `?testhooks=1` hook sets an
// explicit one (a real budget, applied by the real predictor in the real worker; nothing is mocked).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openApp, segment, type AppPage } from './helpers.ts';

const baseUrl = inject('baseUrl');
let browser: Browser;
let app: AppPage;

function setBudget(page: Page, bytes: number | null): Promise<void> {
  return page.evaluate(`window.__segstudioTest.setMemoryBudget(${bytes === null ? 'null' : bytes})`) as Promise<void>;
}

beforeAll(async () => {
  browser = await launchChromium();
  app = await openApp(browser, baseUrl, { query: 'testhooks=1' });
});

afterAll(async () => {
  await browser?.close();
});

describe('memory budget in the page', () => {
  it('refuses a scan over the budget with the estimate and a suggestion, keeps the image, and segments within budget', async () => {
    const page = app.page;
    await setBudget(page, 64 * 1024);
    const refused = await segment(page, 'wasm');
    expect(refused.result).toBeNull();
    expect(refused.errors.length).toBe(1);
    const err = refused.errors[0];
    expect(err.code).toBe('memory-budget');
    expect(err.message).toMatch(/not started: this scan needs about .* at its peak .* but the memory budget is 64 KB \(set to 64 KB\)/);
    expect(err.message).toContain('Try:');
    expect(err.message).toContain('segstudio CLI');
    expect(refused.image?.isDemo).toBe(true);
    await page.click('[data-testid=error-banner] >> button[aria-label=Dismiss]');

    // the device's own budget (navigator.deviceMemory / 2, or 2 GB) fits the demo
    await setBudget(page, null);
    const ok = await segment(page, 'wasm');
    expect(ok.errors).toEqual([]);
    expect(ok.result).not.toBeNull();
    expect(app.problems).toEqual([]);
  }, 240_000);
});

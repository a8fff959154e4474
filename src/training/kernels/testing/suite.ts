// The whole backend comparison suite as one call, for harnesses without vitest (e.g. a Chromium page that
// imports this module and runs it on the page's WebGPU backend against the CPU reference).
import type { Backend } from '../../engine/backend.ts';
import { compareBackends, compareLoss, compareOptimizer, lossCases, opCases } from './cases.ts';
import { compareNetwork } from './network.ts';

export interface SuiteResult {
  name: string;
  ok: boolean;
  error?: string;
  ms: number;
}

/** Runs every kernel, loss, optimizer (and optionally whole-network) comparison of `test` against `ref`. */
export async function runBackendSuite(test: Backend, ref: Backend, opts: { network?: boolean } = {}): Promise<SuiteResult[]> {
  const jobs: Array<[string, () => Promise<unknown>]> = [
    ...opCases.map((c) => [c.name, () => compareBackends(test, ref, c)] as [string, () => Promise<unknown>]),
    ...lossCases.map((c) => [c.name, () => compareLoss(test, ref, c)] as [string, () => Promise<unknown>]),
    ['SGD step and squared norm', () => compareOptimizer(test, ref)],
  ];
  if (opts.network) jobs.push(['tiny PlainConvUNet step', () => compareNetwork(test, ref)]);
  const out: SuiteResult[] = [];
  for (const [name, fn] of jobs) {
    const t0 = performance.now();
    try {
      await fn();
      out.push({ name, ok: true, ms: performance.now() - t0 });
    } catch (e) {
      out.push({ name, ok: false, error: e instanceof Error ? e.message : String(e), ms: performance.now() - t0 });
    }
  }
  return out;
}

// Shared helpers for benchmarks: medians, timing, the Python reference (Debian's /usr/bin/python3).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs fn `repeats` times (after `warmup` runs) and returns the per-run milliseconds. */
export async function timeRuns(fn: () => unknown | Promise<unknown>, repeats = 3, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return ms;
}

export const PYTHON = '/usr/bin/python3';

/** True when Debian's python3 has all the given modules (the side-by-side references). */
export function pythonHas(...modules: string[]): boolean {
  if (!fs.existsSync(PYTHON)) return false;
  const r = spawnSync(PYTHON, ['-c', modules.map((m) => `import ${m}`).join('; ')], { encoding: 'utf8' });
  return r.status === 0;
}

/** Runs a Python script (string) and parses the JSON it prints last on stdout. */
export function runPythonJson(script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Record<string, unknown> {
  const r = spawnSync(PYTHON, ['-c', script, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(`python reference failed: ${r.stderr.slice(-2000)}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

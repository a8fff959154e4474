// Where the real public data lives (../shared/data beside the repo, or $SEGSTUDIO_SHARED_DATA).
// Tests that need it use `describeWithData`, which prints a clear "skipped" line when it is missing
// instead of failing silently.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const sharedDataDir = process.env.SEGSTUDIO_SHARED_DATA ?? path.resolve(repoRoot, '../shared/data');
export const hasSharedData = fs.existsSync(path.join(sharedDataDir, 'README.md'));

export function dataPath(...parts: string[]): string {
  return path.join(sharedDataDir, ...parts);
}

export function describeWithData(name: string, fn: () => void): void {
  if (!hasSharedData) {
    // The body is not even collected: suites read their data at collection time.
    console.log(`skipped: ../shared/data missing (${name})`);
    describe.runIf(false)(name, () => {});
    return;
  }
  describe(name, fn);
}

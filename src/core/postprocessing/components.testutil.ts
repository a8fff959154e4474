// Test helpers (not a test file): the recorded scipy.ndimage.label fixture and a checker.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { repoRoot } from '../../../test/sharedData.ts';
import { labelComponents, type Connectivity } from './components.ts';

export interface Rec {
  count: number;
  sizes: number[];
  sha256: string;
}
export interface RandomCase {
  name: string;
  shape: number[];
  bits: string;
  foreground: number;
  full: Rec;
  face: Rec;
}
export interface ScipyLabelFixture {
  random: RandomCase[];
  real: { file: string; shape: number[]; masks: Record<string, { foreground: number; full: Rec; face: Rec }> }[];
}

export const scipyFixture: ScipyLabelFixture = JSON.parse(
  fs.readFileSync(path.join(repoRoot, 'test/fixtures/postprocessing/scipy_label.json'), 'utf8'),
);

export function unpackBits(b64: string, n: number): Uint8Array {
  const packed = Buffer.from(b64, 'base64');
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (packed[i >> 3] >> (7 - (i & 7))) & 1;
  return out;
}

export function checkAgainst(mask: Uint8Array, shape: number[], conn: Connectivity, rec: Rec): void {
  const { labels, count, sizes } = labelComponents(mask, shape, conn);
  expect(count).toBe(rec.count);
  expect(Array.from(sizes.slice(1))).toEqual(rec.sizes);
  const bytes = new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength);
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(rec.sha256);
}


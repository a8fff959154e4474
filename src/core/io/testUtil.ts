// Test helpers for the io tests (Node only; not exported from the io index).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../../test/sharedData.ts';

export const fixtureDir = path.join(repoRoot, 'test', 'fixtures', 'nibabel');

/** One file as nibabel read it (scripts/fixtures/nibabel_nifti.py). Non-finite numbers are the strings 'nan'/'inf'/'-inf'. */
export interface NibabelReading {
  sizeof_hdr: number;
  magic: string;
  endianness: '<' | '>';
  datatype_code: number;
  bitpix: number;
  dim: number[];
  pixdim: JsonNum[];
  vox_offset: JsonNum;
  scl_slope_raw: JsonNum;
  scl_inter_raw: JsonNum;
  slope: JsonNum | null;
  inter: JsonNum | null;
  qform_code: number;
  sform_code: number;
  extensions: { code: number; size: number }[];
  shape: number[];
  dtype: string;
  raw_dtype: string;
  data_offset: number;
  affine: JsonNum[][];
  zooms: JsonNum[];
  axcodes: string;
  sum?: number;
  sumsq?: number;
  min?: JsonNum | null;
  max?: JsonNum | null;
  nonfinite?: number;
  sha256_f32?: string;
  fields?: Record<string, { sum: number; sha256_f32: string }>;
  note?: string;
}

export type JsonNum = number | 'nan' | 'inf' | '-inf';

export function num(v: JsonNum): number {
  if (v === 'nan') return NaN;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  return v;
}

export function loadReadings(file: string): Record<string, NibabelReading> {
  return JSON.parse(fs.readFileSync(path.join(fixtureDir, file), 'utf8')).files;
}

export function sha256(a: ArrayBufferView): string {
  return createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

/**
 * Sum and sum of squares of the finite values of a * slope + inter, in float64 with Neumaier compensation
 * (the fixtures hold exactly rounded sums, so the comparison does not depend on summation order).
 */
export function sums(a: ArrayLike<number>, slope = 1, inter = 0): { sum: number; sumsq: number; nonfinite: number } {
  let sum = 0;
  let cs = 0;
  let sq = 0;
  let cq = 0;
  let nonfinite = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) {
    const v = a[i] * slope + inter;
    if (!Number.isFinite(v)) {
      nonfinite++;
      continue;
    }
    let t = sum + v;
    cs += Math.abs(sum) >= Math.abs(v) ? sum - t + v : v - t + sum;
    sum = t;
    const v2 = v * v;
    t = sq + v2;
    cq += Math.abs(sq) >= Math.abs(v2) ? sq - t + v2 : v2 - t + sq;
    sq = t;
  }
  return { sum: sum + cs, sumsq: sq + cq, nonfinite };
}

export function readBytes(p: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(p));
}

/** numpy name of the datatype nibabel reports ('int64' etc.); RGB24 is a structured dtype there. */
export function expectedDatatype(r: NibabelReading): string {
  return r.datatype_code === 128 ? 'rgb24' : r.dtype;
}

export function relClose(a: number, b: number, rel: number): boolean {
  if (a === b) return true;
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-30);
}

/** Byte-wise equality of two typed arrays (fast for 16 M-voxel volumes, unlike deep equality). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const x = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const y = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return x.equals(y);
}

// The DICOM writer against pydicom: scripts/fixtures/pydicom_dicom.py computed each case's geometry with numpy
// (RAS → LPS, rows last-j-first), read our writer's files with pydicom, checked they agree, and recorded what
// pydicom read. Here the same cases are written again and read back with the small header reader.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../../test/sharedData.ts';
import { isSegStudioError } from '../../errors.ts';
import { formatDS, makeUid, writeDicomSeries } from './writer.ts';
import { getNumber, getNumbers, getString, inspectDicom, parseDicomHeader, tag } from './reader.ts';
import { mulberry32 } from '../../util/mulberry32.ts';

interface FixtureSlice {
  file: string;
  SOPClassUID: string;
  Modality: string;
  SeriesDescription: string;
  InstanceNumber: number;
  Rows: number;
  Columns: number;
  BitsAllocated: number;
  PixelRepresentation: number;
  ImagePositionPatient: number[];
  ImageOrientationPatient: number[];
  PixelSpacing: number[];
  SliceThickness: number;
  SpacingBetweenSlices: number;
  RescaleSlope: number;
  RescaleIntercept: number;
  SeriesInstanceUID: string;
  StudyInstanceUID: string;
  pixels: number[];
}
interface FixtureCase {
  case: { name: string; shape: [number, number, number]; affine: number[][]; a: number; b: number; modality: 'MR' | 'CT' };
  slices: FixtureSlice[];
}
const fixture = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/dicom/pydicom_readback.json'), 'utf8')) as { cases: FixtureCase[] };

function writeCase(c: FixtureCase['case']) {
  const n = c.shape[0] * c.shape[1] * c.shape[2];
  const data = Float64Array.from({ length: n }, (_, i) => c.a * i + c.b);
  return writeDicomSeries({ data, shape: c.shape, affine: c.affine }, { modality: c.modality, seriesDescription: c.name });
}

describe('writeDicomSeries agrees with pydicom', () => {
  for (const fc of fixture.cases) {
    it(`${fc.case.name}: every tag pydicom read, and the rescaled pixels`, () => {
      const { files } = writeCase(fc.case);
      expect(files.map((f) => f.name)).toEqual(fc.slices.map((s) => s.file));
      files.forEach((f, k) => {
        const want = fc.slices[k];
        const h = parseDicomHeader(f.bytes);
        expect(h.transferSyntax).toBe('1.2.840.10008.1.2.1');
        expect(getString(h, tag(0x0008, 0x0016))).toBe(want.SOPClassUID);
        expect(getString(h, tag(0x0008, 0x0060))).toBe(want.Modality);
        expect(getString(h, tag(0x0008, 0x103e))).toBe(want.SeriesDescription);
        expect(getString(h, tag(0x0020, 0x000e))).toBe(want.SeriesInstanceUID);
        expect(getString(h, tag(0x0020, 0x000d))).toBe(want.StudyInstanceUID);
        expect(getNumber(h, tag(0x0020, 0x0013))).toBe(want.InstanceNumber);
        expect(getNumber(h, tag(0x0028, 0x0010))).toBe(want.Rows);
        expect(getNumber(h, tag(0x0028, 0x0011))).toBe(want.Columns);
        expect(getNumber(h, tag(0x0028, 0x0100))).toBe(want.BitsAllocated);
        expect(getNumber(h, tag(0x0028, 0x0103))).toBe(want.PixelRepresentation);
        const close = (a: number[] | undefined, b: number[]) => {
          expect(a).toHaveLength(b.length);
          a!.forEach((v, i) => expect(v).toBeCloseTo(b[i], 12));
        };
        close(getNumbers(h, tag(0x0020, 0x0032)), want.ImagePositionPatient);
        close(getNumbers(h, tag(0x0020, 0x0037)), want.ImageOrientationPatient);
        close(getNumbers(h, tag(0x0028, 0x0030)), want.PixelSpacing);
        expect(getNumber(h, tag(0x0018, 0x0050))).toBeCloseTo(want.SliceThickness, 12);
        expect(getNumber(h, tag(0x0018, 0x0088))).toBeCloseTo(want.SpacingBetweenSlices, 12);
        const slope = getNumber(h, tag(0x0028, 0x1053))!;
        const inter = getNumber(h, tag(0x0028, 0x1052))!;
        expect(slope).toBe(want.RescaleSlope);
        expect(inter).toBe(want.RescaleIntercept);
        const n = want.Rows * want.Columns;
        expect(h.pixelDataLength).toBe(2 * n);
        const dv = new DataView(f.bytes.buffer, f.bytes.byteOffset + h.pixelDataOffset!, 2 * n);
        const px = Array.from({ length: n }, (_, i) => dv.getInt16(2 * i, true) * slope + inter);
        px.forEach((v, i) => expect(v).toBeCloseTo(want.pixels[i], 9));
      });
    });
  }
});

describe('DICOM encoding rules', () => {
  const c = fixture.cases[1].case;
  const { files } = writeCase(c);

  it('Part 10 layout: 128-byte zero preamble, DICM, group length, tags ascending, even value lengths', () => {
    const b = files[0].bytes;
    expect(b.subarray(0, 128).every((x) => x === 0)).toBe(true);
    expect(new TextDecoder().decode(b.subarray(128, 132))).toBe('DICM');
    const h = parseDicomHeader(b);
    const tags = [...h.elements.keys()];
    expect(tags).toEqual([...tags].sort((a, z) => a - z));
    for (const e of h.elements.values()) expect(e.length % 2).toBe(0);
    // (0002,0000) = byte length of the rest of the meta group
    const metaEnd = Math.max(...[...h.elements.values()].filter((e) => e.tag >>> 16 === 2).map((e) => e.offset + e.length));
    expect(getNumber(h, tag(0x0002, 0x0000))).toBe(metaEnd - (h.elements.get(tag(0x0002, 0x0000))!.offset + 4));
  });

  it('formatDS keeps 16 characters and the value', () => {
    for (const x of [Math.PI, -Math.PI * 1e-7, 1 / 3, -123456.789012345, 0.1 + 0.2, 1e20, -0]) {
      const s = formatDS(x);
      expect(s.length).toBeLessThanOrEqual(16);
      expect(Math.abs(Number(s) - x)).toBeLessThanOrEqual(Math.abs(x) * 1e-9);
    }
    expect(() => formatDS(Number.NaN)).toThrow(/NaN/);
  });

  it('UIDs: 2.25 decimal form, ≤ 64 characters, distinct', () => {
    const r = mulberry32(9);
    const uids = Array.from({ length: 50 }, () => makeUid(r));
    for (const u of uids) expect(u).toMatch(/^2\.25\.[1-9]\d{37}$/);
    expect(new Set(uids).size).toBe(50);
  });

  it('refuses what a classic series cannot hold, naming the problem', () => {
    const sheared = [
      [1, 0.3, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ];
    const run = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(isSegStudioError(e)).toBe(true);
        return (e as Error).message;
      }
      throw new Error('did not throw');
    };
    expect(run(() => writeDicomSeries({ data: new Float32Array(8), shape: [2, 2, 2], affine: sheared }))).toMatch(/sheared/);
    expect(run(() => writeDicomSeries({ data: new Float32Array(7), shape: [2, 2, 2], affine: c.affine }))).toMatch(/7 values/);
    expect(run(() => writeDicomSeries({ data: Float32Array.of(0, 1, 2, Number.NaN), shape: [1, 2, 2], affine: c.affine }))).toMatch(/voxel 3 is NaN/);
  });
});

describe('inspectDicom', () => {
  const { files } = writeCase(fixture.cases[0].case);
  it('accepts a written slice and reads its series facts', () => {
    const r = inspectDicom(files[0].bytes);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.info).toMatchObject({ modality: 'MR', seriesDescription: 'axial_mr', rows: 4, columns: 5, frames: 1, seriesNumber: 1 });
  });
  it('names non-DICOM, truncated and header-corrupt files', () => {
    expect(inspectDicom(new TextEncoder().encode('just some text, not an image at all'))).toEqual({ ok: false, isDicom: false, reason: 'not a DICOM file' });
    const b = files[0].bytes;
    const short = inspectDicom(b.subarray(0, b.length - 6));
    expect(short).toEqual({ ok: false, isDicom: true, reason: 'truncated: pixel data has 34 of 40 bytes' });
    const h = parseDicomHeader(b);
    const cut = inspectDicom(b.subarray(0, h.elements.get(tag(0x0020, 0x0037))!.offset + 3));
    expect(cut.ok).toBe(false);
    if (!cut.ok) expect(cut.reason).toMatch(/corrupt DICOM header \(file ends inside element \(0020,0037\)/);
  });
});

// SegStudio's NIfTI reader against nibabel's reading of the same files (fixtures recorded offline by
// scripts/fixtures/nibabel_nifti.py and scripts/fixtures/nibabel_synthetic.py), plus write/read round trips.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataPath, describeWithData } from '../../../test/sharedData.ts';
import { axisCodes, dataOffset } from './niftiHeader.ts';
import { countNonFinite, niftiSlopeInter, niftiToImage, readNifti, writeNifti, writeSegmentationNifti, type NiftiVolume } from './nifti.ts';
import {
  expectedDatatype,
  fixtureDir,
  loadReadings,
  num,
  readBytes,
  relClose,
  sameBytes,
  sha256,
  sums,
  type NibabelReading,
} from './testUtil.ts';

function compareWithNibabel(vol: NiftiVolume, r: NibabelReading, name: string): void {
  const h = vol.header;
  expect(h.version, name).toBe(r.sizeof_hdr === 348 ? 1 : 2);
  expect(h.littleEndian, name).toBe(r.endianness === '<');
  expect(h.magic, name).toBe(r.magic);
  expect(h.datatypeCode, name).toBe(r.datatype_code);
  expect(h.bitpix, name).toBe(r.bitpix);
  expect(h.dim, name).toEqual(r.dim);
  expect(h.pixdim.map((v) => Object.is(v, -0) ? 0 : v), name).toEqual(r.pixdim.map(num));
  expect(h.voxOffset, name).toBe(num(r.vox_offset));
  expect(dataOffset(h), name).toBe(r.data_offset);
  expect(h.sclSlope, name).toEqual(num(r.scl_slope_raw));
  expect(h.sclInter, name).toEqual(num(r.scl_inter_raw));
  expect(h.qformCode, name).toBe(r.qform_code);
  expect(h.sformCode, name).toBe(r.sform_code);
  expect(h.extensions.map((e) => ({ code: e.code, size: e.data.length + 8 })), name).toEqual(r.extensions);
  expect(vol.dims, name).toEqual(r.shape);
  expect(vol.datatype, name).toBe(expectedDatatype(r));
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      expect(Math.abs(vol.affine[i][j] - num(r.affine[i][j])), `${name} affine[${i}][${j}]`).toBeLessThan(1e-5);
    }
  }
  expect(axisCodes(vol.affine), `${name} axis codes`).toBe(r.axcodes);
  const img = niftiToImage(vol, name);
  const nSpatial = img.shape.slice(1).reduce((a, b) => a * b, 1);
  expect(img.shape.slice(1), name).toEqual([r.shape[2] ?? 1, r.shape[1] ?? 1, r.shape[0]]);
  if (r.fields) {
    // RGB24: three channels, R, G, B
    const names = Object.keys(r.fields);
    expect(img.shape[0]).toBe(3);
    names.forEach((f, c) => {
      const ch = img.data.subarray(c * nSpatial, (c + 1) * nSpatial);
      expect(sha256(ch), `${name} ${f}`).toBe(r.fields![f].sha256_f32);
      expect(sums(ch).sum).toBe(r.fields![f].sum);
    });
    return;
  }
  const extra = r.shape.slice(3).reduce((a, b) => a * b, 1);
  expect(img.shape[0], name).toBe(extra);
  // sums in float64 of the scaled values, as nibabel's get_fdata() (float64) gives them
  const [slope, inter] = niftiSlopeInter(h);
  const s = sums(vol.raw, slope, inter);
  expect(relClose(s.sum, r.sum!, 1e-6), `${name} sum ${s.sum} vs ${r.sum}`).toBe(true);
  expect(relClose(s.sumsq, r.sumsq!, 1e-6), `${name} sumsq ${s.sumsq} vs ${r.sumsq}`).toBe(true);
  expect(countNonFinite(img.data), name).toBe(r.nonfinite);
  expect(sha256(img.data), `${name} sha256 of float32 voxels`).toBe(r.sha256_f32);
  const zooms = r.zooms.map(num);
  if (r.shape.length >= 3) expect(img.properties.spacing, name).toEqual([zooms[2], zooms[1], zooms[0]].map(Math.abs));
  expect(img.properties.format).toBe('nifti');
  expect(img.properties.header).toBe(vol.header);
}

/**
 * Writes the volume back (same name, so same compression; volumes over 4 M voxels uncompressed to keep the suite
 * fast, the gzip path being covered by the others) and checks geometry and values survive exactly.
 */
function roundTrip(vol: NiftiVolume, name: string): void {
  const bytes = writeNifti(vol.header, vol.raw, { fileName: name, gzip: vol.raw.length > 4e6 ? false : undefined });
  const back = readNifti(bytes, name);
  const a = vol.header;
  const b = back.header;
  expect(b.littleEndian).toBe(true);
  for (const k of [
    'version', 'dim', 'pixdim', 'datatypeCode', 'bitpix', 'qformCode', 'sformCode', 'quaternB', 'quaternC',
    'quaternD', 'qoffsetX', 'qoffsetY', 'qoffsetZ', 'srowX', 'srowY', 'srowZ', 'xyztUnits', 'descrip',
    'intentCode', 'dimInfo', 'sliceCode', 'toffset',
  ] as const) {
    expect(b[k], `${name} ${k}`).toEqual(a[k]);
  }
  expect(b.extensions, name).toEqual(a.extensions);
  expect(back.affine, name).toEqual(vol.affine);
  expect(back.dims).toEqual(vol.dims);
  expect(back.datatype).toBe(vol.datatype);
  // values: stored values are kept, scaling is reset to identity unless the source had none
  expect(back.raw.constructor).toBe(vol.raw.constructor);
  expect(sameBytes(back.raw, vol.raw), `${name} stored values`).toBe(true);
  expect([b.sclSlope, b.sclInter]).toEqual([1, 0]);
}

describe('NIfTI reader vs nibabel: synthetic edge cases (test/fixtures/nibabel/synthetic)', () => {
  const readings = loadReadings('synthetic_readings.json');
  const names = Object.keys(readings);
  it('covers the edge cases the fixture script generates', () => {
    expect(names.length).toBeGreaterThanOrEqual(28);
    const byNote = names.map((n) => readings[n].note).join('|');
    for (const want of ['big-endian', 'NIfTI-2', 'qform only', 'RGB24', '4D', 'extensions', 'scl_slope 0', 'gzip members']) {
      expect(byNote).toContain(want);
    }
  });
  for (const name of names) {
    it(`${name}: ${readings[name].note}`, () => {
      const vol = readNifti(readBytes(path.join(fixtureDir, 'synthetic', name)), name);
      compareWithNibabel(vol, readings[name], name);
      if (vol.datatype !== 'int64') roundTrip(vol, name);
    });
  }
});

describeWithData('NIfTI reader vs nibabel: every real file in ../shared/data', () => {
  const readings = loadReadings('nifti_readings.json');
  const names = Object.keys(readings);
  it('fixture lists the real files', () => {
    expect(names.length).toBe(391);
  });
  // the big scans one test each, the many small hippocampus files in one test
  const big = names.filter((n) => !n.startsWith('Dataset004_Hippocampus/'));
  for (const name of big) {
    it(name, () => {
      const vol = readNifti(readBytes(dataPath(name)), name);
      compareWithNibabel(vol, readings[name], name);
      roundTrip(vol, name);
    });
  }
  it('Dataset004_Hippocampus: all images and labels', () => {
    const hip = names.filter((n) => n.startsWith('Dataset004_Hippocampus/'));
    expect(hip.length).toBe(381);
    hip.forEach((name, i) => {
      const vol = readNifti(readBytes(dataPath(name)), name);
      compareWithNibabel(vol, readings[name], name);
      if (i % 10 === 0) roundTrip(vol, name);
    });
  });
  it('segmentation written on a real label grid reads back with the same geometry and labels', () => {
    const name = 'scans/totalseg_example_ct_sm_seg_total.nii.gz';
    const vol = readNifti(readBytes(dataPath(name)), name);
    const img = niftiToImage(vol, name);
    const labels = Uint8Array.from(img.data);
    const out = writeSegmentationNifti({ data: labels, shape: img.shape.slice(1) }, img.properties, 'pred.nii.gz');
    const back = readNifti(out, 'pred.nii.gz');
    expect(back.datatype).toBe('uint8');
    expect(back.affine).toEqual(vol.affine);
    expect(back.header.extensions).toEqual(vol.header.extensions);
    expect(sameBytes(back.raw, vol.raw)).toBe(true);
  });
});

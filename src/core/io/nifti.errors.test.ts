// Malformed inputs: every class gives a SegStudioError naming the file and the specific problem, and absurd
// headers are refused before any voxel buffer is allocated.
import path from 'node:path';
import { gunzipSync, gzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { dataPath, describeWithData } from '../../../test/sharedData.ts';
import { isSegStudioError, SegStudioError } from '../errors.ts';
import { readImageFile } from './files.ts';
import { readNifti } from './nifti.ts';
import { fixtureDir, readBytes } from './testUtil.ts';

const FILE = 'case_0000.nii';
// 5x4x3 int16, little-endian NIfTI-1, vox_offset 352, qform 1 / sform 2 (written by nibabel)
const base = readBytes(path.join(fixtureDir, 'synthetic', 'dtype_int16.nii'));

function edit(fn: (dv: DataView, b: Uint8Array) => void, src: Uint8Array = base): Uint8Array {
  const b = src.slice();
  fn(new DataView(b.buffer), b);
  return b;
}

function failure(f: () => unknown): SegStudioError {
  try {
    f();
  } catch (e) {
    if (isSegStudioError(e)) return e as SegStudioError;
    throw new Error(`expected a SegStudioError, got ${String(e)}`);
  }
  throw new Error('expected a failure, the call succeeded');
}

function expectError(bytes: Uint8Array, code: string, pattern: RegExp, name = FILE): SegStudioError {
  const e = failure(() => readNifti(bytes, name));
  expect(e.code, e.message).toBe(code);
  expect(e.file).toBe(name);
  expect(e.message.startsWith(`${name}: `), e.message).toBe(true);
  expect(e.message, e.message).toMatch(pattern);
  return e;
}

describe('NIfTI malformed input', () => {
  it('the unmodified base file reads (so every failure below comes from the edit)', () => {
    expect(readNifti(base, FILE).dims).toEqual([5, 4, 3]);
  });
  it('bad magic', () => {
    expectError(edit((_, b) => (b[345] = 0x3f)), 'bad-magic', /bad NIfTI-1 magic 'n\?1'/);
  });
  it('not NIfTI at all (sizeof_hdr)', () => {
    expectError(edit((dv) => dv.setInt32(0, 1234, true)), 'bad-magic', /sizeof_hdr is 1234, expected 348 or 540/);
  });
  it('header/image pair magic is refused with a conversion hint', () => {
    expectError(edit((_, b) => b.set([0x6e, 0x69, 0x31], 344)), 'unsupported-format', /pair .*single \.nii/);
  });
  it('truncated header', () => {
    expectError(base.subarray(0, 200), 'truncated', /truncated header: 200 bytes, a NIfTI-1 header needs 348/);
  });
  it('truncated voxel data', () => {
    expectError(base.subarray(0, base.length - 10), 'truncated', /need 120 bytes of voxel data at offset 352, the file has only 110/);
  });
  it('dims that do not match the byte count', () => {
    expectError(edit((dv) => dv.setInt16(42, 50, true)), 'truncated', /dims 50x4x3 int16 need 1200 bytes/);
  });
  it('dim[0] out of 1..7', () => {
    expectError(edit((dv) => dv.setInt16(40, 0, true)), 'bad-header', /dim\[0\] is 0, must be 1\.\.7/);
    expectError(edit((dv) => dv.setInt16(40, 8, true)), 'bad-header', /dim\[0\] is 8/);
  });
  it('non-positive dimensions', () => {
    expectError(edit((dv) => dv.setInt16(44, 0, true)), 'bad-header', /dim\[2\] is 0, every dimension must be positive/);
    expectError(edit((dv) => dv.setInt16(46, -3, true)), 'bad-header', /dim\[3\] is -3/);
  });
  it('voxel count over 2^31', () => {
    const b = edit((dv) => {
      dv.setInt16(42, 32767, true);
      dv.setInt16(44, 32767, true);
      dv.setInt16(46, 32767, true);
    });
    expectError(b, 'too-large', /32767x32767x32767 exceed 2\^31 voxels/);
  });
  it('a gzip file whose header promises far more than the stream can hold is refused before allocating', () => {
    // 2000 x 2000 x 500 uint8 = 2e9 voxels (under 2^31) in a ~0.5 KB gzip: cannot be real
    const hdr = edit((dv) => {
      dv.setInt16(70, 2, true); // uint8
      dv.setInt16(72, 8, true);
      dv.setInt16(42, 2000, true);
      dv.setInt16(44, 2000, true);
      dv.setInt16(46, 500, true);
    });
    const gz = gzipSync(hdr);
    const before = process.memoryUsage().arrayBuffers;
    expectError(gz, 'truncated', /promises 2000000352 bytes .* cannot hold that much/, 'big.nii.gz');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(100 * 1024 * 1024);
  });
  it('negative, zero or NaN voxel size on a spatial axis', () => {
    expectError(edit((dv) => dv.setFloat32(80, -1, true)), 'bad-header', /pixdim\[1\] \(voxel size\) is -1/);
    expectError(edit((dv) => dv.setFloat32(84, 0, true)), 'bad-header', /pixdim\[2\] \(voxel size\) is 0/);
    expectError(edit((dv) => dv.setFloat32(88, NaN, true)), 'bad-header', /pixdim\[3\] \(voxel size\) is NaN/);
  });
  it('NaN in the affine', () => {
    expectError(edit((dv) => dv.setFloat32(280, NaN, true)), 'bad-header', /sform affine contains NaN/);
    const qOnly = edit((dv) => {
      dv.setInt16(254, 0, true); // sform_code 0 -> qform
      dv.setFloat32(268, Infinity, true); // qoffset_x
    });
    expectError(qOnly, 'bad-header', /qform affine contains Infinity/);
  });
  it('invalid qform quaternion', () => {
    const b = edit((dv) => {
      dv.setInt16(254, 0, true);
      dv.setFloat32(256, 0.9, true);
      dv.setFloat32(260, 0.9, true);
      dv.setFloat32(264, 0.9, true);
    });
    expectError(b, 'bad-header', /invalid qform quaternion/);
  });
  it('vox_offset past the end of the file', () => {
    expectError(edit((dv) => dv.setFloat32(108, 100000, true)), 'truncated', /vox_offset 100000 lies past the end of the file \(472 bytes\)/);
  });
  it('vox_offset inside the header or not a whole number', () => {
    expectError(edit((dv) => dv.setFloat32(108, 100, true)), 'bad-header', /vox_offset 100 lies inside the header/);
    expectError(edit((dv) => dv.setFloat32(108, 352.5, true)), 'bad-header', /not a whole number/);
  });
  it('unsupported datatypes', () => {
    const complex = readBytes(path.join(fixtureDir, 'synthetic', 'complex64.nii'));
    expectError(complex, 'unsupported-datatype', /unsupported datatype 32 \(complex64\); supported: uint8/);
    expectError(edit((dv) => dv.setInt16(70, 9999, true)), 'unsupported-datatype', /unsupported datatype 9999;/);
  });
  it('bitpix not matching the datatype', () => {
    expectError(edit((dv) => dv.setInt16(72, 8, true)), 'bad-header', /bitpix 8 does not match datatype 4 \(int16, 16 bits\)/);
  });
  it('valid scl_slope with a NaN scl_inter', () => {
    const b = edit((dv) => {
      dv.setFloat32(112, 2, true);
      dv.setFloat32(116, NaN, true);
    });
    expectError(b, 'bad-header', /valid scl_slope 2 but invalid scl_inter NaN/);
  });
  it('broken header extension', () => {
    const b = new Uint8Array(base.length + 16);
    b.set(base.subarray(0, 352));
    b.set(base.subarray(352), 368);
    const dv = new DataView(b.buffer);
    dv.setFloat32(108, 368, true);
    b[348] = 1; // extension flag
    dv.setInt32(352, 4000, true); // esize runs past vox_offset
    expectError(b, 'bad-header', /header extension at byte 352 has invalid size 4000/);
  });
  it('corrupt and truncated gzip streams', () => {
    const gz = gzipSync(base);
    expectError(gz.subarray(0, 40), 'truncated', /truncated/, 'a.nii.gz');
    const bad = gz.slice();
    bad.fill(0xff, 10, 30);
    const e = failure(() => readNifti(bad, 'b.nii.gz'));
    expect(['corrupt-gzip', 'truncated']).toContain(e.code);
    expect(e.message).toMatch(/^b\.nii\.gz: .*gzip/);
  });
  it('NIfTI-2 header checks run too (big-endian NIfTI-2 with a zero dimension)', () => {
    const n2 = readBytes(path.join(fixtureDir, 'synthetic', 'nifti2_float32.nii'));
    const b = edit((dv) => dv.setBigInt64(24, 0n, true), n2); // dim[1]
    expectError(b, 'bad-header', /dim\[1\] is 0/, 'n2.nii');
    const m = edit((_, x) => (x[8] = 0x0a), n2);
    expectError(m, 'bad-magic', /text-mode transfer/, 'n2.nii');
  });
});

describe('format detection refuses what it cannot read', () => {
  const err = (bytes: Uint8Array, name: string) => failure(() => readImageFile(bytes, name));
  it('JPEG by magic, whatever the name', () => {
    const jpeg = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46]);
    const e = err(jpeg, 'scan.png');
    expect(e.message).toBe('scan.png: JPEG is lossy; nnU-Net refuses it — convert to PNG');
    expect(e.code).toBe('unsupported-format');
  });
  it('JPEG by name when the bytes are unknown', () => {
    expect(err(new Uint8Array(64).fill(7), 'photo.JPG').message).toMatch(/photo\.JPG: JPEG is lossy/);
  });
  it('unknown bytes list the supported formats', () => {
    const e = err(new TextEncoder().encode('hello world, not an image at all'), 'notes.txt');
    expect(e.code).toBe('unknown-format');
    expect(e.message).toBe('notes.txt: unrecognised file format; supported formats: NIfTI (.nii, .nii.gz) and PNG (.png)');
  });
  it('a .nii.gz name on non-NIfTI bytes says so', () => {
    expect(err(new Uint8Array(400).fill(1), 'x.nii.gz').message).toMatch(/named \.nii\.gz but its bytes are not NIfTI/);
  });
  it('BMP, TIFF and DICOM get specific advice', () => {
    expect(err(Uint8Array.from([0x42, 0x4d, 1, 2, 3, 4]), 'a.bmp').message).toMatch(/BMP images are not supported here; convert to PNG/);
    expect(err(Uint8Array.from([0x49, 0x49, 0x2a, 0, 8, 0, 0, 0]), 'a.tif').message).toMatch(/TIFF/);
    const dcm = new Uint8Array(200);
    dcm.set([0x44, 0x49, 0x43, 0x4d], 128);
    expect(err(dcm, 'IM0001').message).toMatch(/DICOM .*dcm2niix/);
  });
  it('a PNG with a broken body', () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(40).fill(0)]);
    const e = err(png, 'broken.png');
    expect(isSegStudioError(e)).toBe(true);
    expect(e.message).toMatch(/^broken\.png: /);
  });
});

describeWithData('malformed copies of real files', () => {
  it('a truncated real .nii.gz scan', () => {
    const name = 'scans/totalseg_example_ct_sm.nii.gz';
    const gz = readBytes(dataPath(name));
    expectError(gz.subarray(0, Math.floor(gz.length / 2)), 'truncated', /truncated/, name);
  });
  it('a real scan with its magic flipped (inside the gzip)', () => {
    const name = 'scans/totalseg_example_mr_sm_seg_total_mr.nii.gz';
    const raw = readNifti(readBytes(dataPath(name)), name);
    expect(raw.dims).toEqual([117, 91, 20]);
    const un = readBytes(dataPath(name));
    // decompress, flip, recompress
    const plain = gunzipSync(un);
    plain[344] = 0x78;
    expectError(gzipSync(plain), 'bad-magic', /magic 'x\+1'/, name);
  });
});

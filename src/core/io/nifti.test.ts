// Reader/writer behaviour with independent truths: hand-computed values, the nibabel-written fixtures' known
// contents, invariants (write -> read identity), and the nnU-Net naming / dtype rules.
import path from 'node:path';
import { gunzipSync, gzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { isSegStudioError } from '../errors.ts';
import {
  axisCodes,
  caseIdFromFileName,
  countNonFinite,
  createNiftiHeader,
  detectFormat,
  imageFileEnding,
  niftiToImage,
  qformAffine,
  readImageFile,
  readNifti,
  segmentationDatatype,
  splitChannelSuffix,
  writeFloatNifti,
  writeNifti,
  writeSegmentation,
  writeSegmentationNifti,
} from './index.ts';
import { fixtureDir, readBytes } from './testUtil.ts';

const int16File = path.join(fixtureDir, 'synthetic', 'dtype_int16.nii');

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
}

describe('reading', () => {
  it('gzip is detected by magic bytes, not by the name', () => {
    const plain = readBytes(int16File);
    const a = readNifti(plain, 'x.nii');
    const b = readNifti(gzipSync(plain), 'misnamed.nii'); // gzip bytes, .nii name
    const c = readNifti(plain, 'misnamed.nii.gz'); // plain bytes, .gz name
    expect(Array.from(b.raw)).toEqual(Array.from(a.raw));
    expect(Array.from(c.raw)).toEqual(Array.from(a.raw));
    expect(detectFormat(gzipSync(plain))).toBe('nifti-gz');
    expect(detectFormat(plain)).toBe('nifti');
  });
  it('accepts a Node Buffer and never aliases the caller’s bytes', () => {
    const buf = Buffer.concat([Buffer.alloc(13, 9), Buffer.from(readBytes(int16File))]).subarray(13);
    const vol = readNifti(buf, 'b.nii');
    const before = Array.from(vol.raw);
    buf.fill(0);
    expect(Array.from(vol.raw)).toEqual(before);
    expect(vol.header.extensions).toEqual([]);
  });
  it('hand-built header: values, scaling and x-fastest layout', () => {
    // 3x2x2 uint8, scl 2 / -1, pixdim 0.5 / 2 / 3, sform = diag(pixdim) + offset
    const hdr = createNiftiHeader({ dims: [3, 2, 2], spacingXYZ: [0.5, 2, 3], datatype: 'uint8' });
    hdr.sclSlope = 2;
    const raw = Uint8Array.from({ length: 12 }, (_, i) => i); // value = x + 3*y + 6*z
    const bytes = writeNifti(hdr, raw, { fileName: 'h.nii' });
    // writer resets scl to 1/0: patch the slope/intercept into the file as another tool would store them
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    dv.setFloat32(112, 2, true);
    dv.setFloat32(116, -1, true);
    const img = niftiToImage(readNifti(bytes, 'h.nii'), 'h.nii');
    expect(img.shape).toEqual([1, 2, 2, 3]);
    expect(img.properties.spacing).toEqual([3, 2, 0.5]);
    // voxel (x=2, y=1, z=1) -> stored 2 + 3 + 6 = 11 -> 2 * 11 - 1 = 21, at flat index z*6 + y*3 + x
    expect(img.data[1 * 6 + 1 * 3 + 2]).toBe(21);
    expect(Array.from(img.data)).toEqual(Array.from(raw, (v) => 2 * v - 1));
  });
  it('vox_offset 0 in a single file reads the data right after the header', () => {
    const plain = readBytes(int16File);
    const zero = plain.slice();
    new DataView(zero.buffer).setFloat32(108, 0, true);
    expect(Array.from(readNifti(zero, 'z.nii').raw)).toEqual(Array.from(readNifti(plain, 'p.nii').raw));
  });
  it('NaN and inf voxels are kept and counted', () => {
    const img = readImageFile(readBytes(path.join(fixtureDir, 'synthetic', 'nonfinite.nii')), 'n.nii');
    expect(countNonFinite(img.data)).toBe(3);
    // the fixture set numpy (x, y, z) C-order flat indices 3, 7, 11 of a (5, 4, 3) array, i.e. voxels
    // (0,1,0), (0,2,1), (0,3,2); x fastest puts them at z*20 + y*5 + x = 5, 30, 55
    expect(Number.isNaN(img.data[5])).toBe(true);
    expect(img.data[30]).toBe(Infinity);
    expect(img.data[55]).toBe(-Infinity);
    expect(countNonFinite([1, NaN, 2, -Infinity])).toBe(2);
  });
  it('4D is channels first: channel t is the t-th volume', () => {
    const hdr = createNiftiHeader({ dims: [2, 2, 1, 3], spacingXYZ: [1, 1, 1], datatype: 'int16' });
    const raw = Int16Array.from({ length: 12 }, (_, i) => i * 10);
    const img = niftiToImage(readNifti(writeNifti(hdr, raw, { fileName: 'c.nii' }), 'c.nii'));
    expect(img.shape).toEqual([3, 1, 2, 2]);
    expect(Array.from(img.data.subarray(4, 8))).toEqual([40, 50, 60, 70]);
  });
  it('2D NIfTI gets nnU-Net’s dummy out-of-plane spacing (999 x max in-plane)', () => {
    const img = readImageFile(readBytes(path.join(fixtureDir, 'synthetic', 'two_d.nii')), 'two_d.nii');
    expect(img.shape).toEqual([1, 1, 7, 6]);
    expect(img.properties.spacing).toEqual([0.5 * 999, 0.25, 0.5]);
  });
});

describe('writing', () => {
  const src = readNifti(readBytes(path.join(fixtureDir, 'synthetic', 'extensions.nii.gz')), 'src.nii.gz');
  const img = niftiToImage(src, 'src.nii.gz');
  const spatial = img.shape.slice(1);

  it('gzip is decided by the output name', () => {
    const labels = new Uint8Array(60);
    const gz = writeSegmentationNifti({ data: labels, shape: spatial }, img.properties, 'out.nii.GZ');
    const plain = writeSegmentationNifti({ data: labels, shape: spatial }, img.properties, 'out.nii');
    expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
    expect(new DataView(plain.buffer, plain.byteOffset).getInt32(0, true)).toBe(348);
    expect(gunzipSync(gz)).toEqual(plain);
  });
  it('segmentation keeps geometry and extensions; dtype follows nnU-Net (uint8 if max < 255, else uint16)', () => {
    const labels = Uint16Array.from({ length: 60 }, (_, i) => i % 4);
    const a = readNifti(writeSegmentationNifti({ data: labels, shape: spatial }, img.properties, 's.nii.gz'), 's');
    expect(a.datatype).toBe('uint8');
    expect(a.affine).toEqual(src.affine);
    expect(a.header.pixdim).toEqual(src.header.pixdim);
    expect(a.header.extensions).toEqual(src.header.extensions);
    expect(a.header.voxOffset).toBe(src.header.voxOffset);
    expect(Array.from(a.raw)).toEqual(Array.from(labels));
    labels[5] = 255;
    expect(readNifti(writeSegmentationNifti({ data: labels, shape: spatial }, img.properties, 's.nii'), 's').datatype).toBe('uint16');
    expect(segmentationDatatype([0, 254])).toBe('uint8');
    expect(segmentationDatatype([0, 255])).toBe('uint16');
    expect(segmentationDatatype([-1, 3])).toBe('int16');
    expect(segmentationDatatype([0, 70000])).toBe('int32');
  });
  it('a label map on the wrong grid is refused', () => {
    const e = thrown(() => writeSegmentationNifti({ data: new Uint8Array(60), shape: [3, 5, 4] }, img.properties, 'bad.nii'));
    expect(isSegStudioError(e)).toBe(true);
    expect(e.message).toMatch(/^bad\.nii: array shape \[3, 5, 4\] \(z, y, x\) does not match the image grid 5x4x3/);
  });
  it('probabilities: C channels become the 4th dimension and read back as [C, z, y, x]', () => {
    const C = 3;
    const probs = Float32Array.from({ length: C * 60 }, (_, i) => i / 7);
    const out = writeFloatNifti(probs, spatial, C, img.properties, 'p.nii.gz');
    const back = readNifti(out, 'p.nii.gz');
    expect(back.dims).toEqual([5, 4, 3, C]);
    expect(back.datatype).toBe('float32');
    const bi = niftiToImage(back);
    expect(bi.shape).toEqual([C, ...spatial]);
    expect(bi.data).toEqual(probs);
    expect(back.affine).toEqual(src.affine);
  });
  it('values that do not fit the datatype are refused; data length is checked', () => {
    const e1 = thrown(() => writeNifti(src.header, Float32Array.from({ length: 60 }, () => 1.5), { fileName: 'v.nii', datatype: 'int16' }));
    expect(e1.message).toMatch(/^v\.nii: value 1\.5 at index 0 cannot be stored as int16/);
    const e2 = thrown(() => writeNifti(src.header, new Int16Array(59), { fileName: 'w.nii' }));
    expect(e2.message).toMatch(/w\.nii: data has 59 values but dims 5x4x3 int16 need 60/);
    const e3 = thrown(() => writeNifti(src.header, new Int16Array(60), { fileName: 'w.nii', datatype: 'complex64' }));
    expect(e3.message).toMatch(/cannot write datatype 'complex64'/);
  });
  it('a big-endian NIfTI-2 source is written little-endian NIfTI-2 with the same geometry', () => {
    const be = readNifti(readBytes(path.join(fixtureDir, 'synthetic', 'nifti2_be_int16_qform.nii.gz')), 'be');
    expect(be.header.littleEndian).toBe(false);
    const out = writeNifti(be.header, be.raw, { fileName: 'le.nii' });
    expect(new DataView(out.buffer, out.byteOffset).getInt32(0, true)).toBe(540);
    const le = readNifti(out, 'le.nii');
    expect(le.header.littleEndian).toBe(true);
    expect(le.affine).toEqual(be.affine);
    expect(Array.from(le.raw)).toEqual(Array.from(be.raw));
  });
  it('a header that went through JSON (app state) still writes the same file', () => {
    const viaJson = JSON.parse(JSON.stringify(src.header));
    const a = writeNifti(src.header, src.raw, { fileName: 'a.nii' });
    const b = writeNifti(viaJson, src.raw, { fileName: 'b.nii' });
    expect(b).toEqual(a);
    expect(readNifti(b, 'b.nii').header.extensions).toEqual(src.header.extensions);
  });
  it('dimensions beyond NIfTI-1 limits are refused', () => {
    const h = createNiftiHeader({ dims: [2, 2, 2], spacingXYZ: [1, 1, 1], datatype: 'uint8' });
    const e = thrown(() => writeNifti(h, new Uint8Array(40000), { fileName: 'w.nii', dims: [40000, 1, 1] }));
    expect(e.message).toMatch(/do not fit a NIfTI-1 header/);
  });
  it('a PNG-derived grid written as NIfTI gets a fresh header from spacing', () => {
    const labels = Uint8Array.from({ length: 6 }, (_, i) => i);
    const out = writeSegmentation({ data: labels, shape: [1, 2, 3] }, { format: 'png', spacing: [999, 1, 1] }, 'p.nii.gz');
    const back = niftiToImage(readNifti(out, 'p.nii.gz'));
    expect(back.shape).toEqual([1, 1, 2, 3]);
    expect(Array.from(back.data)).toEqual(Array.from(labels));
  });
});

describe('createNiftiHeader: the quaternion reproduces the affine', () => {
  // rotations built independently (axis-angle), times zooms, with and without a reflection
  const rot = (ax: number[], deg: number): number[][] => {
    const t = (deg * Math.PI) / 180;
    const [x, y, z] = ax.map((v) => v / Math.hypot(...ax));
    const c = Math.cos(t);
    const s = Math.sin(t);
    const C = 1 - c;
    return [
      [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
      [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
      [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
    ];
  };
  const cases: [string, number[][], number[]][] = [
    ['identity', rot([0, 0, 1], 0), [1, 1, 1]],
    ['oblique', rot([1, 2, 3], 37), [0.7, 1.3, 2.9]],
    ['180 degrees about x', rot([1, 0, 0], 180), [1, 2, 3]],
    ['LPS-like 180 about z', rot([0, 0, 1], 180), [3, 3, 3]],
  ];
  for (const [name, R, zooms] of cases) {
    for (const flip of [1, -1]) {
      it(`${name}${flip < 0 ? ' with a reflected third axis (qfac -1)' : ''}`, () => {
        const aff = [0, 1, 2].map((r) => [...[0, 1, 2].map((c) => R[r][c] * zooms[c] * (c === 2 ? flip : 1)), [10, -20, 30][r]]);
        aff.push([0, 0, 0, 1]);
        const h = createNiftiHeader({ dims: [4, 4, 4], spacingXYZ: zooms, affine: aff });
        h.sformCode = 0;
        const q = qformAffine(h);
        for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) expect(q[r][c]).toBeCloseTo(aff[r][c], 10);
        expect(h.pixdim[0]).toBe(flip);
      });
    }
  }
});

describe('axisCodes', () => {
  const aff = (m: number[][]) => [...m.map((r) => [...r, 0]), [0, 0, 0, 1]];
  it('hand-built orientations', () => {
    expect(axisCodes(aff([[1, 0, 0], [0, 1, 0], [0, 0, 1]]))).toBe('RAS');
    expect(axisCodes(aff([[-2, 0, 0], [0, -2, 0], [0, 0, 3]]))).toBe('LPS');
    // voxel x runs along +y (A), voxel y along +z (S), voxel z along +x (R)
    expect(axisCodes(aff([[0, 0, 1], [1, 0, 0], [0, 1, 0]]))).toBe('ASR');
    // FreeSurfer conformed (LIA): x -> -x, y -> -z, z -> +y
    expect(axisCodes(aff([[-1, 0, 0], [0, 0, 1], [0, -1, 0]]))).toBe('LIA');
    // slightly oblique still maps to the dominant axes
    expect(axisCodes(aff([[0.98, 0.17, 0], [-0.17, 0.98, 0], [0, 0, 1]]))).toBe('RAS');
  });
});

describe('nnU-Net file names', () => {
  it('imageFileEnding', () => {
    expect(imageFileEnding('BRATS_001_0000.nii.gz')).toBe('.nii.gz');
    expect(imageFileEnding('/a/b/Case.NII.GZ')).toBe('.nii.gz');
    expect(imageFileEnding('x.nii')).toBe('.nii');
    expect(imageFileEnding('img_0000.png')).toBe('.png');
    expect(imageFileEnding('photo.jpeg')).toBe('.jpeg');
    expect(imageFileEnding('volume.nrrd')).toBe('.nrrd');
    expect(imageFileEnding('noext')).toBe('');
  });
  it('splitChannelSuffix', () => {
    expect(splitChannelSuffix('hippocampus_001_0000.nii.gz', '.nii.gz')).toEqual({ caseId: 'hippocampus_001', channel: 0 });
    expect(splitChannelSuffix('dir/BRATS_12_0003.nii.gz', '.nii.gz')).toEqual({ caseId: 'BRATS_12', channel: 3 });
    expect(splitChannelSuffix('isbi2012_000_0000.png', '.png')).toEqual({ caseId: 'isbi2012_000', channel: 0 });
    expect(splitChannelSuffix('hippocampus_001.nii.gz', '.nii.gz')).toBeNull(); // a label name
    expect(splitChannelSuffix('case_000.nii.gz', '.nii.gz')).toBeNull(); // 3 digits is not a channel
    expect(splitChannelSuffix('case_0000.nii', '.nii.gz')).toBeNull();
    expect(splitChannelSuffix('_0000.nii.gz', '.nii.gz')).toBeNull();
  });
  it('caseIdFromFileName', () => {
    expect(caseIdFromFileName('hippocampus_001.nii.gz', '.nii.gz')).toBe('hippocampus_001');
    expect(caseIdFromFileName('hippocampus_001_0001.nii.gz', '.nii.gz')).toBe('hippocampus_001');
    expect(caseIdFromFileName('x.png', '.nii.gz')).toBeNull();
  });
});

// Minimal NIfTI-1 encoder (single .nii file, little-endian, sform + qform from an affine).
// Used for the demo phantom file and for handing volumes to the viewer; reading, gzip and header-exact
// writing of user data belong to src/core/io. Field offsets follow the NIfTI-1 standard (nifti1.h).
import { SegStudioError } from '../errors.ts';

export type Nifti1Data = Float32Array | Uint8Array | Int16Array | Uint16Array | Int32Array;

const DATATYPE: Array<[new (n: number) => Nifti1Data, number, number]> = [
  [Uint8Array, 2, 8],
  [Int16Array, 4, 16],
  [Int32Array, 8, 32],
  [Float32Array, 16, 32],
  [Uint16Array, 512, 16],
];

/** qform quaternion (b, c, d) and qfac of the rotation part of an affine (NIfTI-1 method 2). */
function quaternionOf(affine: number[][]): { b: number; c: number; d: number; qfac: number; pix: number[] } {
  const col = (j: number) => [affine[0][j], affine[1][j], affine[2][j]];
  const pix = [0, 1, 2].map((j) => Math.hypot(...col(j)) || 1);
  const r = [0, 1, 2].map((i) => [0, 1, 2].map((j) => affine[i][j] / pix[j]));
  let det =
    r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) -
    r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0]) +
    r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
  let qfac = 1;
  if (det < 0) {
    qfac = -1;
    for (let i = 0; i < 3; i++) r[i][2] = -r[i][2];
    det = -det;
  }
  const a = 1 + r[0][0] + r[1][1] + r[2][2];
  let qa: number, qb: number, qc: number, qd: number;
  if (a > 0.5) {
    qa = 0.5 * Math.sqrt(a);
    qb = (0.25 * (r[2][1] - r[1][2])) / qa;
    qc = (0.25 * (r[0][2] - r[2][0])) / qa;
    qd = (0.25 * (r[1][0] - r[0][1])) / qa;
  } else {
    const xd = 1 + r[0][0] - (r[1][1] + r[2][2]);
    const yd = 1 + r[1][1] - (r[0][0] + r[2][2]);
    const zd = 1 + r[2][2] - (r[0][0] + r[1][1]);
    if (xd > 1) {
      qb = 0.5 * Math.sqrt(xd);
      qc = (0.25 * (r[0][1] + r[1][0])) / qb;
      qd = (0.25 * (r[0][2] + r[2][0])) / qb;
      qa = (0.25 * (r[2][1] - r[1][2])) / qb;
    } else if (yd > 1) {
      qc = 0.5 * Math.sqrt(yd);
      qb = (0.25 * (r[0][1] + r[1][0])) / qc;
      qd = (0.25 * (r[1][2] + r[2][1])) / qc;
      qa = (0.25 * (r[0][2] - r[2][0])) / qc;
    } else {
      qd = 0.5 * Math.sqrt(zd);
      qb = (0.25 * (r[0][2] + r[2][0])) / qd;
      qc = (0.25 * (r[1][2] + r[2][1])) / qd;
      qa = (0.25 * (r[1][0] - r[0][1])) / qd;
    }
    if (qa < 0) {
      qb = -qb;
      qc = -qc;
      qd = -qd;
    }
  }
  return { b: qb, c: qc, d: qd, qfac, pix };
}

/**
 * Encodes `data` (x fastest) with dims [nx, ny, nz] or [nx, ny, nz, nt] and a 4×4 voxel→RAS affine into
 * an uncompressed NIfTI-1 file (vox_offset 352, sform_code = qform_code = 1 (scanner)).
 */
export function encodeNifti1(data: Nifti1Data, dims: number[], affine: number[][], description = 'SegStudio'): Uint8Array {
  const entry = DATATYPE.find(([ctor]) => data instanceof ctor);
  if (!entry) throw new SegStudioError('nifti-encode', 'unsupported array type for NIfTI-1 encoding');
  const [, datatype, bitpix] = entry;
  if (dims.length < 3 || dims.length > 4) throw new SegStudioError('nifti-encode', `expected 3 or 4 dims, got ${dims.length}`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new SegStudioError('nifti-encode', `dims ${dims.join('×')} hold ${count} voxels but the data has ${data.length}`);
  }
  const bytes = new Uint8Array(352 + data.byteLength);
  const v = new DataView(bytes.buffer);
  v.setInt32(0, 348, true);
  v.setUint8(38, 'r'.charCodeAt(0));
  v.setInt16(40, dims.length, true);
  for (let i = 0; i < 7; i++) v.setInt16(42 + 2 * i, i < dims.length ? dims[i] : 1, true);
  v.setInt16(70, datatype, true);
  v.setInt16(72, bitpix, true);
  const q = quaternionOf(affine);
  v.setFloat32(76, q.qfac, true);
  for (let i = 0; i < 3; i++) v.setFloat32(80 + 4 * i, q.pix[i], true);
  v.setFloat32(92, 1, true);
  v.setFloat32(108, 352, true);
  v.setFloat32(112, 1, true);
  v.setFloat32(116, 0, true);
  v.setUint8(123, 2 + 8); // mm + s
  const desc = new TextEncoder().encode(description.slice(0, 79));
  bytes.set(desc, 148);
  v.setInt16(252, 1, true);
  v.setInt16(254, 1, true);
  v.setFloat32(256, q.b, true);
  v.setFloat32(260, q.c, true);
  v.setFloat32(264, q.d, true);
  v.setFloat32(268, affine[0][3], true);
  v.setFloat32(272, affine[1][3], true);
  v.setFloat32(276, affine[2][3], true);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) v.setFloat32(280 + 16 * r + 4 * c, affine[r][c], true);
  bytes.set([0x6e, 0x2b, 0x31, 0x00], 344); // "n+1\0"
  // extension flag bytes 348..351 stay 0; data is little-endian on every platform we run on
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (!little) throw new SegStudioError('nifti-encode', 'big-endian hosts are not supported');
  bytes.set(raw, 352);
  return bytes;
}

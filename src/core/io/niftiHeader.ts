// NIfTI-1 (348-byte) and NIfTI-2 (540-byte) headers: parse (either byte order), validate, serialize, affine.
// Field layout from the NIfTI-1/NIfTI-2 standards (nifti1.h / nifti2.h). The affine follows nibabel's
// semantics (nibabel/nifti1.py get_best_affine / get_qform / get_sform, nibabel/quaternions.py fillpositive,
// nibabel/spatialimages.py base affine): sform when sform_code != 0, else qform when qform_code != 0, else the
// pixdim diagonal with x flipped about the volume centre.
import { SegStudioError } from '../errors.ts';
import { plainBytes } from './gzip.ts';

export interface NiftiExtension {
  /** ecode (e.g. 4 = AFNI, 6 = comment, 0 = unknown/Caret label table). */
  code: number;
  /** The extension's content as stored (esize - 8 bytes, padding included, so it writes back byte-exact). */
  data: Uint8Array;
}

export interface NiftiHeader {
  version: 1 | 2;
  /** Byte order of the source file (writers always write little-endian). */
  littleEndian: boolean;
  magic: string;
  /** dim[0..7] as stored (dim[0] = number of dimensions). */
  dim: number[];
  /** pixdim[0..7]; pixdim[0] is qfac. */
  pixdim: number[];
  datatypeCode: number;
  bitpix: number;
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  dimInfo: number;
  intentP1: number;
  intentP2: number;
  intentP3: number;
  intentCode: number;
  intentName: string;
  sliceStart: number;
  sliceEnd: number;
  sliceCode: number;
  sliceDuration: number;
  xyztUnits: number;
  calMax: number;
  calMin: number;
  toffset: number;
  /** NIfTI-1 only (ANALYZE leftovers), kept verbatim: glmax, glmin, and bytes 4..39 (data_type, db_name, extents, session_error, regular). */
  glmax: number;
  glmin: number;
  analyzeBytes?: Uint8Array;
  descrip: string;
  auxFile: string;
  qformCode: number;
  sformCode: number;
  quaternB: number;
  quaternC: number;
  quaternD: number;
  qoffsetX: number;
  qoffsetY: number;
  qoffsetZ: number;
  srowX: number[];
  srowY: number[];
  srowZ: number[];
  extensions: NiftiExtension[];
}

export interface DatatypeInfo {
  code: number;
  name: string;
  bitpix: number;
  /** bytes per stored element of `raw` (RGB24: 1, as raw holds 3 bytes per voxel) */
  bytes: number;
}

// NIfTI datatype codes (nifti1.h DT_*).
export const DATATYPES: Record<number, DatatypeInfo> = {
  2: { code: 2, name: 'uint8', bitpix: 8, bytes: 1 },
  4: { code: 4, name: 'int16', bitpix: 16, bytes: 2 },
  8: { code: 8, name: 'int32', bitpix: 32, bytes: 4 },
  16: { code: 16, name: 'float32', bitpix: 32, bytes: 4 },
  64: { code: 64, name: 'float64', bitpix: 64, bytes: 8 },
  128: { code: 128, name: 'rgb24', bitpix: 24, bytes: 1 },
  256: { code: 256, name: 'int8', bitpix: 8, bytes: 1 },
  512: { code: 512, name: 'uint16', bitpix: 16, bytes: 2 },
  768: { code: 768, name: 'uint32', bitpix: 32, bytes: 4 },
  1024: { code: 1024, name: 'int64', bitpix: 64, bytes: 8 },
  1280: { code: 1280, name: 'uint64', bitpix: 64, bytes: 8 },
};

const UNSUPPORTED_NAMES: Record<number, string> = {
  1: 'binary',
  32: 'complex64',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'rgba32',
};

export function datatypeByName(name: string): DatatypeInfo | undefined {
  return Object.values(DATATYPES).find((d) => d.name === name);
}

export function datatypeInfo(code: number, fileName: string): DatatypeInfo {
  const info = DATATYPES[code];
  if (!info) {
    const known = UNSUPPORTED_NAMES[code];
    throw new SegStudioError(
      'unsupported-datatype',
      `unsupported datatype ${code}${known ? ` (${known})` : ''}; supported: ${Object.values(DATATYPES)
        .map((d) => d.name)
        .join(', ')}`,
      fileName,
    );
  }
  return info;
}

export const NIFTI1_HEADER_SIZE = 348;
export const NIFTI2_HEADER_SIZE = 540;
/** Voxel count limit (2^31 - 1): larger volumes cannot be indexed by the pipeline's typed arrays. */
export const MAX_VOXELS = 2 ** 31 - 1;

/** Detects NIfTI by sizeof_hdr (348 or 540 in either byte order). Null when it is not a NIfTI header. */
export function detectNiftiVersion(bytes: Uint8Array): { version: 1 | 2; littleEndian: boolean } | null {
  if (bytes.length < 4) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 4);
  const le = dv.getInt32(0, true);
  const be = dv.getInt32(0, false);
  if (le === NIFTI1_HEADER_SIZE) return { version: 1, littleEndian: true };
  if (le === NIFTI2_HEADER_SIZE) return { version: 2, littleEndian: true };
  if (be === NIFTI1_HEADER_SIZE) return { version: 1, littleEndian: false };
  if (be === NIFTI2_HEADER_SIZE) return { version: 2, littleEndian: false };
  return null;
}

function cstring(bytes: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) {
    const c = bytes[off + i];
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

function putCString(bytes: Uint8Array, off: number, len: number, s: string): void {
  for (let i = 0; i < len; i++) bytes[off + i] = i < s.length ? s.charCodeAt(i) & 0xff : 0;
}

function int64(dv: DataView, off: number, le: boolean, what: string, fileName: string): number {
  const v = dv.getBigInt64(off, le);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new SegStudioError('bad-header', `${what} ${v} is out of range`, fileName);
  }
  return Number(v);
}

/**
 * Parses the fixed header and (unless `withExtensions` is false) the extensions, which must then lie entirely in
 * `bytes`. Performs all validation that needs no knowledge of the file's total length.
 */
export function parseNiftiHeader(input: Uint8Array, fileName: string, withExtensions = true): NiftiHeader {
  const bytes = plainBytes(input);
  const det = detectNiftiVersion(bytes);
  if (!det) {
    if (bytes.length < 4) throw new SegStudioError('truncated', `truncated header (${bytes.length} bytes)`, fileName);
    const v = new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0, true);
    throw new SegStudioError('bad-magic', `not a NIfTI file: sizeof_hdr is ${v}, expected 348 or 540`, fileName);
  }
  const { version, littleEndian: le } = det;
  const size = version === 1 ? NIFTI1_HEADER_SIZE : NIFTI2_HEADER_SIZE;
  if (bytes.length < size) {
    throw new SegStudioError(
      'truncated',
      `truncated header: ${bytes.length} bytes, a NIfTI-${version} header needs ${size}`,
      fileName,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, size);
  let h: NiftiHeader;
  if (version === 1) {
    const magic = cstring(bytes, 344, 4);
    checkMagic(magic, 1, fileName);
    const dim = Array.from({ length: 8 }, (_, i) => dv.getInt16(40 + 2 * i, le));
    const pixdim = Array.from({ length: 8 }, (_, i) => dv.getFloat32(76 + 4 * i, le));
    const srow = (o: number) => Array.from({ length: 4 }, (_, i) => dv.getFloat32(o + 4 * i, le));
    h = {
      version,
      littleEndian: le,
      magic,
      analyzeBytes: bytes.slice(4, 39),
      dimInfo: bytes[39],
      dim,
      intentP1: dv.getFloat32(56, le),
      intentP2: dv.getFloat32(60, le),
      intentP3: dv.getFloat32(64, le),
      intentCode: dv.getInt16(68, le),
      datatypeCode: dv.getInt16(70, le),
      bitpix: dv.getInt16(72, le),
      sliceStart: dv.getInt16(74, le),
      pixdim,
      voxOffset: dv.getFloat32(108, le),
      sclSlope: dv.getFloat32(112, le),
      sclInter: dv.getFloat32(116, le),
      sliceEnd: dv.getInt16(120, le),
      sliceCode: bytes[122],
      xyztUnits: bytes[123],
      calMax: dv.getFloat32(124, le),
      calMin: dv.getFloat32(128, le),
      sliceDuration: dv.getFloat32(132, le),
      toffset: dv.getFloat32(136, le),
      glmax: dv.getInt32(140, le),
      glmin: dv.getInt32(144, le),
      descrip: cstring(bytes, 148, 80),
      auxFile: cstring(bytes, 228, 24),
      qformCode: dv.getInt16(252, le),
      sformCode: dv.getInt16(254, le),
      quaternB: dv.getFloat32(256, le),
      quaternC: dv.getFloat32(260, le),
      quaternD: dv.getFloat32(264, le),
      qoffsetX: dv.getFloat32(268, le),
      qoffsetY: dv.getFloat32(272, le),
      qoffsetZ: dv.getFloat32(276, le),
      srowX: srow(280),
      srowY: srow(296),
      srowZ: srow(312),
      intentName: cstring(bytes, 328, 16),
      extensions: [],
    };
  } else {
    const magic = cstring(bytes, 4, 8);
    checkMagic(magic, 2, fileName);
    // bytes 7..11 of the NIfTI-2 magic are \r\n\032\n: a text-mode transfer would have mangled them
    if (bytes[8] !== 0x0d || bytes[9] !== 0x0a || bytes[10] !== 0x1a || bytes[11] !== 0x0a) {
      throw new SegStudioError('bad-magic', 'corrupt NIfTI-2 magic (file altered by a text-mode transfer?)', fileName);
    }
    const dim = Array.from({ length: 8 }, (_, i) => int64(dv, 16 + 8 * i, le, `dim[${i}]`, fileName));
    const pixdim = Array.from({ length: 8 }, (_, i) => dv.getFloat64(104 + 8 * i, le));
    const srow = (o: number) => Array.from({ length: 4 }, (_, i) => dv.getFloat64(o + 8 * i, le));
    h = {
      version,
      littleEndian: le,
      magic,
      datatypeCode: dv.getInt16(12, le),
      bitpix: dv.getInt16(14, le),
      dim,
      intentP1: dv.getFloat64(80, le),
      intentP2: dv.getFloat64(88, le),
      intentP3: dv.getFloat64(96, le),
      pixdim,
      voxOffset: int64(dv, 168, le, 'vox_offset', fileName),
      sclSlope: dv.getFloat64(176, le),
      sclInter: dv.getFloat64(184, le),
      calMax: dv.getFloat64(192, le),
      calMin: dv.getFloat64(200, le),
      sliceDuration: dv.getFloat64(208, le),
      toffset: dv.getFloat64(216, le),
      sliceStart: int64(dv, 224, le, 'slice_start', fileName),
      sliceEnd: int64(dv, 232, le, 'slice_end', fileName),
      descrip: cstring(bytes, 240, 80),
      auxFile: cstring(bytes, 320, 24),
      qformCode: dv.getInt32(344, le),
      sformCode: dv.getInt32(348, le),
      quaternB: dv.getFloat64(352, le),
      quaternC: dv.getFloat64(360, le),
      quaternD: dv.getFloat64(368, le),
      qoffsetX: dv.getFloat64(376, le),
      qoffsetY: dv.getFloat64(384, le),
      qoffsetZ: dv.getFloat64(392, le),
      srowX: srow(400),
      srowY: srow(432),
      srowZ: srow(464),
      sliceCode: dv.getInt32(496, le),
      xyztUnits: dv.getInt32(500, le),
      intentCode: dv.getInt32(504, le),
      intentName: cstring(bytes, 508, 16),
      dimInfo: bytes[524],
      glmax: 0,
      glmin: 0,
      extensions: [],
    };
  }
  validateHeader(h, fileName);
  if (withExtensions) h.extensions = parseExtensions(bytes, h, fileName);
  return h;
}

function checkMagic(magic: string, version: 1 | 2, fileName: string): void {
  const single = version === 1 ? 'n+1' : 'n+2';
  const pair = version === 1 ? 'ni1' : 'ni2';
  if (magic === single) return;
  if (magic === pair) {
    throw new SegStudioError(
      'unsupported-format',
      `NIfTI-${version} header/image pair (magic '${pair}', .hdr + .img) is not supported; convert it to a single .nii or .nii.gz file`,
      fileName,
    );
  }
  throw new SegStudioError(
    'bad-magic',
    `bad NIfTI-${version} magic '${printable(magic)}' (expected '${single}')`,
    fileName,
  );
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

/** Offset where the first byte after the fixed header and its 4-byte extension flag lies. */
export function headerEnd(version: 1 | 2): number {
  return (version === 1 ? NIFTI1_HEADER_SIZE : NIFTI2_HEADER_SIZE) + 4;
}

/** Effective data offset: vox_offset 0 in a single file is read as "right after the header" (352 / 544); nibabel would read the header bytes as voxels there. */
export function dataOffset(h: NiftiHeader): number {
  return h.voxOffset === 0 ? headerEnd(h.version) : h.voxOffset;
}

/** Spatial + extra dimensions as listed by the header (dim[1..dim[0]]). */
export function headerDims(h: NiftiHeader): number[] {
  return h.dim.slice(1, 1 + h.dim[0]);
}

export function voxelCount(h: NiftiHeader): number {
  let n = 1;
  for (const d of headerDims(h)) n *= d;
  return n;
}

/** Number of voxel-data bytes the header promises. */
export function dataByteCount(h: NiftiHeader): number {
  const info = DATATYPES[h.datatypeCode];
  return voxelCount(h) * (info.bitpix / 8);
}

function validateHeader(h: NiftiHeader, fileName: string): void {
  const nd = h.dim[0];
  if (!Number.isInteger(nd) || nd < 1 || nd > 7) {
    throw new SegStudioError('bad-header', `dim[0] is ${nd}, must be 1..7`, fileName);
  }
  for (let i = 1; i <= nd; i++) {
    if (h.dim[i] < 1) {
      throw new SegStudioError('bad-header', `dim[${i}] is ${h.dim[i]}, every dimension must be positive`, fileName);
    }
  }
  const info = datatypeInfo(h.datatypeCode, fileName);
  if (h.bitpix !== info.bitpix) {
    throw new SegStudioError(
      'bad-header',
      `bitpix ${h.bitpix} does not match datatype ${h.datatypeCode} (${info.name}, ${info.bitpix} bits)`,
      fileName,
    );
  }
  let n = 1;
  for (let i = 1; i <= nd; i++) {
    n *= h.dim[i];
    if (n > MAX_VOXELS) {
      throw new SegStudioError(
        'too-large',
        `dimensions ${headerDims(h).join('x')} exceed 2^31 voxels; refusing to allocate`,
        fileName,
      );
    }
  }
  for (let i = 1; i <= Math.min(3, nd); i++) {
    const p = h.pixdim[i];
    if (!Number.isFinite(p) || p <= 0) {
      throw new SegStudioError(
        'bad-header',
        `pixdim[${i}] (voxel size) is ${p}; spatial voxel sizes must be positive and finite`,
        fileName,
      );
    }
  }
  if (!Number.isFinite(h.voxOffset) || h.voxOffset < 0) {
    throw new SegStudioError('bad-header', `vox_offset ${h.voxOffset} is invalid`, fileName);
  }
  if (h.voxOffset !== 0 && h.voxOffset < headerEnd(h.version)) {
    throw new SegStudioError(
      'bad-header',
      `vox_offset ${h.voxOffset} lies inside the header (a single-file NIfTI-${h.version} needs at least ${headerEnd(h.version)})`,
      fileName,
    );
  }
  if (!Number.isInteger(h.voxOffset)) {
    throw new SegStudioError('bad-header', `vox_offset ${h.voxOffset} is not a whole number of bytes`, fileName);
  }
  const slope = h.sclSlope;
  if (slope !== 0 && Number.isFinite(slope) && !Number.isFinite(h.sclInter)) {
    // nibabel/nifti1.py get_slope_inter: a valid slope with an invalid intercept is an error
    throw new SegStudioError('bad-header', `valid scl_slope ${slope} but invalid scl_inter ${h.sclInter}`, fileName);
  }
  const aff = niftiAffine(h, fileName);
  for (const row of aff) {
    for (const v of row) {
      if (!Number.isFinite(v)) {
        throw new SegStudioError(
          'bad-header',
          `the ${affineSource(h)} affine contains ${v}; the image has no valid geometry`,
          fileName,
        );
      }
    }
  }
}

function parseExtensions(bytes: Uint8Array, h: NiftiHeader, fileName: string): NiftiExtension[] {
  const start = headerEnd(h.version);
  const end = Math.min(dataOffset(h), bytes.length);
  if (bytes.length < start || start >= end || bytes[start - 4] === 0) return [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const exts: NiftiExtension[] = [];
  let off = start;
  while (off + 8 <= end) {
    const esize = dv.getInt32(off, h.littleEndian);
    const ecode = dv.getInt32(off + 4, h.littleEndian);
    if (esize < 8 || off + esize > end) {
      throw new SegStudioError(
        'bad-header',
        `header extension at byte ${off} has invalid size ${esize} (vox_offset ${dataOffset(h)})`,
        fileName,
      );
    }
    exts.push({ code: ecode, data: bytes.slice(off + 8, off + esize) });
    off += esize;
  }
  return exts;
}

// ---------------------------------------------------------------------------------------------- affine

export function affineSource(h: NiftiHeader): 'sform' | 'qform' | 'pixdim' {
  if (h.sformCode !== 0) return 'sform';
  if (h.qformCode !== 0) return 'qform';
  return 'pixdim';
}

/** Best affine (nibabel get_best_affine): sform if sform_code != 0, else qform if qform_code != 0, else pixdim. */
export function niftiAffine(h: NiftiHeader, fileName = ''): number[][] {
  const src = affineSource(h);
  if (src === 'sform') return sformAffine(h);
  if (src === 'qform') return qformAffine(h, fileName);
  return baseAffine(h);
}

export function sformAffine(h: NiftiHeader): number[][] {
  return [h.srowX.slice(), h.srowY.slice(), h.srowZ.slice(), [0, 0, 0, 1]];
}

/** Quaternion affine (nibabel nifti1.py get_qform; quaternions.py fillpositive + quat2mat). */
export function qformAffine(h: NiftiHeader, fileName = ''): number[][] {
  const b = h.quaternB;
  const c = h.quaternC;
  const d = h.quaternD;
  let w2 = 1 - (b * b + c * c + d * d);
  // The stored b, c, d are float32 in NIfTI-1: allow their rounding error (nibabel: -3 * float32 eps).
  const thresh = -3 * 1.1920928955078125e-7;
  if (w2 < 0) {
    if (w2 < thresh) {
      throw new SegStudioError(
        'bad-header',
        `invalid qform quaternion (b, c, d) = (${b}, ${c}, ${d}): b²+c²+d² > 1`,
        fileName,
      );
    }
    w2 = 0;
  }
  const a = Math.sqrt(w2);
  const nq = a * a + b * b + c * c + d * d;
  let R: number[][];
  if (nq < 2.220446049250313e-16) {
    R = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
  } else {
    const s = 2 / nq;
    const X = b * s;
    const Y = c * s;
    const Z = d * s;
    const wX = a * X;
    const wY = a * Y;
    const wZ = a * Z;
    const xX = b * X;
    const xY = b * Y;
    const xZ = b * Z;
    const yY = c * Y;
    const yZ = c * Z;
    const zZ = d * Z;
    R = [
      [1 - (yY + zZ), xY - wZ, xZ + wY],
      [xY + wZ, 1 - (xX + zZ), yZ - wX],
      [xZ - wY, yZ + wX, 1 - (xX + yY)],
    ];
  }
  // qfac: pixdim[0] must be -1 or 1; 0 (and anything else) is read as 1, as nibabel's check_fix does for 0.
  const qfac = h.pixdim[0] === -1 ? -1 : 1;
  const vox = [Math.abs(h.pixdim[1]), Math.abs(h.pixdim[2]), Math.abs(h.pixdim[3]) * qfac];
  // nibabel treats missing axes' pixdim as given; a 2D image's pixdim[3] may be 0 -> use 1 for geometry.
  if (h.dim[0] < 3 && !(vox[2] !== 0)) vox[2] = qfac;
  if (h.dim[0] < 2 && !(vox[1] !== 0)) vox[1] = 1;
  const off = [h.qoffsetX, h.qoffsetY, h.qoffsetZ];
  return [
    [R[0][0] * vox[0], R[0][1] * vox[1], R[0][2] * vox[2], off[0]],
    [R[1][0] * vox[0], R[1][1] * vox[1], R[1][2] * vox[2], off[1]],
    [R[2][0] * vox[0], R[2][1] * vox[1], R[2][2] * vox[2], off[2]],
    [0, 0, 0, 1],
  ];
}

/** nibabel's fallback (spatialimages / analyze get_base_affine): diag(-px, py, pz) centred on the volume. */
export function baseAffine(h: NiftiHeader): number[][] {
  const shape = [1, 2, 3].map((i) => (i <= h.dim[0] ? h.dim[i] : 1));
  const zooms = [1, 2, 3].map((i) => (i <= h.dim[0] ? h.pixdim[i] : 1));
  zooms[0] = -zooms[0];
  const t = shape.map((s, i) => -((s - 1) / 2) * zooms[i]);
  return [
    [zooms[0], 0, 0, t[0]],
    [0, zooms[1], 0, t[1]],
    [0, 0, zooms[2], t[2]],
    [0, 0, 0, 1],
  ];
}

// ---------------------------------------------------------------------------------------------- writing

function extensionBlockSize(e: NiftiExtension): number {
  return Math.ceil((8 + e.data.length) / 16) * 16;
}

/** Serializes a header (little-endian), its extension flag and its extensions; vox_offset is set to the end. */
export function serializeNiftiHeader(h: NiftiHeader): Uint8Array {
  const size = h.version === 1 ? NIFTI1_HEADER_SIZE : NIFTI2_HEADER_SIZE;
  let extLen = 0;
  for (const e of h.extensions) extLen += extensionBlockSize(e);
  const total = size + 4 + extLen;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  const le = true;
  if (h.version === 1) {
    dv.setInt32(0, NIFTI1_HEADER_SIZE, le);
    if (h.analyzeBytes && h.analyzeBytes.length === 35) out.set(h.analyzeBytes, 4);
    out[39] = h.dimInfo & 0xff;
    h.dim.forEach((v, i) => dv.setInt16(40 + 2 * i, v, le));
    dv.setFloat32(56, h.intentP1, le);
    dv.setFloat32(60, h.intentP2, le);
    dv.setFloat32(64, h.intentP3, le);
    dv.setInt16(68, h.intentCode, le);
    dv.setInt16(70, h.datatypeCode, le);
    dv.setInt16(72, h.bitpix, le);
    dv.setInt16(74, h.sliceStart, le);
    h.pixdim.forEach((v, i) => dv.setFloat32(76 + 4 * i, v, le));
    dv.setFloat32(108, total, le);
    dv.setFloat32(112, h.sclSlope, le);
    dv.setFloat32(116, h.sclInter, le);
    dv.setInt16(120, h.sliceEnd, le);
    out[122] = h.sliceCode & 0xff;
    out[123] = h.xyztUnits & 0xff;
    dv.setFloat32(124, h.calMax, le);
    dv.setFloat32(128, h.calMin, le);
    dv.setFloat32(132, h.sliceDuration, le);
    dv.setFloat32(136, h.toffset, le);
    dv.setInt32(140, h.glmax, le);
    dv.setInt32(144, h.glmin, le);
    putCString(out, 148, 80, h.descrip);
    putCString(out, 228, 24, h.auxFile);
    dv.setInt16(252, h.qformCode, le);
    dv.setInt16(254, h.sformCode, le);
    dv.setFloat32(256, h.quaternB, le);
    dv.setFloat32(260, h.quaternC, le);
    dv.setFloat32(264, h.quaternD, le);
    dv.setFloat32(268, h.qoffsetX, le);
    dv.setFloat32(272, h.qoffsetY, le);
    dv.setFloat32(276, h.qoffsetZ, le);
    h.srowX.forEach((v, i) => dv.setFloat32(280 + 4 * i, v, le));
    h.srowY.forEach((v, i) => dv.setFloat32(296 + 4 * i, v, le));
    h.srowZ.forEach((v, i) => dv.setFloat32(312 + 4 * i, v, le));
    putCString(out, 328, 16, h.intentName);
    putCString(out, 344, 4, 'n+1');
  } else {
    dv.setInt32(0, NIFTI2_HEADER_SIZE, le);
    out.set([0x6e, 0x2b, 0x32, 0x00, 0x0d, 0x0a, 0x1a, 0x0a], 4);
    dv.setInt16(12, h.datatypeCode, le);
    dv.setInt16(14, h.bitpix, le);
    h.dim.forEach((v, i) => dv.setBigInt64(16 + 8 * i, BigInt(v), le));
    dv.setFloat64(80, h.intentP1, le);
    dv.setFloat64(88, h.intentP2, le);
    dv.setFloat64(96, h.intentP3, le);
    h.pixdim.forEach((v, i) => dv.setFloat64(104 + 8 * i, v, le));
    dv.setBigInt64(168, BigInt(total), le);
    dv.setFloat64(176, h.sclSlope, le);
    dv.setFloat64(184, h.sclInter, le);
    dv.setFloat64(192, h.calMax, le);
    dv.setFloat64(200, h.calMin, le);
    dv.setFloat64(208, h.sliceDuration, le);
    dv.setFloat64(216, h.toffset, le);
    dv.setBigInt64(224, BigInt(h.sliceStart), le);
    dv.setBigInt64(232, BigInt(h.sliceEnd), le);
    putCString(out, 240, 80, h.descrip);
    putCString(out, 320, 24, h.auxFile);
    dv.setInt32(344, h.qformCode, le);
    dv.setInt32(348, h.sformCode, le);
    dv.setFloat64(352, h.quaternB, le);
    dv.setFloat64(360, h.quaternC, le);
    dv.setFloat64(368, h.quaternD, le);
    dv.setFloat64(376, h.qoffsetX, le);
    dv.setFloat64(384, h.qoffsetY, le);
    dv.setFloat64(392, h.qoffsetZ, le);
    h.srowX.forEach((v, i) => dv.setFloat64(400 + 8 * i, v, le));
    h.srowY.forEach((v, i) => dv.setFloat64(432 + 8 * i, v, le));
    h.srowZ.forEach((v, i) => dv.setFloat64(464 + 8 * i, v, le));
    dv.setInt32(496, h.sliceCode, le);
    dv.setInt32(500, h.xyztUnits, le);
    dv.setInt32(504, h.intentCode, le);
    putCString(out, 508, 16, h.intentName);
    out[524] = h.dimInfo & 0xff;
  }
  // extension flag + extensions
  if (h.extensions.length > 0) {
    out[size] = 1;
    let off = size + 4;
    for (const e of h.extensions) {
      const es = extensionBlockSize(e);
      dv.setInt32(off, es, le);
      dv.setInt32(off + 4, e.code, le);
      out.set(e.data, off + 8);
      off += es;
    }
  }
  return out;
}

/**
 * A fresh NIfTI-1 header for a grid that did not come from a NIfTI file (e.g. a PNG written as NIfTI):
 * spacing in array order [z, y, x]; the affine (NIfTI i, j, k order) is used for both qform and sform
 * when given, else a diagonal of the spacing.
 */
export function createNiftiHeader(opts: {
  dims: number[];
  spacingXYZ: number[];
  affine?: number[][];
  datatype?: string;
}): NiftiHeader {
  const dt = datatypeByName(opts.datatype ?? 'float32');
  if (!dt) throw new SegStudioError('unsupported-datatype', `unsupported datatype '${opts.datatype}'`);
  const dim = [opts.dims.length, ...opts.dims];
  while (dim.length < 8) dim.push(1);
  const pixdim = [1, ...opts.spacingXYZ.map((s) => Math.abs(s))];
  while (pixdim.length < 8) pixdim.push(1);
  const aff =
    opts.affine ??
    [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => (r === c ? Math.abs(opts.spacingXYZ[r] ?? 1) : 0)));
  const h: NiftiHeader = {
    version: 1,
    littleEndian: true,
    magic: 'n+1',
    dim,
    pixdim,
    datatypeCode: dt.code,
    bitpix: dt.bitpix,
    voxOffset: 352,
    sclSlope: 1,
    sclInter: 0,
    dimInfo: 0,
    intentP1: 0,
    intentP2: 0,
    intentP3: 0,
    intentCode: 0,
    intentName: '',
    sliceStart: 0,
    sliceEnd: 0,
    sliceCode: 0,
    sliceDuration: 0,
    xyztUnits: 2 | 8, // mm, s
    calMax: 0,
    calMin: 0,
    toffset: 0,
    glmax: 0,
    glmin: 0,
    descrip: 'SegStudio',
    auxFile: '',
    qformCode: 1,
    sformCode: 1,
    quaternB: 0,
    quaternC: 0,
    quaternD: 0,
    qoffsetX: aff[0][3],
    qoffsetY: aff[1][3],
    qoffsetZ: aff[2][3],
    srowX: aff[0].slice(0, 4),
    srowY: aff[1].slice(0, 4),
    srowZ: aff[2].slice(0, 4),
    extensions: [],
  };
  setQformFromAffine(h, aff);
  return h;
}

/**
 * Sets quatern_b/c/d, qoffset and qfac (pixdim[0]) from an affine's rotation (nibabel set_qform semantics:
 * zooms are the column norms, a negative determinant flips the third column and sets qfac -1). Non-orthogonal
 * affines get the nearest rotation (polar decomposition approximated by Gram-Schmidt, enough for headers
 * built by SegStudio itself).
 */
export function setQformFromAffine(h: NiftiHeader, aff: number[][]): void {
  const col = (j: number) => [aff[0][j], aff[1][j], aff[2][j]];
  const norm = (v: number[]) => Math.hypot(v[0], v[1], v[2]);
  const cols = [col(0), col(1), col(2)];
  const zooms = cols.map(norm);
  const R = cols.map((c, j) => c.map((v) => (zooms[j] > 0 ? v / zooms[j] : j === 0 ? 1 : 0)));
  // Gram-Schmidt to an orthonormal frame (R as list of columns)
  const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const e0 = R[0].map((v) => v / norm(R[0]));
  let e1 = R[1].map((v, i) => v - dot(R[1], e0) * e0[i]);
  e1 = e1.map((v) => v / (norm(e1) || 1));
  // e2 is the right-handed third axis; qfac records whether the affine's third column points the other way
  const e2 = [e0[1] * e1[2] - e0[2] * e1[1], e0[2] * e1[0] - e0[0] * e1[2], e0[0] * e1[1] - e0[1] * e1[0]];
  const qfac = dot(e2, R[2]) < 0 ? -1 : 1;
  // rotation matrix M[r][c] = column c, row r
  const M = [
    [e0[0], e1[0], e2[0]],
    [e0[1], e1[1], e2[1]],
    [e0[2], e1[2], e2[2]],
  ];
  // matrix -> quaternion (Shepperd's method), with a >= 0
  const tr = M[0][0] + M[1][1] + M[2][2];
  let a: number, b: number, c: number, d: number;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    a = 0.25 * s;
    b = (M[2][1] - M[1][2]) / s;
    c = (M[0][2] - M[2][0]) / s;
    d = (M[1][0] - M[0][1]) / s;
  } else if (M[0][0] > M[1][1] && M[0][0] > M[2][2]) {
    const s = Math.sqrt(1 + M[0][0] - M[1][1] - M[2][2]) * 2;
    a = (M[2][1] - M[1][2]) / s;
    b = 0.25 * s;
    c = (M[0][1] + M[1][0]) / s;
    d = (M[0][2] + M[2][0]) / s;
  } else if (M[1][1] > M[2][2]) {
    const s = Math.sqrt(1 + M[1][1] - M[0][0] - M[2][2]) * 2;
    a = (M[0][2] - M[2][0]) / s;
    b = (M[0][1] + M[1][0]) / s;
    c = 0.25 * s;
    d = (M[1][2] + M[2][1]) / s;
  } else {
    const s = Math.sqrt(1 + M[2][2] - M[0][0] - M[1][1]) * 2;
    a = (M[1][0] - M[0][1]) / s;
    b = (M[0][2] + M[2][0]) / s;
    c = (M[1][2] + M[2][1]) / s;
    d = 0.25 * s;
  }
  if (a < 0) {
    b = -b;
    c = -c;
    d = -d;
  }
  h.quaternB = b;
  h.quaternC = c;
  h.quaternD = d;
  h.qoffsetX = aff[0][3];
  h.qoffsetY = aff[1][3];
  h.qoffsetZ = aff[2][3];
  h.pixdim[0] = qfac;
  for (let i = 0; i < 3; i++) if (zooms[i] > 0) h.pixdim[i + 1] = zooms[i];
}

// ---------------------------------------------------------------------------------------------- orientation

/**
 * Voxel axis codes of an affine, e.g. 'RAS', 'LIA', 'LPS' (nibabel orientations.aff2axcodes / io_orientation):
 * the columns' directions are made orthonormal (polar decomposition), then each voxel axis in turn takes the world
 * axis its column points along most, that world axis then being unavailable to the following voxel axes.
 */
export function axisCodes(affine: number[][]): string {
  const zooms = [0, 1, 2].map((c) => Math.hypot(affine[0][c], affine[1][c], affine[2][c]) || 1);
  let R = [0, 1, 2].map((r) => [0, 1, 2].map((c) => affine[r][c] / zooms[c]));
  // orthogonal polar factor by Newton iteration R <- (R + R^-T) / 2 (converges for non-singular R)
  for (let it = 0; it < 30; it++) {
    const inv = invert3(R);
    if (!inv) break;
    const next = [0, 1, 2].map((r) => [0, 1, 2].map((c) => (R[r][c] + inv[c][r]) / 2));
    let diff = 0;
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) diff = Math.max(diff, Math.abs(next[r][c] - R[r][c]));
    R = next;
    if (diff < 1e-12) break;
  }
  const pos = ['R', 'A', 'S'];
  const neg = ['L', 'P', 'I'];
  let out = '';
  for (let c = 0; c < 3; c++) {
    let best = -1;
    for (let r = 0; r < 3; r++) if (R[r][c] !== 0 && (best < 0 || Math.abs(R[r][c]) > Math.abs(R[best][c]))) best = r;
    if (best < 0 || Math.abs(R[best][c]) < 1e-12) {
      out += '?';
      continue;
    }
    out += R[best][c] > 0 ? pos[best] : neg[best];
    for (let k = 0; k < 3; k++) R[best][k] = 0;
  }
  return out;
}

function invert3(m: number[][]): number[][] | null {
  const [a, b, c] = m[0];
  const [d, e, f] = m[1];
  const [g, h, i] = m[2];
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) return null;
  return [
    [A / det, -(b * i - c * h) / det, (b * f - c * e) / det],
    [B / det, (a * i - c * g) / det, -(a * f - c * d) / det],
    [C / det, -(a * h - b * g) / det, (a * e - b * d) / det],
  ];
}

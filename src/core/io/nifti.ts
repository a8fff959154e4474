// NIfTI-1 / NIfTI-2 reader and writer (.nii and .nii.gz; gzip detected by its magic bytes, never by name).
//
// Reading validates the header before allocating the voxel buffer (for .nii.gz, decompression stops right after the
// header until it is validated), keeps NaN/inf voxels (see countNonFinite), applies scl_slope/scl_inter the way
// nibabel does, and keeps the whole header (extensions included) so a writer can put a segmentation back on the
// same grid. The pipeline view (niftiToImage) follows nnU-Net's SimpleITK reader
// (nnU-Net: imageio/simpleitk_reader_writer.py): array [C, z, y, x] with x fastest, spacing reversed and
// absolute, a 4th dimension as channels, 2D images as [C, 1, y, x] with spacing (999 * max, py, px).
import { SegStudioError } from '../errors.ts';
import type { Image, ImageProperties, LabelMap, TypedArray } from '../types.ts';
import { gunzipWithLimit, gunzipWithLimitAsync, gzip, isGzip, MAX_DEFLATE_RATIO, plainBytes } from './gzip.ts';
import { gzipRuns } from './rleGzip.ts';
import {
  createNiftiHeader,
  dataByteCount,
  dataOffset,
  DATATYPES,
  datatypeByName,
  type DatatypeInfo,
  headerDims,
  niftiAffine,
  type NiftiHeader,
  NIFTI2_HEADER_SIZE,
  detectNiftiVersion,
  parseNiftiHeader,
  serializeNiftiHeader,
} from './niftiHeader.ts';

export type { NiftiHeader, NiftiExtension } from './niftiHeader.ts';

export interface NiftiVolume {
  header: NiftiHeader;
  /**
   * Stored values (before scl_slope/scl_inter), native byte order, length = product(dims); x fastest.
   * RGB24: Uint8Array of 3 * n (r, g, b per voxel). int64/uint64 are held as Float64Array (exact up to 2^53).
   */
  raw: TypedArray;
  /** 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64' | 'rgb24' | 'int64' | 'uint64' */
  datatype: string;
  /** dim[1..dim[0]] in NIfTI order (x, y, z, t, ...). */
  dims: number[];
  /** Best voxel-to-world affine (sform, else qform, else pixdim), 4x4 row-major. */
  affine: number[][];
}

const PLATFORM_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

type Ctor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

const CTORS: Record<string, Ctor> = {
  uint8: Uint8Array,
  rgb24: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
};

/** Parses a .nii or .nii.gz file. Throws SegStudioError naming the file on any malformed input. */
export function readNifti(input: Uint8Array, fileName: string): NiftiVolume {
  const bytes = plainBytes(input);
  if (!isGzip(bytes)) return volumeFrom(bytes, bytes, false, fileName);
  const buf = gunzipWithLimit(bytes, fileName, NIFTI2_HEADER_SIZE + 4, wantedBytes(bytes, fileName));
  return volumeFrom(bytes, buf, true, fileName);
}

/**
 * readNifti with the platform's native gzip decoder (DecompressionStream: browsers, workers, Node >= 18),
 * several times faster than the pure-JS path for .nii.gz; same validation, same result.
 */
export async function readNiftiAsync(input: Uint8Array, fileName: string): Promise<NiftiVolume> {
  const bytes = plainBytes(input);
  if (!isGzip(bytes)) return volumeFrom(bytes, bytes, false, fileName);
  const buf = await gunzipWithLimitAsync(bytes, fileName, NIFTI2_HEADER_SIZE + 4, wantedBytes(bytes, fileName));
  return volumeFrom(bytes, buf, true, fileName);
}

/** Validates the decompressed header prefix and says how many decompressed bytes the file needs. */
function wantedBytes(bytes: Uint8Array, fileName: string): (prefix: Uint8Array) => number {
  return (prefix) => {
    const h = parseNiftiHeader(prefix, fileName, false);
    const want = dataOffset(h) + dataByteCount(h);
    // A deflate stream cannot expand more than ~1032:1: a header promising more than that is lying (or the
    // file is truncated); refuse before allocating the buffer.
    if (want > bytes.length * MAX_DEFLATE_RATIO + 4096) {
      throw new SegStudioError(
        'truncated',
        `header promises ${want} bytes (dims ${headerDims(h).join('x')} ${DATATYPES[h.datatypeCode].name}) but ` +
          `the ${bytes.length}-byte gzip file cannot hold that much; truncated or corrupt header`,
        fileName,
      );
    }
    return want;
  };
}

function volumeFrom(bytes: Uint8Array, buf: Uint8Array, owned: boolean, fileName: string): NiftiVolume {
  const header = parseNiftiHeader(buf, fileName);
  const info = DATATYPES[header.datatypeCode];
  const off = dataOffset(header);
  const nbytes = dataByteCount(header);
  const what = isGzip(bytes) ? 'decompressed ' : '';
  if (off > buf.length) {
    throw new SegStudioError(
      'truncated',
      `vox_offset ${off} lies past the end of the ${what}file (${buf.length} bytes)`,
      fileName,
    );
  }
  if (off + nbytes > buf.length) {
    throw new SegStudioError(
      'truncated',
      `truncated: dims ${headerDims(header).join('x')} ${info.name} need ${nbytes} bytes of voxel data at offset ${off}, ` +
        `the ${what}file has only ${buf.length - off}`,
      fileName,
    );
  }
  const raw = decodeVoxels(buf, off, nbytes, info, header.littleEndian, owned);
  return { header, raw, datatype: info.name, dims: headerDims(header), affine: niftiAffine(header, fileName) };
}

function decodeVoxels(
  buf: Uint8Array,
  off: number,
  nbytes: number,
  info: DatatypeInfo,
  fileLE: boolean,
  owned: boolean,
): TypedArray {
  if (info.name === 'int64' || info.name === 'uint64') {
    const n = nbytes / 8;
    const out = new Float64Array(n);
    const dv = new DataView(buf.buffer, buf.byteOffset + off, nbytes);
    const signed = info.name === 'int64';
    for (let i = 0; i < n; i++) {
      out[i] = Number(signed ? dv.getBigInt64(8 * i, fileLE) : dv.getBigUint64(8 * i, fileLE));
    }
    return out;
  }
  const C = CTORS[info.name];
  const width = info.bytes;
  const n = nbytes / width;
  const swap = width > 1 && fileLE !== PLATFORM_LE;
  if (!swap && owned && (buf.byteOffset + off) % width === 0) {
    // decompressed buffer is ours: view it without copying
    return new C(buf.buffer as ArrayBuffer, buf.byteOffset + off, n);
  }
  const copy = buf.slice(off, off + nbytes);
  if (swap) swapBytes(copy, width);
  return new C(copy.buffer, 0, n);
}

function swapBytes(b: Uint8Array, width: number): void {
  if (width === 2) {
    for (let i = 0; i < b.length; i += 2) {
      const t = b[i];
      b[i] = b[i + 1];
      b[i + 1] = t;
    }
  } else if (width === 4) {
    for (let i = 0; i < b.length; i += 4) {
      let t = b[i];
      b[i] = b[i + 3];
      b[i + 3] = t;
      t = b[i + 1];
      b[i + 1] = b[i + 2];
      b[i + 2] = t;
    }
  } else if (width === 8) {
    for (let i = 0; i < b.length; i += 8) {
      for (let k = 0; k < 4; k++) {
        const t = b[i + k];
        b[i + k] = b[i + 7 - k];
        b[i + 7 - k] = t;
      }
    }
  }
}

/**
 * Effective scaling (nibabel nifti1.py get_slope_inter): slope 0 or non-finite means "no scaling".
 * Returns [1, 0] for RGB24 (colour bytes are never scaled).
 */
export function niftiSlopeInter(h: NiftiHeader): [number, number] {
  if (h.datatypeCode === 128) return [1, 0];
  const s = h.sclSlope;
  if (s === 0 || !Number.isFinite(s)) return [1, 0];
  return [s, h.sclInter];
}

/** Number of NaN / +-inf values (readers keep them; the dataset verifier reports them). */
export function countNonFinite(data: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) n++;
  return n;
}

/** Scaled values as float32 in NIfTI order (x fastest; extra dims outermost). Not for RGB24. */
export function niftiScaledData(vol: NiftiVolume): Float32Array {
  const [slope, inter] = niftiSlopeInter(vol.header);
  const raw = vol.raw;
  const out = new Float32Array(raw.length);
  if (slope === 1 && inter === 0) {
    out.set(raw);
  } else {
    // computed in float64 then rounded once to float32, like nibabel's get_fdata() followed by astype(float32)
    for (let i = 0; i < raw.length; i++) out[i] = raw[i] * slope + inter;
  }
  return out;
}

/** The pipeline's view of a NIfTI volume: float32, shape [C, z, y, x], spacing [pz, py, px]. */
export function niftiToImage(vol: NiftiVolume, fileName?: string): Image {
  const name = fileName ?? '';
  const d = vol.dims;
  const nx = d[0];
  const ny = d[1] ?? 1;
  const nz = d[2] ?? 1;
  let extra = 1;
  for (let i = 3; i < d.length; i++) extra *= d[i];
  const nSpatial = nx * ny * nz;
  let data: Float32Array;
  let channels: number;
  if (vol.datatype === 'rgb24') {
    channels = 3 * extra;
    data = new Float32Array(channels * nSpatial);
    const raw = vol.raw as Uint8Array;
    for (let t = 0; t < extra; t++) {
      for (let c = 0; c < 3; c++) {
        const dst = (t * 3 + c) * nSpatial;
        const src = t * nSpatial * 3 + c;
        for (let s = 0; s < nSpatial; s++) data[dst + s] = raw[src + 3 * s];
      }
    }
  } else {
    channels = extra;
    data = niftiScaledData(vol);
  }
  const p = vol.header.pixdim;
  const px = Math.abs(p[1]);
  const py = d.length >= 2 ? Math.abs(p[2]) : 1;
  let spacing: number[];
  if (d.length >= 3) spacing = [Math.abs(p[3]), py, px];
  else spacing = [Math.max(px, py) * 999, py, px]; // nnU-Net: 2D images get a dummy out-of-plane spacing
  const props: ImageProperties = {
    format: 'nifti',
    spacing,
    affine: vol.affine.map((r) => r.slice()),
    header: vol.header,
    fileName: fileName ?? undefined,
  };
  if (!name) delete props.fileName;
  return { data, shape: [channels, nz, ny, nx], properties: props };
}

export function isNiftiHeader(x: unknown): x is NiftiHeader {
  if (!x || typeof x !== 'object') return false;
  const h = x as Partial<NiftiHeader>;
  return (h.version === 1 || h.version === 2) && Array.isArray(h.dim) && Array.isArray(h.pixdim) && Array.isArray(h.srowX);
}

// ---------------------------------------------------------------------------------------------- writing

export interface WriteNiftiOptions {
  /** Datatype name for the stored values (default: the header's). */
  datatype?: string;
  /** Output name: decides gzip (ends with .gz) and is used in messages. */
  fileName: string;
  /** Dimensions in NIfTI order (x, y, z, ...); default: the header's. */
  dims?: number[];
  /** gzip level (default 1, as nibabel; fflate is pure JS, higher levels cost seconds on 256³ volumes). */
  compressionLevel?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
  /** Overrides the name: true = gzip, false = plain bytes (e.g. to compress later with gzipAsync). */
  gzip?: boolean;
  /**
   * 'deflate' (default for writeNifti): fflate at compressionLevel. 'runs' (default for segmentations when no
   * level is given): the single-pass run/row-repeat encoder of rleGzip.ts, several times faster on label maps;
   * it falls back to 'deflate' when the data does not compress to under half.
   */
  encoder?: 'deflate' | 'runs';
}

/**
 * Writes `data` (NIfTI order, x fastest) on `header`'s geometry: pixdim, qform, sform, units, description and
 * extensions are kept; scl_slope/scl_inter become 1/0 (the values are stored as given), cal_min/cal_max 0.
 * Output is little-endian single-file NIfTI of the header's version; gzipped when fileName ends with .gz.
 */
export function writeNifti(header: NiftiHeader, data: TypedArray, opts: WriteNiftiOptions): Uint8Array {
  const fileName = opts.fileName;
  const dtName = opts.datatype ?? DATATYPES[header.datatypeCode]?.name;
  const info = dtName ? datatypeByName(dtName) : undefined;
  if (!info || !CTORS[info.name]) {
    throw new SegStudioError(
      'unsupported-datatype',
      `cannot write datatype '${dtName}'; writable: ${Object.keys(CTORS).join(', ')}`,
      fileName,
    );
  }
  const dims = opts.dims ?? headerDims(header);
  if (dims.length < 1 || dims.length > 7 || dims.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new SegStudioError('bad-argument', `invalid dimensions [${dims.join(', ')}]`, fileName);
  }
  let nvox = 1;
  for (const v of dims) nvox *= v;
  const expected = info.name === 'rgb24' ? 3 * nvox : nvox;
  if (data.length !== expected) {
    throw new SegStudioError(
      'bad-argument',
      `data has ${data.length} values but dims ${dims.join('x')} ${info.name} need ${expected}`,
      fileName,
    );
  }
  if (header.version === 1 && dims.some((v) => v > 32767)) {
    throw new SegStudioError(
      'bad-argument',
      `dimensions ${dims.join('x')} do not fit a NIfTI-1 header (max 32767 per axis); use a NIfTI-2 source header`,
      fileName,
    );
  }
  const dim = [dims.length, ...dims];
  while (dim.length < 8) dim.push(1);
  const pixdim = header.pixdim.slice();
  while (pixdim.length < 8) pixdim.push(1);
  for (let i = header.dim[0] + 1; i <= dims.length; i++) if (!(pixdim[i] > 0)) pixdim[i] = 1;
  const h: NiftiHeader = {
    ...header,
    littleEndian: true,
    magic: header.version === 1 ? 'n+1' : 'n+2',
    dim,
    pixdim,
    datatypeCode: info.code,
    bitpix: info.bitpix,
    sclSlope: 1,
    sclInter: 0,
    calMin: 0,
    calMax: 0,
    glmax: 0,
    glmin: 0,
    // headers that went through JSON (e.g. saved app state) carry plain arrays/objects instead of Uint8Arrays
    extensions: (header.extensions ?? []).map((e) => ({ code: e.code, data: asBytes(e.data) })),
    analyzeBytes: header.analyzeBytes ? asBytes(header.analyzeBytes) : undefined,
  };
  const head = serializeNiftiHeader(h);
  const body = toStoredBytes(data, info, fileName);
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  const compress = opts.gzip ?? /\.gz$/i.test(fileName);
  if (!compress) return out;
  if (opts.encoder === 'runs') {
    // rows of the voxel data: distance dims[0] * bytes per voxel (the header is shorter than a row or a few)
    const z = gzipRuns(out, dims[0] * (info.bitpix / 8));
    if (z.length < out.length / 2) return z;
  }
  return gzip(out, opts.compressionLevel ?? 1);
}

function asBytes(x: unknown): Uint8Array {
  if (x instanceof Uint8Array) return x;
  if (Array.isArray(x)) return Uint8Array.from(x as number[]);
  if (x && typeof x === 'object') return Uint8Array.from(Object.values(x as Record<string, number>));
  return new Uint8Array(0);
}

/** gzip of an uncompressed single-file NIfTI with the run encoder, rows = dim[1] voxels of the file's datatype. */
export function gzipNiftiRuns(plain: Uint8Array): Uint8Array {
  const det = detectNiftiVersion(plain);
  if (!det) return gzipRuns(plain);
  const dv = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  const le = det.littleEndian;
  const nx = det.version === 1 ? dv.getInt16(42, le) : Number(dv.getBigInt64(24, le));
  const bitpix = det.version === 1 ? dv.getInt16(72, le) : dv.getInt16(14, le);
  return gzipRuns(plain, nx * Math.max(1, bitpix >> 3));
}

/** Output options of the segmentation / probability writers. */
export type NiftiOutputOptions = Pick<WriteNiftiOptions, 'compressionLevel' | 'gzip' | 'encoder'>;

const INT_RANGES: Record<string, [number, number]> = {
  uint8: [0, 255],
  rgb24: [0, 255],
  int8: [-128, 127],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

function toStoredBytes(data: TypedArray, info: DatatypeInfo, fileName: string): Uint8Array {
  const C = CTORS[info.name];
  let typed: TypedArray;
  if (data instanceof C) {
    typed = data;
  } else {
    const range = INT_RANGES[info.name];
    const conv = new C(data.length);
    if (range) {
      const [lo, hi] = range;
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (!(v >= lo && v <= hi) || Math.round(v) !== v) {
          throw new SegStudioError(
            'bad-value',
            `value ${v} at index ${i} cannot be stored as ${info.name}`,
            fileName,
          );
        }
        conv[i] = v;
      }
    } else {
      conv.set(data);
    }
    typed = conv;
  }
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (PLATFORM_LE || info.bytes === 1) return bytes;
  const copy = bytes.slice();
  swapBytes(copy, info.bytes);
  return copy;
}

/** nnU-Net's segmentation dtype rule (imageio/simpleitk_reader_writer.py write_seg): uint8 if max < 255, else uint16. */
export function segmentationDatatype(data: ArrayLike<number>): 'uint8' | 'uint16' | 'int16' | 'int32' {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (data.length === 0) return 'uint8';
  if (lo < 0) return lo >= -32768 && hi <= 32767 ? 'int16' : 'int32';
  if (hi < 255) return 'uint8';
  if (hi <= 65535) return 'uint16';
  return 'int32';
}

/** The NIfTI header to write a result on: the source header, or a fresh one built from spacing/affine. */
function targetHeader(props: ImageProperties, spatialShape: number[], fileName: string): NiftiHeader {
  if (spatialShape.length !== 3) {
    throw new SegStudioError(
      'bad-argument',
      `spatial shape must be [z, y, x], got [${spatialShape.join(', ')}]`,
      fileName,
    );
  }
  const [sz, sy, sx] = spatialShape;
  if (isNiftiHeader(props.header)) {
    const h = props.header;
    const hd = headerDims(h);
    const grid = [hd[0], hd[1] ?? 1, hd[2] ?? 1];
    if (grid[0] !== sx || grid[1] !== sy || grid[2] !== sz) {
      throw new SegStudioError(
        'shape-mismatch',
        `array shape [${spatialShape.join(', ')}] (z, y, x) does not match the image grid ` +
          `${grid.join('x')} (x, y, z) of ${props.fileName ?? 'the source image'}`,
        fileName,
      );
    }
    return h;
  }
  const sp = props.spacing ?? [1, 1, 1];
  return createNiftiHeader({
    dims: [sx, sy, sz],
    spacingXYZ: [sp[2] ?? 1, sp[1] ?? 1, sz === 1 && sp[0] >= 999 ? 1 : (sp[0] ?? 1)],
    affine: props.affine,
  });
}

function spatialDims(h: NiftiHeader, sx: number, sy: number, sz: number): number[] {
  if (h.dim[0] === 1 && sy === 1 && sz === 1) return [sx];
  if (h.dim[0] === 2 && sz === 1) return [sx, sy];
  return [sx, sy, sz];
}

/**
 * Writes a label map ([z, y, x]) as NIfTI on the source image's grid (props from niftiToImage / readImageFile).
 * Stored as uint8 when max < 255, else uint16 (int16/int32 for negative or huge labels); scl 1/0.
 */
export function writeSegmentationNifti(
  labels: LabelMap,
  props: ImageProperties,
  fileName: string,
  opts: NiftiOutputOptions = {},
): Uint8Array {
  const h = targetHeader(props, labels.shape, fileName);
  const [sz, sy, sx] = labels.shape;
  const dt = segmentationDatatype(labels.data);
  const seg: NiftiHeader = { ...h, intentCode: 0, intentName: '', intentP1: 0, intentP2: 0, intentP3: 0 };
  return writeNifti(seg, labels.data, {
    datatype: dt,
    fileName,
    dims: spatialDims(h, sx, sy, sz),
    compressionLevel: opts.compressionLevel,
    gzip: opts.gzip,
    encoder: opts.encoder ?? (opts.compressionLevel === undefined ? 'runs' : 'deflate'),
  });
}

/**
 * Writes float32 data [C, z, y, x] (e.g. class probabilities) on the source grid; C > 1 becomes the 4th dimension.
 */
export function writeFloatNifti(
  data: Float32Array,
  spatialShape: number[],
  channels: number,
  props: ImageProperties,
  fileName: string,
  opts: NiftiOutputOptions = {},
): Uint8Array {
  const h = targetHeader(props, spatialShape, fileName);
  const [sz, sy, sx] = spatialShape;
  const dims = channels > 1 ? [sx, sy, sz, channels] : spatialDims(h, sx, sy, sz);
  return writeNifti(h, data, { datatype: 'float32', fileName, dims, compressionLevel: opts.compressionLevel, gzip: opts.gzip });
}

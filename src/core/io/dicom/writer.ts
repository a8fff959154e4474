// A minimal DICOM writer, for tests, fixtures and benchmarks only (the app never writes DICOM): a volume on a
// NIfTI grid becomes a classic single-frame series (one file per slice, explicit VR little endian, MR or CT
// Image Storage, 16-bit signed pixels with RescaleSlope/Intercept), with the geometry DICOM readers use
// (ImagePositionPatient per slice, ImageOrientationPatient, PixelSpacing, SliceThickness,
// SpacingBetweenSlices) derived from the affine. Everything patient-related is synthetic.
//
// Coordinates: the NIfTI affine maps voxels to RAS+ mm, DICOM patient coordinates are LPS+ mm
// (x → left, y → posterior), so x and y change sign (DICOM PS3.3 C.7.6.2.1.1; NIfTI-1 nifti1.h).
//
// Row order: by default the rows of each DICOM image run from the NIfTI grid's last j to its first
// (`flipRows`), the way scanners store an axial image (anterior at the top) and the inverse of what dcm2niix
// does on import (it flips the rows back: nii_dicom_batch.cpp, nii_flipY), so a NIfTI → DICOM → dcm2niix
// round trip returns the original grid voxel for voxel.
import { SegStudioError } from '../../errors.ts';
import type { Image } from '../../types.ts';
import { mulberry32 } from '../../util/mulberry32.ts';

export const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';
export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const IMPLEMENTATION_CLASS_UID = '2.25.305828397130477352906012336052785716941';

export interface DicomVolume {
  /** voxel values, C-order [z, y, x] (x fastest, NIfTI storage order) */
  data: ArrayLike<number>;
  /** [nz, ny, nx] */
  shape: [number, number, number] | number[];
  /** 4×4 voxel (i = x, j = y, k = z) → RAS+ mm, row-major (ImageProperties.affine) */
  affine: number[][];
}

export interface DicomSeriesOptions {
  modality?: 'MR' | 'CT';
  seriesDescription?: string;
  seriesNumber?: number;
  patientName?: string;
  patientId?: string;
  /** seeds the generated UIDs (deterministic output); default 1 */
  uidSeed?: number;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  frameOfReferenceUid?: string;
  /** stored = round((value − intercept) / slope); default: identity for integer data within int16, else a fit */
  rescale?: { slope: number; intercept: number };
  /** rows from the grid's last j to its first (default true, see the file comment) */
  flipRows?: boolean;
  /** file names: `${prefix}${instance, 4 digits}.dcm` (default 'IM'); use '' + noExtension for bare names */
  filePrefix?: string;
  noExtension?: boolean;
  /** YYYYMMDD; default 20260101 */
  date?: string;
}

export interface DicomFile {
  name: string;
  bytes: Uint8Array;
}

/** What the writer derived from the affine, also handy for tests. */
export interface DicomGeometry {
  rows: number;
  columns: number;
  /** [row spacing (between rows), column spacing (between columns)] mm */
  pixelSpacing: [number, number];
  sliceThickness: number;
  /** row direction cosine, column direction cosine (LPS) */
  orientation: [number, number, number, number, number, number];
  /** ImagePositionPatient (LPS mm) per slice, slice k = instance k + 1 */
  positions: [number, number, number][];
  slope: number;
  intercept: number;
}

// ---------- value formatting (PS3.5 6.2: DS ≤ 16 bytes, IS ≤ 12, UI ≤ 64, even lengths)

/** A decimal string of at most 16 characters, as precise as fits. */
export function formatDS(x: number): string {
  if (!Number.isFinite(x)) throw new SegStudioError('dicom-write', `cannot store ${x} as a DICOM decimal string`);
  if (Object.is(x, -0) || x === 0) return '0';
  for (let p = 15; p >= 1; p--) {
    const s = String(Number(x.toPrecision(p)));
    if (s.length <= 16) return s;
    const e = x.toExponential(p - 1).replace('e+', 'e');
    if (e.length <= 16) return e;
  }
  throw new SegStudioError('dicom-write', `cannot store ${x} in 16 characters`);
}

/** A 2.25.<decimal> UID (PS3.5 B.2) from a seeded generator: deterministic, ≤ 64 characters. */
export function makeUid(rand: () => number): string {
  let digits = String(1 + Math.floor(rand() * 9));
  while (digits.length < 38) digits += String(Math.floor(rand() * 10));
  return `2.25.${digits}`;
}

// ---------- element encoding

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const enc = new TextEncoder();

interface Element {
  group: number;
  element: number;
  vr: string;
  value: Uint8Array;
}

function textValue(vr: string, s: string): Uint8Array {
  const b = enc.encode(s);
  if (b.length % 2 === 0) return b;
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  out[b.length] = vr === 'UI' ? 0 : 0x20;
  return out;
}

function str(group: number, element: number, vr: string, s: string): Element {
  return { group, element, vr, value: textValue(vr, s) };
}

function us(group: number, element: number, v: number): Element {
  const value = new Uint8Array(2);
  new DataView(value.buffer).setUint16(0, v, true);
  return { group, element, vr: 'US', value };
}

function ul(group: number, element: number, v: number): Element {
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, v, true);
  return { group, element, vr: 'UL', value };
}

function encodedLength(e: Element): number {
  return (LONG_VRS.has(e.vr) ? 12 : 8) + e.value.length;
}

function writeElements(out: Uint8Array, offset: number, elements: Element[]): number {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (const e of elements) {
    dv.setUint16(offset, e.group, true);
    dv.setUint16(offset + 2, e.element, true);
    out[offset + 4] = e.vr.charCodeAt(0);
    out[offset + 5] = e.vr.charCodeAt(1);
    if (LONG_VRS.has(e.vr)) {
      dv.setUint16(offset + 6, 0, true);
      dv.setUint32(offset + 8, e.value.length, true);
      offset += 12;
    } else {
      if (e.value.length > 0xffff) throw new SegStudioError('dicom-write', `element (${e.group.toString(16)},${e.element.toString(16)}) too long`);
      dv.setUint16(offset + 6, e.value.length, true);
      offset += 8;
    }
    out.set(e.value, offset);
    offset += e.value.length;
  }
  return offset;
}

/** One DICOM Part 10 file: 128-byte preamble, 'DICM', file meta group, then the data set (sorted by tag). */
export function encodeDicomFile(sopClassUid: string, sopInstanceUid: string, dataset: Element[]): Uint8Array {
  const metaBody: Element[] = [
    { group: 2, element: 1, vr: 'OB', value: new Uint8Array([0, 1]) },
    str(2, 2, 'UI', sopClassUid),
    str(2, 3, 'UI', sopInstanceUid),
    str(2, 0x10, 'UI', EXPLICIT_VR_LITTLE_ENDIAN),
    str(2, 0x12, 'UI', IMPLEMENTATION_CLASS_UID),
    str(2, 0x13, 'SH', 'SEGSTUDIO_TEST'),
  ];
  const metaLen = metaBody.reduce((n, e) => n + encodedLength(e), 0);
  const meta = [ul(2, 0, metaLen), ...metaBody];
  const sorted = [...dataset].sort((a, b) => a.group - b.group || a.element - b.element);
  const total = 132 + meta.reduce((n, e) => n + encodedLength(e), 0) + sorted.reduce((n, e) => n + encodedLength(e), 0);
  const out = new Uint8Array(total);
  out.set(enc.encode('DICM'), 128);
  let off = writeElements(out, 132, meta);
  off = writeElements(out, off, sorted);
  if (off !== total) throw new Error(`DICOM encoder: wrote ${off} of ${total} bytes`);
  return out;
}

// ---------- geometry

const ras2lps = (v: number[]): [number, number, number] => [-v[0], -v[1], v[2]];
const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

/** DICOM geometry of a volume written with `flipRows` (default true). Throws on sheared or degenerate affines. */
export function dicomGeometry(shape: number[], affine: number[][], flipRows = true): Omit<DicomGeometry, 'slope' | 'intercept'> {
  const [nz, ny, nx] = shape;
  const col = (j: number) => [affine[0][j], affine[1][j], affine[2][j]];
  const ci = col(0);
  const cj = col(1);
  const ck = col(2);
  const si = Math.hypot(...ci);
  const sj = Math.hypot(...cj);
  const sk = Math.hypot(...ck);
  if (![si, sj, sk].every((s) => Number.isFinite(s) && s > 0)) {
    throw new SegStudioError('dicom-write', 'the affine has a zero or non-finite voxel axis');
  }
  // DICOM's 2D images need perpendicular row/column axes, and a classic series has slices along the normal
  const tol = 1e-4;
  if (Math.abs(dot(ci, cj)) / (si * sj) > tol || Math.abs(dot(ci, ck)) / (si * sk) > tol || Math.abs(dot(cj, ck)) / (sj * sk) > tol) {
    throw new SegStudioError('dicom-write', 'the affine is sheared (axes not perpendicular); a classic DICOM series cannot hold it');
  }
  const rowCos = ras2lps(ci.map((v) => v / si));
  const colCosRas = cj.map((v) => (flipRows ? -v : v) / sj);
  const colCos = ras2lps(colCosRas);
  const j0 = flipRows ? ny - 1 : 0;
  const positions: [number, number, number][] = [];
  for (let k = 0; k < nz; k++) {
    const p = [0, 1, 2].map((r) => affine[r][1] * j0 + affine[r][2] * k + affine[r][3]);
    positions.push(ras2lps(p));
  }
  return {
    rows: ny,
    columns: nx,
    pixelSpacing: [sj, si],
    sliceThickness: sk,
    orientation: [...rowCos, ...colCos] as DicomGeometry['orientation'],
    positions,
  };
}

function chooseRescale(data: ArrayLike<number>): { slope: number; intercept: number } {
  let lo = Infinity;
  let hi = -Infinity;
  let integral = true;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) throw new SegStudioError('dicom-write', `voxel ${i} is ${v}; DICOM pixels must be finite`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (integral && v !== Math.round(v)) integral = false;
  }
  if (data.length === 0) return { slope: 1, intercept: 0 };
  if (integral && lo >= -32768 && hi <= 32767) return { slope: 1, intercept: 0 };
  const slope = Number(formatDS((hi - lo) / 65000 || 1));
  const intercept = Number(formatDS((hi + lo) / 2));
  return { slope, intercept };
}

/**
 * Writes a volume as a single-frame DICOM series (one file per k-slice, InstanceNumber k + 1).
 * Returns the files (named IM0001.dcm, …) and the geometry written.
 */
export function writeDicomSeries(volume: DicomVolume, opts: DicomSeriesOptions = {}): { files: DicomFile[]; geometry: DicomGeometry } {
  const shape = [...volume.shape];
  if (shape.length !== 3 || !shape.every((s) => Number.isInteger(s) && s > 0)) {
    throw new SegStudioError('dicom-write', `expected a 3-d shape [z, y, x], got [${shape.join(', ')}]`);
  }
  const [nz, ny, nx] = shape;
  if (ny > 0xffff || nx > 0xffff) throw new SegStudioError('dicom-write', `slices of ${nx}×${ny} exceed DICOM's 65535 rows/columns`);
  if (volume.data.length !== nz * ny * nx) {
    throw new SegStudioError('dicom-write', `data has ${volume.data.length} values for shape [${shape.join(', ')}]`);
  }
  const flipRows = opts.flipRows ?? true;
  const geo = dicomGeometry(shape, volume.affine, flipRows);
  const { slope, intercept } = opts.rescale ?? chooseRescale(volume.data);
  if (!(slope !== 0 && Number.isFinite(slope) && Number.isFinite(intercept))) {
    throw new SegStudioError('dicom-write', `invalid rescale slope ${slope} / intercept ${intercept}`);
  }
  const slopeS = formatDS(slope);
  const interS = formatDS(intercept);
  const slopeV = Number(slopeS);
  const interV = Number(interS);

  const modality = opts.modality ?? 'MR';
  const sopClass = modality === 'CT' ? CT_IMAGE_STORAGE : MR_IMAGE_STORAGE;
  const rand = mulberry32(opts.uidSeed ?? 1);
  const studyUid = opts.studyInstanceUid ?? makeUid(rand);
  const seriesUid = opts.seriesInstanceUid ?? makeUid(rand);
  const forUid = opts.frameOfReferenceUid ?? makeUid(rand);
  const date = opts.date ?? '20260101';
  const seriesNumber = opts.seriesNumber ?? 1;
  const description = opts.seriesDescription ?? 'SegStudio synthetic series';
  const normal = [
    geo.orientation[1] * geo.orientation[5] - geo.orientation[2] * geo.orientation[4],
    geo.orientation[2] * geo.orientation[3] - geo.orientation[0] * geo.orientation[5],
    geo.orientation[0] * geo.orientation[4] - geo.orientation[1] * geo.orientation[3],
  ];
  const ds = (v: number[]) => v.map(formatDS).join('\\');
  const prefix = opts.filePrefix ?? 'IM';

  const files: DicomFile[] = [];
  const plane = ny * nx;
  for (let k = 0; k < nz; k++) {
    const sopUid = makeUid(rand);
    const stored = new Int16Array(plane);
    for (let r = 0; r < ny; r++) {
      const j = flipRows ? ny - 1 - r : r;
      const src = k * plane + j * nx;
      for (let c = 0; c < nx; c++) {
        const v = Math.round((volume.data[src + c] - interV) / slopeV);
        if (v < -32768 || v > 32767) {
          throw new SegStudioError('dicom-write', `value ${volume.data[src + c]} does not fit int16 with slope ${slopeS} / intercept ${interS}`);
        }
        stored[r * nx + c] = v;
      }
    }
    // little-endian bytes (PS3.5 explicit VR little endian), whatever the platform's order
    const pixels = new Uint8Array(stored.buffer);
    if (!LITTLE_ENDIAN) for (let i = 0; i < pixels.length; i += 2) [pixels[i], pixels[i + 1]] = [pixels[i + 1], pixels[i]];
    const ipp = geo.positions[k];
    const dataset: Element[] = [
      str(0x0008, 0x0005, 'CS', 'ISO_IR 100'),
      str(0x0008, 0x0008, 'CS', 'ORIGINAL\\PRIMARY\\OTHER'),
      str(0x0008, 0x0016, 'UI', sopClass),
      str(0x0008, 0x0018, 'UI', sopUid),
      str(0x0008, 0x0020, 'DA', date),
      str(0x0008, 0x0021, 'DA', date),
      str(0x0008, 0x0022, 'DA', date),
      str(0x0008, 0x0030, 'TM', '120000'),
      str(0x0008, 0x0031, 'TM', '120000'),
      str(0x0008, 0x0032, 'TM', '120000'),
      str(0x0008, 0x0060, 'CS', modality),
      str(0x0008, 0x0070, 'LO', 'SegStudio'),
      str(0x0008, 0x103e, 'LO', description),
      str(0x0010, 0x0010, 'PN', opts.patientName ?? 'Synthetic^Phantom'),
      str(0x0010, 0x0020, 'LO', opts.patientId ?? 'SEGSTUDIO-TEST'),
      str(0x0010, 0x0030, 'DA', ''),
      str(0x0010, 0x0040, 'CS', 'O'),
      str(0x0018, 0x0050, 'DS', formatDS(geo.sliceThickness)),
      str(0x0018, 0x0088, 'DS', formatDS(geo.sliceThickness)),
      str(0x0018, 0x5100, 'CS', 'HFS'),
      str(0x0020, 0x000d, 'UI', studyUid),
      str(0x0020, 0x000e, 'UI', seriesUid),
      str(0x0020, 0x0010, 'SH', '1'),
      str(0x0020, 0x0011, 'IS', String(seriesNumber)),
      str(0x0020, 0x0012, 'IS', '1'),
      str(0x0020, 0x0013, 'IS', String(k + 1)),
      str(0x0020, 0x0032, 'DS', ds(ipp)),
      str(0x0020, 0x0037, 'DS', ds(geo.orientation)),
      str(0x0020, 0x0052, 'UI', forUid),
      str(0x0020, 0x1041, 'DS', formatDS(dot(ipp, normal))),
      us(0x0028, 0x0002, 1),
      str(0x0028, 0x0004, 'CS', 'MONOCHROME2'),
      us(0x0028, 0x0010, ny),
      us(0x0028, 0x0011, nx),
      str(0x0028, 0x0030, 'DS', ds(geo.pixelSpacing)),
      us(0x0028, 0x0100, 16),
      us(0x0028, 0x0101, 16),
      us(0x0028, 0x0102, 15),
      us(0x0028, 0x0103, 1),
      str(0x0028, 0x1052, 'DS', interS),
      str(0x0028, 0x1053, 'DS', slopeS),
      { group: 0x7fe0, element: 0x0010, vr: 'OW', value: pixels },
    ];
    if (modality === 'CT') dataset.push(str(0x0028, 0x1054, 'LO', 'HU'));
    const num = String(k + 1).padStart(4, '0');
    files.push({ name: `${prefix}${num}${opts.noExtension ? '' : '.dcm'}`, bytes: encodeDicomFile(sopClass, sopUid, dataset) });
  }
  return { files, geometry: { ...geo, slope: slopeV, intercept: interV } };
}

/** Channel 0 of an Image (with properties.affine) as a DICOM series. */
export function imageToDicomSeries(image: Image, opts: DicomSeriesOptions = {}): { files: DicomFile[]; geometry: DicomGeometry } {
  const [, nz, ny, nx] = image.shape;
  const affine = image.properties.affine;
  if (!affine) throw new SegStudioError('dicom-write', 'the image has no affine', image.properties.fileName);
  return writeDicomSeries({ data: image.data.subarray(0, nz * ny * nx), shape: [nz, ny, nx], affine }, opts);
}

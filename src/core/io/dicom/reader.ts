// A minimal DICOM header reader: enough to tell DICOM from other files, to spot truncated images before
// conversion, and to group files into series (SeriesInstanceUID, description, modality, size). The pixel
// decoding and geometry are dcm2niix's job (src/core/io/dicom/convert.ts); this only reads tags up to the
// pixel data. Handles Part 10 files (preamble + 'DICM') and bare data sets, explicit and implicit VR little
// endian (PS3.5 7.1), and skips sequences of defined or undefined length (PS3.5 7.5).
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const ALL_VRS = new Set([
  'AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US',
  ...LONG_VRS,
]);
/** VRs of the tags we read, for implicit-VR data sets (PS3.6). */
const IMPLICIT_US = new Set([0x00280002, 0x00280010, 0x00280011, 0x00280100, 0x00280101, 0x00280102, 0x00280103]);

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';
export const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';
export const DEFLATED_EXPLICIT_VR_LE = '1.2.840.10008.1.2.1.99';
export const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';

export interface DicomElement {
  tag: number;
  vr: string;
  offset: number;
  length: number;
}

export interface DicomHeader {
  transferSyntax: string;
  /** tag (group << 16 | element) → element, top-level data set and file meta only */
  elements: Map<number, DicomElement>;
  bytes: Uint8Array;
  /** offset of the pixel data value and its byte length (-1: undefined length, i.e. encapsulated) */
  pixelDataOffset: number | null;
  pixelDataLength: number | null;
}

export const tag = (group: number, element: number) => ((group << 16) | element) >>> 0;

export class DicomParseError extends Error {}

function hasPreamble(b: Uint8Array): boolean {
  return b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
}

/** A data set without preamble starts with a group 0002 or 0008 element (old ACR-NEMA style files). */
function looksLikeBareDataset(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const group = b[0] | (b[1] << 8);
  if (group !== 0x0002 && group !== 0x0008) return false;
  const vr = String.fromCharCode(b[4], b[5]);
  if (ALL_VRS.has(vr)) return true;
  const len = (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0;
  return len < 1024;
}

/** True when the bytes are (probably) a DICOM file. */
export function isDicom(b: Uint8Array): boolean {
  return hasPreamble(b) || looksLikeBareDataset(b);
}

/** Reads the header up to (and including the position of) the pixel data. Throws DicomParseError. */
export function parseDicomHeader(bytes: Uint8Array): DicomHeader {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements = new Map<number, DicomElement>();
  let pos = hasPreamble(bytes) ? 132 : 0;
  if (pos === 0 && !looksLikeBareDataset(bytes)) throw new DicomParseError('not a DICOM file (no DICM marker)');
  let transferSyntax = '';
  let explicit = true;
  let inMeta = true;
  let pixelDataOffset: number | null = null;
  let pixelDataLength: number | null = null;
  const end = bytes.length;
  const need = (n: number, what: string) => {
    if (pos + n > end) throw new DicomParseError(`file ends inside ${what} at byte ${pos}`);
  };
  /** skips items and nested sequences of undefined length until the matching delimiter */
  const skipUndefined = (delimiter: number) => {
    for (;;) {
      need(8, 'a sequence');
      const t = ((dv.getUint16(pos, true) << 16) | dv.getUint16(pos + 2, true)) >>> 0;
      const len = dv.getUint32(pos + 4, true);
      pos += 8;
      if (t === delimiter) return;
      if (t === 0xfffee000) {
        // item: defined length → skip; undefined → its elements until the item delimiter
        if (len === 0xffffffff) skipElementsUntil(0xfffee00d);
        else pos += len;
      } else {
        throw new DicomParseError(`unexpected tag ${t.toString(16)} inside a sequence`);
      }
    }
  };
  const skipElementsUntil = (delimiter: number) => {
    for (;;) {
      need(8, 'a sequence item');
      const g = dv.getUint16(pos, true);
      const el = dv.getUint16(pos + 2, true);
      const t = ((g << 16) | el) >>> 0;
      if (t === delimiter) {
        pos += 8;
        return;
      }
      readElement(false);
    }
  };
  const readElement = (top: boolean): DicomElement | null => {
    need(8, 'an element header');
    const group = dv.getUint16(pos, true);
    const element = dv.getUint16(pos + 2, true);
    const t = ((group << 16) | element) >>> 0;
    let vr = '';
    let length: number;
    const useExplicit = group === 2 || explicit;
    const start = pos;
    if (useExplicit) {
      vr = String.fromCharCode(bytes[pos + 4], bytes[pos + 5]);
      if (!ALL_VRS.has(vr)) throw new DicomParseError(`invalid VR '${vr}' at byte ${pos}`);
      if (LONG_VRS.has(vr)) {
        need(12, 'an element header');
        length = dv.getUint32(pos + 8, true);
        pos += 12;
      } else {
        length = dv.getUint16(pos + 6, true);
        pos += 8;
      }
    } else {
      length = dv.getUint32(pos + 4, true);
      vr = IMPLICIT_US.has(t) ? 'US' : t === 0x7fe00010 ? 'OW' : length === 0xffffffff ? 'SQ' : 'UN';
      pos += 8;
    }
    if (t === 0x7fe00010 && top) {
      pixelDataOffset = pos;
      pixelDataLength = length === 0xffffffff ? -1 : length;
      return { tag: t, vr, offset: pos, length };
    }
    if (length === 0xffffffff) {
      skipUndefined(0xfffee0dd);
      return { tag: t, vr, offset: start, length: -1 };
    }
    need(length, `element (${group.toString(16).padStart(4, '0')},${element.toString(16).padStart(4, '0')})`);
    const e = { tag: t, vr, offset: pos, length };
    pos += length;
    return e;
  };
  while (pos < end) {
    if (inMeta) {
      if (end - pos >= 2 && dv.getUint16(pos, true) !== 2) {
        inMeta = false;
        if (!transferSyntax) transferSyntax = hasPreamble(bytes) ? EXPLICIT_VR_LE : guessBareSyntax(bytes, pos);
        explicit = transferSyntax !== IMPLICIT_VR_LITTLE_ENDIAN;
        if (transferSyntax === EXPLICIT_VR_BIG_ENDIAN || transferSyntax === DEFLATED_EXPLICIT_VR_LE) break;
        continue;
      }
    }
    const e = readElement(true);
    if (!e) continue;
    elements.set(e.tag, e);
    if (e.tag === 0x00020010) transferSyntax = text(bytes, e).replace(/\0/g, '').trim();
    if (e.tag === 0x7fe00010) break;
  }
  return { transferSyntax, elements, bytes, pixelDataOffset, pixelDataLength };
}

function guessBareSyntax(b: Uint8Array, pos: number): string {
  const vr = String.fromCharCode(b[pos + 4] ?? 0, b[pos + 5] ?? 0);
  return ALL_VRS.has(vr) ? EXPLICIT_VR_LE : IMPLICIT_VR_LITTLE_ENDIAN;
}

function text(bytes: Uint8Array, e: DicomElement): string {
  let s = '';
  for (let i = 0; i < e.length; i++) s += String.fromCharCode(bytes[e.offset + i]);
  return s;
}

/** String value of a tag (trailing spaces / NULs trimmed), or undefined when absent. */
export function getString(h: DicomHeader, t: number): string | undefined {
  const e = h.elements.get(t);
  if (!e || e.length < 0) return undefined;
  return text(h.bytes, e).replace(/[\0 ]+$/, '').replace(/^ +/, '');
}

/** Numeric value of a US/IS/DS tag (first value). */
export function getNumber(h: DicomHeader, t: number): number | undefined {
  const e = h.elements.get(t);
  if (!e || e.length < 0) return undefined;
  if (e.vr === 'US' && e.length >= 2) return h.bytes[e.offset] | (h.bytes[e.offset + 1] << 8);
  if (e.vr === 'UL' && e.length >= 4) return new DataView(h.bytes.buffer, h.bytes.byteOffset + e.offset, 4).getUint32(0, true);
  const s = getString(h, t);
  if (s === undefined || s === '') return undefined;
  const v = Number(s.split('\\')[0]);
  return Number.isFinite(v) ? v : undefined;
}

/** All numeric values of a multi-valued DS/IS tag. */
export function getNumbers(h: DicomHeader, t: number): number[] | undefined {
  const s = getString(h, t);
  if (s === undefined || s === '') return undefined;
  return s.split('\\').map(Number);
}

export interface DicomFileInfo {
  sopClassUid: string;
  seriesInstanceUid: string;
  seriesNumber: number | null;
  seriesDescription: string;
  modality: string;
  rows: number;
  columns: number;
  frames: number;
  transferSyntax: string;
}

export type DicomInspection = { ok: true; info: DicomFileInfo } | { ok: false; reason: string; isDicom: boolean };

/** Uncompressed transfer syntaxes, whose pixel data length we can check. */
const NATIVE = new Set([IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LE, EXPLICIT_VR_BIG_ENDIAN]);

/**
 * Is this file a DICOM image dcm2niix can use? Names the problem otherwise: not DICOM, a DICOMDIR index,
 * no pixel data, or pixel data shorter than rows × columns × frames × bits says (a truncated file).
 */
export function inspectDicom(bytes: Uint8Array): DicomInspection {
  if (!isDicom(bytes)) return { ok: false, isDicom: false, reason: 'not a DICOM file' };
  let h: DicomHeader;
  try {
    h = parseDicomHeader(bytes);
  } catch (e) {
    return { ok: false, isDicom: true, reason: `corrupt DICOM header (${(e as Error).message})` };
  }
  const sopClassUid = getString(h, tag(0x0002, 0x0002)) ?? getString(h, tag(0x0008, 0x0016)) ?? '';
  if (sopClassUid === MEDIA_STORAGE_DIRECTORY) return { ok: false, isDicom: true, reason: 'a DICOMDIR index (not an image)' };
  if (h.transferSyntax === EXPLICIT_VR_BIG_ENDIAN || h.transferSyntax === DEFLATED_EXPLICIT_VR_LE) {
    // left to dcm2niix, which reads both; we cannot look inside
    return {
      ok: true,
      info: { sopClassUid, seriesInstanceUid: '', seriesNumber: null, seriesDescription: '', modality: '', rows: 0, columns: 0, frames: 1, transferSyntax: h.transferSyntax },
    };
  }
  if (h.pixelDataOffset === null) return { ok: false, isDicom: true, reason: 'no pixel data (not an image)' };
  const rows = getNumber(h, tag(0x0028, 0x0010)) ?? 0;
  const columns = getNumber(h, tag(0x0028, 0x0011)) ?? 0;
  const frames = Math.max(1, Math.round(getNumber(h, tag(0x0028, 0x0008)) ?? 1));
  const bits = getNumber(h, tag(0x0028, 0x0100)) ?? 16;
  const spp = getNumber(h, tag(0x0028, 0x0002)) ?? 1;
  if (!(rows > 0 && columns > 0)) return { ok: false, isDicom: true, reason: `image has ${rows} rows × ${columns} columns` };
  if (NATIVE.has(h.transferSyntax) && h.pixelDataLength !== null && h.pixelDataLength >= 0) {
    const expected = Math.ceil((rows * columns * frames * spp * bits) / 8);
    const available = Math.min(h.pixelDataLength, bytes.length - h.pixelDataOffset);
    if (available < expected) {
      return { ok: false, isDicom: true, reason: `truncated: pixel data has ${available} of ${expected} bytes` };
    }
  }
  return {
    ok: true,
    info: {
      sopClassUid,
      seriesInstanceUid: getString(h, tag(0x0020, 0x000e)) ?? '',
      seriesNumber: getNumber(h, tag(0x0020, 0x0011)) ?? null,
      seriesDescription: getString(h, tag(0x0008, 0x103e)) ?? '',
      modality: getString(h, tag(0x0008, 0x0060)) ?? '',
      rows,
      columns,
      frames,
      transferSyntax: h.transferSyntax,
    },
  };
}

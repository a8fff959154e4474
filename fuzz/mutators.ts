// Mutators: generic byte edits plus structure-aware edits for NIfTI headers, gzip streams, PNG chunks,
// JSON documents, npy headers and ONNX protobufs. Every mutator takes the Rng and a log it appends a short
// description to, so a bug report says exactly what was done to the seed.
import { gunzipSync, gzipSync, unzipSync, zipSync, inflateSync, deflateSync } from 'fflate';
import type { Rng } from './prng.ts';

export type Log = string[];

// ---------------------------------------------------------------- interesting values

export const INTERESTING_I16 = [0, 1, -1, 2, 3, 7, 8, 16, 255, 256, 32767, -32768, 0x7f00, 4096];
export const INTERESTING_I32 = [0, 1, -1, 2, 348, 540, 352, 0x7fffffff, -0x80000000, 0x10000, 0x40000000, 65535, 1 << 24];
export const INTERESTING_F = [0, -0, 1, -1, 0.5, -2.5, NaN, Infinity, -Infinity, 1e-38, 3.4e38, -3.4e38, 1e9, 1e-9, 2 ** 31, 352.5];

// ---------------------------------------------------------------- generic byte mutations

export function clone(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

export function flipBits(b: Uint8Array, rng: Rng, log: Log, region?: [number, number]): Uint8Array {
  if (b.length === 0) return b;
  const out = clone(b);
  const [lo, hi] = region ?? [0, b.length];
  const n = rng.range(1, 8);
  for (let k = 0; k < n; k++) {
    const i = lo + rng.int(Math.max(1, Math.min(hi, b.length) - lo));
    if (i < out.length) out[i] ^= 1 << rng.int(8);
  }
  log.push(`flip ${n} bits in [${lo},${hi})`);
  return out;
}

export function randomBytes(b: Uint8Array, rng: Rng, log: Log): Uint8Array {
  if (b.length === 0) return b;
  const out = clone(b);
  const at = rng.int(b.length);
  const n = Math.min(b.length - at, rng.range(1, 32));
  for (let i = 0; i < n; i++) out[at + i] = rng.int(256);
  log.push(`random ${n} bytes at ${at}`);
  return out;
}

export function truncate(b: Uint8Array, rng: Rng, log: Log, at?: number): Uint8Array {
  const cut = at ?? (rng.bool(0.3) ? rng.int(Math.min(b.length, 600)) : rng.int(b.length));
  log.push(`truncate to ${cut} of ${b.length}`);
  return b.slice(0, cut);
}

export function insertBytes(b: Uint8Array, rng: Rng, log: Log): Uint8Array {
  const at = rng.int(b.length + 1);
  const n = rng.pick([1, 2, 4, 16, 1000]);
  const ins = new Uint8Array(n);
  const fill = rng.pick([0, 0xff, -1]);
  for (let i = 0; i < n; i++) ins[i] = fill < 0 ? rng.int(256) : fill;
  const out = new Uint8Array(b.length + n);
  out.set(b.subarray(0, at));
  out.set(ins, at);
  out.set(b.subarray(at), at + n);
  log.push(`insert ${n} bytes at ${at}`);
  return out;
}

export function deleteRange(b: Uint8Array, rng: Rng, log: Log): Uint8Array {
  if (b.length < 2) return b;
  const at = rng.int(b.length);
  const n = Math.min(b.length - at, rng.pick([1, 3, 4, 17, 512]));
  const out = new Uint8Array(b.length - n);
  out.set(b.subarray(0, at));
  out.set(b.subarray(at + n), at);
  log.push(`delete ${n} bytes at ${at}`);
  return out;
}

export function appendGarbage(b: Uint8Array, rng: Rng, log: Log): Uint8Array {
  const n = rng.pick([1, 7, 64, 4096]);
  const out = new Uint8Array(b.length + n);
  out.set(b);
  for (let i = b.length; i < out.length; i++) out[i] = rng.int(256);
  log.push(`append ${n} random bytes`);
  return out;
}

export function setWord(b: Uint8Array, rng: Rng, log: Log): Uint8Array {
  if (b.length < 8) return b;
  const out = clone(b);
  const dv = new DataView(out.buffer);
  const at = rng.int(b.length - 8);
  const le = rng.bool(0.8);
  const kind = rng.int(3);
  if (kind === 0) dv.setInt16(at, rng.pick(INTERESTING_I16), le);
  else if (kind === 1) dv.setInt32(at, rng.pick(INTERESTING_I32), le);
  else dv.setFloat32(at, rng.pick(INTERESTING_F), le);
  log.push(`set ${['i16', 'i32', 'f32'][kind]} at ${at}`);
  return out;
}

/** One random generic byte mutation. */
export function byteMutation(b: Uint8Array, rng: Rng, log: Log): Uint8Array {
  switch (rng.int(7)) {
    case 0:
      return flipBits(b, rng, log);
    case 1:
      return randomBytes(b, rng, log);
    case 2:
      return truncate(b, rng, log);
    case 3:
      return insertBytes(b, rng, log);
    case 4:
      return deleteRange(b, rng, log);
    case 5:
      return appendGarbage(b, rng, log);
    default:
      return setWord(b, rng, log);
  }
}

// ---------------------------------------------------------------- NIfTI headers

interface Field {
  name: string;
  off: number;
  type: 'i16' | 'i32' | 'i64' | 'f32' | 'f64' | 'u8';
}

const N1: Field[] = [
  { name: 'sizeof_hdr', off: 0, type: 'i32' },
  { name: 'dim_info', off: 39, type: 'u8' },
  ...Array.from({ length: 8 }, (_, i): Field => ({ name: `dim[${i}]`, off: 40 + 2 * i, type: 'i16' })),
  { name: 'intent_code', off: 68, type: 'i16' },
  { name: 'datatype', off: 70, type: 'i16' },
  { name: 'bitpix', off: 72, type: 'i16' },
  { name: 'slice_start', off: 74, type: 'i16' },
  ...Array.from({ length: 8 }, (_, i): Field => ({ name: `pixdim[${i}]`, off: 76 + 4 * i, type: 'f32' })),
  { name: 'vox_offset', off: 108, type: 'f32' },
  { name: 'scl_slope', off: 112, type: 'f32' },
  { name: 'scl_inter', off: 116, type: 'f32' },
  { name: 'slice_end', off: 120, type: 'i16' },
  { name: 'slice_code', off: 122, type: 'u8' },
  { name: 'xyzt_units', off: 123, type: 'u8' },
  { name: 'cal_max', off: 124, type: 'f32' },
  { name: 'qform_code', off: 252, type: 'i16' },
  { name: 'sform_code', off: 254, type: 'i16' },
  { name: 'quatern_b', off: 256, type: 'f32' },
  { name: 'quatern_c', off: 260, type: 'f32' },
  { name: 'quatern_d', off: 264, type: 'f32' },
  { name: 'qoffset_x', off: 268, type: 'f32' },
  ...Array.from({ length: 12 }, (_, i): Field => ({ name: `srow[${i}]`, off: 280 + 4 * i, type: 'f32' })),
  { name: 'extension[0]', off: 348, type: 'u8' },
  { name: 'esize', off: 352, type: 'i32' },
  { name: 'ecode', off: 356, type: 'i32' },
];

const N2: Field[] = [
  { name: 'sizeof_hdr', off: 0, type: 'i32' },
  { name: 'datatype', off: 12, type: 'i16' },
  { name: 'bitpix', off: 14, type: 'i16' },
  ...Array.from({ length: 8 }, (_, i): Field => ({ name: `dim[${i}]`, off: 16 + 8 * i, type: 'i64' })),
  ...Array.from({ length: 8 }, (_, i): Field => ({ name: `pixdim[${i}]`, off: 104 + 8 * i, type: 'f64' })),
  { name: 'vox_offset', off: 168, type: 'i64' },
  { name: 'scl_slope', off: 176, type: 'f64' },
  { name: 'scl_inter', off: 184, type: 'f64' },
  { name: 'slice_start', off: 224, type: 'i64' },
  { name: 'slice_end', off: 232, type: 'i64' },
  { name: 'qform_code', off: 344, type: 'i32' },
  { name: 'sform_code', off: 348, type: 'i32' },
  { name: 'quatern_b', off: 352, type: 'f64' },
  { name: 'quatern_c', off: 360, type: 'f64' },
  { name: 'quatern_d', off: 368, type: 'f64' },
  ...Array.from({ length: 12 }, (_, i): Field => ({ name: `srow[${i}]`, off: 400 + 8 * i, type: 'f64' })),
  { name: 'slice_code', off: 496, type: 'i32' },
  { name: 'extension[0]', off: 540, type: 'u8' },
  { name: 'esize', off: 544, type: 'i32' },
  { name: 'ecode', off: 548, type: 'i32' },
];

const DATATYPE_CODES = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 9999, -1];
const BITPIX = [0, 1, 8, 16, 24, 32, 64, 128, 7, -8];

function niftiLayout(b: Uint8Array): { fields: Field[]; le: boolean } | null {
  if (b.length < 4) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (const le of [true, false]) {
    const s = dv.getInt32(0, le);
    if (s === 348) return { fields: N1, le };
    if (s === 540) return { fields: N2, le };
  }
  return null;
}

function valueFor(f: Field, rng: Rng): number {
  if (f.name === 'datatype') return rng.pick(DATATYPE_CODES);
  if (f.name === 'bitpix') return rng.pick(BITPIX);
  if (f.name.startsWith('dim[')) return rng.pick([0, 1, 2, 3, 4, 5, 7, 8, 9, -1, -5, 300, 32767, -32768, 1000, 2 ** 20, 2 ** 31 - 1, 2 ** 40]);
  if (f.name === 'vox_offset') return rng.pick([0, 1, 347, 348, 352, 353, 355.5, 539, 544, -1, -352, 1e7, 1e12, 2 ** 40, NaN, Infinity]);
  if (f.name.endsWith('_code')) return rng.pick([0, 1, 2, 3, 4, 5, -1, 99, 255, 32767]);
  if (f.name === 'esize') return rng.pick([0, 8, 15, 16, 24, -16, 2 ** 30, 0x7fffffff, 1 << 20]);
  if (f.name === 'extension[0]') return rng.pick([0, 1, 255]);
  if (f.name === 'sizeof_hdr') return rng.pick([0, 347, 349, 540, 348, 1543569408]);
  if (f.type === 'f32' || f.type === 'f64') return rng.pick(INTERESTING_F);
  if (f.type === 'u8') return rng.int(256);
  return f.type === 'i16' ? rng.pick(INTERESTING_I16) : rng.pick(INTERESTING_I32);
}

function writeField(dv: DataView, f: Field, v: number, le: boolean): void {
  if (f.off + 8 > dv.byteLength && f.type !== 'u8' && f.off + 4 > dv.byteLength) return;
  switch (f.type) {
    case 'u8':
      if (f.off < dv.byteLength) dv.setUint8(f.off, v & 0xff);
      return;
    case 'i16':
      dv.setInt16(f.off, Number.isFinite(v) ? v : 0, le);
      return;
    case 'i32':
      dv.setInt32(f.off, Number.isFinite(v) ? v : 0, le);
      return;
    case 'i64':
      if (f.off + 8 <= dv.byteLength) dv.setBigInt64(f.off, BigInt(Number.isFinite(v) ? Math.trunc(v) : -1), le);
      return;
    case 'f32':
      dv.setFloat32(f.off, v, le);
      return;
    case 'f64':
      if (f.off + 8 <= dv.byteLength) dv.setFloat64(f.off, v, le);
  }
}

/** Edits 1-3 header fields of an uncompressed NIfTI-1/2 file to hostile values (endianness kept). */
export function niftiHeaderEdit(b: Uint8Array, rng: Rng, log: Log): Uint8Array {
  const lay = niftiLayout(b);
  if (!lay || b.length < 360) return byteMutation(b, rng, log);
  const out = clone(b);
  const dv = new DataView(out.buffer);
  const n = rng.range(1, 3);
  for (let k = 0; k < n; k++) {
    let f = rng.pick(lay.fields);
    // Weight the fields the brief cares about most.
    if (rng.bool(0.4)) {
      const want = rng.pick(['dim[1]', 'dim[2]', 'dim[3]', 'dim[0]', 'datatype', 'bitpix', 'vox_offset', 'pixdim[1]', 'pixdim[3]', 'sform_code', 'srow[0]']);
      f = lay.fields.find((x) => x.name === want) ?? f;
    }
    const v = valueFor(f, rng);
    writeField(dv, f, v, lay.le);
    log.push(`${f.name}=${v}`);
  }
  if (rng.bool(0.1)) {
    // Byte-swap the whole header's sizeof_hdr to pretend the other byte order.
    dv.setInt32(0, lay.fields === N1 ? 348 : 540, !lay.le);
    log.push('sizeof_hdr byte order swapped');
  }
  return out;
}

/** Dims whose product overflows 2^31 voxels while keeping a valid-looking header. */
export function niftiHugeDims(b: Uint8Array, rng: Rng, log: Log): Uint8Array {
  const lay = niftiLayout(b);
  if (!lay) return byteMutation(b, rng, log);
  const out = clone(b);
  const dv = new DataView(out.buffer);
  const big = lay.fields === N1 ? [32767, 32767, 32767] : [2 ** 20, 2 ** 20, 2 ** 20];
  const nd = rng.range(3, 7);
  const get = (name: string) => lay.fields.find((x) => x.name === name)!;
  writeField(dv, get('dim[0]'), nd, lay.le);
  for (let i = 1; i <= nd; i++) writeField(dv, get(`dim[${i}]`), rng.bool(0.7) ? big[0] : rng.range(1, 4000), lay.le);
  log.push(`huge dims (${nd}-D)`);
  return out;
}

export function isNiftiPlain(b: Uint8Array): boolean {
  return niftiLayout(b) !== null;
}

// ---------------------------------------------------------------- gzip streams

/** Edits a gzip stream: header flags/method, deflate body, trailer CRC/ISIZE, extra members. */
export function gzipEdit(gz: Uint8Array, rng: Rng, log: Log): Uint8Array {
  const out = clone(gz);
  const dv = new DataView(out.buffer);
  switch (rng.int(9)) {
    case 0:
      out[3] = rng.pick([0x02, 0x04, 0x08, 0x10, 0x1e, 0xe0, 0xff]);
      log.push(`gzip FLG=${out[3]}`);
      return out;
    case 1:
      out[2] = rng.pick([0, 7, 9, 255]);
      log.push(`gzip CM=${out[2]}`);
      return out;
    case 2:
      if (out.length >= 8) dv.setUint32(out.length - 4, rng.pick([0, 1, 0xffffffff, 0x7fffffff, 348, 1 << 30]), true);
      log.push('gzip ISIZE edited');
      return out;
    case 3:
      if (out.length >= 8) dv.setUint32(out.length - 8, rng.u32(), true);
      log.push('gzip CRC32 edited');
      return out;
    case 4:
      return flipBits(out, rng, log, [10, Math.max(11, Math.min(out.length - 8, 2000))]);
    case 5:
      return flipBits(out, rng, log, [10, Math.max(11, out.length - 8)]);
    case 6: {
      // concatenated member: garbage or a second valid stream
      const extra = rng.bool() ? gzipSync(new Uint8Array(rng.int(100)).fill(rng.int(256)), { level: 1 }) : Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0);
      const o = new Uint8Array(out.length + extra.length);
      o.set(out);
      o.set(extra, out.length);
      log.push(`gzip extra member (${extra.length} bytes)`);
      return o;
    }
    case 7:
      return truncate(out, rng, log, rng.bool(0.5) ? rng.int(Math.min(out.length, 64)) : rng.int(out.length));
    default: {
      // stored-block bomb header: BFINAL=0 BTYPE=00 LEN/NLEN mismatch right after the gzip header
      if (out.length > 15) {
        out[10] = 0;
        out[11] = rng.int(256);
        out[12] = rng.int(256);
        out[13] = rng.int(256);
        out[14] = rng.int(256);
      }
      log.push('deflate stored-block header edited');
      return out;
    }
  }
}

export function regzip(b: Uint8Array): Uint8Array {
  return gzipSync(b, { level: 1 });
}

export function tryGunzip(b: Uint8Array): Uint8Array | null {
  try {
    return gunzipSync(b);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- PNG chunks

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface PngChunk {
  type: string;
  data: Uint8Array;
  crc?: number;
}

export function splitPng(b: Uint8Array): PngChunk[] | null {
  if (b.length < 8) return null;
  const chunks: PngChunk[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 8;
  while (p + 12 <= b.length) {
    const len = dv.getUint32(p);
    if (p + 12 + len > b.length) return null;
    const type = String.fromCharCode(...b.subarray(p + 4, p + 8));
    chunks.push({ type, data: b.slice(p + 8, p + 8 + len), crc: dv.getUint32(p + 8 + len) });
    p += 12 + len;
  }
  return chunks;
}

export function joinPng(chunks: PngChunk[], fixCrc = true): Uint8Array {
  const total = 8 + chunks.reduce((a, c) => a + 12 + c.data.length, 0);
  const out = new Uint8Array(total);
  out.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const dv = new DataView(out.buffer);
  let p = 8;
  for (const c of chunks) {
    dv.setUint32(p, c.data.length);
    for (let i = 0; i < 4; i++) out[p + 4 + i] = c.type.charCodeAt(i) & 0xff;
    out.set(c.data, p + 8);
    const crc = fixCrc || c.crc === undefined ? crc32(out.subarray(p + 4, p + 8 + c.data.length)) : c.crc;
    dv.setUint32(p + 8 + c.data.length, crc);
    p += 12 + c.data.length;
  }
  return out;
}

/** Structure-aware PNG edit: IHDR fields, IDAT content (raw and re-deflated), chunk order/CRC/length. */
export function pngEdit(b: Uint8Array, rng: Rng, log: Log): Uint8Array {
  const chunks = splitPng(b);
  if (!chunks || chunks.length === 0) return byteMutation(b, rng, log);
  const ihdr = chunks.find((c) => c.type === 'IHDR');
  let fixCrc = rng.bool(0.9);
  const op = rng.int(10);
  if (op <= 2 && ihdr && ihdr.data.length >= 13) {
    const dv = new DataView(ihdr.data.buffer, ihdr.data.byteOffset, 13);
    const which = rng.int(7);
    const v = [
      () => dv.setUint32(0, rng.pick([0, 1, 7, 65535, 0x7fffffff, 0xffffffff, 1 << 20])),
      () => dv.setUint32(4, rng.pick([0, 1, 3, 65535, 0x7fffffff, 0xffffffff, 1 << 20])),
      () => dv.setUint8(8, rng.pick([0, 1, 2, 3, 4, 8, 16, 32, 255])),
      () => dv.setUint8(9, rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 255])),
      () => dv.setUint8(10, rng.pick([0, 1, 255])),
      () => dv.setUint8(11, rng.pick([0, 1, 255])),
      () => dv.setUint8(12, rng.pick([0, 1, 2, 255])),
    ][which];
    v();
    log.push(`IHDR.${['width', 'height', 'bitDepth', 'colorType', 'compression', 'filter', 'interlace'][which]} edited`);
  } else if (op <= 4) {
    // IDAT: inflate all, edit the filtered scanlines (filter bytes, truncation), deflate again
    const idats = chunks.filter((c) => c.type === 'IDAT');
    if (idats.length === 0) return byteMutation(b, rng, log);
    const z = new Uint8Array(idats.reduce((a, c) => a + c.data.length, 0));
    let p = 0;
    for (const c of idats) {
      z.set(c.data, p);
      p += c.data.length;
    }
    let raw: Uint8Array;
    try {
      raw = inflateSync(z.subarray(2));
    } catch {
      return byteMutation(b, rng, log);
    }
    const sub = rng.int(3);
    if (sub === 0) {
      raw = clone(raw);
      for (let k = 0; k < 4; k++) raw[rng.int(raw.length)] = rng.pick([5, 6, 255, 4]);
      log.push('IDAT filter/sample bytes edited');
    } else if (sub === 1) {
      raw = raw.slice(0, rng.int(raw.length));
      log.push('IDAT scanlines truncated');
    } else {
      const more = new Uint8Array(raw.length + rng.range(1, 5000));
      more.set(raw);
      raw = more;
      log.push('IDAT scanlines extended');
    }
    const d = deflateSync(raw, { level: 1 });
    const zl = new Uint8Array(d.length + 6);
    zl[0] = 0x78;
    zl[1] = 0x01;
    zl.set(d, 2);
    const first = chunks.indexOf(idats[0]);
    const rest = chunks.filter((c) => c.type !== 'IDAT');
    rest.splice(first, 0, { type: 'IDAT', data: zl });
    return joinPng(rest, true);
  } else if (op === 5) {
    const c = rng.pick(chunks.filter((x) => x.type === 'IDAT').concat(chunks));
    c.data = flipBits(c.data, rng, log);
    log.push(`${c.type} data bits flipped`);
  } else if (op === 6) {
    const i = rng.int(chunks.length);
    log.push(`chunk ${chunks[i].type} removed`);
    chunks.splice(i, 1);
  } else if (op === 7) {
    const type = rng.pick(['PLTE', 'tRNS', 'IHDR', 'IEND', 'ABCD', 'sBIT', 'gAMA', 'IDAT', 'zzzz']);
    const data = new Uint8Array(rng.pick([0, 1, 3, 13, 768, 800]));
    for (let i = 0; i < data.length; i++) data[i] = rng.int(256);
    chunks.splice(rng.int(chunks.length + 1), 0, { type, data });
    log.push(`chunk ${type} (${data.length} bytes) inserted`);
  } else if (op === 8) {
    fixCrc = false;
    const c = rng.pick(chunks);
    c.crc = rng.u32();
    log.push(`${c.type} CRC corrupted`);
  } else {
    // lying chunk length
    const out = joinPng(chunks, true);
    const dv = new DataView(out.buffer);
    dv.setUint32(8 + (rng.bool() ? 0 : 25), rng.pick([0, 12, 0x7fffffff, 0xffffffff, 1 << 24]));
    log.push('chunk length edited');
    return out;
  }
  return joinPng(chunks, fixCrc);
}

// ---------------------------------------------------------------- JSON

const JSON_VALUES: unknown[] = [null, true, false, 0, -1, 1, 0.5, -0.5, 1e-3, 1e-6, 1e308, -1e308, 2 ** 53 + 2, 1e21, '', 'x', '0', '3d_fullres', [], [0], [-1], [1, 2, 3], [1e9, 1e9, 1e9], {}, { a: 1 }, [[]], ['a', 'b']];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function paths(v: Json, prefix: (string | number)[] = [], acc: (string | number)[][] = []): (string | number)[][] {
  acc.push(prefix);
  if (acc.length > 5000) return acc;
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], acc));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k], [...prefix, k], acc);
  return acc;
}

function getAt(v: Json, p: (string | number)[]): Json {
  let cur: Json = v;
  for (const k of p) cur = (cur as Record<string, Json>)[k as string];
  return cur;
}

/** Structure-aware JSON edits on a parsed document: type swaps, deletions, huge/negative numbers, extra keys. */
export function jsonValueEdit(doc: unknown, rng: Rng, log: Log): unknown {
  let root = JSON.parse(JSON.stringify(doc)) as Json;
  const n = rng.range(1, 3);
  for (let k = 0; k < n; k++) {
    const ps = paths(root);
    const p = rng.pick(ps);
    const label = p.length ? p.join('.') : '<root>';
    const cur = getAt(root, p);
    const op = rng.int(7);
    let nv: Json;
    if (op === 0 && p.length > 0) {
      const parent = getAt(root, p.slice(0, -1)) as Record<string, Json> | Json[];
      if (Array.isArray(parent)) parent.splice(p[p.length - 1] as number, 1);
      else delete parent[p[p.length - 1] as string];
      log.push(`delete ${label}`);
      continue;
    } else if (op === 1 && typeof cur === 'number') {
      nv = rng.pick([-cur, cur * 1e6, cur + 0.5, 0, -1, 2 ** 31, 1e300, String(cur)]) as Json;
    } else if (op === 2 && Array.isArray(cur)) {
      nv = rng.pick([[], [...cur, ...cur], cur.slice(1), [cur], cur.map(() => -1), cur.map(() => 1e9)]) as Json;
    } else if (op === 3 && cur && typeof cur === 'object' && !Array.isArray(cur)) {
      const o = { ...(cur as Record<string, Json>) };
      o[rng.pick(['__proto__', 'constructor', 'inherits_from', 'ignore', '-1', '0', 'x'])] = rng.pick(JSON_VALUES) as Json;
      nv = o;
    } else if (op === 4 && typeof cur === 'string') {
      nv = rng.pick(['', cur + cur, cur.toUpperCase(), '../../etc/passwd', '\u0000', 'NaN', '3d_lowres', cur.repeat(200)]);
    } else {
      nv = rng.pick(JSON_VALUES) as Json;
    }
    if (p.length === 0) root = nv;
    else (getAt(root, p.slice(0, -1)) as Record<string, Json>)[p[p.length - 1] as string] = nv;
    log.push(`set ${label}`);
  }
  return root;
}

/** Text-level JSON edits: truncation, Python NaN/Infinity tokens, 1e999, garbage, BOM, deep nesting. */
export function jsonTextEdit(text: string, rng: Rng, log: Log): string {
  switch (rng.int(6)) {
    case 0:
      log.push('json truncated');
      return text.slice(0, rng.int(text.length));
    case 1: {
      const tok = rng.pick(['NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '1e-999', '99999999999999999999', 'null', '"\\ud800"']);
      const m = [...text.matchAll(/-?\d+(\.\d+)?([eE][-+]?\d+)?/g)];
      if (m.length === 0) return text;
      const hit = rng.pick(m);
      log.push(`number ${hit[0]} -> ${tok}`);
      return text.slice(0, hit.index!) + tok + text.slice(hit.index! + hit[0].length);
    }
    case 2: {
      const at = rng.int(text.length + 1);
      log.push('json garbage char');
      return text.slice(0, at) + rng.pick(['{', '}', ',', '"', '\u0000', ']', ':']) + text.slice(at);
    }
    case 3:
      log.push('json BOM');
      return '\ufeff' + text;
    case 4:
      log.push('json deep nesting');
      return '['.repeat(20000) + ']'.repeat(20000);
    default:
      log.push('json root type');
      return rng.pick(['[]', '1', '"s"', 'null', 'true', '', ' ', '{}']);
  }
}

/** Mutated JSON text (value edits most of the time, text edits otherwise). */
export function jsonMutation(text: string, rng: Rng, log: Log): string {
  if (rng.bool(0.75)) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return jsonTextEdit(text, rng, log);
    }
    try {
      return JSON.stringify(jsonValueEdit(doc, rng, log), null, rng.bool() ? 2 : undefined);
    } catch {
      return jsonTextEdit(text, rng, log); // e.g. a document nested too deeply for JSON.stringify
    }
  }
  return jsonTextEdit(text, rng, log);
}

// ---------------------------------------------------------------- npy / npz

/** Edits the Python-literal header of a .npy member (descr, shape, fortran_order) or its data length. */
export function npyHeaderEdit(npy: Uint8Array, rng: Rng, log: Log): Uint8Array {
  if (npy.length < 10) return byteMutation(npy, rng, log);
  const hlen = npy[8] | (npy[9] << 8);
  if (10 + hlen > npy.length) return byteMutation(npy, rng, log);
  const head = new TextDecoder().decode(npy.subarray(10, 10 + hlen));
  let h = head;
  const op = rng.int(5);
  if (op === 0) {
    h = h.replace(/'descr':\s*'[^']*'/, `'descr': '${rng.pick(['<f4', '>f8', '|b1', '<i8', '<u2', '<c8', 'O', '<U3', '|V4', '<f2', 'f4', '', '<f4<'])}'`);
  } else if (op === 1) {
    h = h.replace(/'shape':\s*\([^)]*\)/, `'shape': (${rng.pick(['', '0,', '-1,', '1e9, 1e9', '2147483648, 2', '1, 2, 3, 4, 5, 6, 7, 8, 9', '3.5,', 'abc', '99999999999999999999,', '65536, 65536, 65536'])})`);
  } else if (op === 2) {
    h = h.replace(/'fortran_order':\s*(True|False)/, `'fortran_order': ${rng.pick(['True', 'False', 'Maybe', '1'])}`);
  } else if (op === 3) {
    h = rng.pick(['', '{}', "{'descr': '<f4'}", head.slice(0, rng.int(head.length))]);
  } else {
    log.push('npy data truncated');
    return npy.slice(0, 10 + hlen + rng.int(Math.max(1, npy.length - 10 - hlen)));
  }
  log.push(`npy header edit ${op}`);
  const enc = new TextEncoder().encode(h);
  const out = new Uint8Array(10 + enc.length + (npy.length - 10 - hlen));
  out.set(npy.subarray(0, 8));
  out[8] = enc.length & 0xff;
  out[9] = (enc.length >> 8) & 0xff;
  out.set(enc, 10);
  out.set(npy.subarray(10 + hlen), 10 + enc.length);
  if (rng.bool(0.2)) out[6] = rng.pick([0, 2, 3, 9]);
  return out;
}

/** Edits one member of an .npz archive (npy header or bytes) and rezips; or edits the zip bytes directly. */
export function npzEdit(npz: Uint8Array, rng: Rng, log: Log): Uint8Array {
  if (rng.bool(0.3)) return byteMutation(npz, rng, log);
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(npz);
  } catch {
    return byteMutation(npz, rng, log);
  }
  const names = Object.keys(members);
  if (names.length === 0) return npz;
  const name = rng.pick(names);
  const op = rng.int(4);
  if (op <= 1) members[name] = npyHeaderEdit(members[name], rng, log);
  else if (op === 2) members[name] = byteMutation(members[name], rng, log);
  else {
    members[rng.pick(['x', 'probabilities', 'a.npy', 'b.txt'])] = rng.bool() ? new Uint8Array(0) : members[name].slice(0, 9);
    log.push('npz member added');
  }
  return zipSync(members, { level: rng.bool() ? 0 : 1 });
}

// Minimal NumPy .npy / .npz reader and writer (pure TypeScript, fflate for the zip container), enough for
// nnU-Net's probability files: np.savez_compressed(CASE.npz, probabilities=float32[C, ...spatial]).
// Format: numpy/lib/format.py (magic "\x93NUMPY", version, little-endian header length, a Python dict
// literal {'descr', 'fortran_order', 'shape'} padded with spaces to a multiple of 64 bytes, then the raw data).
// Supported dtypes: bool, (u)int8/16/32/64, float16/32/64, either byte order; C or Fortran order (Fortran
// is converted to C order). float16 is widened to float32, 64-bit integers to float64.
import { strFromU8, strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import { SegStudioError } from '../errors.ts';
import { checkZipEntry } from '../io/zipGuard.ts';
import type { NdArray, TypedArray } from '../types.ts';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function parseHeader(h: string, file: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(h)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(h)?.[1];
  const shapeStr = /'shape'\s*:\s*\(([^)]*)\)/.exec(h)?.[1];
  if (!descr || !fortran || shapeStr === undefined)
    throw new SegStudioError('npy', `unreadable .npy header: ${h.trim().slice(0, 120)}`, file);
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  if (shape.some((s) => !Number.isInteger(s) || s < 0)) throw new SegStudioError('npy', `bad shape (${shapeStr})`, file);
  return { descr, fortran: fortran === 'True', shape };
}

/** C-order copy of an array stored in Fortran order (data laid out as the C-order array of reversed shape). */
function fortranToC<T extends TypedArray>(src: T, shape: number[]): T {
  const nd = shape.length;
  if (nd <= 1) return src;
  const out = new (src.constructor as new (n: number) => T)(src.length);
  // Fortran strides: stride[k] = prod(shape[0..k-1])
  const fstride = new Array<number>(nd);
  let s = 1;
  for (let k = 0; k < nd; k++) {
    fstride[k] = s;
    s *= shape[k];
  }
  const idx = new Array<number>(nd).fill(0);
  for (let c = 0; c < src.length; c++) {
    let f = 0;
    for (let k = 0; k < nd; k++) f += idx[k] * fstride[k];
    out[c] = src[f];
    for (let k = nd - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

/** Parses one .npy file. */
export function readNpy(bytes: Uint8Array, file = 'array.npy'): NdArray {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m))
    throw new SegStudioError('npy', 'not a .npy file (missing \\x93NUMPY magic)', file);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let hlen: number;
  let off: number;
  if (major === 1) {
    hlen = dv.getUint16(8, true);
    off = 10;
  } else if (major === 2 || major === 3) {
    hlen = dv.getUint32(8, true);
    off = 12;
  } else throw new SegStudioError('npy', `unsupported .npy version ${major}`, file);
  const header = strFromU8(bytes.subarray(off, off + hlen), major < 3);
  const { descr, fortran, shape } = parseHeader(header, file);
  const dataOff = off + hlen;
  const n = shape.reduce((a, b) => a * b, 1);
  const order = descr[0];
  const kind = descr.slice(1);
  const little = order === '<' || order === '|' || order === '=';
  if (order === '>' && !['u1', 'i1', 'b1'].includes(kind)) {
    /* big-endian: handled by DataView below */
  } else if (!little) throw new SegStudioError('npy', `unsupported byte order in dtype '${descr}'`, file);
  const itemsize = Number(kind.slice(1));
  if (!Number.isFinite(itemsize) || bytes.length < dataOff + n * itemsize)
    throw new SegStudioError('npy', `truncated data: need ${n} × ${kind} after the header`, file);
  const le = order !== '>';
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataOff, n * itemsize);
  let data: TypedArray;
  const read = <T extends TypedArray>(ctor: new (n: number) => T, get: (i: number) => number): T => {
    const a = new ctor(n);
    for (let i = 0; i < n; i++) a[i] = get(i);
    return a;
  };
  switch (kind) {
    case 'b1':
    case 'u1':
      data = bytes.slice(dataOff, dataOff + n);
      break;
    case 'i1':
      data = new Int8Array(bytes.slice(dataOff, dataOff + n).buffer);
      break;
    case 'i2':
      data = read(Int16Array, (i) => view.getInt16(2 * i, le));
      break;
    case 'u2':
      data = read(Uint16Array, (i) => view.getUint16(2 * i, le));
      break;
    case 'i4':
      data = read(Int32Array, (i) => view.getInt32(4 * i, le));
      break;
    case 'u4':
      data = read(Uint32Array, (i) => view.getUint32(4 * i, le));
      break;
    case 'i8':
      data = read(Float64Array, (i) => Number(view.getBigInt64(8 * i, le)));
      break;
    case 'u8':
      data = read(Float64Array, (i) => Number(view.getBigUint64(8 * i, le)));
      break;
    case 'f2':
      data = read(Float32Array, (i) => halfToFloat(view.getUint16(2 * i, le)));
      break;
    case 'f4':
      if (le && (bytes.byteOffset + dataOff) % 4 === 0)
        data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + dataOff, bytes.byteOffset + dataOff + 4 * n) as ArrayBuffer);
      else if (le) data = new Float32Array(bytes.slice(dataOff, dataOff + 4 * n).buffer);
      else data = read(Float32Array, (i) => view.getFloat32(4 * i, le));
      break;
    case 'f8':
      data = le ? new Float64Array(bytes.slice(dataOff, dataOff + 8 * n).buffer) : read(Float64Array, (i) => view.getFloat64(8 * i, le));
      break;
    default:
      throw new SegStudioError('npy', `unsupported dtype '${descr}'`, file);
  }
  if (fortran) data = fortranToC(data, shape);
  return { data, shape };
}

function descrOf(a: TypedArray): string {
  if (a instanceof Float32Array) return '<f4';
  if (a instanceof Float64Array) return '<f8';
  if (a instanceof Uint8Array) return '|u1';
  if (a instanceof Int8Array) return '|i1';
  if (a instanceof Int16Array) return '<i2';
  if (a instanceof Uint16Array) return '<u2';
  if (a instanceof Int32Array) return '<i4';
  if (a instanceof Uint32Array) return '<u4';
  throw new SegStudioError('npy', 'unsupported array type');
}

const isLittleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Serializes an array as a version 1.0 .npy file (C order, little endian, header padded to 64 bytes). */
export function writeNpy(arr: NdArray): Uint8Array {
  const n = arr.shape.reduce((a, b) => a * b, 1);
  if (n !== arr.data.length)
    throw new SegStudioError('npy', `shape [${arr.shape.join(', ')}] does not match ${arr.data.length} values`);
  const shapeStr = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let header = `{'descr': '${descrOf(arr.data)}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const hb = strToU8(header);
  const body = new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  if (!isLittleEndianHost) throw new SegStudioError('npy', 'big-endian hosts are not supported');
  const out = new Uint8Array(10 + hb.length + body.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, hb.length, true);
  out.set(hb, 10);
  out.set(body, 10 + hb.length);
  return out;
}

/** Reads every array of an .npz archive (keys without the .npy suffix). */
export function readNpz(bytes: Uint8Array, file = 'arrays.npz'): Record<string, NdArray> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, { filter: (f) => (checkZipEntry(f, file, bytes.length, 'npz'), true) });
  } catch (e) {
    if (e instanceof SegStudioError) throw e;
    throw new SegStudioError('npz', `not a readable .npz (zip) file: ${(e as Error).message}`, file);
  }
  const out: Record<string, NdArray> = {};
  for (const [name, data] of Object.entries(entries)) {
    if (!name.endsWith('.npy')) continue;
    out[name.slice(0, -4)] = readNpy(data, `${file}:${name}`);
  }
  return out;
}

/** Reads one key of an .npz archive, with a clear error when it is missing. */
export function readNpzKey(bytes: Uint8Array, key: string, file = 'arrays.npz'): NdArray {
  const all = readNpz(bytes, file);
  const a = all[key];
  if (!a)
    throw new SegStudioError('npz', `no array '${key}' in the archive (found: ${Object.keys(all).join(', ') || 'none'})`, file);
  return a;
}

/** np.savez_compressed equivalent (deflate; level 1..9, default 6 like zlib's default). */
export function writeNpz(arrays: Record<string, NdArray>, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6): Uint8Array {
  const z: Zippable = {};
  for (const [k, v] of Object.entries(arrays)) z[`${k}.npy`] = [writeNpy(v), { level }];
  return zipSync(z);
}

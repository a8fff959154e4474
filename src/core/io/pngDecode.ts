// A small PNG decoder (non-interlaced images; Adam7 goes to fast-png): chunk parsing, inflate of the IDAT
// stream (fflate synchronously, or the platform's native DecompressionStream), and scanline unfiltering, per the
// PNG specification (ISO/IEC 15948, sections 9 and 11). The sizes are validated before anything is allocated.
import { unzlibSync } from 'fflate';
import { SegStudioError } from '../errors.ts';

export interface DecodedSamples {
  width: number;
  height: number;
  /** bits per sample: 1, 2, 4, 8, 16 */
  depth: number;
  /** samples per pixel in `data` (palette: 1 index) */
  channels: number;
  /** 8/16-bit: one sample per element (Uint8Array / Uint16Array); 1/2/4-bit: packed rows (Uint8Array) */
  data: Uint8Array | Uint16Array;
  palette?: number[][];
  interlaced: boolean;
}

interface Parsed {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  channels: number;
  interlaced: boolean;
  idat: Uint8Array;
  palette?: number[][];
  /** decompressed size of the scanlines (with filter bytes) */
  rawSize: number;
  stride: number;
  bpp: number;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/** deflate cannot expand more than ~1032:1 */
const MAX_RATIO = 1100;

function corrupt(msg: string, fileName: string): SegStudioError {
  return new SegStudioError('corrupt-png', msg, fileName);
}

export function parsePng(bytes: Uint8Array, fileName: string): Parsed {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 8;
  let ihdr: { width: number; height: number; depth: number; colorType: number; interlaced: boolean } | null = null;
  const idats: Uint8Array[] = [];
  let idatLen = 0;
  let palette: number[][] | undefined;
  let sawEnd = false;
  while (off + 8 <= bytes.length) {
    const len = dv.getUint32(off);
    const type = String.fromCharCode(bytes[off + 4], bytes[off + 5], bytes[off + 6], bytes[off + 7]);
    const body = off + 8;
    if (body + len + 4 > bytes.length) throw new SegStudioError('truncated', `truncated PNG: chunk ${type} runs past the end`, fileName);
    if (type === 'IHDR') {
      if (len !== 13) throw corrupt(`IHDR has length ${len}`, fileName);
      ihdr = {
        width: dv.getUint32(body),
        height: dv.getUint32(body + 4),
        depth: bytes[body + 8],
        colorType: bytes[body + 9],
        interlaced: bytes[body + 12] === 1,
      };
      if (bytes[body + 10] !== 0 || bytes[body + 11] !== 0 || bytes[body + 12] > 1) {
        throw corrupt('unknown compression, filter or interlace method in IHDR', fileName);
      }
    } else if (type === 'PLTE') {
      if (len % 3 !== 0) throw corrupt(`PLTE length ${len} is not a multiple of 3`, fileName);
      palette = [];
      for (let i = 0; i < len; i += 3) palette.push([bytes[body + i], bytes[body + i + 1], bytes[body + i + 2]]);
    } else if (type === 'IDAT') {
      idats.push(bytes.subarray(body, body + len));
      idatLen += len;
    } else if (type === 'IEND') {
      sawEnd = true;
      break;
    } else if (!ihdr) {
      throw corrupt(`first chunk is ${JSON.stringify(type)}, not IHDR`, fileName);
    }
    off = body + len + 4;
  }
  if (!ihdr) throw corrupt('no IHDR chunk', fileName);
  if (idats.length === 0) throw new SegStudioError('truncated', 'truncated PNG: no image data (IDAT)', fileName);
  void sawEnd; // a missing IEND after complete data is tolerated, as most decoders do
  const { width, height, depth, colorType, interlaced } = ihdr;
  const channels = CHANNELS[colorType];
  if (channels === undefined || !DEPTHS[colorType].includes(depth)) {
    throw corrupt(`invalid colour type ${colorType} / bit depth ${depth}`, fileName);
  }
  if (width === 0 || height === 0 || width * height > 2 ** 31 - 1) {
    throw new SegStudioError('bad-header', `PNG size ${width}x${height} is empty or too large`, fileName);
  }
  if (colorType === 3 && !palette) throw corrupt('palette image without a PLTE chunk', fileName);
  const stride = Math.ceil((width * channels * depth) / 8);
  const rawSize = (stride + 1) * height;
  if (!interlaced && rawSize > idatLen * MAX_RATIO + 1024) {
    throw new SegStudioError(
      'truncated',
      `PNG ${width}x${height} needs ${rawSize} bytes of scanlines but the ${idatLen}-byte image data cannot hold that much`,
      fileName,
    );
  }
  let idat: Uint8Array;
  if (idats.length === 1) idat = idats[0];
  else {
    idat = new Uint8Array(idatLen);
    let o = 0;
    for (const p of idats) {
      idat.set(p, o);
      o += p.length;
    }
  }
  const bpp = Math.max(1, (channels * depth) >> 3);
  return { width, height, depth, colorType, channels, interlaced, idat, palette, rawSize, stride, bpp };
}

/** Inflates the IDAT stream into exactly `rawSize` bytes of filtered scanlines (fflate, synchronous). */
export function inflatePngSync(p: Parsed, fileName: string): Uint8Array {
  try {
    const out = unzlibSync(p.idat, { out: new Uint8Array(p.rawSize) });
    if (out.length < p.rawSize) throw new Error(`image data ends after ${out.length} of ${p.rawSize} bytes`);
    return out;
  } catch (e) {
    if (e instanceof SegStudioError) throw e;
    throw new SegStudioError('corrupt-png', `cannot inflate the image data (${e instanceof Error ? e.message : e})`, fileName);
  }
}

/** inflatePngSync on the platform's native DecompressionStream('deflate'), falling back to fflate. */
export async function inflatePngAsync(p: Parsed, fileName: string): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') return inflatePngSync(p, fileName);
  try {
    const reader = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(p.idat);
        c.close();
      },
    })
      .pipeThrough(new DecompressionStream('deflate') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>)
      .getReader();
    const out = new Uint8Array(p.rawSize);
    let have = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const n = Math.min(value.length, p.rawSize - have);
      out.set(value.subarray(0, n), have);
      have += n;
      if (have >= p.rawSize) {
        reader.cancel().catch(() => undefined);
        break;
      }
    }
    if (have < p.rawSize) throw new Error('short');
    return out;
  } catch {
    return inflatePngSync(p, fileName); // precise error (or success where native streams are picky)
  }
}

/** Reverses the per-scanline filters in place and returns the samples. */
export function unfilter(p: Parsed, raw: Uint8Array, fileName: string): DecodedSamples {
  const { stride, bpp, height } = p;
  const img = new Uint8Array(stride * height);
  let prev = new Uint8Array(stride); // zero row above the first
  for (let r = 0; r < height; r++) {
    const f = raw[r * (stride + 1)];
    const src = r * (stride + 1) + 1;
    const dst = r * stride;
    const cur = img.subarray(dst, dst + stride);
    switch (f) {
      case 0:
        cur.set(raw.subarray(src, src + stride));
        break;
      case 1:
        for (let i = 0; i < stride; i++) cur[i] = (raw[src + i] + (i >= bpp ? cur[i - bpp] : 0)) & 0xff;
        break;
      case 2:
        for (let i = 0; i < stride; i++) cur[i] = (raw[src + i] + prev[i]) & 0xff;
        break;
      case 3:
        for (let i = 0; i < stride; i++) cur[i] = (raw[src + i] + (((i >= bpp ? cur[i - bpp] : 0) + prev[i]) >> 1)) & 0xff;
        break;
      case 4:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? cur[i - bpp] : 0;
          const b = prev[i];
          const c = i >= bpp ? prev[i - bpp] : 0;
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          const pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          cur[i] = (raw[src + i] + pred) & 0xff;
        }
        break;
      default:
        throw corrupt(`unknown filter type ${f} on row ${r}`, fileName);
    }
    prev = cur;
  }
  let data: Uint8Array | Uint16Array = img;
  if (p.depth === 16) {
    const n = (stride * height) / 2;
    const d16 = new Uint16Array(n);
    for (let i = 0; i < n; i++) d16[i] = (img[2 * i] << 8) | img[2 * i + 1];
    data = d16;
  }
  return {
    width: p.width,
    height: p.height,
    depth: p.depth,
    channels: p.channels,
    data,
    palette: p.palette,
    interlaced: false,
  };
}

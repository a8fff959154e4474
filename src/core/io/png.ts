// PNG reader/writer following nnU-Net's natural image reader (nnU-Net: imageio/natural_image_reader_writer.py),
// which calls skimage.io.imread (imageio + Pillow). The array it hands on is (c, 1, X, Y) where X = rows and
// Y = columns of the picture, so our flat data is rows x cols with cols fastest; spacing is (999, 1, 1).
//
// Conversions are those of Pillow/imageio v3 as nnU-Net sees them:
//   gray 8/16-bit          -> 1 channel, stored values (16-bit kept full range)
//   gray 2/4-bit           -> 1 channel scaled to 0..255 (Pillow's L;2 / L;4 unpacking)
//   gray 1-bit             -> 1 channel 0/1 (Pillow mode '1' -> boolean array)
//   RGB / RGBA             -> 3 / 4 channels (nnU-Net keeps alpha as a 4th channel)
//   palette                -> 3 channels RGB (imageio v3 converts P to the palette's RGB mode; tRNS ignored)
//   16-bit RGB/RGBA        -> high byte (Pillow has no 16-bit colour modes)
//   gray + alpha           -> 1 channel, alpha dropped (nnU-Net itself asserts on 2-channel arrays)
import { decode, encode } from 'fast-png';
import { SegStudioError } from '../errors.ts';
import type { Image, LabelMap } from '../types.ts';
import { plainBytes } from './gzip.ts';
import { type DecodedSamples, inflatePngAsync, inflatePngSync, parsePng, unfilter } from './pngDecode.ts';

export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function isPng(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== PNG_SIGNATURE[i]) return false;
  return true;
}

/** Reads a PNG as nnU-Net does: shape [C, 1, rows, cols], float32, spacing [999, 1, 1]. */
export function readPng(input: Uint8Array, fileName: string): Image {
  const bytes = checkedPng(input, fileName);
  const parsed = parsePng(bytes, fileName);
  if (parsed.interlaced) return samplesToImage(decodeWithFastPng(bytes, fileName), fileName);
  return samplesToImage(unfilter(parsed, inflatePngSync(parsed, fileName), fileName), fileName);
}

/** readPng inflating with the platform's native DecompressionStream (browsers, workers, Node >= 18). */
export async function readPngAsync(input: Uint8Array, fileName: string): Promise<Image> {
  const bytes = checkedPng(input, fileName);
  const parsed = parsePng(bytes, fileName);
  if (parsed.interlaced) return samplesToImage(decodeWithFastPng(bytes, fileName), fileName);
  return samplesToImage(unfilter(parsed, await inflatePngAsync(parsed, fileName), fileName), fileName);
}

function checkedPng(input: Uint8Array, fileName: string): Uint8Array {
  const bytes = plainBytes(input);
  if (!isPng(bytes)) {
    throw new SegStudioError('bad-magic', 'not a PNG file (missing the 8-byte PNG signature)', fileName);
  }
  if (bytes.length < 33) throw new SegStudioError('truncated', `truncated PNG (${bytes.length} bytes)`, fileName);
  return bytes;
}

/** Adam7-interlaced PNGs (rare in datasets) are decoded by fast-png. */
function decodeWithFastPng(bytes: Uint8Array, fileName: string): DecodedSamples {
  try {
    const png = decode(bytes);
    return { ...png, data: png.data as Uint8Array | Uint16Array, interlaced: true };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new SegStudioError('corrupt-png', `cannot decode PNG: ${msg}`, fileName);
  }
}

/** Applies nnU-Net's (Pillow / imageio v3) conversions to decoded samples. */
export function samplesToImage(png: DecodedSamples, fileName: string): Image {
  const { width: W, height: H, depth, channels } = png;
  const n = W * H;
  const data = png.data;
  const isPalette = !!png.palette && channels === 1;

  if (isPalette || (channels === 1 && depth < 8)) {
    const idx = unpackSamples(data, W, H, depth, fileName);
    if (isPalette) {
      const pal = png.palette!;
      const out = new Float32Array(3 * n);
      for (let i = 0; i < n; i++) {
        const entry = pal[idx[i]];
        if (!entry) {
          throw new SegStudioError('corrupt-png', `palette index ${idx[i]} out of range (${pal.length} entries)`, fileName);
        }
        out[i] = entry[0];
        out[n + i] = entry[1];
        out[2 * n + i] = entry[2];
      }
      return pngImage(out, 3, H, W, fileName);
    }
    const out = new Float32Array(n);
    const scale = depth === 1 ? 1 : 255 / ((1 << depth) - 1);
    for (let i = 0; i < n; i++) out[i] = idx[i] * scale;
    return pngImage(out, 1, H, W, fileName);
  }

  if (data.length !== n * channels) {
    throw new SegStudioError('corrupt-png', `decoded ${data.length} samples, expected ${n * channels}`, fileName);
  }
  // colour images with 16-bit samples are reduced to their high byte (Pillow), gray 16-bit is kept
  const highByte = depth === 16 && channels > 1;
  const outC = channels === 2 ? 1 : channels;
  const out = new Float32Array(outC * n);
  if (channels === 1) {
    out.set(data);
    return pngImage(out, 1, H, W, fileName);
  }
  for (let c = 0; c < outC; c++) {
    const base = c * n;
    for (let i = 0; i < n; i++) {
      const v = data[i * channels + c];
      out[base + i] = highByte ? v >>> 8 : v;
    }
  }
  return pngImage(out, outC, H, W, fileName);
}

function pngImage(data: Float32Array, c: number, h: number, w: number, fileName: string): Image {
  return {
    data,
    shape: [c, 1, h, w],
    properties: { format: 'png', spacing: [999, 1, 1], fileName },
  };
}

/** Unpacks 1/2/4/8-bit single-channel samples (rows padded to whole bytes). */
function unpackSamples(
  data: ArrayLike<number>,
  W: number,
  H: number,
  depth: number,
  fileName: string,
): Uint8Array | Uint16Array {
  if (depth >= 8) {
    if (data.length !== W * H) {
      throw new SegStudioError('corrupt-png', `decoded ${data.length} samples, expected ${W * H}`, fileName);
    }
    return data instanceof Uint16Array ? data : Uint8Array.from(data);
  }
  const rowBytes = Math.ceil((W * depth) / 8);
  if (data.length < rowBytes * H) {
    throw new SegStudioError('corrupt-png', `decoded ${data.length} bytes, expected ${rowBytes * H}`, fileName);
  }
  const out = new Uint8Array(W * H);
  const mask = (1 << depth) - 1;
  const perByte = 8 / depth;
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const byte = data[r * rowBytes + Math.floor(c / perByte)];
      const shift = 8 - depth * ((c % perByte) + 1);
      out[r * W + c] = (byte >> shift) & mask;
    }
  }
  return out;
}

/**
 * Writes a 2D label map (shape [1, rows, cols] or [rows, cols]) as a grayscale PNG:
 * uint8 when max < 255, else 16-bit (nnU-Net's segmentation dtype rule).
 */
export function writeLabelPng(labels: LabelMap, fileName: string): Uint8Array {
  const s = labels.shape;
  let rows: number;
  let cols: number;
  if (s.length === 3 && s[0] === 1) [rows, cols] = [s[1], s[2]];
  else if (s.length === 2) [rows, cols] = [s[0], s[1]];
  else {
    throw new SegStudioError(
      'bad-argument',
      `a PNG segmentation must be 2D (shape [1, X, Y]), got [${s.join(', ')}]`,
      fileName,
    );
  }
  const n = rows * cols;
  const src = labels.data;
  if (src.length !== n) {
    throw new SegStudioError('bad-argument', `label data has ${src.length} values, shape needs ${n}`, fileName);
  }
  let max = 0;
  for (let i = 0; i < n; i++) {
    const v = src[i];
    if (v < 0 || v > 65535 || !Number.isInteger(v)) {
      throw new SegStudioError('bad-value', `label ${v} cannot be stored in a PNG (0..65535)`, fileName);
    }
    if (v > max) max = v;
  }
  const depth = max < 255 ? 8 : 16;
  const data = depth === 8 ? Uint8Array.from(src) : Uint16Array.from(src);
  return encode({ width: cols, height: rows, data, depth, channels: 1 });
}

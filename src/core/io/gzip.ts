// gzip helpers for the readers: detection by magic bytes (never by name), multi-member streams, and
// decompression that stops as soon as the caller has what it needs, so a header can be validated before the
// voxel buffer is allocated. fflate's one-shot gunzipSync sizes its output from the LAST member's ISIZE and
// silently returns a short result for concatenated members, so the streaming decoder is used instead.
import { Gunzip, gzipSync } from 'fflate';
import { SegStudioError } from '../errors.ts';

/**
 * A plain Uint8Array over the same bytes. Node's Buffer (a Uint8Array subclass) makes `.slice()` a view rather
 * than a copy, which would alias the caller's memory; every reader normalizes its input with this first.
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Deflate's best case is about 1032:1; anything claiming more than this is not the file's real size. */
export const MAX_DEFLATE_RATIO = 1100;

const STEP = 1 << 20;

/**
 * Decompresses a (possibly multi-member) gzip stream.
 *
 * `sizeFromPrefix` is called once, with the first `probeBytes` decompressed bytes (or everything, when the
 * stream is shorter); it validates them and returns how many decompressed bytes are wanted in total. Only then is
 * the output allocated, and decompression stops once that many bytes are in. The result may be shorter than
 * wanted when the stream ends early: the caller reports truncation with its own context.
 */
export function gunzipWithLimit(
  bytes: Uint8Array,
  fileName: string,
  probeBytes: number,
  sizeFromPrefix: (prefix: Uint8Array) => number,
): Uint8Array {
  let pending: Uint8Array[] = [];
  let pendingLen = 0;
  let out: Uint8Array | null = null;
  let want = 0;
  let have = 0;
  let done = false;

  const allocate = (prefix: Uint8Array): void => {
    want = sizeFromPrefix(prefix);
    out = new Uint8Array(want);
    const n = Math.min(prefix.length, want);
    out.set(prefix.subarray(0, n));
    have = n;
    if (have >= want) done = true;
  };
  const flushPending = (): void => {
    const prefix = concat(pending, pendingLen);
    pending = [];
    allocate(prefix);
  };

  const g = new Gunzip((chunk) => {
    if (done) return;
    if (out) {
      const n = Math.min(chunk.length, want - have);
      out.set(chunk.subarray(0, n), have);
      have += n;
      if (have >= want) done = true;
      return;
    }
    pending.push(chunk.slice());
    pendingLen += chunk.length;
    if (pendingLen >= probeBytes) flushPending();
  });

  try {
    for (let off = 0; off < bytes.length && !done; off += STEP) {
      const end = Math.min(off + STEP, bytes.length);
      g.push(bytes.subarray(off, end), end >= bytes.length);
    }
  } catch (e) {
    if (e instanceof SegStudioError) throw e;
    if (!done) {
      const msg = e instanceof Error ? e.message : String(e);
      const truncated = /unexpected EOF|EOF/i.test(msg);
      throw new SegStudioError(
        truncated ? 'truncated' : 'corrupt-gzip',
        truncated
          ? `truncated gzip stream (${bytes.length} compressed bytes end before the data does)`
          : `corrupt gzip stream (${msg})`,
        fileName,
      );
    }
    // Trailing garbage after everything we need: ignored, as zcat/nibabel readers stop at the data's end too.
  }
  if (!out) flushPending();
  const result = out as unknown as Uint8Array;
  return have < result.length ? result.subarray(0, have) : result;
}

/** True where the platform has native gzip streams (browsers, workers, Node >= 18). */
export function hasNativeGzip(): boolean {
  return typeof DecompressionStream !== 'undefined' && typeof CompressionStream !== 'undefined';
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/**
 * gunzipWithLimit on the platform's native DecompressionStream (3-5x faster than fflate), with the same
 * contract: the prefix is validated before the output is allocated and decompression stops once `want` bytes
 * are in. Falls back to fflate when native streams are missing or fail (multi-member files in some browsers,
 * truncated or corrupt streams: fflate then reports the precise problem).
 */
export async function gunzipWithLimitAsync(
  bytes: Uint8Array,
  fileName: string,
  probeBytes: number,
  sizeFromPrefix: (prefix: Uint8Array) => number,
): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') return gunzipWithLimit(bytes, fileName, probeBytes, sizeFromPrefix);
  let pending: Uint8Array[] = [];
  let pendingLen = 0;
  let out: Uint8Array | null = null;
  let want = 0;
  let have = 0;
  const allocate = (prefix: Uint8Array): void => {
    want = sizeFromPrefix(prefix);
    out = new Uint8Array(want);
    const n = Math.min(prefix.length, want);
    out.set(prefix.subarray(0, n));
    have = n;
  };
  try {
    const reader = streamOf(bytes)
      .pipeThrough(new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>)
      .getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (out) {
        const o = out as Uint8Array;
        const n = Math.min(value.length, want - have);
        o.set(value.subarray(0, n), have);
        have += n;
      } else {
        pending.push(value);
        pendingLen += value.length;
        if (pendingLen >= probeBytes) {
          allocate(concat(pending, pendingLen));
          pending = [];
        }
      }
      if (out && have >= want) {
        reader.cancel().catch(() => undefined);
        break;
      }
    }
    if (!out) allocate(concat(pending, pendingLen));
  } catch (e) {
    if (e instanceof SegStudioError) throw e;
    return gunzipWithLimit(bytes, fileName, probeBytes, sizeFromPrefix);
  }
  const result = out as unknown as Uint8Array;
  return have < result.length ? result.subarray(0, have) : result;
}

/** gzip on the platform's native CompressionStream when present (default level), else fflate at `level`. */
export async function gzipAsync(bytes: Uint8Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 1): Promise<Uint8Array> {
  if (typeof CompressionStream === 'undefined') return gzip(bytes, level);
  const reader = streamOf(bytes)
    .pipeThrough(new CompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>)
    .getReader();
  const parts: Uint8Array[] = [];
  let len = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    len += value.length;
  }
  return concat(parts, len);
}

/** Decompresses a whole gzip stream (all members). */
export function gunzipAll(bytes: Uint8Array, fileName: string): Uint8Array {
  const parts: Uint8Array[] = [];
  let len = 0;
  const g = new Gunzip((chunk) => {
    parts.push(chunk);
    len += chunk.length;
  });
  try {
    g.push(bytes, true);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new SegStudioError('corrupt-gzip', `corrupt or truncated gzip stream (${msg})`, fileName);
  }
  return concat(parts, len);
}

/** gzip with fflate (pure JS, synchronous). Level 1 by default, as nibabel: labels compress well at any level. */
export function gzip(bytes: Uint8Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 1): Uint8Array {
  return gzipSync(bytes, { level });
}

function concat(parts: Uint8Array[], len: number): Uint8Array {
  if (parts.length === 1 && parts[0].length === len) return parts[0];
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// A fast gzip encoder for label maps: one fixed-Huffman deflate block (RFC 1951 section 3.2.6) whose only
// back-references are runs of the previous byte (distance 1) and repeats of the row above (distance = row length,
// when that fits deflate's 32 KiB window). Segmentations are long runs of few values, so this compresses them
// about as well as zlib level 1 in a single linear pass (several times faster than fflate's general matcher).
// Any standard gunzip reads the output (RFC 1952 wrapper, CRC-32 of the data).

const LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DBASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
  8193, 12289, 16385, 24577,
];
const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

function reverse(code: number, len: number): number {
  let r = 0;
  for (let i = 0; i < len; i++) {
    r = (r << 1) | (code & 1);
    code >>= 1;
  }
  return r;
}

// fixed literal/length code, bit-reversed for LSB-first output
const LIT_CODE = new Uint16Array(288);
const LIT_LEN = new Uint8Array(288);
for (let v = 0; v < 288; v++) {
  let code: number;
  let len: number;
  if (v < 144) [code, len] = [0x30 + v, 8];
  else if (v < 256) [code, len] = [0x190 + v - 144, 9];
  else if (v < 280) [code, len] = [v - 256, 7];
  else [code, len] = [0xc0 + v - 280, 8];
  LIT_CODE[v] = reverse(code, len);
  LIT_LEN[v] = len;
}
// per match length 3..258: symbol, extra bits, extra value
const LEN_SYM = new Uint16Array(259);
const LEN_XB = new Uint8Array(259);
const LEN_XV = new Uint16Array(259);
for (let i = 0; i < LBASE.length; i++) {
  const hi = i + 1 < LBASE.length ? LBASE[i + 1] - 1 : 258;
  for (let l = LBASE[i]; l <= (i === LBASE.length - 2 ? 257 : hi); l++) {
    LEN_SYM[l] = 257 + i;
    LEN_XB[l] = LEXT[i];
    LEN_XV[l] = l - LBASE[i];
  }
}
LEN_SYM[258] = 285;
LEN_XB[258] = 0;
LEN_XV[258] = 0;

let CRC_TABLES: Uint32Array[] | null = null;

/** CRC-32 (IEEE, as gzip), slicing-by-8 tables. */
export function crc32(data: Uint8Array): number {
  if (!CRC_TABLES) {
    const t0 = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t0[n] = c >>> 0;
    }
    CRC_TABLES = [t0];
    for (let k = 1; k < 8; k++) {
      const prev = CRC_TABLES[k - 1];
      const t = new Uint32Array(256);
      for (let n = 0; n < 256; n++) t[n] = (prev[n] >>> 8) ^ t0[prev[n] & 0xff];
      CRC_TABLES.push(t);
    }
  }
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  let c = 0xffffffff;
  const n = data.length;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = (c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24))) >>> 0;
    const b = data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
    c =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[b & 0xff] ^
      t2[(b >>> 8) & 0xff] ^
      t1[(b >>> 16) & 0xff] ^
      t0[b >>> 24];
  }
  for (; i < n; i++) c = t0[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * gzip of `data` with run / row-repeat matches only. `rowBytes` (optional) is the length of one image row in
 * bytes, enabling distance-`rowBytes` matches (used only when 3 <= rowBytes <= 32768).
 */
export function gzipRuns(data: Uint8Array, rowBytes = 0): Uint8Array {
  const n = data.length;
  // worst case: 9 bits per literal
  const out = new Uint8Array(Math.ceil(n * 1.125) + 64);
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  let pos = 10;
  let bitBuf = 0;
  let bitCnt = 0;
  const put = (value: number, bits: number): void => {
    bitBuf |= value << bitCnt;
    bitCnt += bits;
    while (bitCnt >= 8) {
      out[pos++] = bitBuf & 0xff;
      bitBuf >>>= 8;
      bitCnt -= 8;
    }
  };
  const lit = (v: number): void => put(LIT_CODE[v], LIT_LEN[v]);
  const match = (len: number, distSym: number, distXb: number, distXv: number): void => {
    const s = LEN_SYM[len];
    put(LIT_CODE[s], LIT_LEN[s]);
    if (LEN_XB[len]) put(LEN_XV[len], LEN_XB[len]);
    put(reverse(distSym, 5), 5);
    if (distXb) put(distXv, distXb);
  };
  const row = rowBytes >= 3 && rowBytes <= 32768 ? rowBytes : 0;
  let rowSym = 0;
  let rowXb = 0;
  let rowXv = 0;
  if (row) {
    let i = 0;
    while (i + 1 < DBASE.length && DBASE[i + 1] <= row) i++;
    rowSym = i;
    rowXb = DEXT[i];
    rowXv = row - DBASE[i];
  }

  put(1, 1); // BFINAL
  put(1, 2); // BTYPE = 01, fixed Huffman
  let i = 0;
  while (i < n) {
    // longest of: run of the previous byte (distance 1), repeat of the row above (distance `row`)
    let runLen = 0;
    if (i > 0) {
      const p = data[i - 1];
      const lim = Math.min(n - i, 258);
      while (runLen < lim && data[i + runLen] === p) runLen++;
    }
    let rowLen = 0;
    if (row && i >= row && runLen < 258) {
      const lim = Math.min(n - i, 258);
      while (rowLen < lim && data[i + rowLen] === data[i + rowLen - row]) rowLen++;
    }
    if (runLen >= 3 && runLen >= rowLen) {
      match(runLen, 0, 0, 0);
      i += runLen;
    } else if (rowLen >= 3) {
      match(rowLen, rowSym, rowXb, rowXv);
      i += rowLen;
    } else {
      lit(data[i]);
      i++;
    }
  }
  lit(256); // end of block
  if (bitCnt > 0) out[pos++] = bitBuf & 0xff;
  const crc = crc32(data);
  const dv = new DataView(out.buffer);
  dv.setUint32(pos, crc, true);
  dv.setUint32(pos + 4, n >>> 0, true);
  pos += 8;
  return out.slice(0, pos);
}

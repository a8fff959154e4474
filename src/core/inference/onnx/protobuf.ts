// Minimal protobuf wire-format codec (varint, 64-bit, length-delimited, 32-bit), dependency-free and
// eval-free. Only what the ONNX schema needs; unknown fields are captured as raw bytes so a message
// can be re-encoded without losing anything.
import { SegStudioError } from '../../errors.ts';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** A field the decoder did not model: its full encoding (tag included), re-emitted verbatim. */
export interface UnknownField {
  field: number;
  bytes: Uint8Array;
}

const textDecoder = new TextDecoder('utf-8');
const textEncoder = new TextEncoder();

export class ProtoReader {
  pos: number;
  readonly end: number;
  private readonly view: DataView;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
    readonly fileName = 'model.onnx',
  ) {
    this.pos = start;
    this.end = end;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(what: string): never {
    throw new SegStudioError('onnx-decode', `not a valid ONNX protobuf (${what} at byte ${this.pos})`, this.fileName);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /**
   * Reads a varint as a JS number. Values above 2^53 lose precision; 10-byte encodings of negative
   * int64 values (two's complement) come back negative.
   */
  varint(): number {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    let b: number;
    // low 28 bits
    for (let i = 0; i < 4; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      b = this.buf[this.pos++];
      lo |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) return lo >>> 0;
    }
    if (this.pos >= this.end) this.fail('truncated varint');
    b = this.buf[this.pos++];
    lo |= (b & 0x7f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      shift = 3;
      for (let i = 0; i < 5; i++) {
        if (this.pos >= this.end) this.fail('truncated varint');
        b = this.buf[this.pos++];
        hi |= (b & 0x7f) << shift;
        shift += 7;
        if (b < 0x80) break;
        if (i === 4) this.fail('varint longer than 10 bytes');
      }
    }
    lo >>>= 0;
    if (hi & 0x80000000) {
      // negative int64: value = -(~v + 1)
      const nlo = (~lo + 1) >>> 0;
      const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
      return -(nhi * 4294967296 + nlo);
    }
    return (hi >>> 0) * 4294967296 + lo;
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) this.fail('truncated fixed32');
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  float32(): number {
    if (this.pos + 4 > this.end) this.fail('truncated float');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  float64(): number {
    if (this.pos + 8 > this.end) this.fail('truncated double');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Length-delimited payload as a sub-view (no copy). */
  bytes(): Uint8Array {
    const n = this.varint();
    if (n < 0 || this.pos + n > this.end) this.fail('length-delimited field runs past its message');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return textDecoder.decode(this.bytes());
  }

  /** Sub-reader over a length-delimited embedded message. */
  sub(): ProtoReader {
    const n = this.varint();
    if (n < 0 || this.pos + n > this.end) this.fail('embedded message runs past its parent');
    const r = new ProtoReader(this.buf, this.pos, this.pos + n, this.fileName);
    this.pos += n;
    return r;
  }

  tag(): { field: number; wire: number; start: number } {
    const start = this.pos;
    const t = this.varint();
    const field = Math.floor(t / 8);
    const wire = t & 7;
    if (field === 0) this.fail('field number 0');
    return { field, wire, start };
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        if (this.pos + 8 > this.end) this.fail('truncated fixed64');
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.bytes();
        return;
      case WIRE_FIXED32:
        if (this.pos + 4 > this.end) this.fail('truncated fixed32');
        this.pos += 4;
        return;
      default:
        this.fail(`unsupported wire type ${wire}`);
    }
  }

  /** Skips the current field's value and returns its whole encoding (tag included) for re-emission. */
  unknown(field: number, wire: number, start: number): UnknownField {
    this.skip(wire);
    return { field, bytes: this.buf.slice(start, this.pos) };
  }

  /** Repeated scalar: packed (wire 2) or one unpacked element. */
  packedVarints(wire: number, out: number[]): void {
    if (wire === WIRE_LEN) {
      const r = this.sub();
      while (!r.done()) out.push(r.varint());
    } else if (wire === WIRE_VARINT) out.push(this.varint());
    else this.fail(`wire type ${wire} for a varint field`);
  }

  packedFloats(wire: number, out: number[]): void {
    if (wire === WIRE_LEN) {
      const r = this.sub();
      while (!r.done()) out.push(r.float32());
    } else if (wire === WIRE_FIXED32) out.push(this.float32());
    else this.fail(`wire type ${wire} for a float field`);
  }

  packedDoubles(wire: number, out: number[]): void {
    if (wire === WIRE_LEN) {
      const r = this.sub();
      while (!r.done()) out.push(r.float64());
    } else if (wire === WIRE_FIXED64) out.push(this.float64());
    else this.fail(`wire type ${wire} for a double field`);
  }

  expect(wire: number, want: number, field: number): void {
    if (wire !== want) this.fail(`field ${field} has wire type ${wire}, expected ${want}`);
  }
}

/** Growable byte sink with protobuf primitives. */
export class ProtoWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
    this.view = new DataView(nb.buffer);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Unsigned or signed integer (negative → 10-byte two's complement, as protobuf int64/int32). */
  varint(v: number): void {
    this.ensure(10);
    if (v >= 0 && v < 0x80000000 && Number.isInteger(v)) {
      let x = v;
      while (x >= 0x80) {
        this.buf[this.len++] = (x & 0x7f) | 0x80;
        x >>>= 7;
      }
      this.buf[this.len++] = x;
      return;
    }
    if (!Number.isInteger(v)) throw new Error(`protobuf varint must be an integer, got ${v}`);
    let lo: number;
    let hi: number;
    if (v >= 0) {
      lo = v % 4294967296 >>> 0;
      hi = Math.floor(v / 4294967296) >>> 0;
    } else {
      const a = -v;
      const alo = a % 4294967296 >>> 0;
      const ahi = Math.floor(a / 4294967296) >>> 0;
      lo = (~alo + 1) >>> 0;
      hi = (~ahi + (lo === 0 ? 1 : 0)) >>> 0;
    }
    while (hi > 0 || lo >= 0x80) {
      this.buf[this.len++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.len++] = lo;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  float32(v: number): void {
    this.ensure(4);
    this.view.setFloat32(this.len, v, true);
    this.len += 4;
  }

  float64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.len, v, true);
    this.len += 8;
  }

  bytesField(field: number, bytes: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(bytes.length);
    this.raw(bytes);
  }

  stringField(field: number, s: string): void {
    this.bytesField(field, textEncoder.encode(s));
  }

  varintField(field: number, v: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }

  floatField(field: number, v: number): void {
    this.tag(field, WIRE_FIXED32);
    this.float32(v);
  }

  /** Embedded message written by `fn` into a fresh writer (length must be known before the bytes). */
  messageField(field: number, fn: (w: ProtoWriter) => void): void {
    const w = new ProtoWriter();
    fn(w);
    this.bytesField(field, w.finish());
  }

  packedVarints(field: number, vals: ArrayLike<number>): void {
    if (vals.length === 0) return;
    const w = new ProtoWriter();
    for (let i = 0; i < vals.length; i++) w.varint(vals[i]);
    this.bytesField(field, w.finish());
  }

  /** proto2 non-packed repeated varint (ONNX's dims, ints): one tag per element */
  repeatedVarints(field: number, vals: ArrayLike<number>): void {
    for (let i = 0; i < vals.length; i++) this.varintField(field, vals[i]);
  }

  repeatedFloats(field: number, vals: ArrayLike<number>): void {
    for (let i = 0; i < vals.length; i++) this.floatField(field, vals[i]);
  }

  packedFloats(field: number, vals: ArrayLike<number>): void {
    if (vals.length === 0) return;
    this.tag(field, WIRE_LEN);
    this.varint(vals.length * 4);
    this.ensure(vals.length * 4);
    for (let i = 0; i < vals.length; i++) {
      this.view.setFloat32(this.len, vals[i], true);
      this.len += 4;
    }
  }

  packedDoubles(field: number, vals: ArrayLike<number>): void {
    if (vals.length === 0) return;
    this.tag(field, WIRE_LEN);
    this.varint(vals.length * 8);
    this.ensure(vals.length * 8);
    for (let i = 0; i < vals.length; i++) {
      this.view.setFloat64(this.len, vals[i], true);
      this.len += 8;
    }
  }

  unknown(fields: UnknownField[] | undefined): void {
    if (fields) for (const f of fields) this.raw(f.bytes);
  }
}

export function utf8(s: string): Uint8Array {
  return textEncoder.encode(s);
}
export function fromUtf8(b: Uint8Array): string {
  return textDecoder.decode(b);
}

import { describe, expect, it } from 'vitest';
import { ProtoReader, ProtoWriter } from './protobuf.ts';

function enc(v: number): number[] {
  const w = new ProtoWriter();
  w.varint(v);
  return [...w.finish()];
}

describe('protobuf varint codec', () => {
  it('encodes the values from the protobuf encoding guide', () => {
    expect(enc(0)).toEqual([0]);
    expect(enc(1)).toEqual([1]);
    expect(enc(150)).toEqual([0x96, 0x01]);
    expect(enc(300)).toEqual([0xac, 0x02]);
    // int64 -1 is ten bytes of two's complement
    expect(enc(-1)).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    // 2^32 needs the high word
    expect(enc(2 ** 32)).toEqual([0x80, 0x80, 0x80, 0x80, 0x10]);
  });

  it('round-trips random positive and negative integers up to 2^53', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const vals = [0, 1, 127, 128, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -2, -(2 ** 31), -(2 ** 32), -(2 ** 53 - 1)];
    for (let i = 0; i < 2000; i++) {
      const mag = Math.floor(rnd() * 2 ** Math.floor(rnd() * 53));
      vals.push(rnd() < 0.3 ? -mag : mag);
    }
    const w = new ProtoWriter();
    for (const v of vals) w.varint(v);
    const r = new ProtoReader(w.finish());
    for (const v of vals) expect(r.varint()).toBe(v === 0 ? 0 : v);
    expect(r.done()).toBe(true);
  });

  it('reads floats, doubles and nested length-delimited fields', () => {
    const w = new ProtoWriter();
    w.floatField(2, 0.5);
    w.messageField(3, (s) => s.stringField(1, 'héllo'));
    w.packedDoubles(4, [1.25, -3]);
    const r = new ProtoReader(w.finish());
    let t = r.tag();
    expect([t.field, t.wire]).toEqual([2, 5]);
    expect(r.float32()).toBe(0.5);
    t = r.tag();
    expect([t.field, t.wire]).toEqual([3, 2]);
    const s = r.sub();
    s.tag();
    expect(s.string()).toBe('héllo');
    t = r.tag();
    const out: number[] = [];
    r.packedDoubles(t.wire, out);
    expect(out).toEqual([1.25, -3]);
  });

  it('refuses truncated input with a SegStudioError naming the file', () => {
    const r = new ProtoReader(new Uint8Array([0x0a, 0x05, 0x01]), 0, 3, 'broken.onnx');
    r.tag();
    expect(() => r.bytes()).toThrowError(/broken\.onnx: not a valid ONNX protobuf/);
    const r2 = new ProtoReader(new Uint8Array([0x80, 0x80]), 0, 2, 'x.onnx');
    expect(() => r2.varint()).toThrowError(/truncated varint/);
  });
});

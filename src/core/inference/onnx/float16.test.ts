// float16 weight storage: the bit conversion against hand-worked IEEE 754 binary16 values and an exhaustive
// round trip; a network stored with float16 weights computes exactly what the float32 network with the same
// rounded weights computes (onnxruntime-node), at about half the file size; the shipped demo model segments
// its phantom the same way either way.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { repoRoot } from '../../../../test/sharedData.ts';
import { SegStudioError } from '../../errors.ts';
import { networkCost } from '../memory.ts';
import { OnnxGraphBuilder } from './builder.ts';
import { fromFloat16Bits, onnxWithFloat16Weights, storeWeightsAsFloat16, toFloat16Bits } from './float16.ts';
import { DataType, decodeModel } from './model.ts';

async function run(bytes: Uint8Array, input: Float32Array, shape: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', input, shape) });
  const data = out[s.outputNames[0]].data as Float32Array;
  await s.release();
  return data;
}

function seeded(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}

/** a two-conv 3D network; `round` pre-rounds the first (large) conv's weights to float16 values, stored as float32 */
function net(w1: Float32Array, w2: Float32Array, round = false): Uint8Array {
  const r = (a: Float32Array) => (round ? a.map((v) => fromFloat16Bits(toFloat16Bits(v))) : a);
  const b = new OnnxGraphBuilder('t');
  const x = b.addInput('input', [1, 2, 6, 6, 6]);
  const h = b.leakyRelu(b.instanceNorm(b.conv(x, r(w1), [8, 2, 3, 3, 3], new Float32Array(8).fill(0.1)), new Float32Array(8).fill(1), new Float32Array(8)), 0.01);
  const y = b.conv(h, w2, [3, 8, 1, 1, 1], new Float32Array([0.2, -0.1, 0]), { pads: [0, 0, 0, 0, 0, 0] });
  b.addOutput(y, [1, 3, 6, 6, 6], 'float32', 'logits');
  return b.toBytes();
}

describe('float16 bits', () => {
  it('match hand-worked binary16 encodings, rounding to nearest even', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite half
      [65520, 0x7c00], // halfway to 2^16 rounds up to Infinity
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and 2^-24: even → 0
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 ulps: even → 2
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: even → 1
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 1+2^-10 and 1+2^-9: even → 1+2^-9
      [2047 / 1024 + 2 ** -11, 0x4000], // carry out of the mantissa into the exponent → 2
      [0.1, 0x2e66],
      [-0, 0x8000],
      [Infinity, 0x7c00],
    ];
    for (const [v, h] of cases) expect([v, toFloat16Bits(v).toString(16)]).toEqual([v, h.toString(16)]);
    expect(toFloat16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(toFloat16Bits(NaN) & 0x3ff).not.toBe(0);
    expect(fromFloat16Bits(0x3555)).toBeCloseTo(1 / 3, 3);
  });

  it('round-trip every finite half exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue; // Inf / NaN
      expect(toFloat16Bits(fromFloat16Bits(h))).toBe(h);
    }
  });
});

describe('storeWeightsAsFloat16', () => {
  it('gives exactly the output of the float32 network with rounded weights, in about half the bytes', async () => {
    const w1 = seeded(8 * 2 * 27, 1, 0.3);
    const w2 = seeded(3 * 8, 2, 0.5);
    const full = net(w1, w2);
    const half = onnxWithFloat16Weights(full);
    const rep = storeWeightsAsFloat16(decodeModel(full));
    // the 432-value conv weight becomes float16; the 24-value one, biases and norm scales stay float32
    expect(rep.converted).toBe(1);
    expect(rep.bytesAfter).toBe(rep.bytesBefore - 432 * 2);
    expect(rep.maxRelativeError).toBeLessThanOrEqual(2 ** -11);
    const m = decodeModel(half);
    expect(m.graph.initializers.filter((t) => t.dataType === DataType.FLOAT16).map((t) => t.dims)).toEqual([[8, 2, 3, 3, 3]]);
    expect(m.graph.nodes[0].opType).toBe('Cast');
    const x = seeded(2 * 216, 3, 2);
    const a = await run(half, x, [1, 2, 6, 6, 6]);
    const b = await run(net(w1, w2, true), x, [1, 2, 6, 6, 6]);
    expect(Array.from(a)).toEqual(Array.from(b));
    const c = await run(full, x, [1, 2, 6, 6, 6]);
    let maxDiff = 0;
    for (let i = 0; i < c.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - c[i]));
    expect(maxDiff).toBeGreaterThan(0); // the rounding is real …
    expect(maxDiff).toBeLessThan(0.02); // … and small
    expect(networkCost(half)).toEqual(networkCost(full)); // cost model sees through the Cast
  });

  it('refuses weights outside float16 range, naming the tensor and file', () => {
    const w1 = seeded(8 * 2 * 27, 1, 0.3);
    w1[5] = 1e6;
    const err = (() => {
      try {
        onnxWithFloat16Weights(net(w1, seeded(24, 2)), 'fold_0.onnx');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SegStudioError);
    expect(String((err as Error).message)).toMatch(/1000000.*float16|fold_0\.onnx/);
  });

  it('the shipped demo network segments a phantom the same with float16 weights (≥ 99.9 % equal argmax)', async () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(repoRoot, 'public/models/demo/fold_0.onnx')));
    const half = onnxWithFloat16Weights(bytes);
    expect(half.length).toBeLessThan(bytes.length * 0.6);
    const shape = (decodeModel(bytes).graph.inputs[0].shape ?? []).map((d) => (typeof d === 'number' ? d : 32));
    const { makePhantom } = await import('../../demo/phantom.ts');
    const ph = makePhantom();
    const n = shape.slice(2).reduce((p, v) => p * v, 1);
    // the phantom's centre crop of the network's input size, z-scored like the plans' normalization
    const [D, H, W] = shape.slice(2);
    const [, pz, py, px] = ph.image.shape;
    const x = new Float32Array(n);
    let k = 0;
    for (let z = 0; z < D; z++)
      for (let y = 0; y < H; y++)
        for (let xx = 0; xx < W; xx++) x[k++] = ph.image.data[(((pz - D) >> 1) + z) * py * px + (((py - H) >> 1) + y) * px + ((px - W) >> 1) + xx];
    let mean = 0;
    for (const v of x) mean += v / n;
    let sd = 0;
    for (const v of x) sd += (v - mean) ** 2 / n;
    for (let i = 0; i < n; i++) x[i] = (x[i] - mean) / Math.sqrt(sd);
    const a = await run(bytes, x, shape);
    const b = await run(half, x, shape);
    const C = a.length / n;
    let same = 0;
    let fg = 0;
    for (let i = 0; i < n; i++) {
      let ia = 0;
      let ib = 0;
      for (let c = 1; c < C; c++) {
        if (a[c * n + i] > a[ia * n + i]) ia = c;
        if (b[c * n + i] > b[ib * n + i]) ib = c;
      }
      if (ia === ib) same++;
      if (ia > 0) fg++;
    }
    expect(fg / n).toBeGreaterThan(0.05); // the crop holds structures, not only background
    expect(same / n).toBeGreaterThanOrEqual(0.999);
  });
});

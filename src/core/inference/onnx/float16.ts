// Half-size model files: float32 weight initializers stored as IEEE float16, each followed by a Cast back to
// float32. The network still computes in float32 — onnxruntime folds Cast(initializer) into a float32 constant when
// the session is created (constant folding runs before partitioning, so WebGPU, WASM and Node see the same
// float32 weights) — only the download is halved. The rounding error is ≤ 2^-11 relative per weight, far below
// what changes an argmax on a trained network (tested on real bundles in float16.test.ts).
import { SegStudioError } from '../../errors.ts';
import { AttributeType, DataType, decodeModel, encodeModel, tensorSize, tensorToFloat32, type OnnxModel, type OnnxNode, type OnnxTensor } from './model.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of a number, round to nearest even (overflow → ±Infinity, NaN kept). */
export function toFloat16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // too large: Inf
  if (e <= 0) {
    // subnormal half (or zero): shift the mantissa with its implicit 1 into place, rounding to nearest even
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // a carry into the exponent is the correct rounding
  return sign | h;
}

/** The number a binary16 bit pattern stands for. */
export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export interface Float16Report {
  model: OnnxModel;
  /** initializers stored as float16 */
  converted: number;
  /** bytes of initializer data before / after */
  bytesBefore: number;
  bytesAfter: number;
  /** largest |w16 − w32| / max|w| over the converted tensors */
  maxRelativeError: number;
}

/**
 * Stores every float32 initializer with at least `minElements` values as float16 + Cast(to float32), under the
 * original name, so every consumer is unchanged. Small tensors (norm scales, biases) stay float32: they are a
 * small part of the bytes. Refuses values outside float16's range rather than turning them into Infinity.
 */
export function storeWeightsAsFloat16(model: OnnxModel, opts: { minElements?: number; fileName?: string } = {}): Float16Report {
  const minElements = opts.minElements ?? 64;
  const g = model.graph;
  const taken = new Set<string>([...g.initializers.map((t) => t.name), ...g.nodes.flatMap((n) => [...n.inputs, ...n.outputs, n.name ?? ''])]);
  const fresh = (base: string): string => {
    let n = base;
    for (let i = 1; taken.has(n); i++) n = `${base}_${i}`;
    taken.add(n);
    return n;
  };
  const graphInputs = new Set(g.inputs.map((i) => i.name));
  const initializers: OnnxTensor[] = [];
  const casts: OnnxNode[] = [];
  let bytesBefore = 0;
  let bytesAfter = 0;
  let converted = 0;
  let maxRelativeError = 0;
  for (const t of g.initializers) {
    const n = tensorSize(t);
    const isFloat = t.dataType === DataType.FLOAT;
    bytesBefore += isFloat ? n * 4 : (t.rawData?.length ?? 0);
    // an initializer that is also a graph input can be overridden at run time: leave it alone
    if (!isFloat || n < minElements || graphInputs.has(t.name)) {
      initializers.push(t);
      bytesAfter += isFloat ? n * 4 : (t.rawData?.length ?? 0);
      continue;
    }
    const v = tensorToFloat32(t);
    const raw = new Uint8Array(n * 2);
    const dv = new DataView(raw.buffer);
    let maxAbs = 0;
    let maxErr = 0;
    for (let i = 0; i < n; i++) {
      const h = toFloat16Bits(v[i]);
      if ((h & 0x7c00) === 0x7c00 && Number.isFinite(v[i]))
        throw new SegStudioError('export', `weight ${t.name} holds ${v[i]}, outside float16's range`, opts.fileName);
      dv.setUint16(i * 2, h, true);
      maxAbs = Math.max(maxAbs, Math.abs(v[i]));
      maxErr = Math.max(maxErr, Math.abs(fromFloat16Bits(h) - v[i]));
    }
    if (maxAbs > 0) maxRelativeError = Math.max(maxRelativeError, maxErr / maxAbs);
    const half = fresh(`${t.name}_fp16`);
    initializers.push({ name: half, dims: [...t.dims], dataType: DataType.FLOAT16, rawData: raw });
    casts.push({
      opType: 'Cast',
      name: fresh(`${t.name}_cast`),
      inputs: [half],
      outputs: [t.name],
      attributes: [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT }],
    });
    bytesAfter += n * 2;
    converted++;
  }
  const out: OnnxModel = { ...model, graph: { ...g, initializers, nodes: [...casts, ...g.nodes] } };
  return { model: out, converted, bytesBefore, bytesAfter, maxRelativeError };
}

/** ONNX bytes → the same network with float16-stored weights (storeWeightsAsFloat16), as bytes. */
export function onnxWithFloat16Weights(bytes: Uint8Array, fileName = 'model.onnx'): Uint8Array {
  return encodeModel(storeWeightsAsFloat16(decodeModel(bytes, fileName), { fileName }).model);
}

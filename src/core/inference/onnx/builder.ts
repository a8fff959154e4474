// OnnxGraphBuilder: builds small ONNX models in code (opset 17 by default). The training engine exports
// PlainConvUNet through it, the app builds its demo model with it, and the tests build tiny networks
// whose outputs can be computed by hand.
import {
  AttributeType,
  DataType,
  encodeModel,
  float32Tensor,
  int64Tensor,
  type OnnxAttribute,
  type OnnxDim,
  type OnnxGraph,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
} from './model.ts';

/** Wrapper that forces a FLOAT attribute for a value that happens to be an integer (e.g. alpha = 1). */
export class FloatAttr {
  constructor(readonly value: number) {}
}
export class FloatsAttr {
  constructor(readonly value: number[]) {}
}
export const float = (v: number): FloatAttr => new FloatAttr(v);
export const floats = (v: number[]): FloatsAttr => new FloatsAttr(v);

/**
 * Attribute values: integer numbers → INT, non-integers → FLOAT (use `float(1)` to force FLOAT),
 * number[] → INTS (all integers) or FLOATS, string → STRING, OnnxTensor → TENSOR.
 */
export type AttrValue = number | number[] | string | FloatAttr | FloatsAttr | OnnxTensor | OnnxAttribute;

export function makeAttribute(name: string, v: AttrValue): OnnxAttribute {
  if (v instanceof FloatAttr) return { name, type: AttributeType.FLOAT, f: v.value };
  if (v instanceof FloatsAttr) return { name, type: AttributeType.FLOATS, floats: [...v.value] };
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: AttributeType.INT, i: v } : { name, type: AttributeType.FLOAT, f: v };
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) {
    return v.every((x) => Number.isInteger(x))
      ? { name, type: AttributeType.INTS, ints: [...v] }
      : { name, type: AttributeType.FLOATS, floats: [...v] };
  }
  if ('dims' in v && 'dataType' in v) return { name, type: AttributeType.TENSOR, t: v };
  return { ...(v as OnnxAttribute), name };
}

export type ElemType = 'float32' | 'int64' | 'int32' | 'uint8' | 'float16';
const ELEM: Record<ElemType, number> = {
  float32: DataType.FLOAT,
  int64: DataType.INT64,
  int32: DataType.INT32,
  uint8: DataType.UINT8,
  float16: DataType.FLOAT16,
};

export interface ConvOptions {
  strides?: number[];
  pads?: number[]; // ONNX layout [b0, b1, ..., e0, e1, ...]; default: (k-1)//2 both sides ("same" for odd k)
  dilations?: number[];
  group?: number;
  name?: string;
}

export class OnnxGraphBuilder {
  readonly graph: OnnxGraph;
  private counter = 0;
  private readonly used = new Set<string>();
  private readonly pending = new Set<string>();

  constructor(
    name = 'segstudio',
    readonly opset = 17,
  ) {
    this.graph = { name, nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] };
  }

  /** A fresh value/node name with the given prefix. */
  fresh(prefix: string): string {
    let n: string;
    do n = `${prefix}_${this.counter++}`;
    while (this.used.has(n));
    this.used.add(n);
    this.pending.add(n);
    return n;
  }

  private claim(name: string): string {
    if (this.pending.delete(name)) return name;
    if (this.used.has(name)) throw new Error(`ONNX builder: name '${name}' is used twice`);
    this.used.add(name);
    return name;
  }

  addInput(name: string, shape: OnnxDim[], elem: ElemType = 'float32'): string {
    this.graph.inputs.push({ name: this.claim(name), elemType: ELEM[elem], shape: [...shape] });
    return name;
  }

  /** Declares `value` as a graph output (renamed through an Identity node when `name` differs). */
  addOutput(value: string, shape: OnnxDim[], elem: ElemType = 'float32', name = value): string {
    let v = value;
    if (name !== value) v = this.node('Identity', [value], {}, { outputs: [this.claim(name)] })[0];
    this.graph.outputs.push({ name: v, elemType: ELEM[elem], shape: [...shape] });
    return v;
  }

  addInitializer(name: string, dims: number[], values: ArrayLike<number>): string {
    this.graph.initializers.push(float32Tensor(this.claim(name), dims, values));
    return name;
  }

  addInt64Initializer(name: string, dims: number[], values: ArrayLike<number>): string {
    this.graph.initializers.push(int64Tensor(this.claim(name), dims, values));
    return name;
  }

  /** Constant int64 1-D tensor (as an initializer). */
  int64Const(values: number[], prefix = 'const'): string {
    return this.addInt64Initializer(this.fresh(prefix), [values.length], values);
  }

  /** Adds a node; returns its output names (fresh unless given). Empty-string inputs mean "omitted". */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: { outputs?: string[] | number; name?: string; domain?: string } = {}): string[] {
    const outs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, () => this.fresh(opType.toLowerCase()));
    const n: OnnxNode = {
      opType,
      inputs: [...inputs],
      outputs: outs,
      name: opts.name ?? this.fresh(`${opType}`),
      attributes: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
    };
    if (opts.domain) n.domain = opts.domain;
    this.graph.nodes.push(n);
    return outs;
  }

  // ---- convenience ops (names are generated; weights are float32 arrays in ONNX layout)

  /** Conv; weight [Cout, Cin/group, ...k]; bias [Cout] or null. Default pads = (k-1)//2 ("same" for odd k, stride 1). */
  conv(x: string, weight: Float32Array, weightDims: number[], bias: Float32Array | null, opts: ConvOptions = {}): string {
    const k = weightDims.slice(2);
    const nd = k.length;
    const dil = opts.dilations ?? k.map(() => 1);
    const p = opts.pads ?? [...k.map((kk, i) => ((kk - 1) * dil[i]) >> 1), ...k.map((kk, i) => ((kk - 1) * dil[i]) >> 1)];
    const w = this.addInitializer(this.fresh('conv_w'), weightDims, weight);
    const ins = [x, w];
    if (bias) ins.push(this.addInitializer(this.fresh('conv_b'), [weightDims[0]], bias));
    const attrs: Record<string, AttrValue> = {
      kernel_shape: k,
      strides: opts.strides ?? k.map(() => 1),
      pads: p,
      dilations: dil,
      group: opts.group ?? 1,
    };
    if (nd === 0) throw new Error('conv: weight needs spatial dims');
    return this.node('Conv', ins, attrs, { name: opts.name })[0];
  }

  /** ConvTranspose; weight [Cin, Cout, ...k]; kernel == stride gives the U-Net upsampling. */
  convTranspose(x: string, weight: Float32Array, weightDims: number[], bias: Float32Array | null, strides: number[], opts: { name?: string } = {}): string {
    const k = weightDims.slice(2);
    const w = this.addInitializer(this.fresh('convt_w'), weightDims, weight);
    const ins = [x, w];
    if (bias) ins.push(this.addInitializer(this.fresh('convt_b'), [weightDims[1]], bias));
    return this.node('ConvTranspose', ins, { kernel_shape: k, strides, pads: [...k.map(() => 0), ...k.map(() => 0)] }, { name: opts.name })[0];
  }

  instanceNorm(x: string, scale: Float32Array, bias: Float32Array, epsilon = 1e-5): string {
    const s = this.addInitializer(this.fresh('in_scale'), [scale.length], scale);
    const b = this.addInitializer(this.fresh('in_bias'), [bias.length], bias);
    return this.node('InstanceNormalization', [x, s, b], { epsilon: float(epsilon) })[0];
  }

  leakyRelu(x: string, alpha = 0.01): string {
    return this.node('LeakyRelu', [x], { alpha: float(alpha) })[0];
  }
  relu(x: string): string {
    return this.node('Relu', [x])[0];
  }
  concat(xs: string[], axis = 1): string {
    return this.node('Concat', xs, { axis })[0];
  }
  add(a: string, b: string): string {
    return this.node('Add', [a, b])[0];
  }
  mul(a: string, b: string): string {
    return this.node('Mul', [a, b])[0];
  }
  reshape(x: string, shape: number[]): string {
    return this.node('Reshape', [x, this.int64Const(shape, 'shape')])[0];
  }
  transpose(x: string, perm: number[]): string {
    return this.node('Transpose', [x], { perm })[0];
  }
  softmax(x: string, axis = 1): string {
    return this.node('Softmax', [x], { axis })[0];
  }
  identity(x: string): string {
    return this.node('Identity', [x])[0];
  }
  argmax(x: string, axis = 1, keepdims = 0): string {
    return this.node('ArgMax', [x], { axis, keepdims })[0];
  }

  /** The finished model (opset `this.opset`, IR version 8). */
  build(meta: { producerName?: string; producerVersion?: string; docString?: string; metadata?: Record<string, string> } = {}): OnnxModel {
    return {
      irVersion: 8,
      opsetImports: [{ domain: '', version: this.opset }],
      producerName: meta.producerName ?? 'segstudio',
      producerVersion: meta.producerVersion ?? '0.1.0',
      docString: meta.docString,
      graph: this.graph,
      metadata: Object.entries(meta.metadata ?? {}).map(([key, value]) => ({ key, value })),
    };
  }

  toBytes(meta?: Parameters<OnnxGraphBuilder['build']>[0]): Uint8Array {
    return encodeModel(this.build(meta));
  }
}

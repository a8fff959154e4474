// ONNX ModelProto / GraphProto / NodeProto / TensorProto / AttributeProto / ValueInfoProto as plain
// objects, with a hand-written decoder and encoder over the protobuf wire format (field numbers from
// onnx/onnx.proto). Fields not modelled here (training_info, functions, sparse tensors, …) are kept as
// raw bytes in `unknown` and written back unchanged, so third-party models round-trip.
// onnx.proto is proto2: `dims`, attribute `ints`/`floats` are written unpacked and the *_data fields packed,
// as protobuf's C++ serializer does, so a model exported by PyTorch re-encodes byte for byte.
import { ProtoReader, ProtoWriter, WIRE_FIXED32, WIRE_LEN, WIRE_VARINT, type UnknownField } from './protobuf.ts';

/** TensorProto.DataType values. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** little-endian packed values (the usual storage) */
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  uint64Data?: number[];
  stringData?: Uint8Array[];
  docString?: string;
  unknown?: UnknownField[];
}

export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  g?: OnnxGraph;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: OnnxTensor[];
  graphs?: OnnxGraph[];
  docString?: string;
  unknown?: UnknownField[];
}

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes: OnnxAttribute[];
  docString?: string;
  unknown?: UnknownField[];
}

/** A tensor dimension: a number (dim_value), a string (dim_param) or null (unknown). */
export type OnnxDim = number | string | null;

export interface OnnxValueInfo {
  name: string;
  /** tensor element type (DataType); undefined when the value is not a tensor type */
  elemType?: number;
  /** undefined: shape unknown (no TensorShapeProto) */
  shape?: OnnxDim[];
  docString?: string;
  /**
   * raw TypeProto when it holds more than elem_type + shape (sequence/map types, dimension denotations, …):
   * re-emitted as is and wins over elemType/shape on encode — delete it before editing those.
   */
  rawType?: Uint8Array;
  unknown?: UnknownField[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
  docString?: string;
  unknown?: UnknownField[];
}

export interface OnnxOpset {
  domain: string;
  version: number;
}

export interface OnnxModel {
  irVersion: number;
  opsetImports: OnnxOpset[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph: OnnxGraph;
  metadata: { key: string; value: string }[];
  unknown?: UnknownField[];
}

// ---------------------------------------------------------------- decoding

function pushUnknown(list: UnknownField[] | undefined, f: UnknownField): UnknownField[] {
  const l = list ?? [];
  l.push(f);
  return l;
}

function decodeTensor(r: ProtoReader): OnnxTensor {
  const t: OnnxTensor = { name: '', dims: [], dataType: 0 };
  while (!r.done()) {
    const { field, wire, start } = r.tag();
    switch (field) {
      case 1:
        r.packedVarints(wire, t.dims);
        break;
      case 2:
        r.expect(wire, WIRE_VARINT, field);
        t.dataType = r.varint();
        break;
      case 4:
        r.packedFloats(wire, (t.floatData ??= []));
        break;
      case 5:
        r.packedVarints(wire, (t.int32Data ??= []));
        break;
      case 6:
        r.expect(wire, WIRE_LEN, field);
        (t.stringData ??= []).push(r.bytes().slice());
        break;
      case 7:
        r.packedVarints(wire, (t.int64Data ??= []));
        break;
      case 8:
        r.expect(wire, WIRE_LEN, field);
        t.name = r.string();
        break;
      case 9:
        r.expect(wire, WIRE_LEN, field);
        t.rawData = r.bytes().slice();
        break;
      case 10:
        r.packedDoubles(wire, (t.doubleData ??= []));
        break;
      case 11:
        r.packedVarints(wire, (t.uint64Data ??= []));
        break;
      case 12:
        r.expect(wire, WIRE_LEN, field);
        t.docString = r.string();
        break;
      default:
        t.unknown = pushUnknown(t.unknown, r.unknown(field, wire, start));
    }
  }
  return t;
}

function decodeAttribute(r: ProtoReader): OnnxAttribute {
  const a: OnnxAttribute = { name: '', type: 0 };
  while (!r.done()) {
    const { field, wire, start } = r.tag();
    switch (field) {
      case 1:
        r.expect(wire, WIRE_LEN, field);
        a.name = r.string();
        break;
      case 20:
        r.expect(wire, WIRE_VARINT, field);
        a.type = r.varint();
        break;
      case 2:
        r.expect(wire, WIRE_FIXED32, field);
        a.f = r.float32();
        break;
      case 3:
        r.expect(wire, WIRE_VARINT, field);
        a.i = r.varint();
        break;
      case 4:
        r.expect(wire, WIRE_LEN, field);
        a.s = r.bytes().slice();
        break;
      case 5:
        r.expect(wire, WIRE_LEN, field);
        a.t = decodeTensor(r.sub());
        break;
      case 6:
        r.expect(wire, WIRE_LEN, field);
        a.g = decodeGraph(r.sub());
        break;
      case 7:
        r.packedFloats(wire, (a.floats ??= []));
        break;
      case 8:
        r.packedVarints(wire, (a.ints ??= []));
        break;
      case 9:
        r.expect(wire, WIRE_LEN, field);
        (a.strings ??= []).push(r.bytes().slice());
        break;
      case 10:
        r.expect(wire, WIRE_LEN, field);
        (a.tensors ??= []).push(decodeTensor(r.sub()));
        break;
      case 11:
        r.expect(wire, WIRE_LEN, field);
        (a.graphs ??= []).push(decodeGraph(r.sub()));
        break;
      case 13:
        r.expect(wire, WIRE_LEN, field);
        a.docString = r.string();
        break;
      default:
        a.unknown = pushUnknown(a.unknown, r.unknown(field, wire, start));
    }
  }
  // Very old models (IR < 3) omit `type`: infer it from the populated field.
  if (a.type === 0) {
    if (a.f !== undefined) a.type = AttributeType.FLOAT;
    else if (a.i !== undefined) a.type = AttributeType.INT;
    else if (a.s !== undefined) a.type = AttributeType.STRING;
    else if (a.t !== undefined) a.type = AttributeType.TENSOR;
    else if (a.g !== undefined) a.type = AttributeType.GRAPH;
    else if (a.floats) a.type = AttributeType.FLOATS;
    else if (a.ints) a.type = AttributeType.INTS;
    else if (a.strings) a.type = AttributeType.STRINGS;
  }
  return a;
}

function decodeNode(r: ProtoReader): OnnxNode {
  const n: OnnxNode = { opType: '', inputs: [], outputs: [], attributes: [] };
  while (!r.done()) {
    const { field, wire, start } = r.tag();
    switch (field) {
      case 1:
        r.expect(wire, WIRE_LEN, field);
        n.inputs.push(r.string());
        break;
      case 2:
        r.expect(wire, WIRE_LEN, field);
        n.outputs.push(r.string());
        break;
      case 3:
        r.expect(wire, WIRE_LEN, field);
        n.name = r.string();
        break;
      case 4:
        r.expect(wire, WIRE_LEN, field);
        n.opType = r.string();
        break;
      case 5:
        r.expect(wire, WIRE_LEN, field);
        n.attributes.push(decodeAttribute(r.sub()));
        break;
      case 6:
        r.expect(wire, WIRE_LEN, field);
        n.docString = r.string();
        break;
      case 7:
        r.expect(wire, WIRE_LEN, field);
        n.domain = r.string();
        break;
      default:
        n.unknown = pushUnknown(n.unknown, r.unknown(field, wire, start));
    }
  }
  return n;
}

function decodeDimension(r: ProtoReader, dims: OnnxDim[], unknownOut: { bad: boolean }): void {
  let d: OnnxDim = null;
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_VARINT) d = r.varint();
    else if (field === 2 && wire === WIRE_LEN) d = r.string();
    else {
      // denotation or anything else: we cannot represent it faithfully → keep the raw TypeProto
      unknownOut.bad = true;
      r.skip(wire);
    }
  }
  dims.push(d);
}

function decodeValueInfo(r: ProtoReader): OnnxValueInfo {
  const v: OnnxValueInfo = { name: '' };
  while (!r.done()) {
    const { field, wire, start } = r.tag();
    if (field === 1 && wire === WIRE_LEN) v.name = r.string();
    else if (field === 3 && wire === WIRE_LEN) v.docString = r.string();
    else if (field === 2 && wire === WIRE_LEN) {
      const typeBytes = r.bytes();
      // TypeProto: only the plain `tensor_type` (field 1) case is modelled; anything else stays raw.
      const tr = new ProtoReader(typeBytes, 0, typeBytes.length, r.fileName);
      const flags = { bad: false };
      let elemType: number | undefined;
      let shape: OnnxDim[] | undefined;
      while (!tr.done()) {
        const t = tr.tag();
        if (t.field === 1 && t.wire === WIRE_LEN) {
          const tt = tr.sub();
          while (!tt.done()) {
            const u = tt.tag();
            if (u.field === 1 && u.wire === WIRE_VARINT) elemType = tt.varint();
            else if (u.field === 2 && u.wire === WIRE_LEN) {
              shape = [];
              const sr = tt.sub();
              while (!sr.done()) {
                const s = sr.tag();
                if (s.field === 1 && s.wire === WIRE_LEN) decodeDimension(sr.sub(), shape, flags);
                else {
                  flags.bad = true;
                  sr.skip(s.wire);
                }
              }
            } else {
              flags.bad = true;
              tt.skip(u.wire);
            }
          }
        } else {
          flags.bad = true;
          tr.skip(t.wire);
        }
      }
      if (flags.bad) v.rawType = typeBytes.slice();
      v.elemType = elemType;
      v.shape = shape;
    } else v.unknown = pushUnknown(v.unknown, r.unknown(field, wire, start));
  }
  return v;
}

function decodeGraph(r: ProtoReader): OnnxGraph {
  const g: OnnxGraph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] };
  while (!r.done()) {
    const { field, wire, start } = r.tag();
    if (wire !== WIRE_LEN) {
      g.unknown = pushUnknown(g.unknown, r.unknown(field, wire, start));
      continue;
    }
    switch (field) {
      case 1:
        g.nodes.push(decodeNode(r.sub()));
        break;
      case 2:
        g.name = r.string();
        break;
      case 5:
        g.initializers.push(decodeTensor(r.sub()));
        break;
      case 10:
        g.docString = r.string();
        break;
      case 11:
        g.inputs.push(decodeValueInfo(r.sub()));
        break;
      case 12:
        g.outputs.push(decodeValueInfo(r.sub()));
        break;
      case 13:
        g.valueInfo.push(decodeValueInfo(r.sub()));
        break;
      default:
        g.unknown = pushUnknown(g.unknown, r.unknown(field, wire, start));
    }
  }
  return g;
}

/** Decodes an ONNX ModelProto. Throws SegStudioError('onnx-decode') naming `fileName` on malformed input. */
export function decodeModel(bytes: Uint8Array, fileName = 'model.onnx'): OnnxModel {
  const r = new ProtoReader(bytes, 0, bytes.length, fileName);
  const m: OnnxModel = {
    irVersion: 0,
    opsetImports: [],
    graph: { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] },
    metadata: [],
  };
  let sawGraph = false;
  while (!r.done()) {
    const { field, wire, start } = r.tag();
    switch (field) {
      case 1:
        r.expect(wire, WIRE_VARINT, field);
        m.irVersion = r.varint();
        break;
      case 2:
        r.expect(wire, WIRE_LEN, field);
        m.producerName = r.string();
        break;
      case 3:
        r.expect(wire, WIRE_LEN, field);
        m.producerVersion = r.string();
        break;
      case 4:
        r.expect(wire, WIRE_LEN, field);
        m.domain = r.string();
        break;
      case 5:
        r.expect(wire, WIRE_VARINT, field);
        m.modelVersion = r.varint();
        break;
      case 6:
        r.expect(wire, WIRE_LEN, field);
        m.docString = r.string();
        break;
      case 7:
        r.expect(wire, WIRE_LEN, field);
        m.graph = decodeGraph(r.sub());
        sawGraph = true;
        break;
      case 8: {
        r.expect(wire, WIRE_LEN, field);
        const s = r.sub();
        const o: OnnxOpset = { domain: '', version: 0 };
        while (!s.done()) {
          const t = s.tag();
          if (t.field === 1 && t.wire === WIRE_LEN) o.domain = s.string();
          else if (t.field === 2 && t.wire === WIRE_VARINT) o.version = s.varint();
          else s.skip(t.wire);
        }
        m.opsetImports.push(o);
        break;
      }
      case 14: {
        r.expect(wire, WIRE_LEN, field);
        const s = r.sub();
        const e = { key: '', value: '' };
        while (!s.done()) {
          const t = s.tag();
          if (t.field === 1 && t.wire === WIRE_LEN) e.key = s.string();
          else if (t.field === 2 && t.wire === WIRE_LEN) e.value = s.string();
          else s.skip(t.wire);
        }
        m.metadata.push(e);
        break;
      }
      default:
        m.unknown = pushUnknown(m.unknown, r.unknown(field, wire, start));
    }
  }
  if (!sawGraph || m.irVersion === 0) r.fail(sawGraph ? 'missing ir_version' : 'no graph');
  return m;
}

// ---------------------------------------------------------------- encoding

function encodeTensor(w: ProtoWriter, t: OnnxTensor): void {
  w.repeatedVarints(1, t.dims);
  w.varintField(2, t.dataType);
  if (t.floatData) w.packedFloats(4, t.floatData);
  if (t.int32Data) w.packedVarints(5, t.int32Data);
  if (t.stringData) for (const s of t.stringData) w.bytesField(6, s);
  if (t.int64Data) w.packedVarints(7, t.int64Data);
  if (t.name) w.stringField(8, t.name);
  if (t.rawData) w.bytesField(9, t.rawData);
  if (t.doubleData) w.packedDoubles(10, t.doubleData);
  if (t.uint64Data) w.packedVarints(11, t.uint64Data);
  if (t.docString) w.stringField(12, t.docString);
  w.unknown(t.unknown);
}

function encodeAttribute(w: ProtoWriter, a: OnnxAttribute): void {
  w.stringField(1, a.name);
  if (a.f !== undefined) w.floatField(2, a.f);
  if (a.i !== undefined) w.varintField(3, a.i);
  if (a.s !== undefined) w.bytesField(4, a.s);
  if (a.t !== undefined) w.messageField(5, (s) => encodeTensor(s, a.t!));
  if (a.g !== undefined) w.messageField(6, (s) => encodeGraph(s, a.g!));
  if (a.floats) w.repeatedFloats(7, a.floats);
  if (a.ints) w.repeatedVarints(8, a.ints);
  if (a.strings) for (const s of a.strings) w.bytesField(9, s);
  if (a.tensors) for (const t of a.tensors) w.messageField(10, (s) => encodeTensor(s, t));
  if (a.graphs) for (const g of a.graphs) w.messageField(11, (s) => encodeGraph(s, g));
  if (a.docString) w.stringField(13, a.docString);
  w.varintField(20, a.type);
  w.unknown(a.unknown);
}

function encodeNode(w: ProtoWriter, n: OnnxNode): void {
  for (const i of n.inputs) w.stringField(1, i);
  for (const o of n.outputs) w.stringField(2, o);
  if (n.name) w.stringField(3, n.name);
  w.stringField(4, n.opType);
  for (const a of n.attributes) w.messageField(5, (s) => encodeAttribute(s, a));
  if (n.docString) w.stringField(6, n.docString);
  if (n.domain) w.stringField(7, n.domain);
  w.unknown(n.unknown);
}

function encodeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  w.stringField(1, v.name);
  if (v.rawType) w.bytesField(2, v.rawType);
  else if (v.elemType !== undefined || v.shape !== undefined) {
    w.messageField(2, (tp) =>
      tp.messageField(1, (tt) => {
        if (v.elemType !== undefined) tt.varintField(1, v.elemType);
        if (v.shape !== undefined)
          tt.messageField(2, (sh) => {
            for (const d of v.shape!)
              sh.messageField(1, (dm) => {
                if (typeof d === 'number') dm.varintField(1, d);
                else if (typeof d === 'string') dm.stringField(2, d);
              });
          });
      }),
    );
  }
  if (v.docString) w.stringField(3, v.docString);
  w.unknown(v.unknown);
}

function encodeGraph(w: ProtoWriter, g: OnnxGraph): void {
  for (const n of g.nodes) w.messageField(1, (s) => encodeNode(s, n));
  if (g.name) w.stringField(2, g.name);
  for (const t of g.initializers) w.messageField(5, (s) => encodeTensor(s, t));
  if (g.docString) w.stringField(10, g.docString);
  for (const v of g.inputs) w.messageField(11, (s) => encodeValueInfo(s, v));
  for (const v of g.outputs) w.messageField(12, (s) => encodeValueInfo(s, v));
  for (const v of g.valueInfo) w.messageField(13, (s) => encodeValueInfo(s, v));
  w.unknown(g.unknown);
}

export function encodeModel(m: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  w.varintField(1, m.irVersion);
  if (m.producerName) w.stringField(2, m.producerName);
  if (m.producerVersion) w.stringField(3, m.producerVersion);
  if (m.domain) w.stringField(4, m.domain);
  if (m.modelVersion !== undefined) w.varintField(5, m.modelVersion);
  if (m.docString) w.stringField(6, m.docString);
  w.messageField(7, (s) => encodeGraph(s, m.graph));
  for (const o of m.opsetImports)
    w.messageField(8, (s) => {
      if (o.domain) s.stringField(1, o.domain);
      s.varintField(2, o.version);
    });
  for (const e of m.metadata)
    w.messageField(14, (s) => {
      s.stringField(1, e.key);
      s.stringField(2, e.value);
    });
  w.unknown(m.unknown);
  return w.finish();
}

// ---------------------------------------------------------------- tensor helpers

const BYTES_PER: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
};

export function tensorSize(t: OnnxTensor): number {
  let n = 1;
  for (const d of t.dims) n *= d;
  return n;
}

/** Values of a FLOAT/DOUBLE tensor as float32 (raw_data or float_data/double_data). */
export function tensorToFloat32(t: OnnxTensor): Float32Array {
  const n = tensorSize(t);
  if (t.dataType === DataType.FLOAT) {
    if (t.rawData) {
      if (t.rawData.length !== n * 4) throw new Error(`tensor ${t.name}: raw_data has ${t.rawData.length} bytes, expected ${n * 4}`);
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(t.rawData);
      return out;
    }
    return Float32Array.from(t.floatData ?? []);
  }
  if (t.dataType === DataType.DOUBLE) {
    if (t.rawData) {
      const dv = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      return out;
    }
    return Float32Array.from(t.doubleData ?? []);
  }
  throw new Error(`tensor ${t.name}: data type ${t.dataType} is not float`);
}

/** Values of an INT64/INT32 tensor as JS numbers. */
export function tensorToInts(t: OnnxTensor): number[] {
  const n = tensorSize(t);
  if (t.rawData) {
    const dv = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    const bpe = BYTES_PER[t.dataType];
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      if (t.dataType === DataType.INT64) out.push(Number(dv.getBigInt64(i * 8, true)));
      else if (t.dataType === DataType.INT32) out.push(dv.getInt32(i * 4, true));
      else throw new Error(`tensor ${t.name}: data type ${t.dataType} is not an integer type`);
    }
    void bpe;
    return out;
  }
  if (t.dataType === DataType.INT64) return [...(t.int64Data ?? [])];
  if (t.dataType === DataType.INT32) return [...(t.int32Data ?? [])];
  throw new Error(`tensor ${t.name}: data type ${t.dataType} is not an integer type`);
}

export function float32Tensor(name: string, dims: number[], values: ArrayLike<number>): OnnxTensor {
  let n = 1;
  for (const d of dims) n *= d;
  if (values.length !== n) throw new Error(`tensor ${name}: ${values.length} values for dims [${dims}]`);
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  return { name, dims: [...dims], dataType: DataType.FLOAT, rawData: new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength)) };
}

export function int64Tensor(name: string, dims: number[], values: ArrayLike<number>): OnnxTensor {
  const raw = new Uint8Array(values.length * 8);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) dv.setBigInt64(i * 8, BigInt(values[i]), true);
  return { name, dims: [...dims], dataType: DataType.INT64, rawData: raw };
}

export function getAttribute(node: OnnxNode, name: string): OnnxAttribute | undefined {
  return node.attributes.find((a) => a.name === name);
}

/** Ints attribute (or undefined when absent). */
export function getInts(node: OnnxNode, name: string): number[] | undefined {
  const a = getAttribute(node, name);
  return a ? (a.ints ?? (a.i !== undefined ? [a.i] : [])) : undefined;
}

export function getInt(node: OnnxNode, name: string): number | undefined {
  return getAttribute(node, name)?.i;
}

export function getString(node: OnnxNode, name: string): string | undefined {
  const a = getAttribute(node, name);
  return a?.s ? new TextDecoder().decode(a.s) : undefined;
}

/** The opset version the model imports for the default ONNX domain. */
export function defaultOpset(m: OnnxModel): number {
  const o = m.opsetImports.find((x) => x.domain === '' || x.domain === 'ai.onnx');
  return o?.version ?? 0;
}

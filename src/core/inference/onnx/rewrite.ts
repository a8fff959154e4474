// Rewrites ConvTranspose (kernel == stride, the U-Net upsampling) into ops every onnxruntime-web WebGPU
// backend runs: ConvTranspose 3D fails there at run() ("Only Conv2d or Conv1d are supported").
//
//   ConvTranspose(x; W [Cin, Cout, s0..sk], B [Cout], kernel = stride = s)
//   ==  Conv 1×…×1 (Cin → Cout·∏s, bias B repeated ∏s times)
//       → Reshape [N, Cout, s0..sk-1, D0..Dk-1]
//       → Transpose [0, 1, 2+k, 2, 2+k+1, 3, …]   (interleave: D0, s0, D1, s1, …)
//       → Reshape [N, Cout, s0·D0, …, sk-1·Dk-1]    (depth-to-space)
//
// Shapes are computed DYNAMICALLY in the graph (Shape → Slice → Concat/Mul), so the rewritten model works
// for any input size, exactly like the original (no static shape inference needed, no symbolic-dim
// surprises). Works for 1D/2D/3D and anisotropic strides such as [1, 2, 2]. Needs opset ≥ 10 (Slice
// with tensor inputs).
import { SegStudioError, isSegStudioError } from '../../errors.ts';
import {
  defaultOpset,
  float32Tensor,
  getAttribute,
  getInt,
  getInts,
  getString,
  int64Tensor,
  tensorToFloat32,
  type OnnxGraph,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
} from './model.ts';

export interface RewriteReport {
  model: OnnxModel;
  rewritten: number;
  /** ConvTranspose nodes left untouched, with the reason */
  skipped: { node: string; reason: string }[];
}

function constTensor(g: OnnxGraph, name: string): OnnxTensor | undefined {
  const init = g.initializers.find((t) => t.name === name);
  if (init) return init;
  for (const n of g.nodes) {
    if (n.opType === 'Constant' && n.outputs[0] === name) {
      const v = getAttribute(n, 'value');
      if (v?.t) return v.t;
    }
  }
  return undefined;
}

function uniqueNamer(g: OnnxGraph): (prefix: string) => string {
  const used = new Set<string>();
  for (const n of g.nodes) {
    if (n.name) used.add(n.name);
    for (const o of n.outputs) used.add(o);
    for (const i of n.inputs) used.add(i);
  }
  for (const t of g.initializers) used.add(t.name);
  for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) used.add(v.name);
  let c = 0;
  return (prefix) => {
    let n: string;
    do n = `${prefix}__ct2d2s_${c++}`;
    while (used.has(n));
    used.add(n);
    return n;
  };
}

/** Why a ConvTranspose node cannot be rewritten, or null when it can. */
function unsupportedReason(g: OnnxGraph, n: OnnxNode): string | null {
  const w = constTensor(g, n.inputs[1]);
  if (!w) return 'weight is not a constant';
  if (w.dataType !== 1 && w.dataType !== 11) return 'weight is not float32';
  if (w.dims.length < 3) return 'weight rank < 3';
  const k = w.dims.slice(2);
  const nd = k.length;
  const group = getInt(n, 'group') ?? 1;
  if (group !== 1) return `group ${group} ≠ 1`;
  const ks = getInts(n, 'kernel_shape') ?? k;
  if (ks.length !== nd || ks.some((v, i) => v !== k[i])) return 'kernel_shape disagrees with the weight';
  const strides = getInts(n, 'strides') ?? k.map(() => 1);
  if (strides.length !== nd || strides.some((s, i) => s !== k[i])) return `kernel [${k}] ≠ stride [${strides}]`;
  const pads = getInts(n, 'pads');
  if (pads && pads.some((p) => p !== 0)) return 'non-zero pads';
  const dil = getInts(n, 'dilations');
  if (dil && dil.some((d) => d !== 1)) return 'dilation ≠ 1';
  const op = getInts(n, 'output_padding');
  if (op && op.some((d) => d !== 0)) return 'output_padding ≠ 0';
  if (getAttribute(n, 'output_shape')) return 'explicit output_shape';
  const ap = getString(n, 'auto_pad');
  if (ap && ap !== 'NOTSET' && ap !== 'VALID') return `auto_pad ${ap}`;
  if (n.inputs[2]) {
    const b = constTensor(g, n.inputs[2]);
    if (!b) return 'bias is not a constant';
  }
  return null;
}

/**
 * Returns a rewritten copy of `model` (the input is not modified) plus what was done. Nodes that do not
 * fit (kernel ≠ stride, padding, groups, non-constant weights) are left as ConvTranspose and reported.
 */
export function rewriteConvTransposeReport(model: OnnxModel, fileName = 'model.onnx'): RewriteReport {
  try {
    return rewriteUnchecked(model, fileName);
  } catch (e) {
    // malformed initializers (wrong data type, short raw_data) surface as plain Errors from the tensor
    // helpers: name the file (fuzz finding, seed 2 onnx #755)
    if (isSegStudioError(e)) throw e;
    throw new SegStudioError('onnx-rewrite', `cannot rewrite ConvTranspose: ${(e as Error).message}`, fileName);
  }
}

function rewriteUnchecked(model: OnnxModel, fileName: string): RewriteReport {
  const src = model.graph;
  const targets = src.nodes.filter((n) => n.opType === 'ConvTranspose' && (!n.domain || n.domain === 'ai.onnx'));
  const skipped: RewriteReport['skipped'] = [];
  if (targets.length === 0) return { model, rewritten: 0, skipped };
  if (defaultOpset(model) < 10) {
    throw new SegStudioError('onnx-rewrite', `ConvTranspose rewrite needs opset ≥ 10 (model has ${defaultOpset(model)})`, fileName);
  }
  const g: OnnxGraph = { ...src, nodes: [], initializers: [...src.initializers] };
  const fresh = uniqueNamer(src);
  let rewritten = 0;
  for (const n of src.nodes) {
    if (!targets.includes(n)) {
      g.nodes.push(n);
      continue;
    }
    const label = n.name || n.outputs[0];
    const reason = unsupportedReason(src, n);
    if (reason) {
      skipped.push({ node: label, reason });
      g.nodes.push(n);
      continue;
    }
    const w = constTensor(src, n.inputs[1])!;
    const wv = tensorToFloat32(w);
    const [cin, cout, ...s] = w.dims;
    const nd = s.length;
    const S = s.reduce((a, b) => a * b, 1);
    // Conv weight [Cout·S, Cin, 1…]: row (co·S + j) = W[:, co, j]
    const wc = new Float32Array(cout * S * cin);
    for (let ci = 0; ci < cin; ci++)
      for (let co = 0; co < cout; co++)
        for (let j = 0; j < S; j++) wc[(co * S + j) * cin + ci] = wv[(ci * cout + co) * S + j];
    const wName = fresh(`${label}_w1x1`);
    g.initializers.push(float32Tensor(wName, [cout * S, cin, ...s.map(() => 1)], wc));
    const convIn = [n.inputs[0], wName];
    if (n.inputs[2]) {
      const bv = tensorToFloat32(constTensor(src, n.inputs[2])!);
      const bc = new Float32Array(cout * S);
      for (let co = 0; co < cout; co++) bc.fill(bv[co], co * S, (co + 1) * S);
      const bName = fresh(`${label}_b1x1`);
      g.initializers.push(float32Tensor(bName, [cout * S], bc));
      convIn.push(bName);
    }
    const c = (vals: number[], p: string): string => {
      const name = fresh(`${label}_${p}`);
      g.initializers.push(int64Tensor(name, [vals.length], vals));
      return name;
    };
    const y1 = fresh(`${label}_conv`);
    const ones = s.map(() => 1);
    const zeros = [...ones.map(() => 0), ...ones.map(() => 0)];
    g.nodes.push({
      opType: 'Conv',
      name: fresh(`${label}_conv_node`),
      inputs: convIn,
      outputs: [y1],
      attributes: [
        { name: 'kernel_shape', type: 7, ints: ones },
        { name: 'strides', type: 7, ints: ones },
        { name: 'pads', type: 7, ints: zeros },
        { name: 'dilations', type: 7, ints: ones },
        { name: 'group', type: 2, i: 1 },
      ],
    });
    const shp = fresh(`${label}_shape`);
    g.nodes.push({ opType: 'Shape', name: fresh(`${label}_shape_node`), inputs: [y1], outputs: [shp], attributes: [] });
    const ax0 = c([0], 'axis0');
    const nDim = fresh(`${label}_n`);
    g.nodes.push({ opType: 'Slice', name: fresh(`${label}_slice_n`), inputs: [shp, c([0], 'start_n'), c([1], 'end_n'), ax0], outputs: [nDim], attributes: [] });
    const spatial = fresh(`${label}_spatial`);
    g.nodes.push({ opType: 'Slice', name: fresh(`${label}_slice_sp`), inputs: [shp, c([2], 'start_sp'), c([2 + nd], 'end_sp'), ax0], outputs: [spatial], attributes: [] });
    const shape1 = fresh(`${label}_shape1`);
    g.nodes.push({ opType: 'Concat', name: fresh(`${label}_concat1`), inputs: [nDim, c([cout, ...s], 'cs'), spatial], outputs: [shape1], attributes: [{ name: 'axis', type: 2, i: 0 }] });
    const y2 = fresh(`${label}_split`);
    g.nodes.push({ opType: 'Reshape', name: fresh(`${label}_reshape1`), inputs: [y1, shape1], outputs: [y2], attributes: [] });
    const perm = [0, 1];
    for (let i = 0; i < nd; i++) perm.push(2 + nd + i, 2 + i);
    const y3 = fresh(`${label}_interleaved`);
    g.nodes.push({ opType: 'Transpose', name: fresh(`${label}_transpose`), inputs: [y2], outputs: [y3], attributes: [{ name: 'perm', type: 7, ints: perm }] });
    const spatialOut = fresh(`${label}_spatial_out`);
    g.nodes.push({ opType: 'Mul', name: fresh(`${label}_mul`), inputs: [spatial, c(s, 'stride')], outputs: [spatialOut], attributes: [] });
    const shape2 = fresh(`${label}_shape2`);
    g.nodes.push({ opType: 'Concat', name: fresh(`${label}_concat2`), inputs: [nDim, c([cout], 'cout'), spatialOut], outputs: [shape2], attributes: [{ name: 'axis', type: 2, i: 0 }] });
    g.nodes.push({ opType: 'Reshape', name: fresh(`${label}_reshape2`), inputs: [y3, shape2], outputs: [n.outputs[0]], attributes: [] });
    rewritten++;
  }
  // drop initializers nobody reads any more (the original ConvTranspose weights)
  const read = new Set<string>();
  for (const n of g.nodes) for (const i of n.inputs) read.add(i);
  for (const o of g.outputs) read.add(o.name);
  const graphInputs = new Set(g.inputs.map((v) => v.name));
  g.initializers = g.initializers.filter((t) => read.has(t.name) || graphInputs.has(t.name));
  return { model: { ...model, graph: g }, rewritten, skipped };
}

/** `rewriteConvTransposeReport(model).model`: every kernel == stride ConvTranspose (2D or 3D) becomes Conv + depth-to-space. */
export function rewriteConvTranspose3d(model: OnnxModel, fileName?: string): OnnxModel {
  return rewriteConvTransposeReport(model, fileName).model;
}

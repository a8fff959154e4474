// Small ONNX graphs for the fast CPU backend's heavy ops (convolutions), built with the project's ONNX builder
// and executed by an injected onnxruntime module (onnxruntime-node in Node, onnxruntime-web's WASM backend in
// the browser). Every graph has fixed shapes; the backend caches one InferenceSession per graph key.
//
// The maths (torch.nn.ConvNd semantics, weights [Cout, Cin, k...]):
//  - forward:        ONNX Conv.
//  - backward-data:  stride 1 → a Conv of dy with the spatially flipped, in/out-swapped weights and padding
//                    d·(k−1) − p (same cost as the forward); otherwise ONNX ConvTranspose with output_padding.
//  - backward-weights: one strided Slice of the padded input per kernel tap and one Gemm dy·sliceᵀ per tap
//                    (contraction over batch and voxels), stacked.
//  - transposed conv (kernel == stride): a MatMul plus an interleaving Transpose; its data gradient is a Conv with stride = kernel,
//                    its weight gradient is the backward-weights graph with the roles of x and dy swapped.
import { OnnxGraphBuilder } from '../../../core/inference/onnx/builder.ts';
import type { ConvSpec } from '../../engine/backend.ts';
import { convOutShape } from '../../engine/backend.ts';

function spatialAxes(nd: number): number[] {
  return Array.from({ length: nd }, (_, i) => 2 + i);
}

/** y = conv(x, w) + b. Inputs: x, w[, b]; output y. */
export function convForwardGraph(xShape: readonly number[], wShape: readonly number[], hasBias: boolean, spec: ConvSpec): Uint8Array {
  const b = new OnnxGraphBuilder('conv_fwd');
  b.addInput('x', [...xShape]);
  b.addInput('w', [...wShape]);
  const ins = ['x', 'w'];
  if (hasBias) ins.push(b.addInput('b', [wShape[0]]));
  const [y] = b.node('Conv', ins, { strides: spec.stride, pads: [...spec.padding, ...spec.padding], dilations: spec.dilation }, { outputs: [b.fresh('y')] });
  b.addOutput(y, convOutShape(xShape, wShape, spec), 'float32', 'y');
  return b.toBytes();
}

/** True when dx can be computed as a plain stride-1 Conv with flipped weights. */
export function bwdDataAsConv(wShape: readonly number[], spec: ConvSpec): boolean {
  return spec.stride.every((s) => s === 1) && wShape.slice(2).every((k, i) => spec.dilation[i] * (k - 1) - spec.padding[i] >= 0);
}

/** dx for y = conv(x, w). Inputs: dy, w; output dx (shape xShape). */
export function convBackwardDataGraph(dyShape: readonly number[], wShape: readonly number[], xShape: readonly number[], spec: ConvSpec): Uint8Array {
  const nd = wShape.length - 2;
  const b = new OnnxGraphBuilder('conv_bwd_data');
  b.addInput('dy', [...dyShape]);
  b.addInput('w', [...wShape]);
  let dx: string;
  if (bwdDataAsConv(wShape, spec)) {
    // flip every spatial axis (Slice with step −1) and swap Cout/Cin
    const axes = spatialAxes(nd);
    const [flipped] = b.node('Slice', [
      'w',
      b.int64Const(axes.map(() => -1), 'starts'),
      b.addInt64Initializer(b.fresh('ends'), [nd], axes.map(() => -Number.MAX_SAFE_INTEGER)),
      b.int64Const(axes, 'axes'),
      b.int64Const(axes.map(() => -1), 'steps'),
    ]);
    const [wt] = b.node('Transpose', [flipped], { perm: [1, 0, ...axes] });
    const q = wShape.slice(2).map((k, i) => spec.dilation[i] * (k - 1) - spec.padding[i]);
    [dx] = b.node('Conv', ['dy', wt], { strides: spec.stride, pads: [...q, ...q], dilations: spec.dilation });
  } else {
    const outPad = xShape.slice(2).map((xs, i) => {
      const k = wShape[2 + i];
      const full = (dyShape[2 + i] - 1) * spec.stride[i] - 2 * spec.padding[i] + spec.dilation[i] * (k - 1) + 1;
      return xs - full;
    });
    [dx] = b.node('ConvTranspose', ['dy', 'w'], {
      strides: spec.stride,
      pads: [...spec.padding, ...spec.padding],
      dilations: spec.dilation,
      output_padding: outPad,
    });
  }
  b.addOutput(dx, [...xShape], 'float32', 'dx');
  return b.toBytes();
}

/**
 * dw for y = conv(x, w) with geometry (kernel k, stride, padding, dilation). Inputs: x, dy; output dw [Cout, Cin, k...].
 * One Gemm per kernel tap: dw[:, :, tap] = dy[Cout, N·O] · xtapᵀ where xtap[ci, n·O + o] = xpad[n, ci, o·s + tap·d]
 * is a strided Slice of the padded input (measured ~3× faster than one Gemm over a concatenated im2col matrix,
 * whose 27-fold copy dominates).
 */
export function convBackwardWeightsGraph(xShape: readonly number[], dyShape: readonly number[], wShape: readonly number[], spec: ConvSpec): Uint8Array {
  const nd = wShape.length - 2;
  const [n, cin] = xShape;
  const cout = dyShape[1];
  const k = wShape.slice(2);
  const o = dyShape.slice(2);
  const O = o.reduce((a, v) => a * v, 1);
  const K = k.reduce((a, v) => a * v, 1);
  const axes = spatialAxes(nd);
  const b = new OnnxGraphBuilder('conv_bwd_weights');
  b.addInput('x', [...xShape]);
  b.addInput('dy', [...dyShape]);
  // x → [Cin, N, ...] and zero-padded
  let xt = n === 1 ? b.node('Reshape', ['x', b.int64Const([cin, 1, ...xShape.slice(2)], 'shape')])[0] : b.node('Transpose', ['x'], { perm: [1, 0, ...axes] })[0];
  if (spec.padding.some((p) => p > 0)) {
    const pads = [0, 0, ...spec.padding, 0, 0, ...spec.padding];
    xt = b.node('Pad', [xt, b.int64Const(pads, 'pads')], { mode: 'constant' })[0];
  }
  const dyt = n === 1 ? 'dy' : b.node('Transpose', ['dy'], { perm: [1, 0, ...axes] })[0];
  const [dy2] = b.node('Reshape', [dyt, b.int64Const([cout, n * O], 'shape')]);
  const colShape = b.int64Const([cin, n * O], 'shape');
  const unsq = b.int64Const([2], 'unsq');
  const axesC = b.int64Const(axes, 'axes');
  const steps = b.int64Const(spec.stride, 'steps');
  const taps: string[] = [];
  const idx = new Array<number>(nd).fill(0);
  for (let t = 0; t < K; t++) {
    let r = t;
    for (let a = nd - 1; a >= 0; a--) {
      idx[a] = r % k[a];
      r = Math.floor(r / k[a]);
    }
    const starts = idx.map((v, a) => v * spec.dilation[a]);
    const ends = starts.map((s0, a) => s0 + spec.stride[a] * (o[a] - 1) + 1);
    const [sl] = b.node('Slice', [xt, b.int64Const(starts, 'starts'), b.int64Const(ends, 'ends'), axesC, steps]);
    const [col] = b.node('Reshape', [sl, colShape]);
    const [g] = b.node('Gemm', [dy2, col], { transB: 1 });
    taps.push(K === 1 ? g : b.node('Unsqueeze', [g, unsq])[0]);
  }
  const stacked = K === 1 ? taps[0] : b.node('Concat', taps, { axis: 2 })[0];
  const [dw] = b.node('Reshape', [stacked, b.int64Const([...wShape], 'shape')], {}, { outputs: [b.fresh('dw')] });
  b.addOutput(dw, [...wShape], 'float32', 'dw');
  return b.toBytes();
}

/**
 * Transposed conv, kernel == stride, padding 0. Inputs x, w[, b]; output y. Every input voxel writes one
 * disjoint kernel-sized block, so it is one MatMul wᵀ[Cout·S, Cin] · x[N, Cin, V] followed by a transpose
 * that interleaves the S = Π stride block offsets with the voxels (faster than onnxruntime's ConvTranspose).
 */
export function convTransposeGraph(xShape: readonly number[], wShape: readonly number[], hasBias: boolean, stride: number[]): Uint8Array {
  const nd = stride.length;
  const [n, cin] = xShape;
  const cout = wShape[1];
  const sp = xShape.slice(2);
  const V = sp.reduce((a, v) => a * v, 1);
  const S = stride.reduce((a, v) => a * v, 1);
  const outShape = [n, cout, ...sp.map((s, i) => s * stride[i])];
  const b = new OnnxGraphBuilder('convT_fwd');
  b.addInput('x', [...xShape]);
  b.addInput('w', [...wShape]);
  const [w2] = b.node('Reshape', ['w', b.int64Const([cin, cout * S], 'shape')]);
  const [wt] = b.node('Transpose', [w2], { perm: [1, 0] });
  const [x2] = b.node('Reshape', ['x', b.int64Const([n, cin, V], 'shape')]);
  const [m] = b.node('MatMul', [wt, x2]); // [N, Cout·S, V]
  const [m2] = b.node('Reshape', [m, b.int64Const([n, cout, ...stride, ...sp], 'shape')]);
  const perm = [0, 1];
  for (let i = 0; i < nd; i++) perm.push(2 + nd + i, 2 + i);
  const [t] = b.node('Transpose', [m2], { perm });
  let [y] = b.node('Reshape', [t, b.int64Const(outShape, 'shape')]);
  if (hasBias) {
    b.addInput('b', [cout]);
    const [b2] = b.node('Reshape', ['b', b.int64Const([cout, ...stride.map(() => 1)], 'shape')]);
    [y] = b.node('Add', [y, b2]);
  }
  b.addOutput(y, outShape, 'float32', 'y');
  return b.toBytes();
}

/** dx of the transposed conv: a Conv of dy with the same weights (viewed as [Cin, Cout, s]) and stride s. Inputs dy, w. */
export function convTransposeBackwardDataGraph(dyShape: readonly number[], wShape: readonly number[], stride: number[]): Uint8Array {
  const b = new OnnxGraphBuilder('convT_bwd_data');
  b.addInput('dy', [...dyShape]);
  b.addInput('w', [...wShape]);
  const [dx] = b.node('Conv', ['dy', 'w'], { strides: stride, pads: [...stride.map(() => 0), ...stride.map(() => 0)] });
  b.addOutput(dx, [dyShape[0], wShape[0], ...dyShape.slice(2).map((s, i) => s / stride[i])], 'float32', 'dx');
  return b.toBytes();
}

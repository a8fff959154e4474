// The training engine's Backend: tensor storage plus the kernel-level operations PlainConvUNet training needs.
//
// Two implementations sit behind it: the CPU reference (src/training/kernels/cpu, float32 or float64) and
// WebGPU (src/training/engine/webgpuBackend.ts, WGSL kernels, float32). A later CPU-fast backend (issue 8)
// implements the same interface. The autograd (autograd.ts) only ever talks to this interface.
//
// Conventions
// - Layout is NC(D)HW, C-order, float. 2D tensors are [N, C, H, W]; 3D are [N, C, D, H, W]. Every op accepts
//   both; implementations may treat 2D as 3D with D = 1 (see `to3d`).
// - Conv weights are [Cout, Cin, k...] (torch.nn.ConvNd). Transposed-conv weights are [Cin, Cout, k...]
//   (torch.nn.ConvTransposeNd), and only kernel == stride, padding 0 is supported (all PlainConvUNet needs).
// - Segmentation targets are tensors of shape [N, 1, ...spatial] holding integer labels as floats.
// - Ops return NEW tensors the caller owns (free them with `free`), except the explicitly in-place ones
//   (`axpy`, `sgdStep`, `write`). GPU ops are enqueued; only methods returning a Promise read back.

export type DType = 'float32' | 'float64';
export type FloatArray = Float32Array | Float64Array;

/** An opaque tensor living on a backend. Only `shape` and `size` are public. */
export interface DeviceTensor {
  readonly shape: readonly number[];
  /** number of elements */
  readonly size: number;
}

/** Convolution geometry, one entry per spatial axis (length 2 or 3, same order as the tensor's axes). */
export interface ConvSpec {
  stride: number[];
  padding: number[];
  dilation: number[];
}

/** Per-(batch, class) reductions the soft Dice + CE loss is built from (all length N*C, index n*C + c). */
export interface SegLossStats {
  /** Σ over valid voxels of −log softmax(logits)[label] */
  ceSum: number;
  /** number of voxels whose label is not the ignore label (over the whole batch) */
  nValid: number;
  /** Σ_v mask·p_c·[y=c] (soft true positives) */
  tp: Float64Array;
  /** Σ_v mask·p_c (tp + fp) */
  sumPred: Float64Array;
  /** Σ_v mask·[y=c] (tp + fn) */
  sumGt: Float64Array;
}

/**
 * d loss / d logits for a softmax-based loss expressed through the stats above:
 *   dp[n,c,v]  = mask_v · (dTp[n,c]·[y_v=c] + dSumPred[n,c])
 *   dlogit     = softmax-backward(dp) + ceScale · mask_v · (p − onehot(y))
 * (the Dice part flows through the softmax Jacobian; the CE part is the classic p − y).
 */
export interface SegLossGradCoeffs {
  ceScale: number;
  dTp: Float64Array;
  dSumPred: Float64Array;
}

export interface SgdOptions {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  /** grads are multiplied by this first (grad-norm clipping); 1 for none */
  gradScale: number;
  /** true on the first step of a buffer: torch initialises the momentum buffer to the gradient */
  firstStep: boolean;
}

export interface Backend {
  readonly name: string;
  readonly dtype: DType;

  // ---- storage -------------------------------------------------------------------------------------------
  zeros(shape: readonly number[]): DeviceTensor;
  upload(data: ArrayLike<number>, shape: readonly number[]): DeviceTensor;
  /** Overwrites a tensor's contents in place (same size). */
  write(t: DeviceTensor, data: ArrayLike<number>): void;
  download(t: DeviceTensor): Promise<FloatArray>;
  /** Releases the storage (GPU: back to the pool). Using a freed tensor is an error. */
  free(t: DeviceTensor): void;
  copy(t: DeviceTensor): DeviceTensor;
  /** Waits for every enqueued op (no-op on CPU). */
  sync(): Promise<void>;
  /** Releases pooled memory and the device resources this backend owns. */
  dispose(): void;
  /** Bytes currently held by live tensors and by the pool (for leak checks). */
  memoryStats(): { liveTensors: number; liveBytes: number; pooledBytes: number };

  // ---- convolution ---------------------------------------------------------------------------------------
  /** y = conv(x, w) + b; x [N,Cin,...], w [Cout,Cin,...k], b [Cout] or null. */
  conv(x: DeviceTensor, w: DeviceTensor, b: DeviceTensor | null, spec: ConvSpec): DeviceTensor;
  /** dx for y = conv(x, w); xShape is x's shape (needed when stride does not divide evenly). */
  convBackwardData(dy: DeviceTensor, w: DeviceTensor, xShape: readonly number[], spec: ConvSpec): DeviceTensor;
  /** dw for y = conv(x, w), shape wShape. */
  convBackwardWeights(dy: DeviceTensor, x: DeviceTensor, wShape: readonly number[], spec: ConvSpec): DeviceTensor;
  /** db[c] = Σ_{n, spatial} dy[n,c,...]  (shared by conv and transposed conv). */
  biasGrad(dy: DeviceTensor): DeviceTensor;
  /** Transposed conv, kernel == stride, padding 0: x [N,Cin,...], w [Cin,Cout,...stride] → [N,Cout,...x·stride]. */
  convTranspose(x: DeviceTensor, w: DeviceTensor, b: DeviceTensor | null, stride: number[]): DeviceTensor;
  convTransposeBackwardData(dy: DeviceTensor, w: DeviceTensor, stride: number[]): DeviceTensor;
  convTransposeBackwardWeights(dy: DeviceTensor, x: DeviceTensor, stride: number[]): DeviceTensor;

  // ---- normalisation / activation ------------------------------------------------------------------------
  /** InstanceNorm (biased variance, eps): mean and invstd are [N*C], kept for the backward pass. */
  instanceNorm(
    x: DeviceTensor,
    gamma: DeviceTensor,
    beta: DeviceTensor,
    eps: number,
  ): { y: DeviceTensor; mean: DeviceTensor; invstd: DeviceTensor };
  instanceNormBackward(
    dy: DeviceTensor,
    x: DeviceTensor,
    gamma: DeviceTensor,
    mean: DeviceTensor,
    invstd: DeviceTensor,
  ): { dx: DeviceTensor; dgamma: DeviceTensor; dbeta: DeviceTensor };
  leakyRelu(x: DeviceTensor, slope: number): DeviceTensor;
  /** dx = dy · (x > 0 ? 1 : slope) */
  leakyReluBackward(dy: DeviceTensor, x: DeviceTensor, slope: number): DeviceTensor;

  // ---- tensor algebra ------------------------------------------------------------------------------------
  /** Concatenation along channels (axis 1). */
  concat(a: DeviceTensor, b: DeviceTensor): DeviceTensor;
  /** Inverse of concat: the first `channelsA` channels, then the rest. */
  split(t: DeviceTensor, channelsA: number): [DeviceTensor, DeviceTensor];
  add(a: DeviceTensor, b: DeviceTensor): DeviceTensor;
  scale(a: DeviceTensor, s: number): DeviceTensor;
  /** y += alpha · x, in place. */
  axpy(alpha: number, x: DeviceTensor, y: DeviceTensor): void;

  // ---- loss ----------------------------------------------------------------------------------------------
  /** Softmax over channels. */
  softmax(logits: DeviceTensor): DeviceTensor;
  /** Reductions for CE + soft Dice (see SegLossStats); voxels labelled `ignoreLabel` are masked out. */
  segLossStats(logits: DeviceTensor, target: DeviceTensor, ignoreLabel: number | null): Promise<SegLossStats>;
  segLossBackward(
    logits: DeviceTensor,
    target: DeviceTensor,
    coeffs: SegLossGradCoeffs,
    ignoreLabel: number | null,
  ): DeviceTensor;
  /**
   * Deep-supervision target downsampling: nearest-exact resize of a label tensor [N,1,...] to `outSpatial`
   * (src = min(floor((dst + 0.5) · in/out), in − 1)).
   * nnU-Net: batchgeneratorsv2 DownsampleSegForDSTransform (interpolate mode='nearest-exact').
   */
  downsampleSeg(target: DeviceTensor, outSpatial: readonly number[]): DeviceTensor;

  // ---- optimiser -----------------------------------------------------------------------------------------
  /** Σ over all tensors of Σ x² (global grad norm²), read back. */
  sumSquares(ts: readonly DeviceTensor[]): Promise<number>;
  /**
   * One torch.optim.SGD step in place (param, buf updated):
   *   g = gradScale·grad + wd·p;  buf = firstStep ? g : momentum·buf + g;
   *   d = nesterov ? g + momentum·buf : buf;  p −= lr·d
   */
  sgdStep(param: DeviceTensor, grad: DeviceTensor, buf: DeviceTensor, opts: SgdOptions): void;
}

// ---- shape helpers shared by every backend ----------------------------------------------------------------

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Output size of a convolution along one axis (torch formula). */
export function convOutSize(inSize: number, k: number, stride: number, pad: number, dil: number): number {
  return Math.floor((inSize + 2 * pad - dil * (k - 1) - 1) / stride) + 1;
}

export function convOutShape(xShape: readonly number[], wShape: readonly number[], spec: ConvSpec): number[] {
  const sp = xShape.slice(2).map((s, i) =>
    convOutSize(s, wShape[2 + i], spec.stride[i], spec.padding[i], spec.dilation[i]),
  );
  return [xShape[0], wShape[0], ...sp];
}

/** Geometry padded to 3 spatial axes (2D → D = 1, kernel 1, stride 1, pad 0, dilation 1). */
export interface Geom3 {
  n: number;
  cin: number;
  cout: number;
  in: [number, number, number];
  out: [number, number, number];
  k: [number, number, number];
  stride: [number, number, number];
  pad: [number, number, number];
  dil: [number, number, number];
}

export function to3(a: readonly number[], fill: number): [number, number, number] {
  if (a.length === 3) return [a[0], a[1], a[2]];
  if (a.length === 2) return [fill, a[0], a[1]];
  if (a.length === 1) return [fill, fill, a[0]];
  throw new Error(`expected 1-3 spatial entries, got ${a.length}`);
}

export function convGeom(xShape: readonly number[], wShape: readonly number[], spec: ConvSpec): Geom3 {
  const out = convOutShape(xShape, wShape, spec);
  return {
    n: xShape[0],
    cin: xShape[1],
    cout: wShape[0],
    in: to3(xShape.slice(2), 1),
    out: to3(out.slice(2), 1),
    k: to3(wShape.slice(2), 1),
    stride: to3(spec.stride, 1),
    pad: to3(spec.padding, 0),
    dil: to3(spec.dilation, 1),
  };
}

/** A same-padding ConvSpec as PlainConvUNet uses ((k − 1) / 2 per axis, dilation 1). */
export function convSpecFor(kernel: readonly number[], stride: readonly number[]): ConvSpec {
  return {
    stride: [...stride],
    padding: kernel.map((k) => (k - 1) >> 1),
    dilation: kernel.map(() => 1),
  };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

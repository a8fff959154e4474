// Network topology and memory estimate helpers for the experiment planner.
// nnU-Net: experiment_planning/experiment_planners/network_topology.py (get_pool_and_conv_props, pad_shape)
// dynamic_network_architectures: architectures/unet.py, building_blocks/plain_conv_encoder.py,
// building_blocks/unet_decoder.py, building_blocks/simple_conv_blocks.py (compute_conv_feature_map_size).

/** Python's round() on a float (round half to even), as numpy float64 rounding behaves. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; fix exact halves to the even neighbour
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return r;
}

/** numpy.percentile(values, q) with the default 'linear' method, in float64. */
export function percentile(values: ArrayLike<number>, q: number): number {
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  return percentileOfSorted(sorted, q);
}

/** Linear-interpolated percentile of an ascending array (numpy's default method, `_lerp`). */
export function percentileOfSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  const virtualIndex = (q / 100) * (n - 1);
  const prev = Math.floor(virtualIndex);
  const next = Math.min(prev + 1, n - 1);
  const gamma = virtualIndex - prev;
  return lerp(sorted[prev], sorted[next], gamma);
}

/** numpy's _lerp: a + (b − a)·t, computed from the upper end when t ≥ 0.5 (function_base.py). */
export function lerp(a: number, b: number, t: number): number {
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/** numpy.median along axis 0 of a list of equal-length vectors. */
export function medianPerAxis(rows: readonly (readonly number[])[]): number[] {
  const dim = rows[0].length;
  const out: number[] = [];
  for (let d = 0; d < dim; d++) out.push(percentile(rows.map((r) => r[d]), 50));
  return out;
}

/** Pads each axis up to the next multiple of its divisor (a multiple stays unchanged). network_topology.pad_shape */
export function padShape(shape: readonly number[], divisibleBy: readonly number[]): number[] {
  return shape.map((s, i) => {
    const m = divisibleBy[i];
    let v = s + m - (s % m);
    if (s % m === 0) v -= m;
    return Math.trunc(v);
  });
}

export interface PoolAndConvProps {
  numPoolPerAxis: number[];
  /** per stage, the first entry all ones (stage 0 has no downsampling) */
  poolOpKernelSizes: number[][];
  /** per stage (one more than pooling steps: the bottleneck is always 3s) */
  convKernelSizes: number[][];
  patchSize: number[];
  mustBeDivisibleBy: number[];
}

/**
 * nnU-Net's get_pool_and_conv_props: pool an axis while its feature map stays ≥ 2·minFeatureMapSize and its
 * spacing is within 2× of the smallest spacing among the poolable axes (a lone axis needs ≥ 3·min); kernel 3
 * once an axis's spacing is within 2× of the smallest spacing, else 1; patch padded to a multiple of 2^pool.
 */
export function getPoolAndConvProps(
  spacing: readonly number[],
  patchSize: readonly number[],
  minFeatureMapSize = 4,
  maxNumpool = 999999,
): PoolAndConvProps {
  const dim = spacing.length;
  const currentSpacing = [...spacing];
  const currentSize = [...patchSize];
  const poolOpKernelSizes: number[][] = [new Array(dim).fill(1)];
  const convKernelSizes: number[][] = [];
  const numPoolPerAxis = new Array(dim).fill(0);
  const kernelSize = new Array(dim).fill(1);

  for (;;) {
    let valid = [...Array(dim).keys()].filter((i) => currentSize[i] >= 2 * minFeatureMapSize);
    if (valid.length < 1) break;
    const minSpacingOfValid = Math.min(...valid.map((i) => currentSpacing[i]));
    valid = valid.filter((i) => currentSpacing[i] / minSpacingOfValid < 2);
    valid = valid.filter((i) => numPoolPerAxis[i] < maxNumpool);
    if (valid.length === 1 && !(currentSize[valid[0]] >= 3 * minFeatureMapSize)) break;
    if (valid.length < 1) break;

    const minAll = Math.min(...currentSpacing);
    for (let d = 0; d < dim; d++) {
      if (kernelSize[d] === 3) continue;
      if (currentSpacing[d] / minAll < 2) kernelSize[d] = 3;
    }
    const pool = new Array(dim).fill(1);
    for (const v of valid) {
      pool[v] = 2;
      numPoolPerAxis[v] += 1;
      currentSpacing[v] *= 2;
      currentSize[v] = Math.ceil(currentSize[v] / 2);
    }
    poolOpKernelSizes.push(pool);
    convKernelSizes.push([...kernelSize]);
  }
  const mustBeDivisibleBy = numPoolPerAxis.map((n) => 2 ** n);
  const padded = padShape(patchSize, mustBeDivisibleBy);
  convKernelSizes.push(new Array(dim).fill(3));
  return { numPoolPerAxis, poolOpKernelSizes, convKernelSizes, patchSize: padded, mustBeDivisibleBy };
}

export interface UNetTopology {
  featuresPerStage: readonly number[];
  strides: readonly (readonly number[])[];
  nConvPerStage: readonly number[];
  nConvPerStageDecoder: readonly number[];
}

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

/**
 * PlainConvUNet.compute_conv_feature_map_size (deep supervision off, as the planner instantiates it):
 * the number of conv-output activations of one sample — encoder convs, decoder convs, transposed convs and the
 * final segmentation head. nnU-Net compares this against its reference values to fit a GPU memory target.
 */
export function computeConvFeatureMapSize(topo: UNetTopology, patchSize: readonly number[], numClasses: number): number {
  const nStages = topo.featuresPerStage.length;
  let out = 0;
  // encoder: stage s = StackedConvBlocks(n_conv, stride on the first conv)
  let size = [...patchSize];
  for (let s = 0; s < nStages; s++) {
    const after = size.map((v, i) => Math.floor(v / topo.strides[s][i]));
    out += topo.nConvPerStage[s] * topo.featuresPerStage[s] * prod(after);
    size = after;
  }
  // decoder: skip sizes of every encoder stage except the bottleneck
  const skipSizes: number[][] = [];
  size = [...patchSize];
  for (let s = 0; s < nStages - 1; s++) {
    size = size.map((v, i) => Math.floor(v / topo.strides[s][i]));
    skipSizes.push(size);
  }
  const nDec = nStages - 1;
  for (let s = 0; s < nDec; s++) {
    const skip = skipSizes[skipSizes.length - 1 - s];
    const ch = topo.featuresPerStage[nStages - 2 - s];
    out += topo.nConvPerStageDecoder[s] * ch * prod(skip); // conv blocks (stride 1)
    out += ch * prod(skip); // transposed conv
    if (s === nDec - 1) out += numClasses * prod(skip); // segmentation head (no deep supervision)
  }
  return out;
}

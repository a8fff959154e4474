// nnU-Net's training-time augmentation, pure TypeScript on one sample at a time:
// image Float32Array [C, ...spatial] and segmentation Int16Array [1, ...spatial] (2D or 3D spatial).
// nnU-Net: training/nnUNetTrainer/nnUNetTrainer.py (get_training_transforms,
// configure_rotation_dummyDA_mirroring_and_inital_patch_size), training/data_augmentation/compute_initial_patch_size.py;
// batchgeneratorsv2: transforms/spatial/spatial.py (SpatialTransform: rotation + scaling through a coordinate grid,
// trilinear image sampling with zero padding, segmentation by linear interpolation of one-hot labels + argmax,
// −1 outside the input), noise/gaussian_blur.py, intensity/{brightness,contrast,gamma}.py,
// spatial/low_resolution.py, spatial/mirroring.py, utils/pseudo2d.py (dummy 2D).
// Random draws come from a RandomState (deterministic for a seed); they cannot match torch's draws, so only the
// distributions, probabilities and the transforms' arithmetic follow nnU-Net.
import { SegStudioError } from '../../core/errors.ts';
import { RandomState } from './random.ts';

const DEG = Math.PI / 180;

/** nnU-Net's augmentation probabilities and ranges (nnUNetTrainer.get_training_transforms). */
export const NNUNET_AUGMENTATION = {
  pRotation: 0.2,
  pScaling: 0.2,
  scaling: [0.7, 1.4] as [number, number],
  pNoise: 0.1,
  noiseStd: [0, 0.1] as [number, number],
  pBlur: 0.2,
  blurSigma: [0.5, 1] as [number, number],
  blurPPerChannel: 0.5,
  pBrightness: 0.15,
  brightness: [0.75, 1.25] as [number, number],
  pContrast: 0.15,
  contrast: [0.75, 1.25] as [number, number],
  pLowRes: 0.25,
  lowResScale: [0.5, 1] as [number, number],
  lowResPPerChannel: 0.5,
  pInvertedGamma: 0.1,
  pGamma: 0.3,
  gamma: [0.7, 1.5] as [number, number],
  pMirrorPerAxis: 0.5,
};

export interface AugmentationSetup {
  /** rotation angle range in radians (symmetric) */
  rotation: [number, number];
  doDummy2D: boolean;
  /** patch size the sampler must crop (large enough for rotation/scaling), nnU-Net's initial_patch_size */
  initialPatchSize: number[];
  mirrorAxes: number[];
}

// ------------------------------------------------------------------------------------------ configuration

function rotMul(v: number[], m: number[][]): number[] {
  // row vector · matrix (np.dot(coords, rot_matrix))
  return m[0].map((_, j) => v.reduce((s, vi, i) => s + vi * m[i][j], 0));
}

/** compute_initial_patch_size.get_patch_size: bounding size of the patch rotated by the max angle, / min scale. */
export function getInitialPatchSize(finalPatchSize: number[], rotation: number, scaleRange: [number, number] = [0.85, 1.25]): number[] {
  const rot = Math.min(Math.PI / 2, Math.abs(rotation));
  const c = Math.cos(rot);
  const s = Math.sin(rot);
  let out = [...finalPatchSize];
  const upd = (v: number[]) => (out = out.map((o, i) => Math.max(o, Math.abs(v[i]))));
  if (finalPatchSize.length === 3) {
    upd(rotMul(finalPatchSize, [[1, 0, 0], [0, c, -s], [0, s, c]]));
    upd(rotMul(finalPatchSize, [[c, 0, s], [0, 1, 0], [-s, 0, c]]));
    upd(rotMul(finalPatchSize, [[c, -s, 0], [s, c, 0], [0, 0, 1]]));
  } else if (finalPatchSize.length === 2) {
    upd(rotMul(finalPatchSize, [[c, -s], [s, c]]));
  } else throw new SegStudioError('augment', `patch size must have 2 or 3 entries, got [${finalPatchSize}]`);
  const m = Math.min(...scaleRange);
  return out.map((v) => Math.trunc(v / m));
}

/** configure_rotation_dummyDA_mirroring_and_inital_patch_size for a configuration's patch size. */
export function configureAugmentation(patchSize: number[]): AugmentationSetup {
  const dim = patchSize.length;
  let rotation: [number, number];
  let doDummy2D = false;
  if (dim === 2) {
    rotation = Math.max(...patchSize) / Math.min(...patchSize) > 1.5 ? [-15 * DEG, 15 * DEG] : [-180 * DEG, 180 * DEG];
  } else if (dim === 3) {
    doDummy2D = Math.max(...patchSize) / patchSize[0] > 3; // ANISO_THRESHOLD
    rotation = doDummy2D ? [-180 * DEG, 180 * DEG] : [-30 * DEG, 30 * DEG];
  } else throw new SegStudioError('augment', `patch size must have 2 or 3 entries, got [${patchSize}]`);
  // nnU-Net uses 2π/360 as its degree conversion; the constants above equal (-x / 360 * 2π)
  const initialPatchSize = getInitialPatchSize(patchSize, Math.max(Math.abs(rotation[0]), Math.abs(rotation[1])));
  if (doDummy2D) initialPatchSize[0] = patchSize[0];
  return { rotation, doDummy2D, initialPatchSize, mirrorAxes: dim === 2 ? [0, 1] : [0, 1, 2] };
}

// ------------------------------------------------------------------------------------------ spatial transform

const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);

/** create_affine_matrix_3d: Rz·Ry·Rx·S (angles[0] about axis 0, …). */
export function affine3d(angles: number[], scales: number[]): number[][] {
  const [a, b, g] = angles;
  const Rx = [[1, 0, 0], [0, Math.cos(a), -Math.sin(a)], [0, Math.sin(a), Math.cos(a)]];
  const Ry = [[Math.cos(b), 0, Math.sin(b)], [0, 1, 0], [-Math.sin(b), 0, Math.cos(b)]];
  const Rz = [[Math.cos(g), -Math.sin(g), 0], [Math.sin(g), Math.cos(g), 0], [0, 0, 1]];
  const mm = (p: number[][], q: number[][]) => p.map((r) => q[0].map((_, j) => r.reduce((s, v, k) => s + v * q[k][j], 0)));
  const S = [[scales[0], 0, 0], [0, scales[1], 0], [0, 0, scales[2]]];
  return mm(mm(mm(Rz, Ry), Rx), S);
}

/** create_affine_matrix_2d: R·S. */
export function affine2d(angle: number, scales: number[]): number[][] {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return [
    [c * scales[0], -s * scales[1]],
    [s * scales[0], c * scales[1]],
  ];
}

/** Row-major strides of a shape. */
function strides(shape: readonly number[]): number[] {
  const st = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) st[i] = st[i + 1] * shape[i + 1];
  return st;
}

/**
 * Crop `patch` around floor(shape / 2) with padding (batchgeneratorsv2 crop_tensor): start = center − patch // 2.
 * Used when neither rotation nor scaling is applied.
 */
export function centerCrop<T extends Float32Array | Int16Array>(
  src: T,
  channels: number,
  shape: readonly number[],
  patch: readonly number[],
  padValue: number,
): T {
  const dim = shape.length;
  const start = shape.map((s, d) => Math.floor(s / 2) - Math.floor(patch[d] / 2));
  const out = new (src.constructor as { new (n: number): T })(channels * prod(patch));
  if (padValue !== 0) out.fill(padValue);
  const sIn = strides(shape);
  const nIn = prod(shape);
  const nOut = prod(patch);
  const idx = new Array(dim).fill(0);
  for (let o = 0; o < nOut; o++) {
    let inside = true;
    let off = 0;
    for (let d = 0; d < dim; d++) {
      const v = start[d] + idx[d];
      if (v < 0 || v >= shape[d]) {
        inside = false;
        break;
      }
      off += v * sIn[d];
    }
    if (inside) for (let c = 0; c < channels; c++) out[c * nOut + o] = src[c * nIn + off];
    for (let d = dim - 1; d >= 0; d--) {
      if (++idx[d] < patch[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Sampling positions (input voxel coordinates, per output voxel and axis) of SpatialTransform for an affine:
 * x = A·(i − (P − 1)/2) + S/2 − 0.5 (torch grid_sample, align_corners=False, patch centred in the input).
 */
export function spatialCoordinates(shape: readonly number[], patch: readonly number[], A: number[][]): Float64Array[] {
  const dim = shape.length;
  const n = prod(patch);
  const coords = Array.from({ length: dim }, () => new Float64Array(n));
  const idx = new Array(dim).fill(0);
  const p = new Array(dim).fill(0);
  for (let o = 0; o < n; o++) {
    for (let d = 0; d < dim; d++) p[d] = idx[d] - (patch[d] - 1) / 2;
    for (let d = 0; d < dim; d++) {
      let v = 0;
      for (let j = 0; j < dim; j++) v += A[d][j] * p[j];
      coords[d][o] = v + shape[d] / 2 - 0.5;
    }
    for (let d = dim - 1; d >= 0; d--) {
      if (++idx[d] < patch[d]) break;
      idx[d] = 0;
    }
  }
  return coords;
}

/** Linear interpolation (zero outside the grid, like grid_sample zeros / scipy 'grid-constant') of one channel. */
export function sampleLinear(src: ArrayLike<number>, shape: readonly number[], coords: Float64Array[], out: Float32Array | Float64Array, srcOffset = 0): void {
  const dim = shape.length;
  const n = coords[0].length;
  const st = strides(shape);
  const corners = 1 << dim;
  for (let o = 0; o < n; o++) {
    let acc = 0;
    for (let k = 0; k < corners; k++) {
      let w = 1;
      let off = 0;
      let ok = true;
      for (let d = 0; d < dim; d++) {
        const x = coords[d][o];
        const f = Math.floor(x);
        const hi = (k >> (dim - 1 - d)) & 1;
        const i = f + hi;
        if (i < 0 || i >= shape[d]) {
          ok = false;
          break;
        }
        w *= hi ? x - f : 1 - (x - f);
        off += i * st[d];
      }
      if (ok && w !== 0) acc += w * src[srcOffset + off];
    }
    out[o] = acc;
  }
}

/**
 * Segmentation through the same grid: each label's one-hot map interpolated linearly, the label with the largest
 * value wins (lowest label on ties), −1 where the sampling position lies outside the input.
 */
export function sampleSegmentation(seg: Int16Array, shape: readonly number[], coords: Float64Array[], segOffset = 0): Int16Array {
  const dim = shape.length;
  const n = coords[0].length;
  const st = strides(shape);
  const corners = 1 << dim;
  const out = new Int16Array(n);
  // the labels present (sorted) decide the tie order and the fallback label
  const present = new Set<number>();
  const nIn = prod(shape);
  for (let i = 0; i < nIn; i++) present.add(seg[segOffset + i]);
  const labels = [...present].sort((a, b) => a - b);
  const labs = new Int32Array(corners);
  const ws = new Float64Array(corners);
  for (let o = 0; o < n; o++) {
    let outside = false;
    for (let d = 0; d < dim; d++) {
      const x = coords[d][o];
      if (x < 0 || x > shape[d] - 1) outside = true;
    }
    if (outside) {
      out[o] = -1;
      continue;
    }
    let m = 0;
    for (let k = 0; k < corners; k++) {
      let w = 1;
      let off = 0;
      let ok = true;
      for (let d = 0; d < dim; d++) {
        const x = coords[d][o];
        const f = Math.floor(x);
        const hi = (k >> (dim - 1 - d)) & 1;
        const i = f + hi;
        if (i < 0 || i >= shape[d]) {
          ok = false;
          break;
        }
        w *= hi ? x - f : 1 - (x - f);
        off += i * st[d];
      }
      if (!ok) continue;
      const lab = seg[segOffset + off];
      let j = 0;
      while (j < m && labs[j] !== lab) j++;
      if (j === m) {
        labs[m] = lab;
        ws[m] = 0;
        m++;
      }
      ws[j] += w;
    }
    let best = labels[0];
    let bestW = 0;
    for (let j = 0; j < m; j++) {
      if (ws[j] > bestW || (ws[j] === bestW && labs[j] < best)) {
        best = labs[j];
        bestW = ws[j];
      }
    }
    out[o] = best;
  }
  return out;
}

export interface Sample {
  image: Float32Array;
  seg: Int16Array;
  channels: number;
  /** spatial shape */
  shape: number[];
}

/** SpatialTransform with a given affine (null: plain centre crop). Output spatial shape = patch. */
export function spatialTransform(s: Sample, patch: number[], A: number[][] | null): Sample {
  if (patch.length !== s.shape.length) throw new SegStudioError('augment', `patch [${patch}] and sample [${s.shape}] differ in dimension`);
  if (!A) {
    return {
      image: centerCrop(s.image, s.channels, s.shape, patch, 0),
      seg: centerCrop(s.seg, 1, s.shape, patch, -1),
      channels: s.channels,
      shape: [...patch],
    };
  }
  if (s.shape.length === 3) return warp3d(s, patch, A);
  if (s.shape.length === 2) {
    const w = warp2d(s.image, s.channels, s.seg, 1, s.shape, patch, A);
    return { image: w.image, seg: w.seg, channels: s.channels, shape: [...patch] };
  }
  const coords = spatialCoordinates(s.shape, patch, A);
  const nOut = prod(patch);
  const nIn = prod(s.shape);
  const image = new Float32Array(s.channels * nOut);
  for (let c = 0; c < s.channels; c++) sampleLinear(s.image, s.shape, coords, image.subarray(c * nOut, (c + 1) * nOut), c * nIn);
  return { image, seg: sampleSegmentation(s.seg, s.shape, coords), channels: s.channels, shape: [...patch] };
}

/**
 * 2D fast path: `imageChannels` image planes and `segChannels` label planes (each with its own label set, as
 * batchgeneratorsv2 treats segmentation channels) warped by one grid.
 */
export function warp2d(
  img: Float32Array,
  imageChannels: number,
  seg: Int16Array,
  segChannels: number,
  shape: number[],
  patch: number[],
  A: number[][],
): { image: Float32Array; seg: Int16Array } {
  const [S0, S1] = shape;
  const [P0, P1] = patch;
  const nIn = S0 * S1;
  const nOut = P0 * P1;
  const image = new Float32Array(imageChannels * nOut);
  const segOut = new Int16Array(segChannels * nOut);
  const minLab = new Int32Array(segChannels);
  for (let c = 0; c < segChannels; c++) {
    let m = Infinity;
    for (let i = 0; i < nIn; i++) if (seg[c * nIn + i] < m) m = seg[c * nIn + i];
    minLab[c] = m;
  }
  const cw = new Float64Array(4);
  const co = new Int32Array(4);
  const labs = new Int32Array(4);
  const ws = new Float64Array(4);
  const c0 = S0 / 2 - 0.5;
  const c1 = S1 / 2 - 0.5;
  let o = 0;
  for (let i = 0; i < P0; i++) {
    const p0 = i - (P0 - 1) / 2;
    for (let j = 0; j < P1; j++, o++) {
      const p1 = j - (P1 - 1) / 2;
      const x0 = A[0][0] * p0 + A[0][1] * p1 + c0;
      const x1 = A[1][0] * p0 + A[1][1] * p1 + c1;
      const f0 = Math.floor(x0);
      const f1 = Math.floor(x1);
      const t0 = x0 - f0;
      const t1 = x1 - f1;
      let m = 0;
      for (let a = 0; a < 2; a++) {
        const i0 = f0 + a;
        if (i0 < 0 || i0 >= S0) continue;
        const w0 = a ? t0 : 1 - t0;
        for (let b = 0; b < 2; b++) {
          const i1 = f1 + b;
          if (i1 < 0 || i1 >= S1) continue;
          const w = w0 * (b ? t1 : 1 - t1);
          if (w === 0) continue;
          cw[m] = w;
          co[m] = i0 * S1 + i1;
          m++;
        }
      }
      for (let ch = 0; ch < imageChannels; ch++) {
        const base = ch * nIn;
        let acc = 0;
        for (let q = 0; q < m; q++) acc += cw[q] * img[base + co[q]];
        image[ch * nOut + o] = acc;
      }
      const outside = x0 < 0 || x0 > S0 - 1 || x1 < 0 || x1 > S1 - 1;
      for (let sc = 0; sc < segChannels; sc++) {
        if (outside) {
          segOut[sc * nOut + o] = -1;
          continue;
        }
        const base = sc * nIn;
        let nl = 0;
        for (let q = 0; q < m; q++) {
          const lab = seg[base + co[q]];
          let r = 0;
          while (r < nl && labs[r] !== lab) r++;
          if (r === nl) {
            labs[nl] = lab;
            ws[nl] = 0;
            nl++;
          }
          ws[r] += cw[q];
        }
        let best = minLab[sc];
        let bestW = 0;
        for (let r = 0; r < nl; r++) {
          if (ws[r] > bestW || (ws[r] === bestW && labs[r] < best)) {
            best = labs[r];
            bestW = ws[r];
          }
        }
        segOut[sc * nOut + o] = best;
      }
    }
  }
  return { image, seg: segOut };
}

/** 3D fast path of spatialTransform: one pass per output voxel for all channels and the labels. */
function warp3d(s: Sample, patch: number[], A: number[][]): Sample {
  const [S0, S1, S2] = s.shape;
  const [P0, P1, P2] = patch;
  const nIn = S0 * S1 * S2;
  const nOut = P0 * P1 * P2;
  const C = s.channels;
  const image = new Float32Array(C * nOut);
  const seg = new Int16Array(nOut);
  const src = s.image;
  const sg = s.seg;
  let minLab = Infinity;
  for (let i = 0; i < nIn; i++) if (sg[i] < minLab) minLab = sg[i];
  const st0 = S1 * S2;
  const labs = new Int32Array(8);
  const ws = new Float64Array(8);
  const cw = new Float64Array(8);
  const co = new Int32Array(8);
  const c0 = S0 / 2 - 0.5;
  const c1 = S1 / 2 - 0.5;
  const c2 = S2 / 2 - 0.5;
  let o = 0;
  for (let i = 0; i < P0; i++) {
    const p0 = i - (P0 - 1) / 2;
    for (let j = 0; j < P1; j++) {
      const p1 = j - (P1 - 1) / 2;
      for (let k = 0; k < P2; k++, o++) {
        const p2 = k - (P2 - 1) / 2;
        const x0 = A[0][0] * p0 + A[0][1] * p1 + A[0][2] * p2 + c0;
        const x1 = A[1][0] * p0 + A[1][1] * p1 + A[1][2] * p2 + c1;
        const x2 = A[2][0] * p0 + A[2][1] * p1 + A[2][2] * p2 + c2;
        const f0 = Math.floor(x0);
        const f1 = Math.floor(x1);
        const f2 = Math.floor(x2);
        const t0 = x0 - f0;
        const t1 = x1 - f1;
        const t2 = x2 - f2;
        // the 8 corners that lie inside the input, with their weights
        let m = 0;
        for (let a = 0; a < 2; a++) {
          const i0 = f0 + a;
          if (i0 < 0 || i0 >= S0) continue;
          const w0 = a ? t0 : 1 - t0;
          for (let b = 0; b < 2; b++) {
            const i1 = f1 + b;
            if (i1 < 0 || i1 >= S1) continue;
            const w01 = w0 * (b ? t1 : 1 - t1);
            for (let c = 0; c < 2; c++) {
              const i2 = f2 + c;
              if (i2 < 0 || i2 >= S2) continue;
              const w = w01 * (c ? t2 : 1 - t2);
              if (w === 0) continue;
              cw[m] = w;
              co[m] = i0 * st0 + i1 * S2 + i2;
              m++;
            }
          }
        }
        for (let ch = 0; ch < C; ch++) {
          const base = ch * nIn;
          let acc = 0;
          for (let q = 0; q < m; q++) acc += cw[q] * src[base + co[q]];
          image[ch * nOut + o] = acc;
        }
        if (x0 < 0 || x0 > S0 - 1 || x1 < 0 || x1 > S1 - 1 || x2 < 0 || x2 > S2 - 1) {
          seg[o] = -1;
          continue;
        }
        let nl = 0;
        for (let q = 0; q < m; q++) {
          const lab = sg[co[q]];
          let r = 0;
          while (r < nl && labs[r] !== lab) r++;
          if (r === nl) {
            labs[nl] = lab;
            ws[nl] = 0;
            nl++;
          }
          ws[r] += cw[q];
        }
        let best = minLab;
        let bestW = 0;
        for (let r = 0; r < nl; r++) {
          if (ws[r] > bestW || (ws[r] === bestW && labs[r] < best)) {
            best = labs[r];
            bestW = ws[r];
          }
        }
        seg[o] = best;
      }
    }
  }
  return { image, seg, channels: C, shape: [...patch] };
}

// ------------------------------------------------------------------------------------------ intensity transforms

/** BGContrast sampling: below 1 or above 1 with equal chance (when the range spans 1). */
export function sampleBGContrast(rng: RandomState, range: [number, number]): number {
  if (rng.randomSample() < 0.5 && range[0] < 1) return rng.uniform(range[0], 1);
  return rng.uniform(Math.max(range[0], 1), range[1]);
}

function roundNearestOdd(n: number): number {
  const r = roundHalfEven(n);
  if (((r % 2) + 2) % 2 === 1) return r;
  return n - r >= 0 ? r + 1 : r - 1;
}

function roundHalfEven(x: number): number {
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return Math.round(x);
}

/** gaussian_blur._build_kernel with blur_dimension's truncate 6. */
export function gaussianKernel(sigma: number, truncate = 6): Float64Array {
  const k = roundNearestOdd(sigma * truncate + 0.5);
  const half = (k - 1) / 2;
  const ker = new Float64Array(k);
  let sum = 0;
  for (let i = 0; i < k; i++) {
    const x = -half + (k === 1 ? 0 : (i * (2 * half)) / (k - 1));
    ker[i] = Math.exp(-0.5 * (x / sigma) ** 2);
    sum += ker[i];
  }
  for (let i = 0; i < k; i++) ker[i] /= sum;
  return ker;
}

function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/** blur_dimension: 1D Gaussian along `axis` with reflect padding (torch 'reflect'), one channel in place. */
export function blurAxis(x: Float32Array, shape: readonly number[], axis: number, sigma: number): void {
  const ker = gaussianKernel(sigma);
  const half = (ker.length - 1) / 2;
  const st = strides(shape);
  const len = shape[axis];
  const step = st[axis];
  const line = new Float64Array(len);
  const n = prod(shape);
  for (let base = 0; base < n; base++) {
    if (Math.floor(base / step) % len !== 0) continue; // start of a line along `axis`
    for (let i = 0; i < len; i++) line[i] = x[base + i * step];
    for (let i = 0; i < len; i++) {
      let acc = 0;
      for (let k = 0; k < ker.length; k++) acc += ker[k] * line[reflectIndex(i + k - half, len)];
      x[base + i * step] = acc;
    }
  }
}

/** SimulateLowResolution: nearest-exact downsampling to round(shape·scale), then (bi/tri)linear back. In place. */
export function simulateLowResolution(x: Float32Array, shape: readonly number[], scales: number[]): void {
  const small = shape.map((s, d) => roundHalfEven(s * scales[d]));
  let cur: Float32Array = x;
  let curShape = [...shape];
  // nearest-exact down, axis by axis: src = min(floor((dst + 0.5) · in/out), in − 1)
  for (let d = 0; d < shape.length; d++) {
    const inN = curShape[d];
    const outN = small[d];
    const scale = inN / outN;
    const map = new Int32Array(outN);
    for (let i = 0; i < outN; i++) map[i] = Math.min(Math.floor((i + 0.5) * scale), inN - 1);
    const nextShape = [...curShape];
    nextShape[d] = outN;
    cur = resampleAxis(cur, curShape, d, nextShape, (i, line) => line[map[i]]);
    curShape = nextShape;
  }
  // linear up, align_corners=False: src = max(0, (dst + 0.5) · in/out − 0.5)
  for (let d = 0; d < shape.length; d++) {
    const inN = curShape[d];
    const outN = shape[d];
    const scale = inN / outN;
    const nextShape = [...curShape];
    nextShape[d] = outN;
    cur = resampleAxis(cur, curShape, d, nextShape, (i, line) => {
      const src = Math.max(0, (i + 0.5) * scale - 0.5);
      const i0 = Math.min(Math.floor(src), inN - 1);
      const i1 = Math.min(i0 + 1, inN - 1);
      const l = src - i0;
      return (1 - l) * line[i0] + l * line[i1];
    });
    curShape = nextShape;
  }
  x.set(cur);
}

function resampleAxis(
  src: Float32Array,
  shape: readonly number[],
  axis: number,
  outShape: readonly number[],
  f: (i: number, line: Float64Array) => number,
): Float32Array {
  const outer = prod(shape.slice(0, axis));
  const inner = prod(shape.slice(axis + 1));
  const inN = shape[axis];
  const outN = outShape[axis];
  const out = new Float32Array(outer * outN * inner);
  const line = new Float64Array(inN);
  for (let a = 0; a < outer; a++)
    for (let b = 0; b < inner; b++) {
      for (let i = 0; i < inN; i++) line[i] = src[(a * inN + i) * inner + b];
      for (let i = 0; i < outN; i++) out[(a * outN + i) * inner + b] = f(i, line);
    }
  return out;
}

function meanStd(x: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) {
    s += x[i];
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
  }
  const mean = s / x.length;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i] - mean) ** 2;
  return { mean, std: Math.sqrt(v / Math.max(1, x.length - 1)), min, max }; // torch std: unbiased
}

/** GammaTransform on one channel (in place): optional inversion, retain_stats as nnU-Net uses it. */
export function gammaChannel(x: Float32Array, gamma: number, invert: boolean, retainStats: boolean): void {
  const eps = 1e-7;
  if (invert) for (let i = 0; i < x.length; i++) x[i] = -x[i];
  const before = meanStd(x);
  const rng = before.max - before.min;
  const denom = Math.max(rng, eps);
  for (let i = 0; i < x.length; i++) x[i] = Math.pow((x[i] - before.min) / denom, gamma) * rng + before.min;
  if (retainStats) {
    const after = meanStd(x);
    const f = before.std / Math.max(after.std, eps);
    for (let i = 0; i < x.length; i++) x[i] = (x[i] - after.mean) * f + before.mean;
  }
  if (invert) for (let i = 0; i < x.length; i++) x[i] = -x[i];
}

/** ContrastTransform with preserve_range on one channel (in place). */
export function contrastChannel(x: Float32Array, factor: number): void {
  const { mean, min, max } = meanStd(x);
  for (let i = 0; i < x.length; i++) x[i] = Math.min(max, Math.max(min, (x[i] - mean) * factor + mean));
}

/** Flips every channel of a [C, ...shape] buffer along `axis` (in place). */
export function flipAxis<T extends Float32Array | Int16Array>(x: T, channels: number, shape: readonly number[], axis: number): void {
  const full = [channels, ...shape];
  const st = strides(full);
  const ax = axis + 1;
  const len = full[ax];
  const step = st[ax];
  const n = x.length;
  for (let base = 0; base < n; base++) {
    if (Math.floor(base / step) % len !== 0) continue;
    for (let i = 0, j = len - 1; i < j; i++, j--) {
      const a = base + i * step;
      const b = base + j * step;
      const t = x[a];
      x[a] = x[b];
      x[b] = t;
    }
  }
}

// ------------------------------------------------------------------------------------------ the pipeline

export interface AugmentOptions {
  /** final patch size (the configuration's patch_size) */
  patchSize: number[];
  setup?: AugmentationSetup;
  /** channels normalized with use_mask_for_norm: set to 0 where the segmentation is −1 (MaskImageTransform) */
  useMaskForNorm?: boolean[];
  /** override probabilities/ranges (tests) */
  params?: Partial<typeof NNUNET_AUGMENTATION>;
}

export interface AugmentRecord {
  rotated: boolean;
  scaled: boolean;
  angles: number[];
  scale: number;
  noise: boolean;
  blur: boolean;
  brightness: boolean;
  contrast: boolean;
  lowRes: boolean;
  invertedGamma: boolean;
  gamma: boolean;
  mirrored: number[];
}

/**
 * One training sample through nnU-Net's augmentation (input: the sampler's initial-patch-size crop).
 * Returns the augmented sample at the final patch size with −1 labels turned into 0 (RemoveLabelTansform).
 */
export function augmentSample(input: Sample, rng: RandomState, opts: AugmentOptions): { sample: Sample; record: AugmentRecord } {
  const P = { ...NNUNET_AUGMENTATION, ...opts.params };
  const setup = opts.setup ?? configureAugmentation(opts.patchSize);
  const dim = opts.patchSize.length;
  const rec: AugmentRecord = {
    rotated: false, scaled: false, angles: [], scale: 1, noise: false, blur: false, brightness: false,
    contrast: false, lowRes: false, invertedGamma: false, gamma: false, mirrored: [],
  };
  // ---- spatial (in 2D per slice for dummy 2D)
  const spatialDim = setup.doDummy2D ? 2 : dim;
  const doRot = rng.randomSample() < P.pRotation;
  const doScale = rng.randomSample() < P.pScaling;
  const angles = doRot ? Array.from({ length: spatialDim }, () => rng.uniform(setup.rotation[0], setup.rotation[1])) : new Array(spatialDim).fill(0);
  const scale = doScale ? rng.uniform(P.scaling[0], P.scaling[1]) : 1;
  rec.rotated = doRot;
  rec.scaled = doScale;
  rec.angles = angles;
  rec.scale = scale;
  const A = doRot || doScale ? (spatialDim === 3 ? affine3d(angles, [scale, scale, scale]) : affine2d(angles[spatialDim - 1], [scale, scale])) : null;
  let s: Sample;
  if (setup.doDummy2D) {
    // Convert3DTo2DTransform: (c, x, y, z) → (c·x, y, z); each slice is transformed in 2D, axis 0 keeps its size
    const [x0, ...inPlane] = input.shape;
    const patch2 = opts.patchSize.slice(1);
    if (A) {
      const w = warp2d(input.image, input.channels * x0, input.seg, x0, inPlane, patch2, A);
      s = { image: w.image, seg: w.seg, channels: input.channels, shape: [x0, ...patch2] };
    } else {
      s = {
        image: centerCrop(input.image, input.channels * x0, inPlane, patch2, 0),
        seg: centerCrop(input.seg, x0, inPlane, patch2, -1),
        channels: input.channels,
        shape: [x0, ...patch2],
      };
    }
    if (x0 !== opts.patchSize[0]) s = spatialTransform(s, opts.patchSize, null);
  } else s = spatialTransform(input, opts.patchSize, A);

  const n = prod(s.shape);
  const C = s.channels;
  const ch = (c: number) => s.image.subarray(c * n, (c + 1) * n);
  // ---- Gaussian noise (one σ for all channels)
  if (rng.randomSample() < P.pNoise) {
    rec.noise = true;
    const sigma = rng.uniform(P.noiseStd[0], P.noiseStd[1]);
    for (let i = 0; i < s.image.length; i++) s.image[i] += rng.normal(0, sigma);
  }
  // ---- Gaussian blur (per channel p 0.5, σ per axis)
  if (rng.randomSample() < P.pBlur) {
    rec.blur = true;
    for (let c = 0; c < C; c++) {
      if (!(rng.randomSample() < P.blurPPerChannel)) continue;
      for (let d = 0; d < s.shape.length; d++) blurAxis(ch(c), s.shape, d, rng.uniform(P.blurSigma[0], P.blurSigma[1]));
    }
  }
  // ---- multiplicative brightness
  if (rng.randomSample() < P.pBrightness) {
    rec.brightness = true;
    for (let c = 0; c < C; c++) {
      const m = sampleBGContrast(rng, P.brightness);
      const x = ch(c);
      for (let i = 0; i < n; i++) x[i] *= m;
    }
  }
  // ---- contrast (preserve range)
  if (rng.randomSample() < P.pContrast) {
    rec.contrast = true;
    for (let c = 0; c < C; c++) contrastChannel(ch(c), sampleBGContrast(rng, P.contrast));
  }
  // ---- low resolution simulation (per channel p 0.5; same scale on every axis but the dummy-2D one)
  if (rng.randomSample() < P.pLowRes) {
    rec.lowRes = true;
    for (let c = 0; c < C; c++) {
      if (!(rng.randomSample() < P.lowResPPerChannel)) continue;
      const z = rng.uniform(P.lowResScale[0], P.lowResScale[1]);
      const scales = s.shape.map((_, d) => (setup.doDummy2D && d === 0 ? 1 : z));
      simulateLowResolution(ch(c), s.shape, scales);
    }
  }
  // ---- inverted gamma, then gamma (retain stats)
  if (rng.randomSample() < P.pInvertedGamma) {
    rec.invertedGamma = true;
    for (let c = 0; c < C; c++) gammaChannel(ch(c), sampleBGContrast(rng, P.gamma), true, true);
  }
  if (rng.randomSample() < P.pGamma) {
    rec.gamma = true;
    for (let c = 0; c < C; c++) gammaChannel(ch(c), sampleBGContrast(rng, P.gamma), false, true);
  }
  // ---- mirroring
  for (const ax of setup.mirrorAxes) {
    if (rng.randomSample() < P.pMirrorPerAxis) {
      rec.mirrored.push(ax);
      flipAxis(s.image, C, s.shape, ax);
      flipAxis(s.seg, 1, s.shape, ax);
    }
  }
  // ---- mask (use_mask_for_norm) and −1 → 0
  if (opts.useMaskForNorm?.some(Boolean)) {
    for (let c = 0; c < C; c++) {
      if (!opts.useMaskForNorm[c]) continue;
      const x = ch(c);
      for (let i = 0; i < n; i++) if (s.seg[i] < 0) x[i] = 0;
    }
  }
  for (let i = 0; i < s.seg.length; i++) if (s.seg[i] === -1) s.seg[i] = 0;
  return { sample: s, record: rec };
}

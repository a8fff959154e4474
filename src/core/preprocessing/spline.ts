// Separable B-spline zoom with the exact semantics of scipy.ndimage.zoom(order, mode='nearest', grid_mode=True),
// which is what skimage.transform.resize(order, mode='edge', anti_aliasing=False) calls (skimage >= 0.19,
// skimage/transform/_warps.py: 'edge' -> ndimage 'nearest', grid_mode=True, output clipped to the input range).
//
// Behaviour reproduced from scipy (scipy/ndimage/_interpolation.py zoom, src/ni_interpolation.c NI_ZoomShift,
// src/ni_splines.c):
//  - output coordinate k maps to input coordinate cc = (k + 0.5) * (nIn / nOut) - 0.5 (grid_mode);
//  - order > 1: the input is first edge-padded by 12 samples per side (_prepad_for_spline_filter for 'nearest'),
//    then B-spline prefiltered along every axis with the 'reflect' causal/anticausal initialisation scipy uses for
//    mode 'nearest'; coordinates are shifted by the 12 padding samples;
//  - taps that fall outside the (padded) array are clamped to the edge ('nearest' boundary);
//  - order 0 picks floor(cc + 0.5), odd orders start at floor(cc) - order/2;
//  - interpolation weights are scipy's get_spline_interpolation_weights (the last weight = 1 - sum(others)).
// zoom is separable (a tensor product of per-axis weights, and prefilter/padding commute across axes), so it is done
// one axis at a time here: the result equals scipy's to float rounding while costing (order+1) taps per pass
// instead of (order+1)^3 per output voxel.

/** Poles of the B-spline prefilter per order (scipy ni_splines.c get_filter_poles). */
const POLES: readonly (readonly number[])[] = [
  [],
  [],
  [-0.171572875253809902396622551580603843],
  [-0.267949192431122706472553658494127633],
  [-0.361341225900220177092212841325675255, -0.013725429297339121360331226939128204],
  [-0.430575347099973791851434783493520110, -0.043096288203264653822712376822550182],
];

/** Overall gain of the prefilter of `order` (scipy _apply_filter_gain). */
export function splineGain(order: number): number {
  let gain = 1.0;
  for (const z of POLES[order] ?? []) gain *= (1.0 - z) * (1.0 - 1.0 / z);
  return gain;
}

/** Samples of edge padding scipy adds before prefiltering in mode 'nearest' (ndimage _prepad_for_spline_filter). */
export const SPLINE_PREPAD = 12;

/** B-spline interpolation weights at coordinate x (scipy ni_splines.c get_spline_interpolation_weights). */
export function splineWeights(x: number, order: number, out: Float64Array, o = 0): void {
  x -= Math.floor(order & 1 ? x : x + 0.5);
  let y = x;
  let z = 1.0 - x;
  let t: number;
  switch (order) {
    case 0:
      out[o] = 1;
      return;
    case 1:
      out[o] = 1.0 - x;
      break;
    case 2:
      out[o + 1] = 0.75 - x * x;
      y = 0.5 - x;
      out[o] = 0.5 * y * y;
      break;
    case 3:
      out[o + 1] = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0;
      out[o + 2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
      out[o] = (z * z * z) / 6.0;
      break;
    case 4:
      t = x * x;
      out[o + 2] = t * (t * 0.25 - 0.625) + 115.0 / 192.0;
      y = 1.0 + x;
      out[o + 1] = y * (y * (y * (5.0 - y) / 6.0 - 1.25) + 5.0 / 24.0) + 55.0 / 96.0;
      out[o + 3] = z * (z * (z * (5.0 - z) / 6.0 - 1.25) + 5.0 / 24.0) + 55.0 / 96.0;
      y = 0.5 - x;
      t = y * y;
      out[o] = (t * t) / 24.0;
      break;
    case 5:
      t = y * y;
      out[o + 2] = t * (t * (0.25 - y / 12.0) - 0.5) + 0.55;
      t = z * z;
      out[o + 3] = t * (t * (0.25 - z / 12.0) - 0.5) + 0.55;
      y += 1.0;
      out[o + 1] = y * (y * (y * (y * (y / 24.0 - 0.375) + 1.25) - 1.75) + 0.625) + 0.425;
      z += 1.0;
      out[o + 4] = z * (z * (z * (z * (z / 24.0 - 0.375) + 1.25) - 1.75) + 0.625) + 0.425;
      y = 1.0 - x;
      t = y * y;
      out[o] = (y * t * t) / 120.0;
      break;
    default:
      throw new RangeError(`spline order ${order} not supported (0-5)`);
  }
  let last = 1.0;
  for (let i = 0; i < order; i++) last -= out[o + i];
  out[o + order] = last;
}

/** Per-output taps of a 1-D zoom: `nTap` clamped source indices and weights per output sample. */
export interface AxisTaps {
  nTap: number;
  idx: Int32Array;
  w: Float64Array;
}

/**
 * Taps of scipy's zoom (grid_mode=True, mode 'nearest') along one axis from nIn to nOut samples. `pad` is the number of
 * edge samples prepended (12 for prefiltered orders, 0 otherwise); indices refer to the padded line of length
 * nIn + 2 * pad and are clamped into it.
 */
export function zoomTaps(nIn: number, nOut: number, order: number, pad: number): AxisTaps {
  // (also the taps of nnU-Net's out-of-plane map_coordinates(order_z, mode='nearest'): its coordinates
  // (nIn / nOut) * (k + 0.5) - 0.5 are the same expression)
  const nTap = order + 1;
  const len = nIn + 2 * pad;
  const idx = new Int32Array(nOut * nTap);
  const w = new Float64Array(nOut * nTap);
  const zoom = nIn / nOut;
  const half = order >> 1;
  for (let k = 0; k < nOut; k++) {
    // same operation order as NI_ZoomShift: cc += 0.5; cc *= zoom; cc -= 0.5; cc += nprepad
    let cc = k;
    cc += 0.5;
    cc *= zoom;
    cc -= 0.5;
    cc += pad;
    const start = (order & 1 ? Math.floor(cc) : Math.floor(cc + 0.5)) - half;
    for (let t = 0; t < nTap; t++) {
      let i = start + t;
      if (i < 0) i = 0;
      else if (i > len - 1) i = len - 1;
      idx[k * nTap + t] = i;
    }
    splineWeights(cc, order, w, k * nTap);
  }
  return { nTap, idx, w };
}

/**
 * In-place B-spline prefilter of `rows` interleaved lines: element i of column j is c[off + i * stride + j] for
 * j < width. Boundary: scipy's 'reflect' initialisation (used for mode 'nearest').
 */
export function prefilterColumns(
  c: Float64Array,
  len: number,
  width: number,
  stride: number,
  order: number,
  acc: Float64Array,
  applyGain = true,
): void {
  const poles = POLES[order];
  if (!poles || poles.length === 0 || len <= 1) return;
  const gain = splineGain(order);
  const total = len * stride;
  if (applyGain) {
    for (let r = 0; r < len; r++) {
      const o = r * stride;
      for (let j = 0; j < width; j++) c[o + j] *= gain;
    }
  }
  for (const z of poles) {
    // causal init (scipy _init_causal_reflect), truncated once z^i is far below double precision
    const zn = Math.pow(z, len);
    const last = (len - 1) * stride;
    for (let j = 0; j < width; j++) acc[j] = c[j] + zn * c[last + j];
    let zi = z;
    for (let i = 1; i < len; i++) {
      const oi = i * stride;
      const om = (len - 1 - i) * stride;
      for (let j = 0; j < width; j++) acc[j] += zi * (c[oi + j] + zn * c[om + j]);
      zi *= z;
      if (Math.abs(zi) < 1e-22) break;
    }
    const f0 = z / (1 - zn * zn);
    for (let j = 0; j < width; j++) c[j] += acc[j] * f0;
    for (let o = stride; o < total; o += stride) {
      const p = o - stride;
      for (let j = 0; j < width; j++) c[o + j] += z * c[p + j];
    }
    // anticausal init (scipy _init_anticausal_reflect)
    const fl = z / (z - 1);
    for (let j = 0; j < width; j++) c[last + j] *= fl;
    for (let o = last - stride; o >= 0; o -= stride) {
      const n = o + stride;
      for (let j = 0; j < width; j++) c[o + j] = z * (c[n + j] - c[o + j]);
    }
  }
}

/** In-place prefilter of one contiguous line c[0..len). Same maths as prefilterColumns with width 1. */
export function prefilterLine(c: Float64Array, len: number, order: number): void {
  const poles = POLES[order];
  if (!poles || poles.length === 0 || len <= 1) return;
  let gain = 1.0;
  for (const z of poles) gain *= (1.0 - z) * (1.0 - 1.0 / z);
  for (let i = 0; i < len; i++) c[i] *= gain;
  for (const z of poles) {
    const zn = Math.pow(z, len);
    let sum = c[0] + zn * c[len - 1];
    let zi = z;
    for (let i = 1; i < len; i++) {
      sum += zi * (c[i] + zn * c[len - 1 - i]);
      zi *= z;
      if (Math.abs(zi) < 1e-22) break;
    }
    c[0] += (sum * z) / (1 - zn * zn);
    for (let i = 1; i < len; i++) c[i] += z * c[i - 1];
    c[len - 1] *= z / (z - 1);
    for (let i = len - 2; i >= 0; i--) c[i] = z * (c[i + 1] - c[i]);
  }
}

type FloatArray = Float32Array | Float64Array;

/** Doubles of scratch per plane-mode chunk (1 MiB): small enough to stay in L2. */
const CHUNK_DOUBLES = 1 << 17;

/**
 * Last-axis zoom for prefiltered orders, B lines at a time in a transposed scratch ([padded sample][line]) so the
 * recursive filter and the taps run over contiguous memory, as the plane mode does for the other axes.
 */
function zoomLastAxisBlocked(
  src: FloatArray,
  outer: number,
  n: number,
  nOut: number,
  order: number,
  pad: number,
  idx: Int32Array,
  w: Float64Array,
  dst: Float32Array,
): void {
  const len = n + 2 * pad;
  const nTap = order + 1;
  const B = 32;
  const T = new Float64Array(len * B);
  const acc = new Float64Array(B);
  const gain = splineGain(order);
  for (let o0 = 0; o0 < outer; o0 += B) {
    const nb = Math.min(B, outer - o0);
    for (let b = 0; b < nb; b++) {
      const base = (o0 + b) * n;
      const first = src[base] * gain;
      const last = src[base + n - 1] * gain;
      for (let p = 0; p < pad; p++) {
        T[p * B + b] = first;
        T[(pad + n + p) * B + b] = last;
      }
      for (let i = 0, q = pad * B + b; i < n; i++, q += B) T[q] = src[base + i] * gain;
    }
    prefilterColumns(T, len, nb, B, order, acc, false);
    for (let k = 0; k < nOut; k++) {
      const tk = k * nTap;
      if (nTap === 4) {
        const r0 = idx[tk] * B;
        const r1 = idx[tk + 1] * B;
        const r2 = idx[tk + 2] * B;
        const r3 = idx[tk + 3] * B;
        const w0 = w[tk];
        const w1 = w[tk + 1];
        const w2 = w[tk + 2];
        const w3 = w[tk + 3];
        for (let b = 0; b < nb; b++) {
          dst[(o0 + b) * nOut + k] = T[r0 + b] * w0 + T[r1 + b] * w1 + T[r2 + b] * w2 + T[r3 + b] * w3;
        }
      } else {
        for (let b = 0; b < nb; b++) {
          let s = 0;
          for (let q = 0; q < nTap; q++) s += T[idx[tk + q] * B + b] * w[tk + q];
          dst[(o0 + b) * nOut + k] = s;
        }
      }
    }
  }
}

/**
 * Zooms one axis of a C-order array (shape `shape`) to `nOut` samples with scipy's zoom semantics
 * (mode 'nearest', grid_mode=True, prefilter for order > 1). Returns a new Float32Array.
 */
export function zoomAxis(src: FloatArray, shape: readonly number[], axis: number, nOut: number, order: number): Float32Array {
  let outer = 1;
  for (let a = 0; a < axis; a++) outer *= shape[a];
  let inner = 1;
  for (let a = axis + 1; a < shape.length; a++) inner *= shape[a];
  const n = shape[axis];
  const dst = new Float32Array(outer * nOut * inner);
  if (dst.length === 0) return dst;
  const pad = order > 1 ? SPLINE_PREPAD : 0;
  const { nTap, idx, w } = zoomTaps(n, nOut, order, pad);
  const len = n + 2 * pad;

  if (inner === 1 && order > 1 && outer >= 8) {
    zoomLastAxisBlocked(src, outer, n, nOut, order, pad, idx, w, dst);
    return dst;
  }
  if (inner === 1) {
    const buf = new Float64Array(len);
    for (let o = 0; o < outer; o++) {
      const base = o * n;
      const ob = o * nOut;
      if (order > 1) {
        const first = src[base];
        const lastv = src[base + n - 1];
        for (let p = 0; p < pad; p++) {
          buf[p] = first;
          buf[pad + n + p] = lastv;
        }
        for (let i = 0; i < n; i++) buf[pad + i] = src[base + i];
        prefilterLine(buf, len, order);
        if (nTap === 4) {
          for (let k = 0, t = 0; k < nOut; k++, t += 4) {
            dst[ob + k] =
              buf[idx[t]] * w[t] + buf[idx[t + 1]] * w[t + 1] + buf[idx[t + 2]] * w[t + 2] + buf[idx[t + 3]] * w[t + 3];
          }
        } else {
          for (let k = 0, t = 0; k < nOut; k++, t += nTap) {
            let s = 0;
            for (let q = 0; q < nTap; q++) s += buf[idx[t + q]] * w[t + q];
            dst[ob + k] = s;
          }
        }
      } else if (order === 1) {
        for (let k = 0, t = 0; k < nOut; k++, t += 2) {
          dst[ob + k] = src[base + idx[t]] * w[t] + src[base + idx[t + 1]] * w[t + 1];
        }
      } else {
        for (let k = 0; k < nOut; k++) dst[ob + k] = src[base + idx[k]];
      }
    }
    return dst;
  }

  if (order <= 1) {
    for (let o = 0; o < outer; o++) {
      const sb = o * n * inner;
      const db = o * nOut * inner;
      for (let k = 0; k < nOut; k++) {
        const d = db + k * inner;
        if (order === 0) {
          const s = sb + idx[k] * inner;
          for (let j = 0; j < inner; j++) dst[d + j] = src[s + j];
        } else {
          const s0 = sb + idx[2 * k] * inner;
          const s1 = sb + idx[2 * k + 1] * inner;
          const w0 = w[2 * k];
          const w1 = w[2 * k + 1];
          for (let j = 0; j < inner; j++) dst[d + j] = src[s0 + j] * w0 + src[s1 + j] * w1;
        }
      }
    }
    return dst;
  }

  // plane mode for order > 1: copy a chunk of columns of the padded lines into scratch, prefilter, interpolate
  let cw = Math.max(16, Math.floor(CHUNK_DOUBLES / len));
  if (cw > inner) cw = inner;
  const T = new Float64Array(len * cw);
  const acc = new Float64Array(cw);
  const gain = splineGain(order);
  for (let o = 0; o < outer; o++) {
    const sb = o * n * inner;
    const db = o * nOut * inner;
    for (let j0 = 0; j0 < inner; j0 += cw) {
      const wdt = Math.min(cw, inner - j0);
      for (let p = 0; p < len; p++) {
        let r = p - pad;
        if (r < 0) r = 0;
        else if (r > n - 1) r = n - 1;
        const s = sb + r * inner + j0;
        const t = p * cw;
        for (let j = 0; j < wdt; j++) T[t + j] = src[s + j] * gain;
      }
      prefilterColumns(T, len, wdt, cw, order, acc, false);
      for (let k = 0; k < nOut; k++) {
        const d = db + k * inner + j0;
        const tk = k * nTap;
        if (nTap === 4) {
          const r0 = idx[tk] * cw;
          const r1 = idx[tk + 1] * cw;
          const r2 = idx[tk + 2] * cw;
          const r3 = idx[tk + 3] * cw;
          const w0 = w[tk];
          const w1 = w[tk + 1];
          const w2 = w[tk + 2];
          const w3 = w[tk + 3];
          for (let j = 0; j < wdt; j++) {
            dst[d + j] = T[r0 + j] * w0 + T[r1 + j] * w1 + T[r2 + j] * w2 + T[r3 + j] * w3;
          }
        } else {
          for (let j = 0; j < wdt; j++) {
            let s = 0;
            for (let q = 0; q < nTap; q++) s += T[idx[tk + q] * cw + j] * w[tk + q];
            dst[d + j] = s;
          }
        }
      }
    }
  }
  return dst;
}

/**
 * scipy.ndimage.zoom(x, order, mode='nearest', grid_mode=True) of an n-d array to `newShape`, done axis by axis
 * (axes that shrink first, so later passes touch fewer samples). Axes whose size does not change are skipped
 * (interpolating a spline at its knots returns the samples). No clipping.
 */
export function zoomNd(src: FloatArray, shape: readonly number[], newShape: readonly number[], order: number): Float32Array {
  if (shape.length !== newShape.length) throw new RangeError('zoomNd: shape and newShape differ in rank');
  const axes: number[] = [];
  for (let a = 0; a < shape.length; a++) if (shape[a] !== newShape[a]) axes.push(a);
  axes.sort((a, b) => newShape[a] / shape[a] - newShape[b] / shape[b]);
  let cur: FloatArray = src;
  const curShape = shape.slice();
  for (const a of axes) {
    cur = zoomAxis(cur, curShape, a, newShape[a], order);
    curShape[a] = newShape[a];
  }
  if (cur === src) return src instanceof Float32Array ? src.slice() : Float32Array.from(src);
  return cur as Float32Array;
}

/** min and max of a[off .. off+n) (NaN ignored). */
export function minMax(a: ArrayLike<number>, off = 0, n = a.length - off): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = off; i < off + n; i++) {
    const v = a[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/**
 * skimage.transform.resize(x, newShape, order, mode='edge', anti_aliasing=False, clip=True) of one n-d array:
 * scipy zoom semantics, then clipped to the input's [min, max].
 */
export function resizeLikeSkimage(
  src: FloatArray,
  shape: readonly number[],
  newShape: readonly number[],
  order: number,
): Float32Array {
  const out = zoomNd(src, shape, newShape, order);
  const [lo, hi] = minMax(src);
  clipInPlace(out, 0, out.length, lo, hi);
  return out;
}

/** Clips a[off .. off+n) to [lo, hi] in place. */
export function clipInPlace(a: Float32Array, off: number, n: number, lo: number, hi: number): void {
  for (let i = off; i < off + n; i++) {
    const v = a[i];
    if (v < lo) a[i] = lo;
    else if (v > hi) a[i] = hi;
  }
}

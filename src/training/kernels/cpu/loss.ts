// CPU reference softmax, CE + soft-Dice reductions and their backward, and deep-supervision target
// downsampling. The scalar algebra that turns the reductions into nnU-Net's DC_and_CE loss lives in
// src/training/nn/loss.ts; these kernels only do the per-voxel work.
import type { FloatArray, SegLossGradCoeffs, SegLossStats } from '../../engine/backend.ts';

/** Softmax over channels of logits [N, C, sp]. */
export function softmax(x: FloatArray, n: number, c: number, sp: number, out: FloatArray): void {
  for (let b = 0; b < n; b++)
    for (let v = 0; v < sp; v++) {
      const base = b * c * sp + v;
      let m = -Infinity;
      for (let k = 0; k < c; k++) m = Math.max(m, x[base + k * sp]);
      let s = 0;
      for (let k = 0; k < c; k++) s += Math.exp(x[base + k * sp] - m);
      for (let k = 0; k < c; k++) out[base + k * sp] = Math.exp(x[base + k * sp] - m) / s;
    }
}

function isValid(label: number, ignoreLabel: number | null): boolean {
  return ignoreLabel === null || label !== ignoreLabel;
}

export function segLossStats(
  logits: FloatArray,
  target: FloatArray,
  n: number,
  c: number,
  sp: number,
  ignoreLabel: number | null,
): SegLossStats {
  const tp = new Float64Array(n * c), sumPred = new Float64Array(n * c), sumGt = new Float64Array(n * c);
  let ceSum = 0, nValid = 0;
  const p = new Float64Array(c);
  for (let b = 0; b < n; b++)
    for (let v = 0; v < sp; v++) {
      const y = Math.round(target[b * sp + v]);
      if (!isValid(y, ignoreLabel)) continue;
      const base = b * c * sp + v;
      let m = -Infinity;
      for (let k = 0; k < c; k++) m = Math.max(m, logits[base + k * sp]);
      let s = 0;
      for (let k = 0; k < c; k++) s += (p[k] = Math.exp(logits[base + k * sp] - m));
      for (let k = 0; k < c; k++) sumPred[b * c + k] += p[k] / s;
      nValid++;
      ceSum += Math.log(s) + m - logits[base + y * sp];
      tp[b * c + y] += p[y] / s;
      sumGt[b * c + y] += 1;
    }
  return { ceSum, nValid, tp, sumPred, sumGt };
}

export function segLossBackward(
  logits: FloatArray,
  target: FloatArray,
  n: number,
  c: number,
  sp: number,
  coeffs: SegLossGradCoeffs,
  ignoreLabel: number | null,
  dx: FloatArray,
): void {
  const p = new Float64Array(c);
  for (let b = 0; b < n; b++)
    for (let v = 0; v < sp; v++) {
      const base = b * c * sp + v;
      const y = Math.round(target[b * sp + v]);
      if (!isValid(y, ignoreLabel)) {
        for (let k = 0; k < c; k++) dx[base + k * sp] = 0;
        continue;
      }
      let m = -Infinity;
      for (let k = 0; k < c; k++) m = Math.max(m, logits[base + k * sp]);
      let s = 0;
      for (let k = 0; k < c; k++) s += (p[k] = Math.exp(logits[base + k * sp] - m));
      let dot = 0;
      for (let k = 0; k < c; k++) {
        p[k] /= s;
        const dp = (k === y ? coeffs.dTp[b * c + k] : 0) + coeffs.dSumPred[b * c + k];
        dot += p[k] * dp;
      }
      for (let k = 0; k < c; k++) {
        const dp = (k === y ? coeffs.dTp[b * c + k] : 0) + coeffs.dSumPred[b * c + k];
        dx[base + k * sp] = p[k] * (dp - dot) + coeffs.ceScale * (p[k] - (k === y ? 1 : 0));
      }
    }
}

/** Nearest-exact resize of labels [N, in3] → [N, out3] (torch interpolate mode='nearest-exact'). */
export function downsampleSeg(
  t: FloatArray,
  n: number,
  inS: [number, number, number],
  outS: [number, number, number],
  out: FloatArray,
): void {
  const src = (o: number, i: number, dst: number) => Math.min(Math.floor((dst + 0.5) * (i / o)), i - 1);
  const inSp = inS[0] * inS[1] * inS[2], outSp = outS[0] * outS[1] * outS[2];
  for (let b = 0; b < n; b++)
    for (let d = 0; d < outS[0]; d++)
      for (let h = 0; h < outS[1]; h++)
        for (let w = 0; w < outS[2]; w++) {
          const sd = src(outS[0], inS[0], d), sh = src(outS[1], inS[1], h), sw = src(outS[2], inS[2], w);
          out[b * outSp + (d * outS[1] + h) * outS[2] + w] = t[b * inSp + (sd * inS[1] + sh) * inS[2] + sw];
        }
}

// CPU reference InstanceNorm (affine) and LeakyReLU.
// Semantics: torch.nn.InstanceNorm3d(affine=True, eps) — biased variance per (n, c) — and
// torch.nn.LeakyReLU(negative_slope) (dynamic_network_architectures' default norm/nonlin for nnU-Net).
import type { FloatArray } from '../../engine/backend.ts';

/** Writes y, mean[n·C+c], invstd[n·C+c] for x [N, C, sp]. */
export function instanceNormForward(
  x: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  n: number,
  c: number,
  sp: number,
  eps: number,
  y: FloatArray,
  mean: FloatArray,
  invstd: FloatArray,
): void {
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const base = (b * c + ch) * sp;
      let s = 0;
      for (let i = 0; i < sp; i++) s += x[base + i];
      const m = s / sp;
      let v = 0;
      for (let i = 0; i < sp; i++) {
        const d = x[base + i] - m;
        v += d * d;
      }
      const is = 1 / Math.sqrt(v / sp + eps);
      mean[b * c + ch] = m;
      invstd[b * c + ch] = is;
      const ga = gamma[ch], be = beta[ch];
      for (let i = 0; i < sp; i++) y[base + i] = (x[base + i] - m) * is * ga + be;
    }
}

/**
 * dx = γ·invstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)),  dγ = Σ_{n,v} dy·x̂,  dβ = Σ_{n,v} dy   (x̂ = (x − μ)·invstd)
 */
export function instanceNormBackward(
  dy: FloatArray,
  x: FloatArray,
  gamma: FloatArray,
  mean: FloatArray,
  invstd: FloatArray,
  n: number,
  c: number,
  sp: number,
  dx: FloatArray,
  dgamma: FloatArray,
  dbeta: FloatArray,
): void {
  dgamma.fill(0);
  dbeta.fill(0);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const base = (b * c + ch) * sp;
      const m = mean[b * c + ch], is = invstd[b * c + ch];
      let sdy = 0, sdyx = 0;
      for (let i = 0; i < sp; i++) {
        const g = dy[base + i];
        sdy += g;
        sdyx += g * (x[base + i] - m) * is;
      }
      dgamma[ch] += sdyx;
      dbeta[ch] += sdy;
      const k = (gamma[ch] * is) / sp;
      for (let i = 0; i < sp; i++) {
        const xh = (x[base + i] - m) * is;
        dx[base + i] = k * (sp * dy[base + i] - sdy - xh * sdyx);
      }
    }
}

export function leakyReluForward(x: FloatArray, slope: number, y: FloatArray): void {
  for (let i = 0; i < x.length; i++) y[i] = x[i] > 0 ? x[i] : x[i] * slope;
}

export function leakyReluBackward(dy: FloatArray, x: FloatArray, slope: number, dx: FloatArray): void {
  for (let i = 0; i < x.length; i++) dx[i] = x[i] > 0 ? dy[i] : dy[i] * slope;
}

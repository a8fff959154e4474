// CPU reference tensor algebra: channel concat/split, add, scale, axpy.
import type { FloatArray } from '../../engine/backend.ts';

/** out [N, ca+cb, sp] = concat(a [N, ca, sp], b [N, cb, sp]) along channels. */
export function concatChannels(a: FloatArray, b: FloatArray, n: number, ca: number, cb: number, sp: number, out: FloatArray): void {
  for (let i = 0; i < n; i++) {
    out.set(a.subarray(i * ca * sp, (i + 1) * ca * sp), i * (ca + cb) * sp);
    out.set(b.subarray(i * cb * sp, (i + 1) * cb * sp), (i * (ca + cb) + ca) * sp);
  }
}

export function splitChannels(t: FloatArray, n: number, ca: number, cb: number, sp: number, a: FloatArray, b: FloatArray): void {
  for (let i = 0; i < n; i++) {
    a.set(t.subarray(i * (ca + cb) * sp, (i * (ca + cb) + ca) * sp), i * ca * sp);
    b.set(t.subarray((i * (ca + cb) + ca) * sp, (i + 1) * (ca + cb) * sp), i * cb * sp);
  }
}

export function add(a: FloatArray, b: FloatArray, out: FloatArray): void {
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
}

export function scale(a: FloatArray, s: number, out: FloatArray): void {
  for (let i = 0; i < a.length; i++) out[i] = a[i] * s;
}

export function axpy(alpha: number, x: FloatArray, y: FloatArray): void {
  for (let i = 0; i < x.length; i++) y[i] += alpha * x[i];
}

export function sumSquares(x: FloatArray): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

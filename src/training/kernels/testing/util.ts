// Helpers shared by the kernel test bodies (no Node APIs: a browser harness imports these too).
import type { Backend, DeviceTensor, FloatArray } from '../../engine/backend.ts';
import { mulberry32 } from '../../../core/util/mulberry32.ts';

/** Small deterministic PRNG (mulberry32) so every run and every platform sees the same inputs. */
export const rng: (seed: number) => () => number = mulberry32;

export function randn(n: number, r: () => number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12), v = r();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

export function randLabels(n: number, classes: number, r: () => number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(classes - 1, Math.floor(r() * classes));
  return out;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class CheckError extends Error {}

/** Max |a − b| / (atol + rtol·|b|) must be ≤ 1; throws a message naming the worst element. */
export function assertClose(name: string, a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number): number {
  if (a.length !== b.length) throw new CheckError(`${name}: length ${a.length} vs ${b.length}`);
  let worst = 0, wi = -1;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) throw new CheckError(`${name}: non-finite at ${i}: ${a[i]} vs ${b[i]}`);
    const e = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (e > worst) {
      worst = e;
      wi = i;
    }
  }
  if (worst > 1) throw new CheckError(`${name}: mismatch at ${wi}: ${a[wi]} vs ${b[wi]} (err ratio ${worst.toFixed(2)})`);
  return worst;
}

export async function dl(b: Backend, t: DeviceTensor): Promise<FloatArray> {
  return b.download(t);
}

export function freeAll(b: Backend, ts: Array<DeviceTensor | null | undefined>): void {
  for (const t of ts) if (t) b.free(t);
}

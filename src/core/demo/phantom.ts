// Synthetic head-like phantom for the demo and the tests, generated in code (no patient data anywhere).
// An ellipsoidal head: scalp, skull, brain parenchyma (grey/white contrast), two lateral ventricles and
// one round lesion, with Gaussian noise and a smooth multiplicative bias field, MR-like (T2-ish) units.
// The ground truth labels are the structures the demo model is built to find:
//   0 background (air, scalp, skull), 1 brain, 2 ventricles, 3 lesion.
import type { Image, LabelMap } from '../types.ts';
import { mulberry32 } from '../util/mulberry32.ts';

export const PHANTOM_LABELS: Readonly<Record<string, number>> = Object.freeze({
  background: 0,
  brain: 1,
  ventricles: 2,
  lesion: 3,
});

/** Mean tissue intensities before bias and noise (arbitrary MR-like units). */
export const PHANTOM_INTENSITY = Object.freeze({
  air: 0,
  scalp: 300,
  skull: 80,
  greyMatter: 600,
  whiteMatter: 500,
  ventricles: 1000,
  lesion: 800,
});

export interface PhantomOptions {
  /** voxels along x (fastest), y, z. Default 64 × 64 × 48. */
  size?: [number, number, number];
  /** isotropic voxel size in mm, default 1.5 */
  spacingMm?: number;
  /** PRNG seed for the noise, default 1 */
  seed?: number;
  /** noise standard deviation (same units as the intensities), default 25 */
  noise?: number;
  /** relative bias field amplitude, default 0.06 */
  bias?: number;
}

export interface Phantom {
  /** one channel, shape [1, z, y, x], NIfTI-like properties with an RAS affine centred on the head */
  image: Image;
  /** ground truth on the same grid, shape [z, y, x] */
  truth: LabelMap;
  labels: Readonly<Record<string, number>>;
}



function gaussianSource(rand: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = 0;
    while (u <= Number.EPSILON) u = rand();
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** Builds the phantom. Geometry is defined in millimetres, so other sizes give the same anatomy, resampled. */
export function makePhantom(opts: PhantomOptions = {}): Phantom {
  const [nx, ny, nz] = opts.size ?? [64, 64, 48];
  const sp = opts.spacingMm ?? 1.5;
  const noiseSd = opts.noise ?? 25;
  const biasAmp = opts.bias ?? 0.06;
  const gauss = gaussianSource(mulberry32(opts.seed ?? 1));
  const n = nx * ny * nz;
  const data = new Float32Array(n);
  const truth = new Uint8Array(n);
  // head half-axes in mm, scaled to the field of view so smaller test volumes hold the whole head
  const fov = [nx * sp, ny * sp, nz * sp];
  const ax = 0.46 * fov[0];
  const ay = 0.48 * fov[1];
  const az = 0.46 * fov[2];
  const I = PHANTOM_INTENSITY;
  const cx = ((nx - 1) * sp) / 2;
  const cy = ((ny - 1) * sp) / 2;
  const cz = ((nz - 1) * sp) / 2;
  const ell = (x: number, y: number, z: number, ox: number, oy: number, oz: number, rx: number, ry: number, rz: number) =>
    ((x - ox) / rx) ** 2 + ((y - oy) / ry) ** 2 + ((z - oz) / rz) ** 2;
  let i = 0;
  for (let k = 0; k < nz; k++) {
    const z = k * sp - cz;
    for (let j = 0; j < ny; j++) {
      const y = j * sp - cy;
      for (let ii = 0; ii < nx; ii++, i++) {
        const x = ii * sp - cx;
        const r = ell(x, y, z, 0, 0, 0, ax, ay, az);
        let v: number = I.air;
        let label = 0;
        if (r <= 1) {
          if (r > 0.93 * 0.93) v = I.scalp;
          else if (r > 0.85 * 0.85) v = I.skull;
          else {
            label = 1;
            v = r > 0.62 * 0.62 ? I.greyMatter : I.whiteMatter;
            // lateral ventricles: two elongated ellipsoids either side of the midline
            const vl = ell(x, y, z, -0.19 * ax, 0.06 * ay, 0.1 * az, 0.13 * ax, 0.32 * ay, 0.2 * az);
            const vr = ell(x, y, z, 0.19 * ax, 0.06 * ay, 0.1 * az, 0.13 * ax, 0.32 * ay, 0.2 * az);
            if (vl <= 1 || vr <= 1) {
              label = 2;
              v = I.ventricles;
            }
            // one round lesion in the right posterior quadrant
            const rl = Math.min(ax, ay, az) * 0.24;
            if (ell(x, y, z, 0.42 * ax, -0.34 * ay, 0.22 * az, rl, rl, rl) <= 1) {
              label = 3;
              v = I.lesion;
            }
          }
          const bias = 1 + biasAmp * (x / ax) + 0.5 * biasAmp * (z / az) - 0.5 * biasAmp * (y / ay) ** 2;
          v = v * bias + noiseSd * gauss();
          if (v < 1) v = 1; // tissue stays non-zero (air is exactly 0, as in a skull-stripped-free MR with masked background)
        }
        data[i] = v;
        truth[i] = label;
      }
    }
  }
  const affine = [
    [sp, 0, 0, -cx],
    [0, sp, 0, -cy],
    [0, 0, sp, -cz],
    [0, 0, 0, 1],
  ];
  return {
    image: {
      data,
      shape: [1, nz, ny, nx],
      properties: { format: 'nifti', spacing: [sp, sp, sp], affine, fileName: 'demo_phantom.nii.gz' },
    },
    truth: { data: truth, shape: [nz, ny, nx] },
    labels: PHANTOM_LABELS,
  };
}

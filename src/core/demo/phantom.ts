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
  /** anatomy and intensity variation (training data); omitted = the default demo phantom */
  anatomy?: PhantomAnatomy;
}

/** One lesion: centre as fractions of the head half-axes (x, y, z), radius as a fraction of the smallest. */
export interface PhantomLesion {
  centre: [number, number, number];
  radius: number;
}

/**
 * Geometry and intensity of one phantom. Every field is optional; the defaults give the demo phantom.
 * Lengths are fractions of the field of view / head half-axes, so the anatomy follows the grid.
 */
export interface PhantomAnatomy {
  /** head half-axes as fractions of the field of view (x, y, z); default [0.46, 0.48, 0.46] */
  head?: [number, number, number];
  /** head centre offset in mm (x, y, z); default 0 */
  offsetMm?: [number, number, number];
  /** scalp and skull inner boundaries (relative radii), default 0.93 and 0.85 */
  scalpInner?: number;
  skullInner?: number;
  /** grey/white boundary (relative radius), default 0.62 */
  whiteMatter?: number;
  /** ventricle half-axes multiplier (x, y, z), default [1, 1, 1]; centre shift in head fractions, default 0 */
  ventricleScale?: [number, number, number];
  ventricleShift?: [number, number, number];
  /** lesions; default one at (0.42, −0.34, 0.22) with radius 0.24 */
  lesions?: PhantomLesion[];
  /** global intensity gain, default 1; per-tissue gains multiply PHANTOM_INTENSITY's values */
  gain?: number;
  tissueGain?: Partial<Record<keyof typeof PHANTOM_INTENSITY, number>>;
}

const DEFAULT_LESION: PhantomLesion = { centre: [0.42, -0.34, 0.22], radius: 0.24 };

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
  const an = opts.anatomy ?? {};
  const head = an.head ?? [0.46, 0.48, 0.46];
  const ax = head[0] * fov[0];
  const ay = head[1] * fov[1];
  const az = head[2] * fov[2];
  const [ox, oy, oz] = an.offsetMm ?? [0, 0, 0];
  const scalp2 = (an.scalpInner ?? 0.93) ** 2;
  const skull2 = (an.skullInner ?? 0.85) ** 2;
  const wm2 = (an.whiteMatter ?? 0.62) ** 2;
  const [vsx, vsy, vsz] = an.ventricleScale ?? [1, 1, 1];
  const [vdx, vdy, vdz] = an.ventricleShift ?? [0, 0, 0];
  const lesions = an.lesions ?? [DEFAULT_LESION];
  const gain = an.gain ?? 1;
  const tg = an.tissueGain ?? {};
  const I = Object.fromEntries(
    Object.entries(PHANTOM_INTENSITY).map(([k, v]) => [k, v * gain * (tg[k as keyof typeof PHANTOM_INTENSITY] ?? 1)]),
  ) as Record<keyof typeof PHANTOM_INTENSITY, number>;
  const rmin = Math.min(ax, ay, az);
  const cx = ((nx - 1) * sp) / 2;
  const cy = ((ny - 1) * sp) / 2;
  const cz = ((nz - 1) * sp) / 2;
  const ell = (x: number, y: number, z: number, ox: number, oy: number, oz: number, rx: number, ry: number, rz: number) =>
    ((x - ox) / rx) ** 2 + ((y - oy) / ry) ** 2 + ((z - oz) / rz) ** 2;
  let i = 0;
  for (let k = 0; k < nz; k++) {
    const z0 = k * sp - cz;
    for (let j = 0; j < ny; j++) {
      const y0 = j * sp - cy;
      for (let ii = 0; ii < nx; ii++, i++) {
        const x = ii * sp - cx - ox;
        const y = y0 - oy;
        const z = z0 - oz;
        const r = ell(x, y, z, 0, 0, 0, ax, ay, az);
        let v: number = I.air;
        let label = 0;
        if (r <= 1) {
          if (r > scalp2) v = I.scalp;
          else if (r > skull2) v = I.skull;
          else {
            label = 1;
            v = r > wm2 ? I.greyMatter : I.whiteMatter;
            // lateral ventricles: two elongated ellipsoids either side of the midline
            const vcy = (0.06 + vdy) * ay;
            const vcz = (0.1 + vdz) * az;
            const vrx = 0.13 * vsx * ax;
            const vry = 0.32 * vsy * ay;
            const vrz = 0.2 * vsz * az;
            const vl = ell(x, y, z, (-0.19 + vdx) * ax, vcy, vcz, vrx, vry, vrz);
            const vr = ell(x, y, z, (0.19 + vdx) * ax, vcy, vcz, vrx, vry, vrz);
            if (vl <= 1 || vr <= 1) {
              label = 2;
              v = I.ventricles;
            }
            // round lesions (default: one in the right posterior quadrant)
            for (const les of lesions) {
              const rl = rmin * les.radius;
              if (ell(x, y, z, les.centre[0] * ax, les.centre[1] * ay, les.centre[2] * az, rl, rl, rl) <= 1) {
                label = 3;
                v = I.lesion;
              }
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

/**
 * Random phantom options for training data (domain randomisation): grid size and spacing, noise, bias,
 * head size/shape/position, cortex thickness, ventricle size/position, 0–3 lesions anywhere in the brain
 * (size and position), global and per-tissue intensity gains. Deterministic per seed.
 */
export function randomPhantomOptions(seed: number): PhantomOptions {
  const r = mulberry32((seed * 2654435761) >>> 0);
  const u = (a: number, b: number) => a + (b - a) * r();
  const ri = (a: number, b: number) => Math.floor(u(a, b + 1));
  const spacingMm = Math.round(u(1.2, 1.9) * 100) / 100;
  // field of view 80–112 mm across, 60–84 mm in z, rounded to whole voxels
  const size: [number, number, number] = [
    Math.round(u(80, 112) / spacingMm),
    Math.round(u(80, 112) / spacingMm),
    Math.round(u(60, 84) / spacingMm),
  ];
  const nLesions = [0, 1, 1, 1, 2, 2, 3][ri(0, 6)];
  const lesions: PhantomLesion[] = [];
  for (let i = 0; i < nLesions; i++) {
    // a point well inside the brain ellipsoid (relative radius ≤ 0.6), radius 0.15–0.3 of the smallest half-axis
    let c: [number, number, number];
    do c = [u(-0.65, 0.65), u(-0.65, 0.65), u(-0.6, 0.6)];
    while (c[0] ** 2 + c[1] ** 2 + c[2] ** 2 > 0.6 ** 2);
    lesions.push({ centre: c, radius: u(0.15, 0.3) });
  }
  const skullInner = u(0.8, 0.88);
  const anatomy: PhantomAnatomy = {
    head: [u(0.36, 0.47), u(0.38, 0.48), u(0.36, 0.47)],
    offsetMm: [u(-3, 3), u(-3, 3), u(-3, 3)],
    scalpInner: u(Math.max(skullInner + 0.04, 0.9), 0.95),
    skullInner,
    whiteMatter: u(0.5, 0.7),
    ventricleScale: [u(0.6, 1.5), u(0.7, 1.3), u(0.6, 1.5)],
    ventricleShift: [u(-0.04, 0.04), u(-0.1, 0.1), u(-0.1, 0.1)],
    lesions,
    gain: u(0.6, 1.6),
    tissueGain: {
      scalp: u(0.8, 1.2),
      skull: u(0.6, 1.4),
      greyMatter: u(0.95, 1.05),
      whiteMatter: u(0.95, 1.05),
      ventricles: u(0.94, 1.06),
      lesion: u(0.94, 1.06),
    },
  };
  return { size, spacingMm, seed: seed + 1000, noise: u(10, 45), bias: u(0, 0.15), anatomy };
}

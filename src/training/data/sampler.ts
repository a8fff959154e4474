// Training patch sampling as nnU-Net's data loader does it, on preprocessed cases held in memory.
// nnU-Net: training/dataloading/data_loader.py (nnUNetDataLoader: batch composition, foreground oversampling of the
// last 33 % of each batch, get_bbox with need_to_pad, crop_and_pad with 0 for data and −1 for seg, 2D as (1, X, Y)),
// preprocessing/preprocessors/default_preprocessor.py (_sample_foreground_locations: class_locations, seed 1234,
// ≤ 10000 voxels per class but ≥ 1 % of them), batchgenerators DataLoader (infinite: random cases with replacement).
import { SegStudioError } from '../../core/errors.ts';
import { RandomState } from './random.ts';

export type ClassKey = number | number[];

/** Key under which a class (label) or region (label list) is stored: '1' or '2,3'. */
export function classKeyString(c: ClassKey): string {
  return Array.isArray(c) ? c.join(',') : String(c);
}

/**
 * _sample_foreground_locations: for each class or region, flat voxel indices (C order over the spatial grid) of up
 * to 10000 of its voxels (at least 1 % of them), drawn without replacement by RandomState(seed).
 */
export function sampleClassLocations(
  seg: ArrayLike<number>,
  classes: ClassKey[],
  seed = 1234,
  minNumSamples = 10000,
  minPercentCoverage = 0.01,
): Record<string, Int32Array> {
  const rs = new RandomState(seed);
  const requested = new Set<number>();
  for (const c of classes) for (const l of Array.isArray(c) ? c : [c]) requested.add(l);
  // voxel indices per label, each in C order (np.argwhere + stable argsort by label)
  const counts = new Map<number, number>();
  for (let i = 0; i < seg.length; i++) {
    const v = seg[i];
    if (requested.has(v)) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  const byLabel = new Map<number, Int32Array>();
  const fill = new Map<number, number>();
  for (const [l, n] of counts) {
    byLabel.set(l, new Int32Array(n));
    fill.set(l, 0);
  }
  for (let i = 0; i < seg.length; i++) {
    const arr = byLabel.get(seg[i]);
    if (arr) {
      const k = fill.get(seg[i])!;
      arr[k] = i;
      fill.set(seg[i], k + 1);
    }
  }
  const out: Record<string, Int32Array> = {};
  for (const c of classes) {
    const labs = Array.isArray(c) ? c : [c];
    const ranges = labs.map((l) => byLabel.get(l)).filter((a): a is Int32Array => !!a && a.length > 0);
    const total = ranges.reduce((s, a) => s + a.length, 0);
    if (total === 0) {
      out[classKeyString(c)] = new Int32Array(0);
      continue;
    }
    let target = Math.min(minNumSamples, total);
    target = Math.max(target, Math.ceil(total * minPercentCoverage));
    const offsets = rs.choice(total, target, false);
    const picked = new Int32Array(target);
    for (let i = 0; i < target; i++) {
      let o = offsets[i];
      let r = 0;
      while (o >= ranges[r].length) {
        o -= ranges[r].length;
        r++;
      }
      picked[i] = ranges[r][o];
    }
    out[classKeyString(c)] = picked;
  }
  return out;
}

/** A preprocessed training case in memory. */
export interface TrainingCase {
  id: string;
  /** [C, d0, d1, d2] float32 */
  data: Float32Array;
  /** [d0, d1, d2] labels (−1 outside the nonzero mask, as preprocessing leaves them) */
  seg: Int16Array;
  channels: number;
  /** spatial shape [d0, d1, d2] (2D images: [1, X, Y]) */
  shape: number[];
  /** class key → flat voxel indices (sampleClassLocations) */
  classLocations: Record<string, Int32Array>;
}

export interface SamplerOptions {
  batchSize: number;
  /** patch the loader crops (nnU-Net's initial_patch_size for training, the plans' patch for validation); 2 or 3 entries */
  patchSize: number[];
  /** the configuration's patch_size */
  finalPatchSize: number[];
  /** nnU-Net: 0.33 */
  oversampleForegroundPercent?: number;
  /** sample i forced to foreground with probability p instead of the last-33 % rule */
  probabilisticOversampling?: boolean;
  /** ignore label present: non-forced samples come from annotated voxels; key of that pseudo class */
  annotatedClassKey?: string;
  seed?: number;
}

export interface Batch {
  /** [B, C, ...patch] */
  data: Float32Array;
  /** [B, 1, ...patch] */
  seg: Int16Array;
  keys: string[];
  forcedForeground: boolean[];
  /** [lo, hi) per axis (3D, in the case's spatial grid) for each sample */
  bboxes: number[][][];
  /** patch shape of each sample (2 entries for 2D configurations) */
  patchShape: number[];
}

/** Python round(): half to even. */
function pyRound(x: number): number {
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return Math.round(x);
}

export class PatchSampler {
  readonly patch3: number[];
  readonly final3: number[];
  readonly needToPad: number[];
  readonly was2d: boolean;
  readonly oversample: number;
  readonly rng: RandomState;

  constructor(
    readonly cases: TrainingCase[],
    readonly opts: SamplerOptions,
  ) {
    if (cases.length === 0) throw new SegStudioError('sampler', 'no training cases to sample from');
    if (!(opts.batchSize >= 1)) throw new SegStudioError('sampler', `batch size must be >= 1, got ${opts.batchSize}`);
    if (opts.patchSize.length !== opts.finalPatchSize.length)
      throw new SegStudioError('sampler', 'patchSize and finalPatchSize must have the same number of axes');
    this.was2d = opts.patchSize.length === 2;
    this.patch3 = this.was2d ? [1, ...opts.patchSize] : [...opts.patchSize];
    this.final3 = this.was2d ? [1, ...opts.finalPatchSize] : [...opts.finalPatchSize];
    this.needToPad = this.patch3.map((p, i) => Math.trunc(p - this.final3[i]));
    this.oversample = opts.oversampleForegroundPercent ?? 0.33;
    this.rng = new RandomState(opts.seed ?? 12345);
    for (const c of cases) {
      if (c.shape.length !== 3) throw new SegStudioError('sampler', `case shape must be [d0, d1, d2], got [${c.shape}]`, c.id);
      const n = c.shape[0] * c.shape[1] * c.shape[2];
      if (c.data.length !== c.channels * n || c.seg.length !== n)
        throw new SegStudioError('sampler', 'data/seg sizes do not match the case shape', c.id);
    }
  }

  /** _oversample_last_XX_percent (or the probabilistic variant). */
  forceForeground(sampleIdx: number): boolean {
    if (this.opts.probabilisticOversampling) return this.rng.uniform() < this.oversample;
    return !(sampleIdx < pyRound(this.opts.batchSize * (1 - this.oversample)));
  }

  /** get_bbox: lower/upper corners (may reach outside the image: padded later). */
  getBbox(shape: number[], forceFg: boolean, classLocations: Record<string, Int32Array> | null, overwriteClass?: string): { lbs: number[]; ubs: number[] } {
    const need = [...this.needToPad];
    const dim = shape.length;
    const patch = this.patch3;
    for (let d = 0; d < dim; d++) if (need[d] + shape[d] < patch[d]) need[d] = patch[d] - shape[d];
    const lbs = need.map((n) => Math.floor(-n / 2));
    const ubs = shape.map((s, d) => s + Math.floor(need[d] / 2) + (need[d] % 2) - patch[d]);
    const hasIgnore = !!this.opts.annotatedClassKey;
    let bboxLbs: number[];
    if (!forceFg && !hasIgnore) {
      bboxLbs = lbs.map((l, d) => this.rng.randint(l, ubs[d] + 1));
    } else {
      let selected: string | null = null;
      if (!forceFg && hasIgnore) {
        selected = this.opts.annotatedClassKey!;
        if (!classLocations?.[selected]?.length) selected = null;
      } else {
        if (!classLocations) throw new SegStudioError('sampler', 'foreground sampling needs class locations');
        let eligible = Object.keys(classLocations).filter((k) => classLocations[k].length > 0);
        if (hasIgnore && eligible.length > 1) eligible = eligible.filter((k) => k !== this.opts.annotatedClassKey);
        if (eligible.length > 0)
          selected = overwriteClass !== undefined && eligible.includes(overwriteClass) ? overwriteClass : eligible[this.rng.choiceIndex(eligible.length)];
      }
      if (selected !== null) {
        const voxels = classLocations![selected];
        const flat = voxels[this.rng.choiceIndex(voxels.length)];
        const v = [Math.floor(flat / (shape[1] * shape[2])), Math.floor(flat / shape[2]) % shape[1], flat % shape[2]];
        bboxLbs = lbs.map((l, d) => Math.max(l, v[d] - Math.floor(patch[d] / 2)));
      } else bboxLbs = lbs.map((l, d) => this.rng.randint(l, ubs[d] + 1));
    }
    return { lbs: bboxLbs, ubs: bboxLbs.map((l, d) => l + patch[d]) };
  }

  /** generate_train_batch: random cases (with replacement), last 33 % forced to contain foreground. */
  nextBatch(): Batch {
    const B = this.opts.batchSize;
    const idx = this.rng.choice(this.cases.length, B, true);
    const C = this.cases[0].channels;
    const pv = this.patch3[0] * this.patch3[1] * this.patch3[2];
    const data = new Float32Array(B * C * pv);
    const seg = new Int16Array(B * pv).fill(-1);
    const keys: string[] = [];
    const forced: boolean[] = [];
    const bboxes: number[][][] = [];
    for (let j = 0; j < B; j++) {
      const c = this.cases[idx[j]];
      if (c.channels !== C) throw new SegStudioError('sampler', `case has ${c.channels} channels, expected ${C}`, c.id);
      const force = this.forceForeground(j);
      const { lbs, ubs } = this.getBbox(c.shape, force, c.classLocations);
      cropAndPad(c, lbs, this.patch3, data.subarray(j * C * pv, (j + 1) * C * pv), seg.subarray(j * pv, (j + 1) * pv));
      keys.push(c.id);
      forced.push(force);
      bboxes.push(lbs.map((l, d) => [l, ubs[d]]));
    }
    return { data, seg, keys, forcedForeground: forced, bboxes, patchShape: this.was2d ? this.patch3.slice(1) : [...this.patch3] };
  }
}

/** crop_and_pad_nd: copies the box (may extend beyond the case) into data (pad 0) and seg (pad −1, pre-filled). */
function cropAndPad(c: TrainingCase, lbs: number[], patch: number[], dataOut: Float32Array, segOut: Int16Array): void {
  const [s0, s1, s2] = c.shape;
  const [p0, p1, p2] = patch;
  const n = s0 * s1 * s2;
  const pv = p0 * p1 * p2;
  for (let z = 0; z < p0; z++) {
    const iz = lbs[0] + z;
    if (iz < 0 || iz >= s0) continue;
    for (let y = 0; y < p1; y++) {
      const iy = lbs[1] + y;
      if (iy < 0 || iy >= s1) continue;
      const x0 = Math.max(0, -lbs[2]);
      const x1 = Math.min(p2, s2 - lbs[2]);
      if (x1 <= x0) continue;
      const src = (iz * s1 + iy) * s2 + lbs[2];
      const dst = (z * p1 + y) * p2;
      segOut.set(c.seg.subarray(src + x0, src + x1), dst + x0);
      for (let ch = 0; ch < c.channels; ch++) dataOut.set(c.data.subarray(ch * n + src + x0, ch * n + src + x1), ch * pv + dst + x0);
    }
  }
}

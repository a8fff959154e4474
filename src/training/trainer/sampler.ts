// MINIMAL PATCH SAMPLER — a stand-in until the data engineer's patch sampler lands in src/training/data (then
// the trainer takes theirs through the same `BatchSource` interface and this file goes away). It reproduces
// nnU-Net's data loader sampling rules and hands each crop (at the augmentation's initial patch size) to the
// augmentation of src/training/data/augment.ts when one is given:
// nnU-Net: training/dataloading/data_loader.py (nnUNetDataLoader.get_bbox, generate_train_batch:
// oversampling of the last 33 % of a batch, pad with 0 / seg −1, lower bounds −need_to_pad//2),
// preprocessing/preprocessors/default_preprocessor.py _sample_foreground_locations (≤ 10000 voxels per class,
// at least 1 % coverage, RandomState(1234)), batchgenerators DataLoader (cases drawn with replacement),
// and the RemoveLabelTansform(-1 → 0) of the training/validation transforms.
import { SegStudioError } from '../../core/errors.ts';
import { RandomState } from '../data/random.ts';
import type { Sample } from '../data/augment.ts';

/** A preprocessed case as the trainer sees it (PreprocessedCase data/shape/seg plus its identifier). */
export interface TrainingCase {
  id: string;
  /** normalized data [C, ...spatial] */
  data: Float32Array;
  /** [C, d0, d1, d2] */
  shape: number[];
  /** segmentation on the same grid (−1 outside the nonzero mask) */
  seg: Int16Array | Int32Array | Uint8Array;
  /** flat voxel indices per foreground class (computed on first use when absent) */
  classLocations?: Map<number, Int32Array>;
}

export interface Batch {
  /** [N, C, ...patch] */
  data: Float32Array;
  /** [N, 1, ...patch] integer labels as floats */
  target: Float32Array;
  shape: number[];
  targetShape: number[];
  keys: string[];
}

/** What the trainer pulls batches from (the data engineer's sampler + augmentation will implement it too). */
export interface BatchSource {
  next(): Batch;
  /** RNG state(s) for checkpoints */
  getState(): unknown;
  setState(s: unknown): void;
}

export interface SamplerOptions {
  batchSize: number;
  /** the network's patch size: 2 or 3 entries; a 2D patch samples single slices along axis 0 */
  patchSize: number[];
  /**
   * the crop size before augmentation (nnU-Net's initial_patch_size, larger for rotation/scaling); default
   * patchSize (no augmentation)
   */
  initialPatchSize?: number[];
  /** per-sample augmentation: initial-size crop in, patchSize sample out (seg −1 may remain; mapped to 0 here) */
  augment?: (s: Sample, rng: RandomState) => Sample;
  oversampleForeground: number;
  /** labels to oversample (nnU-Net: label_manager.foreground_labels) */
  foregroundLabels: number[];
}

/** nnU-Net _sample_foreground_locations: per class, up to 10000 voxels (≥ 1 % of the class), RandomState(1234). */
export function sampleClassLocations(seg: ArrayLike<number>, classes: number[], seed = 1234): Map<number, Int32Array> {
  const rs = new RandomState(seed);
  const out = new Map<number, Int32Array>();
  for (const c of classes) {
    const all: number[] = [];
    for (let i = 0; i < seg.length; i++) if (seg[i] === c) all.push(i);
    if (all.length === 0) {
      out.set(c, new Int32Array(0));
      continue;
    }
    const target = Math.max(Math.min(10000, all.length), Math.ceil(all.length * 0.01));
    const picked = rs.choice(all.length, target, false);
    out.set(c, Int32Array.from(picked, (i) => all[i]));
  }
  return out;
}

export class PatchSampler implements BatchSource {
  /** crop size (initial patch), 3-D */
  private readonly patch3: number[];
  /** network patch, 3-D */
  private readonly final3: number[];
  private readonly is2d: boolean;

  constructor(
    readonly cases: TrainingCase[],
    readonly opts: SamplerOptions,
    private rng: RandomState,
  ) {
    if (cases.length === 0) throw new SegStudioError('training', 'no cases to sample patches from');
    const p = opts.patchSize;
    if (p.length !== 2 && p.length !== 3) throw new SegStudioError('training', `patch size must have 2 or 3 entries, got [${p}]`);
    this.is2d = p.length === 2;
    const ip = opts.initialPatchSize ?? p;
    if (ip.length !== p.length || ip.some((v, i) => v < p[i]))
      throw new SegStudioError('training', `initial patch size [${ip}] must be at least the patch size [${p}]`);
    this.patch3 = this.is2d ? [1, ...ip] : [...ip];
    this.final3 = this.is2d ? [1, ...p] : [...p];
    const c0 = cases[0].shape[0];
    for (const c of cases) {
      if (c.shape.length !== 4) throw new SegStudioError('training', `case data must be [C, d0, d1, d2], got [${c.shape}]`, c.id);
      if (c.shape[0] !== c0) throw new SegStudioError('training', `has ${c.shape[0]} channels, other cases ${c0}`, c.id);
    }
  }

  getState(): unknown {
    return this.rng.getState();
  }
  setState(s: unknown): void {
    this.rng.setState(s as ReturnType<RandomState['getState']>);
  }

  private locations(c: TrainingCase): Map<number, Int32Array> {
    if (!c.classLocations) c.classLocations = sampleClassLocations(c.seg, this.opts.foregroundLabels);
    return c.classLocations;
  }

  /** nnUNetDataLoader.get_bbox: need_to_pad = initial − final patch, more where the data is smaller. */
  private bbox(c: TrainingCase, forceFg: boolean): number[] {
    const shape = c.shape.slice(1);
    const P = this.patch3;
    const lbs: number[] = [], ubs: number[] = [];
    for (let d = 0; d < 3; d++) {
      let need = P[d] - this.final3[d];
      if (need + shape[d] < P[d]) need = P[d] - shape[d];
      lbs.push(-Math.floor(need / 2));
      ubs.push(shape[d] + Math.floor(need / 2) + (need % 2) - P[d]);
    }
    if (forceFg) {
      const locs = this.locations(c);
      const eligible = this.opts.foregroundLabels.filter((l) => (locs.get(l)?.length ?? 0) > 0);
      if (eligible.length > 0) {
        const cls = eligible[this.rng.choiceIndex(eligible.length)];
        const vox = locs.get(cls)!;
        const flat = vox[this.rng.choiceIndex(vox.length)];
        const idx = [Math.floor(flat / (shape[1] * shape[2])), Math.floor(flat / shape[2]) % shape[1], flat % shape[2]];
        return idx.map((v, d) => Math.max(lbs[d], v - Math.floor(P[d] / 2)));
      }
    }
    return lbs.map((lb, d) => this.rng.randint(lb, ubs[d] + 1));
  }

  /** Crop (zero / −1 padded) of one case at the initial patch size: image [C, ...P], seg [...P]. */
  private crop(c: TrainingCase, lb: number[]): { image: Float32Array; seg: Int16Array } {
    const P = this.patch3;
    const C = c.shape[0];
    const pv = P[0] * P[1] * P[2];
    const image = new Float32Array(C * pv);
    const seg = new Int16Array(pv);
    const [D, H, W] = c.shape.slice(1);
    const sp = D * H * W;
    for (let z = 0; z < P[0]; z++) {
      const sz = lb[0] + z;
      for (let y = 0; y < P[1]; y++) {
        const sy = lb[1] + y;
        for (let x = 0; x < P[2]; x++) {
          const sx = lb[2] + x;
          const o = (z * P[1] + y) * P[2] + x;
          const inside = sz >= 0 && sz < D && sy >= 0 && sy < H && sx >= 0 && sx < W;
          const si = (sz * H + sy) * W + sx;
          for (let ch = 0; ch < C; ch++) image[ch * pv + o] = inside ? c.data[ch * sp + si] : 0;
          seg[o] = inside ? c.seg[si] : -1;
        }
      }
    }
    return { image, seg };
  }

  next(): Batch {
    const { batchSize } = this.opts;
    const F = this.final3;
    const C = this.cases[0].shape[0];
    const fv = F[0] * F[1] * F[2];
    const data = new Float32Array(batchSize * C * fv);
    const target = new Float32Array(batchSize * fv);
    const keys: string[] = [];
    const spatial = this.is2d ? this.opts.patchSize : F;
    const cropSpatial = this.is2d ? this.patch3.slice(1) : this.patch3;
    // batchgenerators DataLoader.get_indices: np.random.choice(indices, batch_size, replace=True)
    const picks = Array.from({ length: batchSize }, () => this.rng.choiceIndex(this.cases.length));
    for (let j = 0; j < batchSize; j++) {
      const c = this.cases[picks[j]];
      keys.push(c.id);
      const forceFg = !(j < Math.round(batchSize * (1 - this.opts.oversampleForeground)));
      let { image, seg } = this.crop(c, this.bbox(c, forceFg));
      if (this.opts.augment) {
        const s = this.opts.augment({ image, seg, channels: C, shape: [...cropSpatial] }, this.rng);
        if (s.shape.join() !== spatial.join()) throw new SegStudioError('training', `augmentation returned [${s.shape}], expected [${spatial}]`);
        image = s.image;
        seg = s.seg;
      } else if (cropSpatial.join() !== spatial.join()) {
        throw new SegStudioError('training', 'an initial patch size larger than the patch needs an augmentation to crop it');
      }
      data.set(image, j * C * fv);
      for (let i = 0; i < fv; i++) target[j * fv + i] = seg[i] < 0 ? 0 : seg[i]; // RemoveLabelTansform(-1, 0)
    }
    return { data, target, shape: [batchSize, C, ...spatial], targetShape: [batchSize, 1, ...spatial], keys };
  }
}

/** A RandomState-driven source seeded deterministically (helper for the trainer). */
export function createPatchSampler(cases: TrainingCase[], opts: SamplerOptions, seed: number): PatchSampler {
  return new PatchSampler(cases, opts, new RandomState(seed));
}

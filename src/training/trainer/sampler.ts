// MINIMAL PATCH SAMPLER — a stand-in until the data engineer's patch sampler and augmentation land in
// src/training/data (then the trainer takes theirs through the same `BatchSource` interface and this file
// goes away). It reproduces nnU-Net's data loader sampling rules without augmentation:
// nnU-Net: training/dataloading/data_loader.py (nnUNetDataLoader.get_bbox, generate_train_batch:
// oversampling of the last 33 % of a batch, pad with 0 / seg −1, lower bounds −need_to_pad//2),
// preprocessing/preprocessors/default_preprocessor.py _sample_foreground_locations (≤ 10000 voxels per class,
// at least 1 % coverage, RandomState(1234)), batchgenerators DataLoader (cases drawn with replacement),
// and the RemoveLabelTansform(-1 → 0) of the training/validation transforms.
import { SegStudioError } from '../../core/errors.ts';
import { RandomState } from '../data/random.ts';

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
  /** 2 or 3 entries; a 2D patch samples single slices along axis 0 */
  patchSize: number[];
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
  private readonly patch3: number[];
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
    this.patch3 = this.is2d ? [1, ...p] : [...p];
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

  /** nnUNetDataLoader.get_bbox (need_to_pad only from data smaller than the patch: no augmentation padding). */
  private bbox(c: TrainingCase, forceFg: boolean): number[] {
    const shape = c.shape.slice(1);
    const P = this.patch3;
    const lbs: number[] = [], ubs: number[] = [];
    for (let d = 0; d < 3; d++) {
      const need = Math.max(0, P[d] - shape[d]);
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

  next(): Batch {
    const { batchSize } = this.opts;
    const P = this.patch3;
    const C = this.cases[0].shape[0];
    const pv = P[0] * P[1] * P[2];
    const data = new Float32Array(batchSize * C * pv);
    const target = new Float32Array(batchSize * pv);
    const keys: string[] = [];
    // batchgenerators DataLoader.get_indices: np.random.choice(indices, batch_size, replace=True)
    const picks = Array.from({ length: batchSize }, () => this.rng.choiceIndex(this.cases.length));
    for (let j = 0; j < batchSize; j++) {
      const c = this.cases[picks[j]];
      keys.push(c.id);
      const forceFg = !(j < Math.round(batchSize * (1 - this.opts.oversampleForeground)));
      const lb = this.bbox(c, forceFg);
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
            for (let ch = 0; ch < C; ch++) data[(j * C + ch) * pv + o] = inside ? c.data[ch * sp + si] : 0;
            const s = inside ? c.seg[si] : -1;
            target[j * pv + o] = s < 0 ? 0 : s; // RemoveLabelTansform(-1, 0)
          }
        }
      }
    }
    const sp = this.is2d ? P.slice(1) : P;
    return { data, target, shape: [batchSize, C, ...sp], targetShape: [batchSize, 1, ...sp], keys };
  }
}

/** A RandomState-driven source seeded deterministically (helper for the trainer). */
export function createPatchSampler(cases: TrainingCase[], opts: SamplerOptions, seed: number): PatchSampler {
  return new PatchSampler(cases, opts, new RandomState(seed));
}

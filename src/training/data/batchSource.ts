// The trainer's BatchSource (src/training/trainer: next / getState / setState) built from this area's
// nnUNetDataLoader-exact PatchSampler and nnU-Net augmentation. Plug in with
// `makeBatchSource: makeNnUNetBatchSource` (types are structural: no import from the trainer).
// nnU-Net: training/nnUNetTrainer/nnUNetTrainer.py get_dataloaders (training: initial_patch_size crop + augmentation;
// validation: patch-size crop, no augmentation, RemoveLabelTansform(-1 → 0)).
import { SegStudioError } from '../../core/errors.ts';
import { augmentSample, configureAugmentation } from './augment.ts';
import type { Sample } from './augment.ts';
import { RandomState, type RandomStateSnapshot } from './random.ts';
import { classKeyString, PatchSampler, sampleClassLocations, type ClassKey, type TrainingCase } from './sampler.ts';

/** A preprocessed case as the trainer holds it: data [C, d0, d1, d2]. */
export interface TrainerCase {
  id: string;
  data: Float32Array;
  /** [C, d0, d1, d2] */
  shape: number[];
  seg: Int16Array | Int32Array | Uint8Array;
  classLocations?: Map<number, Int32Array>;
}

export interface BatchSourceOptions {
  batchSize: number;
  /** network patch (2 or 3 entries) */
  patchSize: number[];
  /** crop before augmentation (nnU-Net's initial_patch_size); default patchSize */
  initialPatchSize?: number[];
  /** per-sample augmentation (initial crop in, patch-size sample out) */
  augment?: (s: Sample, rng: RandomState) => Sample;
  oversampleForeground: number;
  /** classes to oversample (label_manager.foreground_labels, or regions) */
  foregroundLabels: ClassKey[];
  /** use_mask_for_norm per channel (only used by the built-in nnU-Net augmentation) */
  useMaskForNorm?: boolean[];
}

export interface TrainerBatch {
  /** [N, C, ...patch] */
  data: Float32Array;
  /** [N, 1, ...patch] labels as floats (−1 mapped to 0) */
  target: Float32Array;
  shape: number[];
  targetShape: number[];
  keys: string[];
}

export class NnUNetBatchSource {
  readonly sampler: PatchSampler;
  private readonly augRng: RandomState;
  private readonly spatialPatch: number[];
  private readonly cropSpatial: number[];

  constructor(
    cases: TrainerCase[],
    readonly opts: BatchSourceOptions,
    seed: number,
  ) {
    if (cases.length === 0) throw new SegStudioError('training', 'no cases to sample patches from');
    const converted: TrainingCase[] = cases.map((c) => {
      if (c.shape.length !== 4) throw new SegStudioError('training', `case data must be [C, d0, d1, d2], got [${c.shape}]`, c.id);
      const seg = c.seg instanceof Int16Array ? c.seg : Int16Array.from(c.seg);
      let locs: Record<string, Int32Array>;
      if (c.classLocations) {
        locs = {};
        for (const k of opts.foregroundLabels) locs[classKeyString(k)] = (typeof k === 'number' && c.classLocations.get(k)) || new Int32Array(0);
      } else locs = sampleClassLocations(seg, opts.foregroundLabels);
      return { id: c.id, data: c.data, seg, channels: c.shape[0], shape: c.shape.slice(1), classLocations: locs };
    });
    const initial = opts.initialPatchSize ?? opts.patchSize;
    this.sampler = new PatchSampler(converted, {
      batchSize: opts.batchSize,
      patchSize: initial,
      finalPatchSize: opts.patchSize,
      oversampleForegroundPercent: opts.oversampleForeground,
      seed,
    });
    this.augRng = new RandomState((seed + 1) >>> 0);
    this.spatialPatch = [...opts.patchSize];
    this.cropSpatial = [...initial];
    if (!opts.augment && initial.join() !== opts.patchSize.join())
      throw new SegStudioError('training', 'an initial patch size larger than the patch needs an augmentation to crop it');
  }

  next(): TrainerBatch {
    const b = this.sampler.nextBatch();
    const B = this.opts.batchSize;
    const C = this.sampler.cases[0].channels;
    const pv = this.cropSpatial.reduce((x, y) => x * y, 1);
    const fv = this.spatialPatch.reduce((x, y) => x * y, 1);
    const data = new Float32Array(B * C * fv);
    const target = new Float32Array(B * fv);
    for (let j = 0; j < B; j++) {
      let image = b.data.subarray(j * C * pv, (j + 1) * C * pv);
      let seg = b.seg.subarray(j * pv, (j + 1) * pv);
      if (this.opts.augment) {
        const s = this.opts.augment({ image: image.slice(), seg: seg.slice(), channels: C, shape: [...this.cropSpatial] }, this.augRng);
        if (s.shape.join() !== this.spatialPatch.join())
          throw new SegStudioError('training', `augmentation returned [${s.shape}], expected [${this.spatialPatch}]`);
        image = s.image;
        seg = s.seg;
      }
      data.set(image, j * C * fv);
      for (let i = 0; i < fv; i++) target[j * fv + i] = seg[i] < 0 ? 0 : seg[i];
    }
    return { data, target, shape: [B, C, ...this.spatialPatch], targetShape: [B, 1, ...this.spatialPatch], keys: b.keys };
  }

  getState(): { sampler: RandomStateSnapshot; augment: RandomStateSnapshot } {
    return { sampler: this.sampler.rng.getState(), augment: this.augRng.getState() };
  }

  setState(s: unknown): void {
    const st = s as { sampler: RandomStateSnapshot; augment: RandomStateSnapshot };
    this.sampler.rng.setState(st.sampler);
    this.augRng.setState(st.augment);
  }
}

/** Factory with the trainer's makeBatchSource signature. */
export function makeNnUNetBatchSource(cases: TrainerCase[], opts: BatchSourceOptions, seed: number): NnUNetBatchSource {
  return new NnUNetBatchSource(cases, opts, seed);
}

/** Training source with nnU-Net's full augmentation for a configuration's patch size (no trainer needed). */
export function nnUNetTrainingSource(
  cases: TrainerCase[],
  patchSize: number[],
  batchSize: number,
  foregroundLabels: ClassKey[],
  seed: number,
  useMaskForNorm?: boolean[],
): NnUNetBatchSource {
  const setup = configureAugmentation(patchSize);
  return new NnUNetBatchSource(
    cases,
    {
      batchSize,
      patchSize,
      initialPatchSize: setup.initialPatchSize,
      oversampleForeground: 0.33,
      foregroundLabels,
      useMaskForNorm,
      augment: (s, rng) => augmentSample(s, rng, { patchSize, setup, useMaskForNorm }).sample,
    },
    seed,
  );
}

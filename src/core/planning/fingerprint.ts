// Dataset fingerprint exactly as nnU-Net computes it → dataset_fingerprint.json.
// nnU-Net: experiment_planning/dataset_fingerprint/fingerprint_extractor.py (DatasetFingerprintExtractor):
// - per case (cases in sorted identifier order): crop_to_nonzero (preprocessing/cropping/cropping.py),
//   spacing, shape after crop, relative size after cropping (voxels after / before);
// - foreground intensities = image values where seg > 0 inside the crop, sampled WITH replacement by a fresh
//   np.random.RandomState(1234) per case, channel after channel, num_samples = int(10e7 // num_cases) each;
// - per channel over the pooled samples: mean and std (numpy float32 pairwise summation), median and the 0.5 / 99.5
//   percentiles (numpy 'linear'), min, max.
// Memory: extractFingerprint does NOT materialize nnU-Net's 1e8 pooled samples (400 MB per channel): per case it keeps
// the smaller of (foreground values + draw counts) and (the drawn samples), and redraws them for the std pass
// (PooledForegroundStats) — same numbers, usually a few MB. analyzeCase/aggregateFingerprint materialize (tests).
import { SegStudioError, throwIfCancelled } from '../errors.ts';
import { product, type CancelSignal, type Image, type LabelMap, type ProgressFn } from '../types.ts';
import { cropToNonzero } from '../preprocessing/crop.ts';
import type { IntensityProperties } from './plans.ts';
import type { DatasetFingerprint } from './planner.ts';
import { RandomState } from '../../training/data/random.ts';
import { pyFloat, pyJsonDumps } from '../evaluation/pyjson.ts';
import { joinPath, listRawDataset, loadDatasetJson, type DatasetFiles, type DatasetJson, type RawCase } from './dataset.ts';
import { pairwiseSumF32 } from '../preprocessing/normalization.ts';

export type { DatasetFingerprint } from './planner.ts';

/** nnU-Net's num_foreground_voxels_for_intensitystats. */
export const NUM_FOREGROUND_VOXELS_FOR_INTENSITY_STATS = 10e7;

export interface CaseFingerprint {
  shapeAfterCrop: number[];
  spacing: number[];
  /** sampled foreground intensities per channel (empty when the case has no foreground) */
  samples: Float32Array[];
  relativeSizeAfterCropping: number;
  /** half-open crop box per spatial axis: [[lo, hi], …] */
  bbox: number[][];
}

/** analyze_case + collect_foreground_intensities for one case (crop by src/core/preprocessing's cropToNonzero). */
export function analyzeCase(image: Image, seg: LabelMap, numSamples: number, fileName?: string, out?: Float32Array[]): CaseFingerprint {
  const file = fileName ?? image.properties.fileName;
  if (image.shape.length !== 4) throw new SegStudioError('fingerprint', `image must have shape [C, z, y, x], got [${image.shape}]`, file);
  const data = image.data;
  for (let i = 0; i < data.length; i++) if (data[i] !== data[i]) throw new SegStudioError('fingerprint', 'image contains NaN values', file);
  const crop = cropToNonzero(image, seg);
  const c = image.shape[0];
  const cropped = crop.data.data;
  const segC = crop.seg.data;
  const n = segC.length;
  // foreground voxel offsets in C order of the cropped array (nnU-Net: images[i][seg[0] > 0])
  let nFg = 0;
  for (let i = 0; i < n; i++) if (segC[i] > 0) nFg++;
  const fg = new Int32Array(nFg);
  for (let i = 0, k = 0; i < n; i++) if (segC[i] > 0) fg[k++] = i;
  const rs = new RandomState(1234);
  const samples: Float32Array[] = [];
  for (let ch = 0; ch < c; ch++) {
    if (nFg === 0) {
      samples.push(new Float32Array(0));
      continue;
    }
    const dst = out?.[ch] ?? new Float32Array(numSamples);
    if (dst.length !== numSamples) throw new SegStudioError('fingerprint', 'sample buffer has the wrong size', file);
    const idx = new Int32Array(Math.min(numSamples, 1 << 16));
    const base = ch * n;
    for (let done = 0; done < numSamples; done += idx.length) {
      const len = Math.min(idx.length, numSamples - done);
      rs.fillInterval(nFg - 1, idx.subarray(0, len));
      for (let i = 0; i < len; i++) dst[done + i] = cropped[base + fg[idx[i]]];
    }
    samples.push(dst);
  }
  const shapeAfterCrop = crop.bbox.map(([a, b]) => b - a);
  return {
    shapeAfterCrop,
    spacing: [...image.properties.spacing],
    samples,
    relativeSizeAfterCropping: product(shapeAfterCrop) / product(crop.shapeBeforeCropping),
    bbox: crop.bbox.map(([a, b]) => [a, b]),
  };
}

// ------------------------------------------------------------------ numpy float32 statistics

const f32 = Math.fround;

// numpy's pairwise float32 summation lives with the normalization code (same numpy semantics).
export { pairwiseSumF32 };

/**
 * np.sum of a contiguous float32 array: the reduction runs over buffer-sized chunks (8192 elements, numpy's
 * default ufunc buffer), each summed pairwise, the chunk sums accumulated in order in float32.
 */
export function sumF32(a: Float32Array): number {
  const BUF = 8192;
  let r = 0;
  for (let i = 0; i < a.length; i += BUF) r = f32(r + pairwiseSumF32(a, i, Math.min(BUF, a.length - i)));
  return r;
}

/** np.mean of a float32 array (float32 result). */
export function meanF32(a: Float32Array): number {
  return f32(sumF32(a) / a.length);
}

/** np.std of a float32 array (ddof 0, float32 arithmetic as numpy's _var does). */
export function stdF32(a: Float32Array): number {
  const m = meanF32(a);
  // (a − mean)² in float32, summed chunk by chunk exactly as sumF32 would sum the whole squared array
  const BUF = 8192;
  const sq = new Float32Array(BUF);
  let r = 0;
  for (let i = 0; i < a.length; i += BUF) {
    const len = Math.min(BUF, a.length - i);
    for (let j = 0; j < len; j++) {
      const d = f32(a[i + j] - m);
      sq[j] = d * d; // Float32Array store rounds to float32
    }
    r = f32(r + pairwiseSumF32(sq, 0, len));
  }
  return f32(Math.sqrt(f32(r / a.length)));
}

/** Float32 bit pattern → unsigned key with the same order as the numbers (NaN excluded). */
function orderKey(bits: number): number {
  return (bits & 0x80000000 ? ~bits : bits | 0x80000000) >>> 0;
}

function keyToFloat(key: number): number {
  const bits = key & 0x80000000 ? key & 0x7fffffff : ~key;
  const u = new Uint32Array([bits >>> 0]);
  return new Float32Array(u.buffer)[0];
}

/**
 * Values at sorted positions `ks` of `a` (exact order statistics) by a two-level radix histogram over the
 * float32 bit patterns: two passes, no sorting, `a` left untouched.
 */
export function selectSorted(a: Float32Array, ks: number[]): number[] {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const hist = new Float64Array(65536);
  for (let i = 0; i < u.length; i++) hist[orderKey(u[i]) >>> 16]++;
  // top bin and rank inside it for each k
  const want = ks.map((k) => {
    let acc = 0;
    for (let b = 0; b < 65536; b++) {
      if (acc + hist[b] > k) return { bin: b, rank: k - acc };
      acc += hist[b];
    }
    throw new SegStudioError('fingerprint', `order statistic ${k} is outside the ${a.length} samples`);
  });
  const bins = [...new Set(want.map((w) => w.bin))];
  const slot = new Int32Array(65536).fill(-1);
  bins.forEach((b, i) => (slot[b] = i));
  const low = bins.map(() => new Float64Array(65536));
  for (let i = 0; i < u.length; i++) {
    const key = orderKey(u[i]);
    const s = slot[key >>> 16];
    if (s >= 0) low[s][key & 0xffff]++;
  }
  return want.map(({ bin, rank }) => {
    const h = low[slot[bin]];
    let acc = 0;
    for (let l = 0; l < 65536; l++) {
      acc += h[l];
      if (acc > rank) return keyToFloat(((bin << 16) | l) >>> 0);
    }
    throw new SegStudioError('fingerprint', 'internal error in order statistics');
  });
}

/** np.percentile(float32 array, qs) ('linear'): b − a in float32, the rest in float64 (numpy _lerp). */
export function percentilesF32(a: Float32Array, qs: number[]): number[] {
  const n = a.length;
  const ks: number[] = [];
  const meta = qs.map((q) => {
    const v = (n - 1) * (q / 100);
    const prev = Math.floor(v);
    const next = Math.min(prev + 1, n - 1);
    ks.push(prev, next);
    return { gamma: v - prev };
  });
  const vals = selectSorted(a, ks);
  return meta.map(({ gamma }, i) => {
    const lo = vals[2 * i];
    const hi = vals[2 * i + 1];
    const diff = f32(hi - lo);
    return gamma >= 0.5 ? hi - diff * (1 - gamma) : lo + diff * gamma;
  });
}

/** Statistics of pooled samples as nnU-Net computes them. */
export function intensityStatistics(pooled: Float32Array): IntensityProperties {
  if (pooled.length === 0)
    return { mean: NaN, median: NaN, std: NaN, min: NaN, max: NaN, percentile_99_5: NaN, percentile_00_5: NaN };
  const mean = meanF32(pooled);
  const std = stdF32(pooled);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < pooled.length; i++) {
    const v = pooled[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const [p005, median, p995] = percentilesF32(pooled, [0.5, 50, 99.5]);
  return { mean, median, std, min, max, percentile_99_5: p995, percentile_00_5: p005 };
}

/** Pools the per-case results (in the given order) into dataset_fingerprint.json content. */
export function aggregateFingerprint(cases: CaseFingerprint[], numChannels: number, pooledPerChannel?: Float32Array[]): DatasetFingerprint {
  if (cases.length === 0) throw new SegStudioError('fingerprint', 'the dataset has no training cases');
  const props: Record<string, IntensityProperties> = {};
  for (let ch = 0; ch < numChannels; ch++) {
    if (pooledPerChannel) {
      props[String(ch)] = intensityStatistics(pooledPerChannel[ch]);
      continue;
    }
    let total = 0;
    for (const c of cases) total += c.samples[ch]?.length ?? 0;
    const pooled = new Float32Array(total);
    let off = 0;
    for (const c of cases) {
      const s = c.samples[ch];
      if (!s) continue;
      pooled.set(s, off);
      off += s.length;
    }
    props[String(ch)] = intensityStatistics(pooled);
  }
  const rel = cases.map((c) => c.relativeSizeAfterCropping).sort((a, b) => a - b);
  const m = rel.length;
  const median = m % 2 ? rel[(m - 1) / 2] : (rel[m / 2 - 1] + rel[m / 2]) / 2;
  return {
    spacings: cases.map((c) => c.spacing),
    shapes_after_crop: cases.map((c) => c.shapeAfterCrop),
    foreground_intensity_properties_per_channel: props,
    median_relative_size_after_cropping: median,
  };
}


// ------------------------------------------------------------------ streaming pooled statistics (low memory, exact)

/** np.sum over a stream, exactly as over the concatenated float32 array (8192-chunks, pairwise inside). */
export class StreamingSumF32 {
  private readonly buf = new Float32Array(8192);
  private fill = 0;
  private r = 0;
  count = 0;
  push(v: number): void {
    this.buf[this.fill++] = v;
    this.count++;
    if (this.fill === 8192) {
      this.r = f32(this.r + pairwiseSumF32(this.buf, 0, 8192));
      this.fill = 0;
    }
  }
  /** push(a[0]) … push(a[len − 1]) */
  pushBlock(a: Float32Array, len = a.length): void {
    let i = 0;
    while (i < len) {
      const take = Math.min(8192 - this.fill, len - i);
      this.buf.set(a.subarray(i, i + take), this.fill);
      this.fill += take;
      this.count += take;
      i += take;
      if (this.fill === 8192) {
        this.r = f32(this.r + pairwiseSumF32(this.buf, 0, 8192));
        this.fill = 0;
      }
    }
  }
  total(): number {
    return this.fill ? f32(this.r + pairwiseSumF32(this.buf, 0, this.fill)) : this.r;
  }
}

interface StoredCase {
  /** foreground values per channel (fg mode) */
  fg: Float32Array[] | null;
  /** draw counts per foreground voxel per channel (fg mode) */
  counts: Uint32Array[] | null;
  /** the samples themselves per channel (sample mode: cheaper when the case has many foreground voxels) */
  samples: Float32Array[] | null;
}

/**
 * The pooled foreground statistics of nnU-Net's fingerprint without materializing the pooled samples.
 * Per case, whichever is smaller is kept: the foreground values plus a draw count per voxel (8 B per foreground
 * voxel) or the drawn samples (4 B per sample). The mean is summed while drawing (numpy's chunked float32 order),
 * the std in a second pass that redraws the same samples (RandomState(1234) per case), order statistics from a
 * weighted radix histogram. Results are identical to materializing the samples.
 */
export class PooledForegroundStats {
  private readonly cases: StoredCase[] = [];
  private readonly sums: StreamingSumF32[];

  constructor(
    readonly channels: number,
    readonly samplesPerCase: number,
  ) {
    this.sums = Array.from({ length: channels }, () => new StreamingSumF32());
  }

  /** fgValues[ch] = the case's foreground values (C order of the cropped case) for each channel. */
  addCase(fgValues: Float32Array[]): void {
    const nFg = fgValues[0]?.length ?? 0;
    if (nFg === 0) {
      this.cases.push({ fg: null, counts: null, samples: null });
      return;
    }
    const perCase = this.samplesPerCase;
    const fgMode = 2 * nFg <= perCase;
    const rs = new RandomState(1234);
    const idx = new Int32Array(Math.min(perCase, 1 << 16));
    const blk = new Float32Array(idx.length);
    const stored: StoredCase = fgMode
      ? { fg: fgValues, counts: fgValues.map(() => new Uint32Array(nFg)), samples: null }
      : { fg: null, counts: null, samples: fgValues.map(() => new Float32Array(perCase)) };
    for (let ch = 0; ch < this.channels; ch++) {
      const vals = fgValues[ch];
      const sum = this.sums[ch];
      const counts = stored.counts?.[ch];
      const samples = stored.samples?.[ch];
      for (let done = 0; done < perCase; done += idx.length) {
        const len = Math.min(idx.length, perCase - done);
        rs.fillInterval(nFg - 1, idx.subarray(0, len));
        for (let i = 0; i < len; i++) blk[i] = vals[idx[i]];
        if (counts) for (let i = 0; i < len; i++) counts[idx[i]]++;
        else samples!.set(blk.subarray(0, len), done);
        sum.pushBlock(blk, len);
      }
    }
    this.cases.push(stored);
  }

  /** Redraws (or replays) every sample of channel ch in the pooled order, block by block. */
  private forEachSampleBlock(fn: (block: Float32Array, len: number) => void, ch: number): void {
    const perCase = this.samplesPerCase;
    const idx = new Int32Array(Math.min(perCase, 1 << 16));
    const blk = new Float32Array(idx.length);
    for (const c of this.cases) {
      if (c.samples) {
        fn(c.samples[ch], c.samples[ch].length);
      } else if (c.fg) {
        const rs = new RandomState(1234);
        const nFg = c.fg[0].length;
        // the draws of earlier channels come first in the case's stream
        for (let skip = 0; skip < ch; skip++)
          for (let done = 0; done < perCase; done += idx.length) rs.fillInterval(nFg - 1, idx.subarray(0, Math.min(idx.length, perCase - done)));
        const vals = c.fg[ch];
        for (let done = 0; done < perCase; done += idx.length) {
          const len = Math.min(idx.length, perCase - done);
          rs.fillInterval(nFg - 1, idx.subarray(0, len));
          for (let i = 0; i < len; i++) blk[i] = vals[idx[i]];
          fn(blk, len);
        }
      }
    }
  }

  /** (value, weight) entries of channel ch: fg values with their draw counts, or samples with weight 1. */
  private forEachEntry(fn: (v: number, w: number) => void, ch: number): void {
    for (const c of this.cases) {
      if (c.samples) {
        const s = c.samples[ch];
        for (let i = 0; i < s.length; i++) fn(s[i], 1);
      } else if (c.fg) {
        const v = c.fg[ch];
        const w = c.counts![ch];
        for (let i = 0; i < v.length; i++) if (w[i]) fn(v[i], w[i]);
      }
    }
  }

  statistics(ch: number): IntensityProperties {
    const n = this.sums[ch].count;
    if (n === 0) return { mean: NaN, median: NaN, std: NaN, min: NaN, max: NaN, percentile_99_5: NaN, percentile_00_5: NaN };
    const mean = f32(this.sums[ch].total() / n);
    const sq = new StreamingSumF32();
    let sqBlk = new Float32Array(0);
    this.forEachSampleBlock((b, len) => {
      if (sqBlk.length < len) sqBlk = new Float32Array(len);
      for (let i = 0; i < len; i++) {
        const d = f32(b[i] - mean);
        sqBlk[i] = d * d; // rounded to float32 by the store
      }
      sq.pushBlock(sqBlk, len);
    }, ch);
    const std = f32(Math.sqrt(f32(sq.total() / n)));
    let min = Infinity;
    let max = -Infinity;
    this.forEachEntry((v) => {
      if (v < min) min = v;
      if (v > max) max = v;
    }, ch);
    // order statistics by a two-level weighted radix histogram over the float32 bit patterns
    const qs = [0.5, 50, 99.5];
    const ks: number[] = [];
    const gammas = qs.map((q) => {
      const v = (n - 1) * (q / 100);
      const prev = Math.floor(v);
      ks.push(prev, Math.min(prev + 1, n - 1));
      return v - prev;
    });
    const vals = weightedSelect((fn) => this.forEachEntry(fn, ch), ks);
    const [p005, median, p995] = gammas.map((g, i) => {
      const lo = vals[2 * i];
      const hi = vals[2 * i + 1];
      const diff = f32(hi - lo);
      return g >= 0.5 ? hi - diff * (1 - g) : lo + diff * g;
    });
    return { mean, median, std, min, max, percentile_99_5: p995, percentile_00_5: p005 };
  }
}

const F32_BUF = new Float32Array(1);
const U32_VIEW = new Uint32Array(F32_BUF.buffer);

/** Order statistics (sorted positions ks) of a weighted multiset given by an iterator of (value, weight). */
export function weightedSelect(iterate: (fn: (v: number, w: number) => void) => void, ks: number[]): number[] {
  const hist = new Float64Array(65536);
  iterate((v, w) => {
    F32_BUF[0] = v;
    hist[orderKey(U32_VIEW[0]) >>> 16] += w;
  });
  const want = ks.map((k) => {
    let acc = 0;
    for (let b = 0; b < 65536; b++) {
      if (acc + hist[b] > k) return { bin: b, rank: k - acc };
      acc += hist[b];
    }
    throw new SegStudioError('fingerprint', `order statistic ${k} is outside the samples`);
  });
  const bins = [...new Set(want.map((w) => w.bin))];
  const slot = new Int32Array(65536).fill(-1);
  bins.forEach((b, i) => (slot[b] = i));
  const low = bins.map(() => new Float64Array(65536));
  iterate((v, w) => {
    F32_BUF[0] = v;
    const key = orderKey(U32_VIEW[0]);
    const s = slot[key >>> 16];
    if (s >= 0) low[s][key & 0xffff] += w;
  });
  return want.map(({ bin, rank }) => {
    const h = low[slot[bin]];
    let acc = 0;
    for (let l = 0; l < 65536; l++) {
      acc += h[l];
      if (acc > rank) return keyToFloat(((bin << 16) | l) >>> 0);
    }
    throw new SegStudioError('fingerprint', 'internal error in order statistics');
  });
}

/** Geometry of one case plus its foreground values per channel (what the pooled statistics need). */
export function caseGeometryAndForeground(
  image: Image,
  seg: LabelMap,
  fileName?: string,
): { geometry: CaseFingerprint; fgValues: Float32Array[] } {
  const file = fileName ?? image.properties.fileName;
  if (image.shape.length !== 4) throw new SegStudioError('fingerprint', `image must have shape [C, z, y, x], got [${image.shape}]`, file);
  const data = image.data;
  for (let i = 0; i < data.length; i++) if (data[i] !== data[i]) throw new SegStudioError('fingerprint', 'image contains NaN values', file);
  const crop = cropToNonzero(image, seg);
  const cropped = crop.data.data;
  const segC = crop.seg.data;
  const n = segC.length;
  let nFg = 0;
  for (let i = 0; i < n; i++) if (segC[i] > 0) nFg++;
  const fgValues = Array.from({ length: image.shape[0] }, (_, ch) => {
    const v = new Float32Array(nFg);
    for (let i = 0, k = 0; i < n; i++) if (segC[i] > 0) v[k++] = cropped[ch * n + i];
    return v;
  });
  const shapeAfterCrop = crop.bbox.map(([a, b]) => b - a);
  return {
    geometry: {
      shapeAfterCrop,
      spacing: [...image.properties.spacing],
      samples: [],
      relativeSizeAfterCropping: product(shapeAfterCrop) / product(crop.shapeBeforeCropping),
      bbox: crop.bbox.map(([a, b]) => [a, b]),
    },
    fgValues,
  };
}

export interface FingerprintSource {
  /** training case identifiers (any order: processed in sorted order as nnU-Net does) */
  caseIds: string[];
  numChannels: number;
  /** loads one case: image [C, z, y, x] and its segmentation */
  load(caseId: string): Promise<{ image: Image; seg: LabelMap; fileName?: string }>;
}

export interface FingerprintOptions {
  /** total foreground samples over the dataset (nnU-Net: 10e7); lower only to save memory */
  numForegroundVoxels?: number;
  onProgress?: ProgressFn;
  signal?: CancelSignal;
}

/** DatasetFingerprintExtractor.run: every training case → dataset_fingerprint.json content. */
export async function extractFingerprint(src: FingerprintSource, opts: FingerprintOptions = {}): Promise<DatasetFingerprint> {
  const ids = [...src.caseIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (ids.length === 0) throw new SegStudioError('fingerprint', 'the dataset has no training cases');
  const total = opts.numForegroundVoxels ?? NUM_FOREGROUND_VOXELS_FOR_INTENSITY_STATS;
  const perCase = Math.floor(total / ids.length);
  const results: CaseFingerprint[] = [];
  const stats = new PooledForegroundStats(src.numChannels, perCase);
  for (let i = 0; i < ids.length; i++) {
    throwIfCancelled(opts.signal);
    const { image, seg, fileName } = await src.load(ids[i]);
    if (image.shape[0] !== src.numChannels)
      throw new SegStudioError('fingerprint', `expected ${src.numChannels} channel(s), got ${image.shape[0]}`, fileName ?? ids[i]);
    const { geometry, fgValues } = caseGeometryAndForeground(image, seg, fileName ?? ids[i]);
    stats.addCase(fgValues);
    results.push(geometry);
    opts.onProgress?.(i + 1, ids.length, 'fingerprint');
  }
  throwIfCancelled(opts.signal);
  const fp = aggregateFingerprint(results, 0);
  for (let ch = 0; ch < src.numChannels; ch++) fp.foreground_intensity_properties_per_channel[String(ch)] = stats.statistics(ch);
  return fp;
}

/**
 * dataset_fingerprint.json text as nnU-Net's save_json (indent 4, sorted keys, Python floats) writes it.
 * `integerSpacings`: nnU-Net's NaturalImage2DIO (PNG) reports the spacing (999, 1, 1) as Python ints.
 */
export function fingerprintToJson(fp: DatasetFingerprint, opts: { integerSpacings?: boolean } = {}): string {
  const props: Record<string, Record<string, unknown>> = {};
  for (const [k, v] of Object.entries(fp.foreground_intensity_properties_per_channel))
    props[k] = Object.fromEntries(Object.entries(v).map(([kk, vv]) => [kk, pyFloat(vv as number)]));
  return pyJsonDumps({
    spacings: opts.integerSpacings ? fp.spacings : fp.spacings.map((s) => s.map(pyFloat)),
    shapes_after_crop: fp.shapes_after_crop,
    foreground_intensity_properties_per_channel: props,
    median_relative_size_after_cropping: pyFloat(fp.median_relative_size_after_cropping),
  });
}

// ------------------------------------------------------------------ whole raw dataset (browser and Node)

export interface DatasetFingerprintOptions extends FingerprintOptions {
  /** reads one image file (NIfTI / PNG) into [C, z, y, x]; e.g. io's readImageFile */
  readImage: (bytes: Uint8Array, fileName: string) => Image;
}

/** Reads one training case: channels stacked in order, the label map as integers on the same grid. */
export async function loadRawCase(
  files: DatasetFiles,
  c: RawCase,
  readImage: (bytes: Uint8Array, fileName: string) => Image,
): Promise<{ image: Image; seg: LabelMap; fileName: string }> {
  if (!c.label) throw new SegStudioError('fingerprint', `training case '${c.id}' has no label file`, c.images[0]);
  const chans = await Promise.all(c.images.map(async (p) => readImage(await files.read(p), p)));
  const first = chans[0];
  const spatial = first.shape.slice(1);
  const n = product(spatial);
  let total = 0;
  for (let i = 0; i < chans.length; i++) {
    const s = chans[i].shape.slice(1);
    if (s.some((v, k) => v !== spatial[k]))
      throw new SegStudioError('fingerprint', `channel shape [${s}] differs from channel 0 [${spatial}]`, c.images[i]);
    total += chans[i].shape[0];
  }
  const data = new Float32Array(total * n);
  let off = 0;
  for (const ch of chans) {
    data.set(ch.data, off);
    off += ch.data.length;
  }
  const segImg = readImage(await files.read(c.label), c.label);
  const segShape = segImg.shape.slice(1);
  if (segImg.shape[0] !== 1 || segShape.some((v, k) => v !== spatial[k]))
    throw new SegStudioError('fingerprint', `label shape [${segImg.shape}] does not match the image [${spatial}]`, c.label);
  const seg = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = segImg.data[i];
    if (!Number.isInteger(v)) throw new SegStudioError('fingerprint', `label map holds a non-integer value (${v})`, c.label);
    seg[i] = v;
  }
  return {
    image: { data, shape: [total, ...spatial], properties: { ...first.properties, fileName: c.images[0] } },
    seg: { data: seg, shape: spatial },
    fileName: c.images[0],
  };
}

/**
 * nnUNetv2_extract_fingerprint for a raw dataset folder (any DatasetFiles: Node folder, dropped folder, zip):
 * dataset.json + imagesTr/labelsTr → dataset_fingerprint.json content.
 */
export async function fingerprintRawDataset(
  files: DatasetFiles,
  root: string,
  opts: DatasetFingerprintOptions,
): Promise<{ fingerprint: DatasetFingerprint; datasetJson: DatasetJson; caseIds: string[] }> {
  const ds = await loadDatasetJson(files, root);
  const layout = await listRawDataset(files, ds, root);
  const bad = layout.problems.find((p) => p.severity === 'error');
  if (bad) throw new SegStudioError('dataset', bad.problem + (bad.case ? ` (case ${bad.case})` : ''), bad.file ?? joinPath(root, 'dataset.json'));
  const byId = new Map(layout.training.map((c) => [c.id, c]));
  const numChannels = Object.keys(ds.channel_names).length;
  const fingerprint = await extractFingerprint(
    { caseIds: [...byId.keys()], numChannels, load: (id) => loadRawCase(files, byId.get(id)!, opts.readImage) },
    opts,
  );
  return { fingerprint, datasetJson: ds, caseIds: [...byId.keys()] };
}

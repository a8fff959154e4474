// Test inputs made by the tests themselves: a small NIfTI (written with src/core/io's writer, oblique-free
// but flipped affine so orientation handling is exercised), a PNG, and a tiny 2D model bundle.
import fs from 'node:fs';
import path from 'node:path';
import { encode } from 'fast-png';
import { makePhantom } from '../src/core/demo/phantom.ts';
import { encodeNifti1 } from '../src/core/demo/nifti1.ts';
import { createNiftiHeader, writeNifti } from '../src/core/io/index.ts';
import { OnnxGraphBuilder } from '../src/core/inference/onnx/index.ts';
import { createBundle } from '../src/core/inference/bundle.ts';
import type { Plans } from '../src/core/planning/plans.ts';
import { repoRoot } from './helpers.ts';

/** 32 × 32 × 24 phantom at 1.5 mm, x axis flipped (L→R decreasing), origin off-centre; gzip NIfTI-1. */
export function smallNifti(name = 'small_case.nii.gz', seed = 7): { name: string; bytes: Uint8Array; affine: number[][]; dims: number[] } {
  const p = makePhantom({ size: [32, 32, 24], spacingMm: 1.5, seed });
  const affine = [
    [-1.5, 0, 0, 30.25],
    [0, 1.5, 0, -20.5],
    [0, 0, 1.5, -12],
    [0, 0, 0, 1],
  ];
  const h = createNiftiHeader({ dims: [32, 32, 24], spacingXYZ: [1.5, 1.5, 1.5], affine, datatype: 'float32' });
  const bytes = writeNifti(h, p.image.data, { fileName: name });
  return { name, bytes, affine, dims: [32, 32, 24] };
}

/** The demo volume exactly as the page builds it (phantom → NIfTI bytes). */
export function demoNiftiBytes(): Uint8Array {
  const p = makePhantom();
  const [, nz, ny, nx] = p.image.shape;
  return encodeNifti1(p.image.data, [nx, ny, nz], p.image.properties.affine!, 'SegStudio synthetic phantom');
}

export function demoModelFiles(): Map<string, Uint8Array> {
  const dir = path.join(repoRoot, 'public/models/demo');
  const files = new Map<string, Uint8Array>();
  for (const f of fs.readdirSync(dir)) files.set(f, new Uint8Array(fs.readFileSync(path.join(dir, f))));
  return files;
}

/** 8-bit grey PNG, 48 rows × 64 columns: a bright disc and a bright bar on a dark noisy background. */
export function smallPng(name = 'cells.png'): { name: string; bytes: Uint8Array; rows: number; cols: number } {
  const rows = 48;
  const cols = 64;
  const data = new Uint8Array(rows * cols);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      let v = 40 + Math.round(rnd() * 30);
      if ((r - 20) ** 2 + (c - 18) ** 2 < 100) v = 200 + Math.round(rnd() * 40);
      if (r >= 30 && r < 38 && c >= 34 && c < 58) v = 170 + Math.round(rnd() * 40);
      data[r * cols + c] = v;
    }
  }
  const bytes = encode({ width: cols, height: rows, data, depth: 8, channels: 1 });
  return { name, bytes, rows, cols };
}

/**
 * A tiny 2D nnU-Net-style bundle: Conv 3×3 (1 → 2), label 1 where the 3×3 mean intensity exceeds 128.
 * `thresholds` gives one fold per entry (fold i: label 1 above thresholds[i]).
 */
export async function tiny2dBundle(thresholds: number[] = [128]): Promise<Map<string, Uint8Array>> {
  const fold = (t: number) => {
    const b = new OnnxGraphBuilder('tiny2d');
    const x = b.addInput('input', ['N', 1, 'H', 'W']);
    const w = new Float32Array(18);
    for (let i = 9; i < 18; i++) w[i] = 0.1 / 9;
    const y = b.conv(x, w, [2, 1, 3, 3], Float32Array.from([0, -0.1 * t]));
    b.addOutput(y, ['N', 2, 'H', 'W'], 'float32', 'logits');
    return b.toBytes();
  };
  const res = { is_seg: false, order: 1, order_z: 0, force_separate_z: null };
  const plans: Plans = {
    dataset_name: 'Dataset998_Tiny2D',
    plans_name: 'nnUNetPlans',
    original_median_spacing_after_transp: [999, 1, 1],
    original_median_shape_after_transp: [1, 48, 64],
    image_reader_writer: 'NaturalImage2DIO',
    transpose_forward: [0, 1, 2],
    transpose_backward: [0, 1, 2],
    configurations: {
      '2d': {
        batch_size: 12,
        patch_size: [64, 64],
        median_image_size_in_voxels: [48, 64],
        spacing: [1, 1],
        normalization_schemes: ['NoNormalization'],
        use_mask_for_norm: [false],
        resampling_fn_data_kwargs: { ...res, order: 3 },
        resampling_fn_seg_kwargs: { ...res, is_seg: true },
        resampling_fn_probabilities_kwargs: res,
        batch_dice: true,
      },
    },
    experiment_planner_used: 'e2e test',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: {
      '0': { max: 255, mean: 190, median: 190, min: 0, percentile_00_5: 160, percentile_99_5: 240, std: 20 },
    },
  };
  return createBundle({
    plans,
    dataset: { channel_names: { '0': 'grey' }, labels: { background: 0, bright: 1 }, numTraining: 0, file_ending: '.png' },
    configuration: '2d',
    folds: new Map(thresholds.map((t, i) => [i, fold(t)])),
  });
}

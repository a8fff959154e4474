// A tiny analytic intensity network for the demo phantom (no training), used as a small, fast bundle by the
// fuzzer and by tests. It is NOT the shipped demo model any more: public/models/demo/ holds a network trained
// by SegStudio's own trainer (scripts/train-demo.ts, src/core/demo/demoTraining.ts).
// Two layers whose weights are set analytically to segment the phantom by local mean intensity:
//   1. Conv 3×3×3, 1 → 1: centre-weighted smoothing (centre 8/14, the 6 face neighbours 1/14 each).
//   2. Conv 1×1×1, 1 → K: logits of a 1-D Gaussian class model with means μ_k and a shared σ:
//      logit_k(s) = s·μ_k/σ² − μ_k²/(2σ²). Softmax over k equals the Gaussian posterior (the −s²/(2σ²) term
//      common to all classes cancels), so argmax = the nearest class mean.
import { OnnxGraphBuilder } from '../inference/onnx/index.ts';
import { createBundle, type DatasetJson } from '../inference/bundle.ts';
import type { Plans } from '../planning/plans.ts';
import { PHANTOM_INTENSITY, PHANTOM_LABELS } from './phantom.ts';

/** Class means (phantom units) in label order: background (air/scalp/skull), brain, ventricles, lesion. */
export const DEMO_CLASS_MEANS = [290, 550, 1000, 780];
export const DEMO_SIGMA = 80;
export const DEMO_PATCH_SIZE = [32, 48, 48];

export function demoNetworkBytes(): Uint8Array {
  const b = new OnnxGraphBuilder('segstudio_demo_intensity_net');
  const x = b.addInput('input', ['N', 1, 'D', 'H', 'W']);
  const k = new Float32Array(27);
  const centre = 13;
  k[centre] = 8 / 14;
  for (const off of [1, 3, 9]) {
    k[centre - off] = 1 / 14;
    k[centre + off] = 1 / 14;
  }
  const s = b.conv(x, k, [1, 1, 3, 3, 3], null, { name: 'smooth' });
  const K = DEMO_CLASS_MEANS.length;
  const s2 = DEMO_SIGMA * DEMO_SIGMA;
  const w = Float32Array.from(DEMO_CLASS_MEANS, (m) => m / s2);
  const bias = Float32Array.from(DEMO_CLASS_MEANS, (m) => -(m * m) / (2 * s2));
  const logits = b.conv(s, w, [K, 1, 1, 1, 1], bias, { name: 'classify' });
  b.addOutput(logits, ['N', K, 'D', 'H', 'W'], 'float32', 'logits');
  return b.toBytes({
    docString: 'SegStudio demo model: analytic intensity classifier for the synthetic phantom. Synthetic, not for clinical use.',
    metadata: { segstudio_demo: '1' },
  });
}

export function demoPlans(): Plans {
  const sp = [1.5, 1.5, 1.5];
  const order1 = { is_seg: false, order: 3, order_z: 0, force_separate_z: null };
  return {
    dataset_name: 'Dataset999_SegStudioDemoPhantom',
    plans_name: 'nnUNetPlans',
    original_median_spacing_after_transp: sp,
    original_median_shape_after_transp: [48, 64, 64],
    image_reader_writer: 'SimpleITKIO',
    transpose_forward: [0, 1, 2],
    transpose_backward: [0, 1, 2],
    configurations: {
      '3d_fullres': {
        data_identifier: 'nnUNetPlans_3d_fullres',
        preprocessor_name: 'DefaultPreprocessor',
        batch_size: 2,
        patch_size: DEMO_PATCH_SIZE,
        median_image_size_in_voxels: [44, 60, 60],
        spacing: sp,
        normalization_schemes: ['NoNormalization'],
        use_mask_for_norm: [false],
        resampling_fn_data: 'resample_data_or_seg_to_shape',
        resampling_fn_seg: 'resample_data_or_seg_to_shape',
        resampling_fn_probabilities: 'resample_data_or_seg_to_shape',
        resampling_fn_data_kwargs: order1,
        resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
        resampling_fn_probabilities_kwargs: { is_seg: false, order: 1, order_z: 0, force_separate_z: null },
        batch_dice: false,
      },
    },
    experiment_planner_used: 'SegStudio src/core/demo/demoModel.ts (analytic weights, no training)',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: {
      '0': {
        max: 1200,
        mean: 560,
        median: 520,
        min: 1,
        percentile_00_5: 420,
        percentile_99_5: 1060,
        std: 120,
      },
    },
  };
}

export function demoDataset(): DatasetJson {
  return {
    channel_names: { '0': 'T2 (synthetic)' },
    labels: { ...PHANTOM_LABELS },
    numTraining: 0,
    file_ending: '.nii.gz',
    name: 'SegStudio demo phantom',
    description: 'Synthetic head-like phantom generated in code by SegStudio. Not for clinical use.',
  };
}

export function demoModelCard(): Record<string, unknown> {
  return {
    name: 'SegStudio demo (synthetic phantom)',
    version: '1',
    summary: 'Finds brain, ventricles and a lesion in the synthetic demo phantom by local mean intensity. Weights set analytically, not trained.',
    intended_use: 'Demonstrating SegStudio offline. Synthetic, not for clinical use.',
    not_for_clinical_use: true,
    input: { channels: { '0': 'T2 (synthetic)' }, spacing_mm: [1.5, 1.5, 1.5], normalization: 'NoNormalization' },
    labels: { ...PHANTOM_LABELS },
    class_means: DEMO_CLASS_MEANS,
    phantom_intensities: PHANTOM_INTENSITY,
    architecture: 'Conv3d 3×3×3 (1→1, fixed smoothing) → Conv3d 1×1×1 (1→4, Gaussian class logits)',
    training: 'none (analytic weights)',
  };
}

const CARD_MD = `# SegStudio demo model

**Synthetic, not for clinical use.**

- Task: brain (1), ventricles (2) and lesion (3) in SegStudio's synthetic head phantom (generated in code).
- Network: Conv3d 3×3×3 smoothing followed by a 1×1×1 convolution holding a Gaussian intensity class model.
  Weights are set analytically in \`src/core/demo/demoModel.ts\`; nothing was trained and no patient data was used.
- Input: one channel, 1.5 mm isotropic, no intensity normalisation (phantom units).
- Limitations: it only knows the phantom's intensity bands; on real scans its output is meaningless.
`;

/** The analytic bundle's files (name → bytes), manifest included (fuzz corpus, tests). */
export async function buildDemoBundle(): Promise<Map<string, Uint8Array>> {
  const enc = new TextEncoder();
  return createBundle({
    plans: demoPlans(),
    dataset: demoDataset(),
    configuration: '3d_fullres',
    folds: new Map([[0, demoNetworkBytes()]]),
    extraFiles: new Map([
      ['model-card.json', enc.encode(JSON.stringify(demoModelCard(), null, 2) + '\n')],
      ['model-card.md', enc.encode(CARD_MD)],
    ]),
  });
}

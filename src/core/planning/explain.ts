// Plain-language summaries of nnU-Net plans for the page (Train view) and the CLI.
import { resolveConfiguration, type ConfigurationPlans, type Plans } from './plans.ts';
import type { DatasetFingerprint } from './planner.ts';

const fmt = (v: number, d = 3) => (typeof v === 'number' ? String(+v.toFixed(d)) : String(v));
const dims = (a: readonly number[], d = 3) => a.map((v) => fmt(v, d)).join(' × ');
const sig = (v: number) => (Number.isFinite(v) ? String(+v.toPrecision(5)) : String(v));

const NORM_WORDS: Record<string, string> = {
  CTNormalization: 'CT normalization (clipped to the foreground 0.5–99.5 percentiles, dataset mean/std)',
  ZScoreNormalization: 'z-score per image',
  NoNormalization: 'no normalization',
  RescaleTo01Normalization: 'rescaled to 0–1',
  RGBTo01Normalization: 'RGB divided by 255',
};

/** One paragraph per configuration, e.g. for a plans table with a "what does this mean" column. */
export function explainConfiguration(plans: Plans, name: string): string {
  let c: ConfigurationPlans;
  try {
    c = resolveConfiguration(plans, name);
  } catch (e) {
    return `${name}: ${(e as Error).message}`;
  }
  if (!Array.isArray(c.patch_size) || !Array.isArray(c.spacing) || !Array.isArray(c.median_image_size_in_voxels))
    return `${name}: incomplete configuration (no patch_size, spacing or median_image_size_in_voxels)`;
  try {
    return describe(c, name);
  } catch (e) {
    // A hand-edited or corrupt plans file (wrong types, null entries): say so instead of throwing (fuzz finding).
    return `${name}: malformed configuration (${(e as Error).message})`;
  }
}

function describe(c: ConfigurationPlans, name: string): string {
  const is3d = c.patch_size.length === 3;
  const a = c.architecture?.arch_kwargs;
  const parts: string[] = [];
  const kind = name === '3d_lowres' ? '3D U-Net on downsampled images' : name === '3d_cascade_fullres' ? '3D U-Net at full resolution that also sees the 3d_lowres prediction' : is3d ? '3D U-Net at full resolution' : '2D U-Net on single slices';
  parts.push(`${name}: ${kind}.`);
  parts.push(`Images are resampled to ${dims(c.spacing)} mm voxels (median image ${dims(c.median_image_size_in_voxels, 1)} voxels).`);
  const pv = c.patch_size.reduce((x, y) => x * y, 1);
  const mv = c.median_image_size_in_voxels.reduce((x, y) => x * y, 1);
  parts.push(
    `It trains on patches of ${c.patch_size.join(' × ')} voxels (${fmt(Math.min(100, (100 * pv) / mv), 0)} % of a median image), ${c.batch_size} per step.`,
  );
  if (a) {
    const down = a.strides.slice(1).map((s) => s.filter((v) => v > 1).length).filter((n) => n > 0).length;
    parts.push(
      `The network has ${a.n_stages} resolution stages (${down} downsamplings), ${a.features_per_stage[0]} to ${a.features_per_stage[a.n_stages - 1]} feature maps, ` +
        `${a.n_conv_per_stage[0]} convolutions per stage` +
        (a.kernel_sizes.some((k) => k.some((v) => v === 1)) ? '; early stages use in-plane kernels only (anisotropic spacing).' : '.'),
    );
  }
  const norms = [...new Set(c.normalization_schemes as string[])].map((n) => NORM_WORDS[n] ?? n);
  parts.push(`Intensities: ${norms.join(', ')}${c.use_mask_for_norm.some(Boolean) ? ', computed inside the nonzero region only' : ''}.`);
  parts.push(c.batch_dice ? 'Dice loss is computed over the whole batch.' : 'Dice loss is computed per sample.');
  return parts.join(' ');
}

/** Short summary of a fingerprint: cases, median spacing/shape, intensity range of the foreground. */
export function explainFingerprint(fp: DatasetFingerprint): string {
  const n = fp.spacings.length;
  const med = (k: 0 | 1 | 2, rows: number[][]) => {
    const v = rows.map((r) => r[k]).sort((x, y) => x - y);
    return n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  };
  const sp = [0, 1, 2].map((k) => med(k as 0 | 1 | 2, fp.spacings));
  const sh = [0, 1, 2].map((k) => med(k as 0 | 1 | 2, fp.shapes_after_crop));
  const ch = Object.entries(fp.foreground_intensity_properties_per_channel).map(
    ([k, p]) => `channel ${k}: foreground ${sig(p.percentile_00_5)}…${sig(p.percentile_99_5)} (mean ${sig(p.mean)}, sd ${sig(p.std)})`,
  );
  return (
    `${n} training case${n === 1 ? '' : 's'}; median spacing ${dims(sp)} mm, median size after cropping ${dims(sh, 1)} voxels; ` +
    `cropping keeps ${fmt(100 * fp.median_relative_size_after_cropping, 0)} % of the median image. ${ch.join('; ')}.`
  );
}

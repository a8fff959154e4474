// Region-based training targets: one binary channel per region (nnU-Net: training/nnUNetTrainer/nnUNetTrainer.py
// adds ConvertSegmentationToRegionsTransform with label_manager.foreground_regions, plus the ignore label as a last
// "region" when present; batchgeneratorsv2 transforms/utils/seg_to_regions.py: channel i = seg ∈ region i).
import { SegStudioError } from '../../core/errors.ts';

/** seg (one channel, any integer labels) → Uint8Array [R, ...spatial] with 1 where the label belongs to region r. */
export function segmentationToRegions(seg: ArrayLike<number>, regions: (number | number[])[]): Uint8Array {
  if (regions.length === 0) throw new SegStudioError('regions', 'no regions given');
  const n = seg.length;
  const out = new Uint8Array(regions.length * n);
  regions.forEach((r, k) => {
    const set = new Set(Array.isArray(r) ? r : [r]);
    const off = k * n;
    for (let i = 0; i < n; i++) if (set.has(seg[i])) out[off + i] = 1;
  });
  return out;
}

// A quick, conservative estimate of a segmentation's work before it runs (shown in the Segment panel):
// the grid after resampling to the model's spacing (before nnU-Net's crop to non-zero, so an upper bound),
// the sliding-window tiles (nnU-Net: inference/sliding_window_prediction.py compute_steps_for_sliding_window)
// and network runs (tiles × mirrorings × folds), and the float32 memory of the logit accumulator.

export interface RunEstimate {
  grid: number[];
  tiles: number;
  runs: number;
  memoryMB: number;
}

function steps(size: number, patch: number, stepSize: number): number {
  if (size <= patch) return 1;
  return Math.ceil((size - patch) / (patch * stepSize)) + 1;
}

export function estimateRun(
  imageShape: number[],
  imageSpacing: number[],
  patch: number[] | 'full',
  targetSpacing: number[] | null,
  opts: { tta: boolean; stepSize: number; folds: number; classes: number },
): RunEstimate {
  const spatial = imageShape.slice(1);
  const channels = imageShape[0];
  const is2dNet = patch !== 'full' && patch.length === 2;
  let target = targetSpacing ?? imageSpacing;
  if (target.length === spatial.length - 1) target = [imageSpacing[0], ...target];
  const grid = spatial.map((s, i) => Math.max(1, Math.round((s * imageSpacing[i]) / target[i])));
  let tiles = 1;
  let mirrorAxes = spatial.filter((s) => s > 1).length;
  if (patch !== 'full') {
    const axes = is2dNet ? grid.slice(1) : grid;
    tiles = axes.reduce((t, s, i) => t * steps(s, patch[i], opts.stepSize), 1);
    if (is2dNet) tiles *= grid[0];
    mirrorAxes = patch.length;
  }
  const runs = tiles * (opts.tta ? 2 ** mirrorAxes : 1) * Math.max(1, opts.folds);
  const padded = patch === 'full' ? grid : grid.map((s, i) => (is2dNet ? (i === 0 ? s : Math.max(s, patch[i - 1])) : Math.max(s, patch[i])));
  const voxels = padded.reduce((a, b) => a * b, 1);
  const memoryMB = ((opts.classes + 1 + channels) * voxels * 4) / 2 ** 20;
  return { grid, tiles, runs, memoryMB };
}

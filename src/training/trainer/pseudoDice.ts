// nnU-Net's online validation metric ("pseudo Dice"): hard tp/fp/fn of the argmax of the highest-resolution
// output against the target, summed over every validation patch of the epoch, then a global
// 2tp / (2tp + fp + fn) per foreground class and its nanmean.
// nnU-Net: training/nnUNetTrainer/nnUNetTrainer.py validation_step / on_validation_epoch_end,
// training/loss/dice.py get_tp_fp_fn_tn (ignore label: masked out, as the trainer's mask does).

export interface HardCounts {
  /** per foreground class (index 0 = label 1) */
  tp: Float64Array;
  fp: Float64Array;
  fn: Float64Array;
}

export function zeroCounts(numClasses: number): HardCounts {
  const n = Math.max(0, numClasses - 1);
  return { tp: new Float64Array(n), fp: new Float64Array(n), fn: new Float64Array(n) };
}

/**
 * Adds the hard counts of one batch: `logits` [N, C, ...spatial] (C-order), `target` [N, 1, ...spatial] labels.
 * argmax takes the first maximum (torch/numpy). Voxels labelled `ignoreLabel` count nowhere.
 */
export function accumulateHardCounts(
  acc: HardCounts,
  logits: ArrayLike<number>,
  target: ArrayLike<number>,
  n: number,
  c: number,
  ignoreLabel: number | null = null,
): void {
  const sp = target.length / n;
  for (let b = 0; b < n; b++) {
    const base = b * c * sp;
    for (let v = 0; v < sp; v++) {
      const t = target[b * sp + v];
      if (ignoreLabel !== null && t === ignoreLabel) continue;
      let best = 0;
      let bv = logits[base + v];
      for (let k = 1; k < c; k++) {
        const x = logits[base + k * sp + v];
        if (x > bv) {
          bv = x;
          best = k;
        }
      }
      if (best === t) {
        if (best > 0) acc.tp[best - 1]++;
      } else {
        if (best > 0) acc.fp[best - 1]++;
        if (t > 0 && t < c) acc.fn[t - 1]++;
      }
    }
  }
}

/** 2tp / (2tp + fp + fn) per class; NaN where the class is absent from both prediction and target. */
export function globalDice(c: HardCounts): number[] {
  return Array.from(c.tp, (tp, i) => (2 * tp) / (2 * tp + c.fp[i] + c.fn[i]));
}

/** numpy nanmean (NaN when every entry is NaN or the list is empty). */
export function nanmean(v: readonly number[]): number {
  let s = 0, n = 0;
  for (const x of v) if (!Number.isNaN(x)) ((s += x), n++);
  return n ? s / n : NaN;
}

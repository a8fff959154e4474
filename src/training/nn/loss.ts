// nnU-Net's training loss: DC_and_CE_loss (soft Dice without background + cross-entropy, weights 1:1) wrapped
// in deep supervision with weights 1/2^i (lowest resolution 0, normalised).
// nnU-Net: training/loss/compound_losses.py (DC_and_CE_loss), training/loss/dice.py
// (MemoryEfficientSoftDiceLoss: softmax, do_bg=False, smooth=1e-5, batch_dice, denominator clipped at 1e-8),
// training/loss/robust_ce_loss.py, training/loss/deep_supervision.py, nnUNetTrainer._build_loss.
//
// The per-voxel work runs on the backend (segLossStats / segLossBackward); this file is the scalar algebra
// on the small per-(batch, class) sums, so it is identical for every backend.
import type { Backend, DeviceTensor, SegLossGradCoeffs, SegLossStats } from '../engine/backend.ts';

export interface DiceCeOptions {
  /** nnU-Net plans' batch_dice: sum tp/fp/fn over the batch before the Dice ratio */
  batchDice: boolean;
  /** label excluded from both terms (nnU-Net's ignore label), or null */
  ignoreLabel: number | null;
  smooth?: number;
  weightCe?: number;
  weightDice?: number;
}

export interface DiceCeResult {
  loss: number;
  ce: number;
  /** the Dice term as nnU-Net reports it: −mean soft Dice over foreground classes */
  dice: number;
  coeffs: SegLossGradCoeffs;
}

/** Loss value and d loss / d stats for one output, multiplied by `weight`. n = batch, c = classes. */
export function diceCeFromStats(
  stats: SegLossStats,
  n: number,
  c: number,
  opts: DiceCeOptions,
  weight = 1,
): DiceCeResult {
  const smooth = opts.smooth ?? 1e-5;
  const wCe = opts.weightCe ?? 1;
  const wDc = opts.weightDice ?? 1;
  // CE: mean over non-ignored voxels; 0 when every voxel is ignored (compound_losses.py, num_fg > 0 check).
  const ce = stats.nValid > 0 ? stats.ceSum / stats.nValid : 0;
  const ceScale = stats.nValid > 0 ? (weight * wCe) / stats.nValid : 0;

  const dTp = new Float64Array(n * c);
  const dSumPred = new Float64Array(n * c);
  const rows = opts.batchDice ? 1 : n;
  const count = rows * (c - 1);
  let dcSum = 0;
  for (let r = 0; r < rows; r++)
    for (let k = 1; k < c; k++) {
      let I = 0, P = 0, G = 0;
      const members = opts.batchDice ? Array.from({ length: n }, (_, b) => b) : [r];
      for (const b of members) {
        I += stats.tp[b * c + k];
        P += stats.sumPred[b * c + k];
        G += stats.sumGt[b * c + k];
      }
      const rawDen = G + P + smooth;
      const den = Math.max(rawDen, 1e-8);
      const dc = (2 * I + smooth) / den;
      dcSum += dc;
      // loss = −mean(dc) → dL/dI = −2/(den·count), dL/dP = (2I + s)/(den²·count) (0 where the clip is active)
      const gI = (-weight * wDc * 2) / (den * count);
      const gP = rawDen > 1e-8 ? (weight * wDc * (2 * I + smooth)) / (den * den * count) : 0;
      for (const b of members) {
        dTp[b * c + k] = gI;
        dSumPred[b * c + k] = gP;
      }
    }
  const dice = count > 0 ? -dcSum / count : 0;
  return { loss: weight * (wCe * ce + wDc * dice), ce, dice, coeffs: { ceScale, dTp, dSumPred } };
}

/**
 * Deep-supervision weights for `n` outputs (highest resolution first): 1/2^i, the lowest resolution 0,
 * normalised to sum 1 (nnUNetTrainer._build_loss).
 */
export function deepSupervisionWeights(n: number): number[] {
  const w = Array.from({ length: n }, (_, i) => 1 / 2 ** i);
  if (n > 1) w[n - 1] = 0;
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
}

/** Runs the loss for one output on a backend: value plus d loss / d logits (caller frees). */
export async function segLossWithGrad(
  backend: Backend,
  logits: DeviceTensor,
  target: DeviceTensor,
  opts: DiceCeOptions,
  weight = 1,
): Promise<{ result: DiceCeResult; dlogits: DeviceTensor }> {
  const stats = await backend.segLossStats(logits, target, opts.ignoreLabel);
  const result = diceCeFromStats(stats, logits.shape[0], logits.shape[1], opts, weight);
  const dlogits = backend.segLossBackward(logits, target, result.coeffs, opts.ignoreLabel);
  return { result, dlogits };
}

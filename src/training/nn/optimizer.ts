// nnU-Net's optimiser: torch.optim.SGD(lr 1e-2, momentum 0.99, nesterov, weight_decay 3e-5), gradient-norm
// clipping at 12 before each step, and the polynomial LR schedule applied per epoch.
// nnU-Net: training/nnUNetTrainer/nnUNetTrainer.py (configure_optimizers, train_step: clip_grad_norm_(…, 12)),
// training/lr_scheduler/polylr.py (PolyLRScheduler: lr0 · (1 − epoch / max_epochs)^0.9).
import type { Backend, DeviceTensor } from '../engine/backend.ts';
import type { Parameter } from '../engine/autograd.ts';
import { SegStudioError } from '../../core/errors.ts';

export interface SgdConfig {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

export const NNUNET_SGD: SgdConfig = { lr: 1e-2, momentum: 0.99, weightDecay: 3e-5, nesterov: true };

/** Poly learning rate: lr0 · (1 − epoch / maxEpochs)^exponent. */
export function polyLR(initialLr: number, epoch: number, maxEpochs: number, exponent = 0.9): number {
  return initialLr * Math.pow(1 - epoch / maxEpochs, exponent);
}

/** torch.nn.utils.clip_grad_norm_: the factor min(1, maxNorm / (‖g‖ + 1e-6)). */
export function clipCoefficient(totalNorm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (totalNorm + 1e-6));
}

export class SGD {
  readonly config: SgdConfig;
  /** number of completed steps */
  stepCount = 0;
  private bufs = new Map<Parameter, DeviceTensor>();

  constructor(
    readonly backend: Backend,
    readonly params: Parameter[],
    config: Partial<SgdConfig> = {},
  ) {
    this.config = { ...NNUNET_SGD, ...config };
  }

  /** Global L2 norm of all gradients (one read-back). */
  async gradNorm(): Promise<number> {
    const gs = this.params.filter((p) => p.grad).map((p) => p.grad!);
    return Math.sqrt(await this.backend.sumSquares(gs));
  }

  /**
   * Clips (scale folded into the step), then updates every parameter with a gradient in place.
   * Returns the pre-clipping gradient norm. Parameters without a gradient are skipped (as torch does).
   */
  async step(opts: { lr?: number; maxGradNorm?: number | null } = {}): Promise<number> {
    const lr = opts.lr ?? this.config.lr;
    const maxNorm = opts.maxGradNorm === undefined ? 12 : opts.maxGradNorm;
    const norm = await this.gradNorm();
    if (!Number.isFinite(norm)) throw new SegStudioError('training', `gradient norm is ${norm} (training diverged)`);
    const gradScale = maxNorm === null ? 1 : clipCoefficient(norm, maxNorm);
    for (const p of this.params) {
      if (!p.grad) continue;
      let buf = this.bufs.get(p);
      const firstStep = !buf;
      if (!buf) {
        buf = this.backend.zeros(p.shape);
        this.bufs.set(p, buf);
      }
      this.backend.sgdStep(p.value, p.grad, buf, {
        lr,
        momentum: this.config.momentum,
        weightDecay: this.config.weightDecay,
        nesterov: this.config.nesterov,
        gradScale,
        firstStep,
      });
    }
    this.stepCount++;
    return norm;
  }

  /** Frees every gradient (torch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.params) {
      if (p.grad) this.backend.free(p.grad);
      p.grad = null;
    }
  }

  /** Momentum buffers by parameter name (for checkpoints). */
  async getState(): Promise<{ step: number; momentum: Record<string, Float32Array> }> {
    const momentum: Record<string, Float32Array> = {};
    for (const [p, b] of this.bufs) {
      const d = await this.backend.download(b);
      momentum[p.name] = d instanceof Float32Array ? d : Float32Array.from(d);
    }
    return { step: this.stepCount, momentum };
  }

  loadState(state: { step: number; momentum: Record<string, ArrayLike<number>> }, fileName = 'optimizer state'): void {
    this.disposeBuffers();
    for (const p of this.params) {
      const m = state.momentum[p.name];
      if (!m) continue;
      if (m.length !== p.value.size)
        throw new SegStudioError('checkpoint', `momentum for ${p.name} has ${m.length} values, expected ${p.value.size}`, fileName);
      this.bufs.set(p, this.backend.upload(m, p.shape));
    }
    this.stepCount = state.step;
  }

  private disposeBuffers(): void {
    for (const b of this.bufs.values()) this.backend.free(b);
    this.bufs.clear();
  }

  dispose(): void {
    this.disposeBuffers();
    this.zeroGrad();
  }
}

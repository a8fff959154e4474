// CPU reference torch.optim.SGD step (momentum, dampening 0, Nesterov, weight decay), in place.
// torch: optim/sgd.py _single_tensor_sgd; nnU-Net: training/nnUNetTrainer/nnUNetTrainer.py configure_optimizers.
import type { FloatArray, SgdOptions } from '../../engine/backend.ts';

export function sgdStep(p: FloatArray, grad: FloatArray, buf: FloatArray, o: SgdOptions): void {
  for (let i = 0; i < p.length; i++) {
    const g = grad[i] * o.gradScale + o.weightDecay * p[i];
    const bNew = o.firstStep ? g : o.momentum * buf[i] + g;
    buf[i] = bNew;
    const d = o.nesterov ? g + o.momentum * bNew : bNew;
    p[i] = p[i] - o.lr * d;
  }
}

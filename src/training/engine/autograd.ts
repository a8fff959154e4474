// A tiny tape-based autograd over a Backend (tinygrad-like in spirit).
//
//   const g = new Graph(backend);                 // one graph per training step
//   const y = g.conv(x, w, b, spec);              // ops run eagerly and record a backward closure
//   const { loss } = await g.segLoss(y, target, opts);
//   g.backward();                                 // reverse tape; grads accumulate into Parameter.grad
//   g.dispose();                                  // frees every intermediate value and gradient
//
// - A `Parameter` owns its value, its gradient (summed across steps until `zeroGrad`) and is never freed by a
//   graph. Every other Tensor a graph creates is freed by `dispose()` (or earlier by `release()`), so steps
//   do not leak: on WebGPU the buffers go back to the pool and the next step reuses them.
// - Intermediate gradients are freed as soon as their node has propagated them.
// - Loss nodes are terminal: `segLoss` computes d loss / d logits during the forward pass (it needs one
//   read-back of small per-class sums anyway), and backward() starts from them.
// - `new Graph(backend, { grad: false })` records nothing (inference); `release(t)` then frees an
//   activation as soon as the caller is done with it.
import type { Backend, ConvSpec, DeviceTensor } from './backend.ts';
import { diceCeFromStats, type DiceCeOptions, type DiceCeResult } from '../nn/loss.ts';

export class Tensor {
  grad: DeviceTensor | null = null;
  constructor(
    public value: DeviceTensor,
    readonly requiresGrad: boolean,
  ) {}
  get shape(): readonly number[] {
    return this.value.shape;
  }
}

/** A trainable tensor: persistent, never freed by a Graph. */
export class Parameter extends Tensor {
  constructor(
    value: DeviceTensor,
    readonly name = '',
  ) {
    super(value, true);
  }
}

interface Node {
  out: Tensor | null;
  backward: () => void;
}

export class Graph {
  readonly recording: boolean;
  private tape: Node[] = [];
  private owned = new Set<DeviceTensor>();
  private ownedTensors: Tensor[] = [];

  constructor(
    readonly backend: Backend,
    opts: { grad?: boolean } = {},
  ) {
    this.recording = opts.grad ?? true;
  }

  /** Wraps an input (image batch) so ops can consume it; the graph does not free it. */
  input(value: DeviceTensor): Tensor {
    return new Tensor(value, false);
  }

  private make(value: DeviceTensor, parents: Tensor[]): Tensor {
    const t = new Tensor(value, this.recording && parents.some((p) => p.requiresGrad));
    this.owned.add(value);
    this.ownedTensors.push(t);
    return t;
  }

  private own(d: DeviceTensor): DeviceTensor {
    this.owned.add(d);
    return d;
  }

  private record(out: Tensor | null, backward: () => void): void {
    if (this.recording && (out === null || out.requiresGrad)) this.tape.push({ out, backward });
  }

  /** Adds g into t.grad (takes ownership of g). */
  private accumulate(t: Tensor, g: DeviceTensor): void {
    if (!t.requiresGrad) {
      this.backend.free(g);
      return;
    }
    if (t.grad === null) {
      t.grad = g;
    } else {
      this.backend.axpy(1, g, t.grad);
      this.backend.free(g);
    }
  }

  /** Frees an intermediate early (no-op for parameters, inputs, or while recording). */
  release(t: Tensor): void {
    if (this.recording || !this.owned.has(t.value)) return;
    this.owned.delete(t.value);
    this.backend.free(t.value);
  }

  // ---- ops -------------------------------------------------------------------------------------------------

  conv(x: Tensor, w: Tensor, b: Tensor | null, spec: ConvSpec): Tensor {
    const B = this.backend;
    const out = this.make(B.conv(x.value, w.value, b ? b.value : null, spec), b ? [x, w, b] : [x, w]);
    this.record(out, () => {
      const dy = out.grad!;
      if (x.requiresGrad) this.accumulate(x, B.convBackwardData(dy, w.value, x.shape, spec));
      if (w.requiresGrad) this.accumulate(w, B.convBackwardWeights(dy, x.value, w.shape, spec));
      if (b?.requiresGrad) this.accumulate(b, B.biasGrad(dy));
    });
    return out;
  }

  /** Transposed conv with kernel == stride (w: [Cin, Cout, ...stride]). */
  convTranspose(x: Tensor, w: Tensor, b: Tensor | null, stride: number[]): Tensor {
    const B = this.backend;
    const out = this.make(B.convTranspose(x.value, w.value, b ? b.value : null, stride), b ? [x, w, b] : [x, w]);
    this.record(out, () => {
      const dy = out.grad!;
      if (x.requiresGrad) this.accumulate(x, B.convTransposeBackwardData(dy, w.value, stride));
      if (w.requiresGrad) this.accumulate(w, B.convTransposeBackwardWeights(dy, x.value, stride));
      if (b?.requiresGrad) this.accumulate(b, B.biasGrad(dy));
    });
    return out;
  }

  instanceNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
    const B = this.backend;
    const r = B.instanceNorm(x.value, gamma.value, beta.value, eps);
    this.own(r.mean);
    this.own(r.invstd);
    const out = this.make(r.y, [x, gamma, beta]);
    this.record(out, () => {
      const g = B.instanceNormBackward(out.grad!, x.value, gamma.value, r.mean, r.invstd);
      this.accumulate(x, g.dx);
      this.accumulate(gamma, g.dgamma);
      this.accumulate(beta, g.dbeta);
    });
    return out;
  }

  leakyRelu(x: Tensor, slope = 0.01): Tensor {
    const B = this.backend;
    const out = this.make(B.leakyRelu(x.value, slope), [x]);
    // the backward needs the sign of the input; LeakyReLU keeps the sign, so the output serves (x > 0 ⇔ y > 0)
    this.record(out, () => this.accumulate(x, B.leakyReluBackward(out.grad!, out.value, slope)));
    return out;
  }

  concat(a: Tensor, b: Tensor): Tensor {
    const B = this.backend;
    const out = this.make(B.concat(a.value, b.value), [a, b]);
    this.record(out, () => {
      const [ga, gb] = B.split(out.grad!, a.shape[1]);
      this.accumulate(a, ga);
      this.accumulate(b, gb);
    });
    return out;
  }

  add(a: Tensor, b: Tensor): Tensor {
    const B = this.backend;
    const out = this.make(B.add(a.value, b.value), [a, b]);
    this.record(out, () => {
      this.accumulate(a, B.copy(out.grad!));
      this.accumulate(b, B.copy(out.grad!));
    });
    return out;
  }

  softmax(x: Tensor): Tensor {
    return this.make(this.backend.softmax(x.value), []);
  }

  /**
   * nnU-Net DC_and_CE loss of `logits` against `target` ([N, 1, ...] labels), multiplied by `weight`.
   * Returns the weighted loss value and its parts; the gradient is queued for backward().
   */
  async segLoss(logits: Tensor, target: DeviceTensor, opts: DiceCeOptions, weight = 1): Promise<DiceCeResult> {
    const stats = await this.backend.segLossStats(logits.value, target, opts.ignoreLabel);
    const result = diceCeFromStats(stats, logits.shape[0], logits.shape[1], opts, weight);
    if (!this.recording || !logits.requiresGrad || weight === 0) return result;
    const dlogits = this.own(this.backend.segLossBackward(logits.value, target, result.coeffs, opts.ignoreLabel));
    this.tape.push({
      out: null,
      backward: () => {
        this.owned.delete(dlogits); // ownership moves to logits.grad
        this.accumulate(logits, dlogits);
      },
    });
    return result;
  }

  // ---- backward / cleanup ----------------------------------------------------------------------------------

  /** Runs the tape in reverse. Parameter grads accumulate; intermediate grads are freed once propagated. */
  backward(): void {
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const node = this.tape[i];
      if (node.out && node.out.grad === null) continue; // nothing flowed into this node
      node.backward();
      if (node.out && !(node.out instanceof Parameter) && node.out.grad) {
        this.backend.free(node.out.grad);
        node.out.grad = null;
      }
    }
    this.tape = [];
  }

  /** Frees every value and gradient this graph created (parameters and inputs untouched). */
  dispose(): void {
    for (const t of this.ownedTensors) {
      if (t.grad) {
        this.backend.free(t.grad);
        t.grad = null;
      }
    }
    for (const d of this.owned) this.backend.free(d);
    this.owned.clear();
    this.ownedTensors = [];
    this.tape = [];
  }
}

// Shared kernel test bodies: one list of op cases used both for
//  - gradient checks (CPU float64 backward vs central finite differences), and
//  - backend comparisons (e.g. WebGPU vs CPU float32 reference) on the same random inputs.
// Free of Node APIs so the same suite runs in vitest (Node WebGPU) and in a Chromium harness.
import type { Backend, ConvSpec, DeviceTensor } from '../../engine/backend.ts';
import { diceCeFromStats, type DiceCeOptions } from '../../nn/loss.ts';
import { assertClose, freeAll, numel, randLabels, randn, rng } from './util.ts';

export interface InputSpec {
  shape: number[];
  /** 'randn' (default), 'labels:C' integer labels in [0, C), 'awayFromZero' for LeakyReLU */
  kind?: string;
  /** false when the op is not differentiable in this input (labels) */
  grad?: boolean;
}

export interface OpCase {
  name: string;
  inputs: InputSpec[];
  /** outputs; the first is the one gradients are taken of */
  forward(b: Backend, xs: DeviceTensor[]): DeviceTensor[];
  /** gradients w.r.t. every input (null where grad is false) for upstream gradient dy of output 0 */
  backward?(b: Backend, xs: DeviceTensor[], dy: DeviceTensor): Array<DeviceTensor | null>;
}

const spec = (stride: number[], padding: number[], dilation: number[]): ConvSpec => ({ stride, padding, dilation });

function convCase(name: string, x: number[], w: number[], s: ConvSpec, bias = true): OpCase {
  return {
    name,
    inputs: bias ? [{ shape: x }, { shape: w }, { shape: [w[0]] }] : [{ shape: x }, { shape: w }],
    forward: (b, xs) => [b.conv(xs[0], xs[1], bias ? xs[2] : null, s)],
    backward: (b, xs, dy) => [
      b.convBackwardData(dy, xs[1], xs[0].shape, s),
      b.convBackwardWeights(dy, xs[0], xs[1].shape, s),
      ...(bias ? [b.biasGrad(dy)] : []),
    ],
  };
}

function convTCase(name: string, x: number[], w: number[], stride: number[]): OpCase {
  return {
    name,
    inputs: [{ shape: x }, { shape: w }, { shape: [w[1]] }],
    forward: (b, xs) => [b.convTranspose(xs[0], xs[1], xs[2], stride)],
    backward: (b, xs, dy) => [
      b.convTransposeBackwardData(dy, xs[1], stride),
      b.convTransposeBackwardWeights(dy, xs[0], stride),
      b.biasGrad(dy),
    ],
  };
}

function normCase(name: string, x: number[]): OpCase {
  return {
    name,
    inputs: [{ shape: x }, { shape: [x[1]] }, { shape: [x[1]] }],
    forward: (b, xs) => {
      const r = b.instanceNorm(xs[0], xs[1], xs[2], 1e-5);
      return [r.y, r.mean, r.invstd];
    },
    backward: (b, xs, dy) => {
      const r = b.instanceNorm(xs[0], xs[1], xs[2], 1e-5);
      const g = b.instanceNormBackward(dy, xs[0], xs[1], r.mean, r.invstd);
      freeAll(b, [r.y, r.mean, r.invstd]);
      return [g.dx, g.dgamma, g.dbeta];
    },
  };
}

export const opCases: OpCase[] = [
  convCase('conv3d k3 s1 p1', [2, 3, 5, 6, 7], [4, 3, 3, 3, 3], spec([1, 1, 1], [1, 1, 1], [1, 1, 1])),
  convCase('conv3d k3 s2 p1 odd shape', [1, 2, 7, 5, 6], [3, 2, 3, 3, 3], spec([2, 2, 2], [1, 1, 1], [1, 1, 1])),
  convCase('conv3d k1x3x3 s1x2x2', [2, 3, 3, 6, 5], [5, 3, 1, 3, 3], spec([1, 2, 2], [0, 1, 1], [1, 1, 1])),
  convCase('conv3d dilation 2', [1, 2, 6, 7, 5], [2, 2, 3, 3, 3], spec([1, 1, 1], [2, 2, 2], [2, 2, 2])),
  convCase('conv3d k3 no pad no bias', [1, 3, 5, 4, 6], [2, 3, 3, 3, 3], spec([1, 1, 1], [0, 0, 0], [1, 1, 1]), false),
  convCase('conv3d 17→9 channels (tile tails)', [1, 17, 5, 4, 6], [9, 17, 3, 3, 3], spec([1, 1, 1], [1, 1, 1], [1, 1, 1])),
  convCase('conv3d 1x1x1 head', [2, 5, 4, 4, 3], [3, 5, 1, 1, 1], spec([1, 1, 1], [0, 0, 0], [1, 1, 1])),
  convCase('conv2d k3 s1 p1', [2, 3, 9, 8], [4, 3, 3, 3], spec([1, 1], [1, 1], [1, 1])),
  convCase('conv2d k3 s2 p1', [1, 3, 7, 9], [2, 3, 3, 3], spec([2, 2], [1, 1], [1, 1])),
  convTCase('convT3d s2', [2, 4, 3, 2, 3], [4, 3, 2, 2, 2], [2, 2, 2]),
  convTCase('convT3d s1x2x2', [1, 3, 2, 3, 3], [3, 5, 1, 2, 2], [1, 2, 2]),
  convTCase('convT2d s2', [2, 3, 4, 3], [3, 2, 2, 2], [2, 2]),
  normCase('instanceNorm3d', [2, 3, 4, 5, 3]),
  normCase('instanceNorm2d', [2, 5, 6, 7]),
  {
    name: 'leakyRelu',
    inputs: [{ shape: [2, 3, 4, 5], kind: 'awayFromZero' }],
    forward: (b, xs) => [b.leakyRelu(xs[0], 0.01)],
    backward: (b, xs, dy) => [b.leakyReluBackward(dy, xs[0], 0.01)],
  },
  {
    name: 'concat / split',
    inputs: [{ shape: [2, 3, 4, 5] }, { shape: [2, 2, 4, 5] }],
    forward: (b, xs) => [b.concat(xs[0], xs[1])],
    backward: (b, xs, dy) => b.split(dy, xs[0].shape[1]),
  },
  {
    name: 'add',
    inputs: [{ shape: [2, 3, 5] }, { shape: [2, 3, 5] }],
    forward: (b, xs) => [b.add(xs[0], xs[1])],
    backward: (b, _xs, dy) => [b.copy(dy), b.copy(dy)],
  },
  {
    name: 'scale',
    inputs: [{ shape: [3, 7] }],
    forward: (b, xs) => [b.scale(xs[0], -0.37)],
    backward: (b, _xs, dy) => [b.scale(dy, -0.37)],
  },
  {
    name: 'softmax',
    inputs: [{ shape: [2, 4, 3, 5] }],
    forward: (b, xs) => [b.softmax(xs[0])],
  },
  {
    name: 'downsampleSeg 3d',
    inputs: [{ shape: [2, 1, 7, 8, 5], kind: 'labels:4', grad: false }],
    forward: (b, xs) => [b.downsampleSeg(xs[0], [4, 4, 3]), b.downsampleSeg(xs[0], [7, 4, 3])],
  },
];

export function makeInput(s: InputSpec, r: () => number): Float64Array {
  const n = numel(s.shape);
  if (s.kind?.startsWith('labels:')) return randLabels(n, Number(s.kind.slice(7)), r);
  const v = randn(n, r);
  if (s.kind === 'awayFromZero') for (let i = 0; i < n; i++) v[i] = Math.sign(v[i]) * (0.05 + Math.abs(v[i]));
  return v;
}

/**
 * Gradient check of one case on a (float64) backend: analytic backward vs central differences of
 * L = Σ r·y, on every entry of inputs up to `samples` entries (48 spread entries of larger ones). Throws CheckError on mismatch.
 */
export async function gradCheck(b: Backend, c: OpCase, seed = 1, samples = 400): Promise<void> {
  if (!c.backward) return;
  const r = rng(seed);
  const data = c.inputs.map((s) => makeInput(s, r));
  const xs = data.map((d, i) => b.upload(d, c.inputs[i].shape));
  const y0 = c.forward(b, xs);
  const rw = randn(y0[0].size, r);
  const dy = b.upload(rw, y0[0].shape);
  const grads = c.backward(b, xs, dy);
  const loss = async (): Promise<number> => {
    const ys = c.forward(b, xs);
    const v = await b.download(ys[0]);
    freeAll(b, ys);
    let s = 0;
    for (let i = 0; i < v.length; i++) s += rw[i] * v[i];
    return s;
  };
  const h = 1e-6;
  for (let k = 0; k < xs.length; k++) {
    const g = grads[k];
    if (c.inputs[k].grad === false || !g) continue;
    const ga = await b.download(g);
    const n = data[k].length;
    // every entry of small inputs; a spread of entries (first, last, random) of large ones
    const idx = n <= samples ? [...Array(n).keys()] : [0, n - 1, ...Array.from({ length: 46 }, () => Math.floor(r() * n))];
    const fd: number[] = [], an: number[] = [];
    for (const i of idx) {
      const orig = data[k][i];
      data[k][i] = orig + h;
      b.write(xs[k], data[k]);
      const lp = await loss();
      data[k][i] = orig - h;
      b.write(xs[k], data[k]);
      const lm = await loss();
      data[k][i] = orig;
      b.write(xs[k], data[k]);
      fd.push((lp - lm) / (2 * h));
      an.push(ga[i]);
    }
    assertClose(`${c.name}: d/d input ${k}`, an, fd, 1e-5, 1e-6);
  }
  freeAll(b, [...xs, ...y0, dy, ...grads]);
}

/**
 * Runs a case on two backends with identical inputs and compares every output and every gradient.
 * `test` is the backend under test, `ref` the reference (CPU).
 */
export async function compareBackends(test: Backend, ref: Backend, c: OpCase, seed = 2, rtol = 2e-4, atol = 2e-4): Promise<void> {
  const r = rng(seed);
  const data = c.inputs.map((s) => makeInput(s, r));
  const run = async (b: Backend, dyData: Float64Array | null) => {
    const xs = data.map((d, i) => b.upload(d, c.inputs[i].shape));
    const ys = c.forward(b, xs);
    const outs = await Promise.all(ys.map((y) => b.download(y)));
    let grads: Array<Float32Array | Float64Array | null> = [];
    let dyLen = ys[0].size;
    if (c.backward && dyData) {
      const dy = b.upload(dyData, ys[0].shape);
      const gs = c.backward(b, xs, dy);
      grads = await Promise.all(gs.map((g) => (g ? b.download(g) : null)));
      freeAll(b, [dy, ...gs]);
    }
    freeAll(b, [...xs, ...ys]);
    return { outs, grads, dyLen };
  };
  const probe = await run(ref, null);
  const dyData = randn(probe.dyLen, r);
  const a = await run(test, dyData);
  const e = await run(ref, dyData);
  a.outs.forEach((o, i) => assertClose(`${c.name}: output ${i}`, o, e.outs[i], rtol, atol * scaleOf(e.outs[i])));
  a.grads.forEach((g, i) => {
    const want = e.grads[i];
    if (g && want) assertClose(`${c.name}: grad ${i}`, g, want, rtol, atol * scaleOf(want));
  });
}

function scaleOf(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return Math.max(1, m);
}

// ---- loss ---------------------------------------------------------------------------------------------------

export interface LossCase {
  name: string;
  logits: number[];
  classes: number;
  opts: DiceCeOptions;
}

export const lossCases: LossCase[] = [
  { name: 'dice+ce 3d 3 classes', logits: [2, 3, 3, 4, 2], classes: 3, opts: { batchDice: false, ignoreLabel: null } },
  { name: 'dice+ce 2d batch dice', logits: [2, 4, 5, 3], classes: 4, opts: { batchDice: true, ignoreLabel: null } },
  { name: 'dice+ce with ignore label', logits: [2, 3, 4, 4], classes: 4, opts: { batchDice: false, ignoreLabel: 3 } },
];

function lossInputs(c: LossCase, seed: number) {
  const r = rng(seed);
  const logits = randn(numel(c.logits), r, 2);
  const target = randLabels(numel([c.logits[0], 1, ...c.logits.slice(2)]), c.classes, r);
  return { logits, target, tShape: [c.logits[0], 1, ...c.logits.slice(2)] };
}

async function lossValue(b: Backend, c: LossCase, l: DeviceTensor, t: DeviceTensor): Promise<number> {
  const s = await b.segLossStats(l, t, c.opts.ignoreLabel);
  return diceCeFromStats(s, c.logits[0], c.logits[1], c.opts).loss;
}

/** d loss / d logits (segLossStats → diceCeFromStats → segLossBackward) vs central differences (float64). */
export async function lossGradCheck(b: Backend, c: LossCase, seed = 3): Promise<void> {
  const { logits, target, tShape } = lossInputs(c, seed);
  const l = b.upload(logits, c.logits), t = b.upload(target, tShape);
  const s = await b.segLossStats(l, t, c.opts.ignoreLabel);
  const res = diceCeFromStats(s, c.logits[0], c.logits[1], c.opts);
  const dl = b.segLossBackward(l, t, res.coeffs, c.opts.ignoreLabel);
  const ga = await b.download(dl);
  const h = 1e-6, fd: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    const o = logits[i];
    logits[i] = o + h;
    b.write(l, logits);
    const lp = await lossValue(b, c, l, t);
    logits[i] = o - h;
    b.write(l, logits);
    const lm = await lossValue(b, c, l, t);
    logits[i] = o;
    b.write(l, logits);
    fd.push((lp - lm) / (2 * h));
  }
  assertClose(`${c.name}: dloss/dlogits`, ga, fd, 1e-5, 1e-7);
  freeAll(b, [l, t, dl]);
}

/** Loss stats and gradient on two backends. */
export async function compareLoss(test: Backend, ref: Backend, c: LossCase, seed = 4): Promise<void> {
  const { logits, target, tShape } = lossInputs(c, seed);
  const run = async (b: Backend) => {
    const l = b.upload(logits, c.logits), t = b.upload(target, tShape);
    const s = await b.segLossStats(l, t, c.opts.ignoreLabel);
    const res = diceCeFromStats(s, c.logits[0], c.logits[1], c.opts);
    const g = b.segLossBackward(l, t, res.coeffs, c.opts.ignoreLabel);
    const gd = await b.download(g);
    freeAll(b, [l, t, g]);
    return { s, res, gd };
  };
  const a = await run(test), e = await run(ref);
  assertClose(`${c.name}: ceSum`, [a.s.ceSum, a.s.nValid], [e.s.ceSum, e.s.nValid], 1e-4, 1e-4);
  assertClose(`${c.name}: tp`, a.s.tp, e.s.tp, 1e-4, 1e-4);
  assertClose(`${c.name}: sumPred`, a.s.sumPred, e.s.sumPred, 1e-4, 1e-4);
  assertClose(`${c.name}: sumGt`, a.s.sumGt, e.s.sumGt, 0, 1e-6);
  assertClose(`${c.name}: loss`, [a.res.loss], [e.res.loss], 1e-5, 1e-6);
  assertClose(`${c.name}: dlogits`, a.gd, e.gd, 1e-3, 1e-6);
}

/** SGD step and squared norms on two backends. */
export async function compareOptimizer(test: Backend, ref: Backend, seed = 5): Promise<void> {
  const r = rng(seed);
  const n = 1037;
  const p = randn(n, r), g = randn(n, r), buf = randn(n, r);
  for (const firstStep of [true, false]) {
    const run = async (b: Backend) => {
      const tp = b.upload(p, [n]), tg = b.upload(g, [n]), tb = b.upload(buf, [n]);
      const sq = await b.sumSquares([tp, tg]);
      b.sgdStep(tp, tg, tb, { lr: 0.01, momentum: 0.99, weightDecay: 3e-5, nesterov: true, gradScale: 0.7, firstStep });
      const out = { p: await b.download(tp), buf: await b.download(tb), sq };
      freeAll(b, [tp, tg, tb]);
      return out;
    };
    const a = await run(test), e = await run(ref);
    assertClose('sgd param', a.p, e.p, 1e-5, 1e-6);
    assertClose('sgd momentum', a.buf, e.buf, 1e-5, 1e-6);
    assertClose('sumSquares', [a.sq], [e.sq], 1e-4, 0);
  }
}
